"""Assess a document under a ruleset: run every rule, then score and rate (docs/rules.md).

Deterministic: the same document and ruleset give the same findings, scores and rating.
"""
from __future__ import annotations

import weakref
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .evaluate import NOT_APPLICABLE, PASS, quick_constructor
from .explain import explain
from .model import Assessment, Criterion, CriterionResult, Finding, RuleOutcome, Ruleset

HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")
WORSE = {"green": 0, "amber": 1, "red": 2}


def assess(document: dict[str, Any], ruleset: Ruleset) -> Assessment:
    prepared = _prepare(ruleset)
    params = ruleset.parameters
    outcomes = [evaluate(document, params) for evaluate in prepared.evaluates]
    # One finding per rule (the one prepared for it when it passed or does not apply), counted
    # by criterion, severity and status: counts[slot + status code], a slot per criterion and
    # severity (a plain loop: the fastest way in CPython).
    findings: list[Finding] = []
    counts = [0] * prepared.slots
    for outcome, (passed, not_applicable, template, slot) in zip(outcomes, prepared.rows):
        if outcome is PASS:
            findings.append(passed)
            counts[slot] += 1
        elif outcome is NOT_APPLICABLE:
            findings.append(not_applicable)
            counts[slot + 2] += 1
        else:
            finding = _finding(template, outcome)
            findings.append(finding)
            counts[slot + _STATUS_CODE[finding.status]] += 1
    criteria = tuple(_criterion_result(ruleset, prepared, criterion, groups, counts, findings)
                     for criterion, groups in prepared.criteria)
    total_weight = sum(c.weight for c in ruleset.criteria)
    score = _round(sum(r.score * r.weight for r in criteria) / total_weight)
    blocked = any(counts[slot + 1] or counts[slot + 3] for slot in prepared.blocker_slots)
    # By status, then severity, then rule id (prepared.order holds the last two).
    by_status: dict[str, list[Finding]] = {"error": [], "fail": [], "pass": [], "not_applicable": []}
    for i in prepared.order:
        finding = findings[i]
        by_status[finding.status].append(finding)
    # A case is only as good as its weakest criterion: strength elsewhere cannot buy it back.
    rating = max((_rating(score, blocked, ruleset), *(c.rating for c in criteria)), key=WORSE.__getitem__)
    ordered = (*by_status["error"], *by_status["fail"], *by_status["pass"], *by_status["not_applicable"])
    reasons, path = explain(rating, score, criteria, ordered, ruleset.thresholds, ruleset.severity_weights,
                            failed=(*by_status["error"], *by_status["fail"]),
                            applicable=_applicable_weight(prepared, counts) if prepared.exact_sums else None)
    return Assessment(
        ruleset=ruleset.ref(), rating=rating, score=score, criteria=criteria, findings=ordered,
        figures=money_figures(document), rating_reasons=reasons, path_to_green=path)


def _applicable_weight(prepared: "_Prepared", counts: list[int]):
    """`applicable(criterion_id)`: the weight a criterion's score divides by (explain's input),
    from the counts it was scored from."""
    def applicable(criterion_id: str) -> Decimal:
        groups = next(groups for criterion, groups in prepared.criteria if criterion.id == criterion_id)
        return sum((weight * (counts[slot] + counts[slot + 1] + counts[slot + 3]) for slot, weight, _ in groups),
                   Decimal(0))
    return applicable


_STATUS_CODE = {"pass": 0, "fail": 1, "not_applicable": 2, "error": 3}  # an unknown status is a KeyError
_SEVERITY_RANK = {"blocker": 0, "major": 1, "minor": 2, "advice": 3}


def _finding(template: dict[str, Any], outcome: RuleOutcome) -> Finding:
    return _new_finding({**template, "status": outcome.status, "message": outcome.message,
                         "fields": outcome.fields or template["fields"]})


def _criterion_result(ruleset: Ruleset, prepared: "_Prepared", criterion: Criterion,
                      groups: tuple[tuple[int, Decimal, bool], ...], counts: list[int],
                      findings: list[Finding]) -> CriterionResult:
    """Score and rate one criterion: `groups` are its (slot, weight, severity), a group a severity."""
    passed = failed = not_applicable = errors = 0
    possible: Any = 0
    earned: Any = 0
    blocked = major_failed = False
    for slot, weight, severity in groups:
        p, f, n, e = counts[slot:slot + 4]
        passed += p
        failed += f
        not_applicable += n
        errors += e
        if f + e:
            possible += weight * (f + e)
            blocked = blocked or severity == "blocker"
            major_failed = major_failed or severity == "major"
        if p:
            possible += weight * p
            earned += weight * p
    if not prepared.exact_sums:  # add the weights up one by one, in ruleset order, as is
        possible = sum(weight for weight, f in zip(prepared.weight_of, findings)
                       if f.criterion == criterion.id and f.status != "not_applicable")
        earned = sum(weight for weight, f in zip(prepared.weight_of, findings)
                     if f.criterion == criterion.id and f.status == "pass")
    score = _round(HUNDRED * earned / possible if possible else HUNDRED)
    return _new_criterion_result({
        "id": criterion.id, "title": criterion.title, "weight": criterion.weight, "score": score,
        "rating": _rating(score, blocked, ruleset, major_failed), "passed": passed, "failed": failed,
        "not_applicable": not_applicable, "errors": errors})


