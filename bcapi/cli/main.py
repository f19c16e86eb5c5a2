"""The `bcapi` command: database, keys, serving, offline assessment, ruleset checks."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from bcapi import data
from bcapi.cli import style
from bcapi.config import EXAMPLE_CASES, Settings


def _settings() -> Settings:
    return Settings.from_env()


def _database():
    from bcapi.storage.database import Database

    return Database(_settings().database_url)


def _ruleset(path: str | None, exit_code: int = 1):
    from bcapi.engine import InvalidRuleset, load_ruleset

    try:
        return load_ruleset(path or _settings().rules_path)
    except InvalidRuleset as exc:
        for problem in exc.problems:
            click.echo(style.problem(problem), err=True)
        raise click.exceptions.Exit(exit_code) from None


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """bcapi: assess PbC business cases consistently.

    Output is coloured on a terminal only; set NO_COLOR to turn colour off."""
    style.honour_no_color(ctx)


# -- database --------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from bcapi.storage import migrate

    migrate.upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


# -- keys ------------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(["commissioner", "board", "admin"]))
@click.option("--consortium", help="consortium code (commissioner keys only)")
@click.option("--label", help="who or what the key is for")
@click.option("--expires-in-days", type=click.IntRange(min=1), help="the key stops working after this")
def keys_create(role: str, consortium: str | None, label: str | None, expires_in_days: int | None) -> None:
    """Create a key; it is printed once, as the last line, and only its hash is stored."""
    from bcapi.storage.models import utcnow
    from bcapi.services import keys as key_service
    from bcapi.services.errors import Invalid

    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with _database().writing() as session:
            row, key = key_service.create(session, role=role, consortium=consortium, label=label,
                                          expires_at=expires)
    except Invalid as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"created {role} key {row.id}" + (f" for {consortium}" if consortium else "")
               + (f", expires {expires.date()}" if expires else ""), err=True)
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves): id, role, consortium, label, state, last used."""
    from bcapi.services import keys as key_service

    with _database().reading() as session:
        for row in map(key_service.view, key_service.listing(session)):
            click.echo(f"{row['id']}  {row['prefix']}…  {row['role']:<12} {row['consortium'] or '-':<12} "
                       f"{row['state']:<8} last used {row['last_used_at'] or 'never'}  {row['label'] or ''}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke the key with id KEY_ID; it stops working at once."""
    from bcapi.services import keys as key_service
    from bcapi.services.errors import NotFound

    try:
        with _database().writing() as session:
            key_service.revoke(session, key_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {key_id}")


# -- serving ---------------------------------------------------------------------------------
@main.command()
@click.option("--bind", help="address:port to listen on  [default: BCAPI_BIND, else 127.0.0.1:8000]")
@click.option("--workers", type=click.IntRange(min=1), help="worker processes  [default: BCAPI_WORKERS, else 2]")
@click.option("--demo", is_flag=True, help="migrate, load the sample cases and print demo keys first")
def serve(bind: str | None, workers: int | None, demo: bool) -> None:
    """Run the service under gunicorn, with the settings `gunicorn wsgi:app` reads (BCAPI_BIND,
    BCAPI_WORKERS, BCAPI_THREADS, BCAPI_TIMEOUT, BCAPI_CLIENT_TIMEOUT, ...); options win."""
    from bcapi.http.server import run, settings

    bind = bind or settings()["bind"]
    if demo:
        _prepare_demo(bind)
    run(bind=bind, workers=workers)


DEMO_KEYS = (("admin", None, "demo admin"), ("board", None, "demo board"),
             ("commissioner", "EAS", "demo EAS"))


def _prepare_demo(bind: str) -> None:
    """Migrate, load the sample cases once, and replace the demo keys: the last start's three are
    revoked (only hashes are stored, so they cannot be shown again) and three new ones printed."""
    from sqlalchemy import func, select

    from bcapi.storage import migrate
    from bcapi.services.principal import Principal
    from bcapi.document import loads
    from bcapi.storage.models import BusinessCase
    from bcapi.services import cases
    from bcapi.services import keys as key_service

    settings = _settings()
    migrate.upgrade(settings.database_url)
    database, ruleset = _database(), _ruleset(None)
    labels = {label for _, _, label in DEMO_KEYS}
    with database.writing() as session:
        for row in key_service.listing(session):
            if row.label in labels and row.revoked_at is None:
                key_service.revoke(session, row.id)
        created = [key_service.create(session, role=role, consortium=consortium, label=label)
                   for role, consortium, label in DEMO_KEYS]
        if not session.scalar(select(func.count()).select_from(BusinessCase)):
            admin = Principal(created[0][0].id, "admin", None, "demo admin")
            for path in sorted(EXAMPLE_CASES.glob("*.json")):
                raw = path.read_text(encoding="utf-8")
                cases.submit(session, document=loads(raw), raw=raw, principal=admin, ruleset=ruleset)
    (_, admin_key), (_, board_key), (_, eas_key) = created
    url = f"http://{bind}"
    click.echo(f"database: {settings.database_url}\n"
               f"demo keys (replaced at each start; the last start's no longer work):\n"
               f"  admin:               {admin_key}\n"
               f"  board:               {board_key}\n"
               f"  commissioner (EAS):  {eas_key}\n"
               f"board dashboard: {url}/dashboard  (sign in with the board key)\n"
               f"API docs:        {url}/api/v1/docs\n"
               f"try: curl -H 'Authorization: Bearer {eas_key}' {url}/api/v1/cases\n"
               f"for the README's walk-through:\n"
               f"  export BCAPI_URL={url} KEY={eas_key}")


# -- offline assessment ----------------------------------------------------------------------
RATING_ORDER = ("red", "amber", "green")  # worst first: red <= amber <= green


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), help="ruleset file")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(["red", "amber"]),
              help="exit 1 when the rating is this or worse (red <= amber <= green)")
