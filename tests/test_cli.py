"""The `bcapi` command, as operators and rule maintainers use it."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from bcapi.services.principal import hash_key
from bcapi.cli.main import main
from bcapi.storage.models import ApiKey

EXAMPLES = Path(__file__).resolve().parent.parent / "schemas" / "examples"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("BCAPI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("BCAPI_INSTANCE_PATH", str(tmp_path))
    return CliRunner()


def test_db_upgrade_then_keys_create_prints_the_key_last_and_stores_only_its_hash(runner, tmp_path):
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["keys", "create", "--role", "commissioner", "--consortium", "EAS",
                                  "--label", "EAS tool"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("bcapi_") and len(key) > 40
    engine = create_engine(f"sqlite:///{tmp_path}/cli.sqlite3")
    with engine.connect() as conn:
        row = conn.execute(select(ApiKey.key_hash, ApiKey.role, ApiKey.consortium_code)).one()
    engine.dispose()
    assert row == (hash_key(key), "commissioner", "EAS")
    assert key not in (tmp_path / "cli.sqlite3").read_bytes().decode("latin-1")


def test_a_commissioner_key_needs_a_consortium(runner):
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["keys", "create", "--role", "commissioner"])
    assert result.exit_code == 2 and "consortium" in result.stderr


def test_assess_a_file_offline_as_json_matches_the_engine(runner):
    result = runner.invoke(main, ["assess", str(EXAMPLES / "dermatology-gpwsi.json"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assessment = json.loads(result.stdout)
    assert assessment["rating"] == "red" and assessment["case_id"] is None
    assert any(f["status"] == "fail" for f in assessment["findings"])


def test_assess_text_groups_failures_by_criterion(runner):
    result = runner.invoke(main, ["assess", str(EXAMPLES / "dermatology-gpwsi.json")])
    assert result.exit_code == 0
    assert result.stdout.startswith("Overall: RED")
    assert "Conflicts of interest" in result.stdout and "what to do:" in result.stdout


def test_assess_reports_an_invalid_file_by_pointer(runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": "1", "title": "x"}')
    result = runner.invoke(main, ["assess", str(bad)])
    assert result.exit_code == 2
    assert "/title" in result.stderr and "/consortium" in result.stderr


def test_serve_demo_loads_the_sample_cases_and_prints_working_keys(runner, tmp_path, monkeypatch):
    """The README's first command: migrate, load the samples, print a key per role (gunicorn stubbed)."""
    served = {}
    monkeypatch.setattr("bcapi.http.server.run", lambda **kwargs: served.update(kwargs))
    result = runner.invoke(main, ["serve", "--demo", "--bind", "127.0.0.1:8123"])
    assert result.exit_code == 0, result.output
    assert served["bind"] == "127.0.0.1:8123"
    assert "http://127.0.0.1:8123/api/v1/cases" in result.output
    eas_key = next(line.split()[-1] for line in result.output.splitlines() if "commissioner (EAS)" in line)

    from bcapi.http.app import create_app

    app = create_app({"BCAPI_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3", "BCAPI_INSTANCE_PATH": str(tmp_path)})
    listed = app.test_client().get("/api/v1/cases", headers={"Authorization": f"Bearer {eas_key}"})
    assert listed.status_code == 200
    titles = {item["title"] for item in listed.get_json()["items"]}
    assert titles == {json.loads(p.read_text())["title"] for p in EXAMPLES.glob("*.json")
                      if json.loads(p.read_text())["consortium"]["code"] == "EAS"}
    app.extensions["bcapi"].db.dispose()


# -- what sets the rating, --fail-on, colour ------------------------------------------------------
def _rule(rule_id: str, criterion: str, severity: str) -> str:
    """A rule that fails when its id is listed in the document's finance.assumptions."""
    return (f"  - id: {rule_id}\n    criterion: {criterion}\n    severity: {severity}\n"
            f"    title: Rule {rule_id} is met.\n"
            f"    check: '!(\"{rule_id}\" in get(doc.finance.assumptions, []))'\n"
            f"    message: {rule_id} is not met.\n    fields: [/finance/assumptions]\n"
            f"    guidance: Do what {rule_id} asks.\n    source: test\n")


# financial (weight 5): blocker 10 + major 5 + minor 2 = 17; governance (weight 95): minor 2.
SMALL_RULESET = (
    "ruleset: {id: cli-test, version: '1', title: CLI test}\n"
    "sources:\n  test: {title: The test}\n"
    "parameters: {}\n"
    "severity_weights: {blocker: 10, major: 5, minor: 2, advice: 0}\n"
    "rating: {green: 75, amber: 50}\n"
    "criteria:\n  - {id: financial, title: Financial impact, weight: 5}\n"
    "  - {id: governance, title: Governance, weight: 95}\n"
    "rules:\n" + _rule("F-BLOCK", "financial", "blocker") + _rule("F-MAJOR", "financial", "major")
    + _rule("F-MIN1", "financial", "minor") + _rule("G-MIN1", "governance", "minor"))