def _small(weight: Decimal) -> bool:
    """At most 12 digits before the point and 6 after: any sum of such weights, over any number
    of rules, and any multiple of one, is exact in 28 digits, so in any order the same."""
    return weight.is_finite() and (weight == 0 or weight.adjusted() < 12) and weight.as_tuple().exponent >= -6


_new_finding = quick_constructor(Finding)
_new_criterion_result = quick_constructor(CriterionResult)


class _Prepared:
    """What `assess` needs of a ruleset that is the same for every document: each rule's
    evaluator; its findings for `pass` and `not_applicable` (which carry no message), the rest
    of any other finding, and its counting slot; each criterion's slots; the order findings are
    listed in within a status."""

    __slots__ = ("ruleset", "rules", "sources", "weights", "evaluates", "rows", "slots", "criteria",
                 "blocker_slots", "exact_sums", "weight_of", "order")

    def __init__(self, ruleset: Ruleset):
        self.ruleset = weakref.ref(ruleset)
        self.rules = ruleset.rules
        self.sources = ruleset.sources
        self.weights = ruleset.severity_weights
        self.evaluates = tuple(rule.evaluate for rule in ruleset.rules)
        # A slot of 4 counts (pass, fail, n/a, error) per criterion and severity; rules of an
        # unknown criterion count in slots of their own that no criterion reads.
        slot_of: dict[tuple[str, str], int] = {}
        for criterion in ruleset.criteria:
            for severity in dict.fromkeys(r.severity for r in ruleset.rules if r.criterion == criterion.id):
                slot_of.setdefault((criterion.id, severity), 4 * len(slot_of))
        for rule in ruleset.rules:
            slot_of.setdefault((rule.criterion, rule.severity), 4 * len(slot_of))
        self.slots = 4 * len(slot_of)
        rows = []
        for rule in ruleset.rules:
            template = {"rule_id": rule.id, "criterion": rule.criterion, "severity": rule.severity, "status": None,
                        "title": rule.title, "message": "", "fields": rule.fields, "guidance": rule.guidance,
                        "source": "; ".join(ruleset.sources[s].title for s in rule.source)}
            rows.append((_new_finding({**template, "status": "pass"}),
                         _new_finding({**template, "status": "not_applicable"}), template,
                         slot_of[(rule.criterion, rule.severity)]))
        self.rows = tuple(rows)
        self.criteria = tuple(
            (criterion, tuple((slot, ruleset.severity_weights[severity], severity)
                              for (criterion_id, severity), slot in slot_of.items() if criterion_id == criterion.id))
            for criterion in ruleset.criteria)
        self.blocker_slots = tuple(slot for (_, severity), slot in slot_of.items() if severity == "blocker")
        self.exact_sums = all(_small(Decimal(w)) for w in ruleset.severity_weights.values())
        self.weight_of = tuple(ruleset.severity_weights[rule.severity] for rule in ruleset.rules)
        self.order = tuple(sorted(range(len(ruleset.rules)), key=lambda i: (
            _SEVERITY_RANK[ruleset.rules[i].severity], ruleset.rules[i].id)))


_PREPARED: dict[int, _Prepared] = {}


def _prepare(ruleset: Ruleset) -> _Prepared:
    prepared = _PREPARED.get(id(ruleset))
    if (prepared is None or prepared.ruleset() is not ruleset or prepared.rules is not ruleset.rules
            or prepared.sources is not ruleset.sources or prepared.weights is not ruleset.severity_weights):
        prepared = _Prepared(ruleset)
        if len(_PREPARED) >= 16:  # drop rulesets gone, else the oldest
            for key in [k for k, v in _PREPARED.items() if v.ruleset() is None] or list(_PREPARED)[:1]:
                del _PREPARED[key]
        _PREPARED[id(ruleset)] = prepared
    return prepared


def _rating(score: Decimal, blocked: bool, ruleset: Ruleset, major_failed: bool = False) -> str:
    """Red if a blocker failed or the score is under `amber`; amber if a major rule failed or the
    score is under `green`; else green."""
    if blocked or score < ruleset.thresholds["amber"]:
        return "red"
    return "amber" if major_failed or score < ruleset.thresholds["green"] else "green"


def _round(value: Decimal) -> Decimal:
    return Decimal(value).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    return Decimal(value)


def money_figures(document: dict[str, Any]) -> dict[str, Decimal | None]:
    """The money a case puts in play, as stated (or, failing that, as the yearly lines add up)."""
    finance = document.get("finance") if isinstance(document.get("finance"), dict) else {}

    def stated_or_summed(total_key: str, lines_key: str, parts: tuple[str, ...]) -> Decimal | None:
        stated = _number(finance.get(total_key))
        if stated is not None:
            return stated
        lines = finance.get(lines_key)
        if not isinstance(lines, list) or not lines:
            return None
        return sum((_number(line.get(p)) or Decimal(0) for line in lines if isinstance(line, dict)
                    for p in parts), Decimal(0))

    return {
        "total_investment": stated_or_summed("total_investment", "investment", ("one_off", "recurring")),
        "total_savings": stated_or_summed("total_savings", "savings", ("amount",)),
    }