def assess(file: Path, rules_path: str | None, fmt: str, fail_on: str | None) -> None:
    """Assess a business-case FILE offline, as the API would.

    The text report opens with what sets the rating and the rules to fix for green.

    \b
    Exit codes:
      0  assessed (and, with --fail-on, the rating is better than that level)
      1  with --fail-on: the rating is at or below that level
      2  usage or document error: FILE unreadable, not JSON, or not a valid
         business case (each problem printed with its JSON pointer), or the
         ruleset has problems
    """
    from bcapi.document import JSONBodyError, dumps, loads, validate_document
    from bcapi.cli.report import render_text
    from bcapi.services.assessments import dry_run

    try:
        raw = file.read_bytes()
    except OSError as exc:
        click.echo(f"{file}: cannot read the file: {exc.strerror or exc}", err=True)
        raise click.exceptions.Exit(2) from None
    ruleset = _ruleset(rules_path, exit_code=2)
    try:
        document = loads(raw)
    except JSONBodyError as exc:
        click.echo(f"{file}: not valid JSON: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    errors = validate_document(document)
    if errors:
        for error in errors:
            click.echo(f"{file}: {error.pointer or '/'}: {error.detail}", err=True)
        click.echo(f"{file}: {len(errors)} problem(s); not assessed", err=True)
        raise click.exceptions.Exit(2)
    result = dry_run(document, ruleset)
    if fmt == "json":
        click.echo(dumps(result, indent=2))
    else:
        click.echo(render_text(result))
    if fail_on and RATING_ORDER.index(result["rating"]) <= RATING_ORDER.index(fail_on):
        raise click.exceptions.Exit(1)


# -- schemas ---------------------------------------------------------------------------------
@main.group()
def schema() -> None:
    """The published JSON Schema of the document."""


SCHEMA_FILE = data.document_schema()


@schema.command("export")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=SCHEMA_FILE,
              show_default=True)
def schema_export(output: Path) -> None:
    """Write the JSON Schema generated from the code's own schema."""
    from bcapi.document.jsonschema import document_json_schema

    output.write_text(json.dumps(document_json_schema(), indent=2, default=float) + "\n", encoding="utf-8")
    click.echo(f"wrote {output}")


@schema.command("openapi")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=data.openapi_document(),
              show_default=True)
def schema_openapi(output: Path) -> None:
    """Write the OpenAPI document the service serves at /api/v1/openapi.json (reference ruleset)."""
    from bcapi.http.app import openapi_document

    output.write_text(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"wrote {output}")


from bcapi.cli.rules import rules  # noqa: E402  (the `bcapi rules` group lives in its own module)

main.add_command(rules)