@pytest.fixture
def small(tmp_path):
    """(ruleset path, write(name, *failing rule ids) -> case file path)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(SMALL_RULESET)

    def write(name: str, *failing: str) -> Path:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"schema_version": "1", "title": f"The {name} case",
                                    "consortium": {"code": "EAS", "name": "East"},
                                    "finance": {"assumptions": list(failing)}}))
        return path

    return rules, write


def test_a_red_case_with_a_high_score_reads_red_first_with_what_sets_it_and_the_path_to_green(runner, small):
    rules, write = small
    # financial 100 x 7/17 = 41.2 (red); overall 41.2 x 0.05 + 100 x 0.95 = 97.06 -> 97.1, red by the blocker
    result = runner.invoke(main, ["assess", str(write("red", "F-BLOCK")), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:9] == [
        "Overall: RED  score 97.1/100",
        "What sets this rating:",
        "  RED   A blocker failed, which makes the case red whatever its score: Rule F-BLOCK is met. (F-BLOCK)",
        "  RED   Financial impact scores 41.2, under the amber threshold of 50.",
        "",
        "To reach green, fix this rule:",
        "  1. [blocker] F-BLOCK: Rule F-BLOCK is met.",
        "     at /finance/assumptions",
        "",
    ]
    assert lines[9].startswith("ruleset cli-test 1 (")
    assert "\x1b[" not in result.output  # not a terminal: no colour


def test_a_green_case_says_nothing_holds_it_back(runner, small):
    rules, write = small
    result = runner.invoke(main, ["assess", str(write("green")), "--rules", str(rules)])
    assert result.stdout.splitlines()[:2] == ["Overall: GREEN  score 100.0/100", "Nothing holds this case below green."]


@pytest.mark.parametrize("failing, fail_on, code", [
    ((), "amber", 0), ((), "red", 0),
    (("F-MAJOR",), "amber", 1), (("F-MAJOR",), "red", 0), (("F-MAJOR",), None, 0),
    (("F-BLOCK",), "amber", 1), (("F-BLOCK",), "red", 1), (("F-BLOCK",), None, 0),
])
def test_fail_on_exits_1_when_the_rating_is_at_or_below_the_level(runner, small, failing, fail_on, code):
    rules, write = small
    args = ["assess", str(write("case", *failing)), "--rules", str(rules), "--format", "json"]
    result = runner.invoke(main, args + (["--fail-on", fail_on] if fail_on else []))
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout)["rating"] == {(): "green", ("F-MAJOR",): "amber", ("F-BLOCK",): "red"}[failing]


def test_fail_on_exits_2_for_a_file_that_is_missing_not_json_or_not_a_business_case(runner, small, tmp_path):
    rules, _ = small
    missing = runner.invoke(main, ["assess", str(tmp_path / "nowhere.json"), "--rules", str(rules), "--fail-on", "red"])
    assert missing.exit_code == 2 and "nowhere.json: cannot read the file" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": "1",')
    not_json = runner.invoke(main, ["assess", str(broken), "--rules", str(rules), "--fail-on", "red"])
    assert not_json.exit_code == 2 and "broken.json: not valid JSON" in not_json.stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"schema_version": "1", "title": "x", "consortium": {"code": "EAS", "name": "E"},'
                       ' "period": {"years": 99}}')
    result = runner.invoke(main, ["assess", str(invalid), "--rules", str(rules), "--fail-on", "red"])
    assert result.exit_code == 2
    assert "/title" in result.stderr and "/period/years" in result.stderr
    usage = runner.invoke(main, ["assess", str(invalid), "--fail-on", "green"])
    assert usage.exit_code == 2


def test_assess_help_gives_the_exit_codes(runner):
    text = runner.invoke(main, ["assess", "--help"]).stdout
    assert "--fail-on [red|amber]" in text
    assert "Exit codes:" in text and "  1  with --fail-on: the rating is at or below that level" in text
    assert "  2  usage or document error" in text


def test_colour_only_when_forced_and_never_with_no_color(runner, small, monkeypatch):
    rules, write = small
    args = ["assess", str(write("red", "F-BLOCK")), "--rules", str(rules)]
    coloured = runner.invoke(main, args, color=True)
    assert coloured.exit_code == 0
    assert coloured.stdout.startswith("\x1b[")  # the headline is styled (red, bold)
    assert click.unstyle(coloured.stdout).startswith("Overall: RED  score 97.1/100\nWhat sets this rating:")
    monkeypatch.setenv("NO_COLOR", "1")
    plain = runner.invoke(main, args, color=True)
    assert "\x1b" not in plain.output and plain.stdout == click.unstyle(coloured.stdout)
    monkeypatch.setenv("NO_COLOR", "")  # set but empty: colour as usual
    assert "\x1b[" in runner.invoke(main, args, color=True).stdout


def test_no_ansi_code_is_written_by_hand_in_the_cli():
    """Colour goes through click.style, which knows when to leave it out."""
    for path in (Path(__file__).resolve().parent.parent / "bcapi" / "cli").glob("*.py"):
        text = path.read_text()
        assert "\\033[" not in text and "\\x1b[" not in text and "\\u001b" not in text, path
