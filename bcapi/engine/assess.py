"""Assess a document under a ruleset: run every rule, then score and rate (docs/rules.md).

Deterministic: the same document and ruleset give the same findings, scores and rating.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .model import Assessment, CriterionResult, Finding, Ruleset

HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")


def assess(document: dict[str, Any], ruleset: Ruleset) -> Assessment:
    findings = []
    for rule in ruleset.rules:
        outcome = rule.evaluate(document, ruleset.parameters)
        findings.append(Finding(
            rule_id=rule.id, criterion=rule.criterion, severity=rule.severity, status=outcome.status,
            title=rule.title, message=outcome.message, fields=outcome.fields or rule.fields,
            guidance=rule.guidance, source="; ".join(ruleset.sources[s].title for s in rule.source)))
    criteria = tuple(_score_criterion(ruleset, c.id, [f for f in findings if f.criterion == c.id])
                     for c in ruleset.criteria)
    total_weight = sum(c.weight for c in ruleset.criteria)
    score = _round(sum(r.score * r.weight for r in criteria) / total_weight)
    blocked = any(_counts_as_failed(f) and f.severity == "blocker" for f in findings)
    return Assessment(
        ruleset=ruleset.ref(), rating=_rating(score, blocked, ruleset), score=score, criteria=criteria,
        findings=tuple(sorted(findings, key=_finding_order)), figures=money_figures(document))


def _counts_as_failed(finding: Finding) -> bool:
    return finding.status in ("fail", "error")


def _finding_order(finding: Finding) -> tuple:
    status_rank = {"error": 0, "fail": 1, "pass": 2, "not_applicable": 3}[finding.status]
    severity_rank = {"blocker": 0, "major": 1, "minor": 2, "advice": 3}[finding.severity]
    return (status_rank, severity_rank, finding.rule_id)


def _score_criterion(ruleset: Ruleset, criterion_id: str, findings: list[Finding]) -> CriterionResult:
    criterion = ruleset.criterion(criterion_id)
    weights = ruleset.severity_weights
    applicable = [f for f in findings if f.status != "not_applicable"]
    possible = sum(weights[f.severity] for f in applicable)
    earned = sum(weights[f.severity] for f in applicable if f.status == "pass")
    score = _round(HUNDRED * earned / possible if possible else HUNDRED)
    blocked = any(_counts_as_failed(f) and f.severity == "blocker" for f in findings)
    return CriterionResult(
        id=criterion.id, title=criterion.title, weight=criterion.weight, score=score,
        rating=_rating(score, blocked, ruleset),
        passed=sum(f.status == "pass" for f in findings),
        failed=sum(f.status == "fail" for f in findings),
        not_applicable=sum(f.status == "not_applicable" for f in findings),
        errors=sum(f.status == "error" for f in findings))


def _rating(score: Decimal, blocked: bool, ruleset: Ruleset) -> str:
    if blocked or score < ruleset.thresholds["amber"]:
        return "red"
    return "amber" if score < ruleset.thresholds["green"] else "green"


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
