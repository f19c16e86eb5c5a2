"""Run a ruleset's own fixtures and say which rules they exercise (`bcapi rules test`).

A fixture file (rules/tests/*.yaml, format in rules/tests/README.md) names a base case document
and a list of tests; each test patches a copy of the base (RFC 6902 JSON Patch) or gives its
document inline, and expects a status per rule id and, optionally, a rating. A failed
expectation shows what the rule said and the values it read, in the spirit of `opa test`.

Coverage counts a rule as covered when at least one met expectation saw it `pass` and another
saw it `fail`: a rule never seen failing is untested, whatever its passing fixtures say.
"""
from __future__ import annotations

import copy
import dataclasses
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import jsonpatch
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bcapi.document import JSONBodyError, loads, validate_document

from .assess import assess
from .model import STATUSES, Rule, Ruleset
from .template import display

RATINGS = ("green", "amber", "red")
ABSENT = object()


@dataclass(frozen=True)
class Mismatch:
    """One expectation a test did not meet."""

    rule_id: str
    expected: str
    actual: str
    message: str = ""
    values: tuple[tuple[str, Any], ...] = ()  # field path the rule read -> its value in the document

    def describe(self) -> str:
        lines = [f"  {self.rule_id}: expected {self.expected}, got {self.actual}"]
        if self.message:
            lines.append(f"    message: {self.message}")
        for path, value in self.values:
            lines.append(f"    {path} = {_show(value)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RuleTestResult:
    name: str
    file: str
    line: int | None
    passed: bool
    mismatches: tuple[Mismatch, ...] = ()
    expected_rating: str | None = None
    actual_rating: str | None = None
    problem: str | None = None  # the test itself is broken: bad patch, invalid document ...
    statuses: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    seconds: float = field(default=0.0, repr=False, compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def describe(self) -> str:
        head = f"FAIL {self.where} {self.name}"
        if self.problem:
            return f"{head}\n  {self.problem}"
        lines = [head, *(m.describe() for m in self.mismatches)]
        if self.expected_rating and self.expected_rating != self.actual_rating:
            lines.append(f"  rating: expected {self.expected_rating}, got {self.actual_rating}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RuleTestReport:
    results: tuple[RuleTestResult, ...]
    covered: tuple[str, ...]     # rules with a met `pass` and a met `fail` expectation
    uncovered: tuple[str, ...]   # every other rule, in ruleset order
    coverage_pct: float
    seen: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)  # rule -> statuses met

    def missing(self, rule_id: str) -> str:
        """What an uncovered rule lacks, e.g. 'no failing fixture'."""
        seen = self.seen.get(rule_id, frozenset())
        lacking = [f"no {word} fixture" for status, word in (("pass", "passing"), ("fail", "failing"))
                   if status not in seen]
        return " and ".join(lacking) or "covered"

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[RuleTestResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def run_rule_tests(ruleset: Ruleset, paths: Iterable[str | Path]) -> RuleTestReport:
    """Run every test in the fixture files at `paths` against `ruleset`."""
    rules = {rule.id: rule for rule in ruleset.rules}
    results: list[RuleTestResult] = []
    seen: dict[str, set[str]] = {rule_id: set() for rule_id in rules}
    for path in paths:
        for result in _run_file(ruleset, rules, Path(path)):
            results.append(result)
            for rule_id, status in result.statuses.items():
                seen[rule_id].add(status)
    covered = tuple(r.id for r in ruleset.rules if {"pass", "fail"} <= seen[r.id])
    uncovered = tuple(r.id for r in ruleset.rules if r.id not in covered)
    pct = 100.0 * len(covered) / len(ruleset.rules) if ruleset.rules else 100.0
    return RuleTestReport(tuple(results), covered, uncovered, pct,
                          {rule_id: frozenset(statuses) for rule_id, statuses in seen.items()})


def _run_file(ruleset: Ruleset, rules: dict[str, Rule], path: Path) -> list[RuleTestResult]:
    file = str(path)
    try:
        raw = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        return [RuleTestResult("(file)", file, None, False, problem=f"cannot read the fixture file: {exc}")]
    if not isinstance(raw, dict) or not isinstance(raw.get("tests"), list):
        return [RuleTestResult("(file)", file, 1, False,
                               problem="a fixture file is a mapping with a 'tests' list (and usually 'base')")]
    base: Any = ABSENT
    if "base" in raw:
        try:
            base = loads((path.parent / str(raw["base"])).read_bytes())
        except (OSError, JSONBodyError) as exc:
            return [RuleTestResult("(file)", file, _line(raw, "base"), False,
                                   problem=f"cannot read the base document {raw['base']}: {exc}")]
    results = []
    for index, test in enumerate(raw["tests"]):
        started = time.perf_counter()
        result = _run_test(ruleset, rules, file, base, test, index)
        results.append(dataclasses.replace(result, seconds=time.perf_counter() - started))
    return results


def _run_test(ruleset: Ruleset, rules: dict[str, Rule], file: str, base: Any, test: Any,
              index: int) -> RuleTestResult:
    line = test.lc.line + 1 if hasattr(test, "lc") else None
    if not isinstance(test, dict):
        return RuleTestResult(f"#{index + 1}", file, line, False, problem="a test is a mapping")
    name = str(test.get("name") or f"#{index + 1}")

    def broken(problem: str) -> RuleTestResult:
        return RuleTestResult(name, file, line, False, problem=problem)

    expect = _plain(test.get("expect") or {})
    rating = test.get("expect_rating")
    if not isinstance(expect, dict) or not (expect or rating):
        return broken("a test needs 'expect' (rule id: status) or 'expect_rating'")
    unknown = [k for k in expect if k not in rules]
    if unknown:
        return broken(f"unknown rule id(s): {', '.join(map(str, unknown))}")
    bad = [f"{k}: {v}" for k, v in expect.items() if v not in STATUSES]
    if bad:
        return broken(f"a status is one of {', '.join(STATUSES)} (got {'; '.join(bad)})")
    if rating is not None and rating not in RATINGS:
        return broken(f"expect_rating is one of {', '.join(RATINGS)} (got {rating})")

    if "document" in test:
        document = _plain(test["document"])
    elif base is ABSENT:
        return broken("the test gives no 'document' and the file no 'base'")
    else:
        document = copy.deepcopy(base)
    if "patch" in test:
        try:
            document = jsonpatch.JsonPatch(_plain(test["patch"])).apply(document)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            return broken(f"the patch does not apply: {exc}")
    errors = validate_document(document)
    if errors:
        shown = "; ".join(f"{e.pointer} {e.detail}" for e in errors[:5])
        return broken(f"the test document is not a valid business case: {shown}")

    assessment = assess(document, ruleset)
    actual = {f.rule_id: f for f in assessment.findings}
    mismatches = tuple(
        Mismatch(rule_id, status, actual[rule_id].status, actual[rule_id].message,
                 _values_read(rules[rule_id], document))
        for rule_id, status in expect.items() if actual[rule_id].status != status)
    met = {rule_id: status for rule_id, status in expect.items() if actual[rule_id].status == status}
    passed = not mismatches and (rating is None or rating == assessment.rating)
    return RuleTestResult(name, file, line, passed, mismatches, rating, assessment.rating,
                          statuses=met)


def _line(node: Any, key: str) -> int | None:
    try:
        return node.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _plain(node: Any) -> Any:
    """YAML values as the JSON parser gives them: floats become exact decimals."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return Decimal(repr(float(node)))
    if isinstance(node, str):
        return str(node)
    return node


def _values_read(rule: Rule, document: dict) -> tuple[tuple[str, Any], ...]:
    """The document's value at each `doc.` path the rule reads (item paths need an item, so not shown)."""
    reads = getattr(rule.evaluate, "reads", ())
    shown = []
    for path in reads:
        if not isinstance(path, str) or not path.startswith("doc."):
            continue
        shown.append((path, resolve(document, path)))
    return tuple(shown)


def resolve(document: Any, path: str) -> Any:
    """The value at a `doc.a.b` path; across a list, the values of each element; ABSENT if missing."""
    steps = [s for s in path.replace("[]", "").split(".")[1:] if s]
    return _walk(document, steps)


def _walk(node: Any, steps: list[str]) -> Any:
    for i, step in enumerate(steps):
        if isinstance(node, list):
            return [_walk(element, steps[i:]) for element in node]
        if not isinstance(node, dict) or step not in node:
            return ABSENT
        node = node[step]
    return node


def _show(value: Any, limit: int = 160) -> str:
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, list):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_show(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = display(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def junit_xml(report: RuleTestReport, suite: str = "bcapi rule tests") -> str:
    """The report as JUnit XML: a testsuite per fixture file, a testcase per test, each named
    uniquely (CI reporters key on names); a broken test is an error, an unmet expectation a failure."""
    repeated = Counter((r.file, r.name) for r in report.results)
    root = ET.Element("testsuites", name=suite, tests=str(len(report.results)),
                      failures=str(sum(not r.passed and not r.problem for r in report.results)),
                      errors=str(sum(bool(r.problem) for r in report.results)))
    suites: dict[str, ET.Element] = {}
    used: set[str] = set()
    for result in report.results:
        stem = Path(result.file).stem
        if result.file not in suites:
            mine = [r for r in report.results if r.file == result.file]
            suites[result.file] = ET.SubElement(
                root, "testsuite", name=f"rules.{stem}", file=result.file, tests=str(len(mine)),
                failures=str(sum(not r.passed and not r.problem for r in mine)),
                errors=str(sum(bool(r.problem) for r in mine)), time=f"{sum(r.seconds for r in mine):.4f}")
        name = f"{stem}: {result.name}"
        if repeated[(result.file, result.name)] > 1 and result.line:
            name += f" (line {result.line})"
        unique, n = name, 1
        while unique in used:
            n += 1
            unique = f"{name} ({n})"
        used.add(unique)
        case = ET.SubElement(suites[result.file], "testcase", name=unique, classname=f"rules.{stem}",
                             file=result.file, time=f"{result.seconds:.4f}")
        if result.line:
            case.set("line", str(result.line))
        if not result.passed:
            kind = "error" if result.problem else "failure"
            described = result.describe().splitlines()
            first = described[1].strip() if len(described) > 1 else described[0]
            ET.SubElement(case, kind, message=first).text = result.describe()
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


__all__ = ["Mismatch", "RuleTestReport", "RuleTestResult", "junit_xml", "resolve", "run_rule_tests"]
