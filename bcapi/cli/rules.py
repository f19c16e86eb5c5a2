"""`bcapi rules ...`: the checks CI runs on every rule change.

`check` and `test` gate a change; `diff` says what it changes in the file, `impact` what it
changes for real cases. The logic lives in the pure core (`bcapi.engine`); this is the wiring.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from bcapi.cli import style
from bcapi.config import DEFAULT_RULES


@click.group()
@click.pass_context
def rules(ctx: click.Context) -> None:
    """Check, test and compare rulesets."""
    style.honour_no_color(ctx)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bcapi")
    except PackageNotFoundError:
        return "0"


# -- check -------------------------------------------------------------------------------------
@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="github: workflow annotations on the YAML lines; sarif: code scanning")
def check(paths: tuple[Path, ...], fmt: str) -> None:
    """Report every problem in each ruleset (default: the reference ruleset).

    Each problem is `file:line rule-id message`.

    \b
    Exit codes:
      0  every ruleset is sound
      1  at least one problem (all of them are listed)
      2  usage error (an unknown option or format)
    """
    from bcapi.engine import InvalidRuleset, load_ruleset
    from bcapi.engine import problem_report as report

    problems = []
    for path in paths or (Path(report.shown_path(DEFAULT_RULES)),):
        try:
            ruleset = load_ruleset(path)
            click.echo(f"{path}: {style.good('ok')} ({len(ruleset.rules)} rules, digest {ruleset.digest[:12]})",
                       err=True)
        except InvalidRuleset as exc:
            problems.extend(exc.problems)
    if fmt == "sarif":
        click.echo(report.render_sarif(problems, version=_version()))
    elif fmt == "json":
        click.echo(report.render_json(problems))
    elif problems:
        click.echo(report.render_github(problems) if fmt == "github"
                   else "\n".join(style.problem(p) for p in problems))
    if problems:
        click.echo(style.bad(f"{len(problems)} problem(s)"), err=True)
        raise click.exceptions.Exit(1)


# -- test --------------------------------------------------------------------------------------
@rules.command("test")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tests", "tests_dir", type=click.Path(file_okay=False, path_type=Path),
              help="folder of rule tests (default: tests/ beside the ruleset)")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=0, show_default=True,
              help="fail when fewer than this % of rules have both a passing and a failing fixture")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the results as JUnit XML to this file")
def test(path: Path | None, tests_dir: Path | None, min_coverage: float, junit_path: Path | None) -> None:
    """Run the ruleset's own fixtures; show expected against actual; report coverage.

    \b
    Exit codes:
      0  every fixture passed and coverage is at least --min-coverage
      1  a fixture failed, coverage is below --min-coverage, or the ruleset
         has problems (listed)
      2  usage error (an unknown option, a PATH that is a folder)
    """
    from bcapi.engine import InvalidRuleset, load_ruleset
    from bcapi.engine.ruletests import junit_xml, run_rule_tests

    from bcapi.engine.problem_report import shown_path

    path = path or Path(shown_path(DEFAULT_RULES))
    try:
        ruleset = load_ruleset(path)
    except InvalidRuleset as exc:
        for problem in exc.problems:
            click.echo(style.problem(problem))
        raise click.exceptions.Exit(1) from None
    folder = tests_dir or path.parent / "tests"
    report = run_rule_tests(ruleset, sorted(folder.glob("*.yaml")))
    if junit_path:
        junit_path.write_text(junit_xml(report), encoding="utf-8")
    failed = report.failures
    for result in failed:
        head, _, rest = result.describe().partition("\n")
        click.echo(style.bad(head) + (f"\n{rest}" if rest else ""))
    passed = len(report.results) - len(failed)
    click.echo(f"{style.good(f'{passed} passed')}, "
               + (style.bad(f"{len(failed)} failed") if failed else f"{len(failed)} failed"))
    low = report.coverage_pct < min_coverage
    coverage = f"coverage: {report.coverage_pct:.1f}%"
    click.echo(f"{style.bad(coverage) if low else style.good(coverage) if not report.uncovered else coverage} "
               f"({len(report.covered)} of {len(ruleset.rules)} rules have a passing and a failing fixture)")
    for rule_id in report.uncovered:
        click.echo(f"  {style.warn('uncovered:')} {rule_id} ({report.missing(rule_id)})")
    if low:
        click.echo(style.bad(f"coverage {report.coverage_pct:.1f}% is below the minimum, {min_coverage:g}%"))
    if failed or report.coverage_pct < min_coverage:
        raise click.exceptions.Exit(1)


# -- rulesets from files or git ----------------------------------------------------------------
def read_ruleset_source(spec: str) -> str:
    """The text of a ruleset given as a file, or as a git `REVISION:PATH` (read with `git show`)."""
    path = Path(spec)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if ":" not in spec:
        raise click.BadParameter(f"{spec}: no such file (nor a git REVISION:PATH such as main:rules/reference.yaml)")
    try:
        shown = subprocess.run(["git", "show", spec], capture_output=True, check=False)
    except OSError as exc:
        raise click.ClickException(f"{spec}: cannot run git: {exc}") from None
    if shown.returncode != 0:
        raise click.ClickException(f"{spec}: git show failed: {shown.stderr.decode(errors='replace').strip()}")
    return shown.stdout.decode("utf-8")


def _load_source(spec: str, side: str, same_as=None):
    """The ruleset at `spec`, or exit 1 listing its problems; `same_as` is returned for the same text."""
    from bcapi.engine import InvalidRuleset, parse_ruleset

    text = read_ruleset_source(spec)
    if same_as is not None and same_as.text == text:
        return same_as
    try:
        return parse_ruleset(text, spec)
    except InvalidRuleset as exc:
        click.echo(f"the {side} ruleset has problems:", err=True)
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.exceptions.Exit(1) from None


# -- diff --------------------------------------------------------------------------------------
@rules.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def diff(old: str, new: str, fmt: str) -> None:
    """Rules added, removed and changed, and changed parameters, weights and thresholds.

    OLD and NEW are files or git revisions of one (main:rules/reference.yaml).

    \b
    Exit codes:
      0  compared (whether or not anything changed)
      1  a ruleset cannot be read or has problems (listed)
      2  usage error
    """
    from bcapi.engine import rulediff

    before = _load_source(old, "old")
    result = rulediff.diff_rulesets(before, _load_source(new, "new", same_as=before))
    if fmt == "json":
        click.echo(rulediff.render_json(result))
    elif fmt == "markdown":
        click.echo(rulediff.render_markdown(result, old, new))
    else:
        click.echo(rulediff.render_text(result, old, new))


# -- impact ------------------------------------------------------------------------------------
def case_files(folders: tuple[Path, ...]) -> Iterator[tuple[str, str]]:
    """(name shown, path) of every *.json under the folders, streamed folder by folder."""
    for folder in folders:
        for directory, subdirectories, names in os.walk(folder):
            subdirectories.sort()
            for name in sorted(n for n in names if n.endswith(".json")):
                full = os.path.join(directory, name)
                rel = os.path.relpath(full, folder)
                yield (rel if len(folders) == 1 else os.path.join(str(folder), rel)), full


@contextlib.contextmanager
def _progress(count) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal; `count()` is only called then."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=count(), label="assessing", file=sys.stderr) as bar:
        yield bar


@rules.command("impact")
@click.option("--base", required=True, help="the ruleset before: a file or REVISION:PATH")
@click.option("--head", required=True, help="the ruleset after: a file or REVISION:PATH")
@click.option("--cases", "case_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="a folder of case JSON files (repeatable)")
@click.option("--database", "database_url", help="SQLAlchemy URL: every stored case's current revision")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--fail-on-change", is_flag=True, help="exit 1 when any case's rating changes")
@click.option("--jobs", type=click.IntRange(min=1), help="worker processes (default: every CPU for large runs)")
@click.option("--max-rows", type=click.IntRange(min=0), default=200, show_default=True,
              help="changed cases listed in text and markdown (json lists all)")
def impact(base: str, head: str, case_dirs: tuple[Path, ...], database_url: str | None, fmt: str,
           fail_on_change: bool, jobs: int | None, max_rows: int) -> None:
    """Assess every case under BASE and HEAD and report what changes: per case the rating, score
    and findings before and after; overall how many cases change rating, which way, by criterion.

    \b
    Exit codes:
      0  compared (with --fail-on-change: and no case's rating changed)
      1  with --fail-on-change a rating changed; or a ruleset or the database
         cannot be read
      2  usage error (neither or both of --cases and --database)
    """
    from bcapi.engine import impact_report
    from bcapi.engine.impact import Comparison, ImpactSummary, InvalidCase
    from bcapi.engine.parallel import ordered_map

    if bool(case_dirs) == bool(database_url):
        raise click.UsageError("give --cases DIR or --database URL (one of them)")
    base_ruleset = _load_source(base, "base")
    comparison = Comparison(base_ruleset, _load_source(head, "head", same_as=base_ruleset))
    summary = ImpactSummary()

    def fold(results, bar) -> None:
        for result in results:
            summary.add(result)
            if bar is not None:
                bar.update(1)

    if case_dirs:
        def compare_file(item: tuple[str, str]):
            name, path = item
            try:
                with open(path, "rb") as handle:
                    raw = handle.read()
            except OSError as exc:
                return InvalidCase(name, f"cannot read: {exc.strerror}")
            return comparison.compare_text(name, None, raw)

        with _progress(lambda: sum(1 for _ in case_files(case_dirs))) as bar:
            fold(ordered_map(compare_file, case_files(case_dirs), jobs=jobs), bar)
    else:
        _impact_from_database(database_url, comparison, jobs, fold)

    labels = dict(base=(base, comparison.base_ruleset), head=(head, comparison.head_ruleset),
                  reevaluated=len(comparison.head_ruleset.rules) - len(comparison.reused))
    if fmt == "json":
        click.echo(impact_report.render_json(summary, **labels))
    elif fmt == "markdown":
        click.echo(impact_report.render_markdown(summary, **labels, max_rows=max_rows), nl=False)
    else:
        click.echo(impact_report.render_text(summary, **labels, max_rows=max_rows))
    if fail_on_change and summary.rating_changes:
        raise click.exceptions.Exit(1)


def _impact_from_database(url: str, comparison, jobs: int | None, fold) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from bcapi.storage.database import Database
    from bcapi.engine.parallel import ordered_map
    from bcapi.services.casestream import count_cases, current_documents

    def compare_row(row: tuple[str, str | None, str]):
        case_id, reference, document = row
        return comparison.compare_text(case_id, reference, document, validate=False)

    database = Database(url)
    try:
        with database.reading() as session, _progress(lambda: count_cases(session)) as bar:
            fold(ordered_map(compare_row, current_documents(session), jobs=jobs), bar)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the cases from the database: {exc.__class__.__name__}: "
                                   f"{str(exc).splitlines()[0]}") from None
    finally:
        database.dispose()
