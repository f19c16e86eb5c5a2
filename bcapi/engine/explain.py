"""Why an assessment has its rating, and the shortest path to green.

Worked out from an assessment's findings and criterion results and the ruleset's rating
thresholds and severity weights, by the rules of docs/rules.md ("Scoring"):

- `rating_reasons`, worst first: every failed (or erroring) blocker, every criterion score and
  the overall score under the amber threshold (each makes the case red); then every failed major
  rule and every score under the green threshold (each keeps it from green).
- `path_to_green`, in the order to fix them: every failed blocker, then every failed major
  rule, then the fewest other scored rules (minor ones, and any severity weighted above 0) that
  lift each criterion's score to the green threshold once those are fixed. Every criterion at
  or over the threshold puts the overall score, their weighted mean, there too.

A green assessment costs nothing; otherwise the work is over the failed findings, plus one pass
over the findings when minor rules are needed to lift a score.
"""
from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from .model import CriterionResult, Finding, PathStep, RatingReason

FAILED = ("fail", "error")
HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")


def explain(rating: str, score: Decimal, criteria: Sequence[CriterionResult], findings: Iterable[Finding],
            thresholds: Mapping[str, Decimal], severity_weights: Mapping[str, Decimal],
            failed: Sequence[Finding] | None = None, applicable: Callable[[str], Decimal] | None = None,
            ) -> tuple[tuple[RatingReason, ...], tuple[PathStep, ...]]:
    """(rating_reasons, path_to_green) of an assessment; both empty when it is green.

    What the caller may have at hand, to save a pass over every finding: `failed`, the findings
    that failed or erred, in the order of `findings`; `applicable(criterion_id)`, the weight of
    the criterion's applicable rules (passed, failed or erring), which its score divides by."""
    if rating == "green":
        return (), ()
    if failed is None:
        findings = tuple(findings)
        failed = [f for f in findings if f.status in FAILED]
    return (_reasons(score, criteria, failed, thresholds),
            _path(criteria, findings, failed, thresholds["green"], severity_weights, applicable))


def _reasons(score: Decimal, criteria: Sequence[CriterionResult], failed: Sequence[Finding],
             thresholds: Mapping[str, Decimal]) -> tuple[RatingReason, ...]:
    green, amber = thresholds["green"], thresholds["amber"]
    red: list[RatingReason] = []
    held: list[RatingReason] = []  # amber
    for f in failed:
        if f.severity == "blocker":
            red.append(_rule_reason(f.rule_id, f.criterion, "blocker", f.status, f.title))
        elif f.severity == "major":
            held.append(_rule_reason(f.rule_id, f.criterion, "major", f.status, f.title))
    for c in criteria:
        if c.score < amber:
            red.append(RatingReason("red", c.id, None, None,
                                    f"{c.title} scores {c.score}, under the amber threshold of {_figure(amber)}."))
        elif c.score < green:
            held.append(RatingReason("amber", c.id, None, None,
                                     f"{c.title} scores {c.score}, under the green threshold of {_figure(green)}."))
    if score < amber:
        red.append(RatingReason("red", None, None, None,
                                f"The overall score is {score}, under the amber threshold of {_figure(amber)}."))
    elif score < green:
        held.append(RatingReason("amber", None, None, None,
                                 f"The overall score is {score}, under the green threshold of {_figure(green)}."))
    return (*red, *held)


@lru_cache(maxsize=4096)  # the same for every document that fails the rule: made once
def _rule_reason(rule_id: str, criterion: str, severity: str, status: str, title: str) -> RatingReason:
    what = "failed" if status == "fail" else "could not be checked"
    if severity == "blocker":
        return RatingReason("red", criterion, rule_id, severity,
                            f"A blocker {what}, which makes the case red whatever its score: {_clause(title)}.")
    return RatingReason("amber", criterion, rule_id, severity,
                        f"A major rule {what}, which keeps the case from green: {_clause(title)}.")


def _path(criteria: Sequence[CriterionResult], findings: Iterable[Finding], failed: Sequence[Finding],
          green: Decimal, weights: Mapping[str, Decimal],
          applicable: Callable[[str], Decimal] | None) -> tuple[PathStep, ...]:
    must = [f for f in failed if f.severity == "blocker"] + [f for f in failed if f.severity == "major"]
    scored = [f for f in failed if f.severity not in ("blocker", "major") and weights[f.severity] > 0]
    if not scored:  # with its blockers and majors fixed, every criterion scores 100
        return tuple(map(_step, must))
    # Once `must` is fixed, a criterion earns its applicable weight less that of its scored failures.
    short: dict[str, Decimal] = {}
    for f in scored:
        short[f.criterion] = short.get(f.criterion, Decimal(0)) + weights[f.severity]
    if applicable is None:
        applicable = _applicable_weights(findings, short, weights).__getitem__
    chosen: list[Finding] = []
    for c in criteria:
        if c.id not in short:
            continue
        possible = applicable(c.id)
        earned = possible - short[c.id]
        # The heaviest first: the fewest rules that lift the score (a stable sort keeps the
        # findings' order, errors first and then by rule id, among rules of the same weight).
        for f in sorted((f for f in scored if f.criterion == c.id), key=lambda f: -weights[f.severity]):
            if _score(earned, possible) >= green:
                break
            chosen.append(f)
            earned += weights[f.severity]
    return tuple(map(_step, must + chosen))


def _applicable_weights(findings: Iterable[Finding], criteria: Iterable[str],
                        weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The weight of the applicable rules (passed, failed or erring) of each of `criteria`."""
    total = dict.fromkeys(criteria, Decimal(0))
    for f in findings:
        if f.criterion in total and f.status != "not_applicable":
            total[f.criterion] += weights[f.severity]
    return total


def _score(earned: Decimal, possible: Decimal) -> Decimal:
    """A criterion's score as bcapi.engine.assess works it out: rounded half up to one place."""
    return (HUNDRED * earned / possible if possible else HUNDRED).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def _step(f: Finding) -> PathStep:
    return _new_step(f.rule_id, f.criterion, f.severity, f.title, tuple(f.fields), f.guidance)


@lru_cache(maxsize=4096)  # mostly the same for every document that fails the rule
def _new_step(rule_id: str, criterion: str, severity: str, title: str, fields: tuple[str, ...],
              guidance: str) -> PathStep:
    return PathStep(rule_id, criterion, severity, title, fields, guidance)


def _clause(title: str) -> str:
    """A rule's title inside a sentence: without the full stop it may end with."""
    return title.strip().rstrip(".")


def _figure(value: Decimal) -> str:
    """A threshold as written: 75, not 75.0 or 7.5E+1."""
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def explain_dict(assessment: Mapping, thresholds: Mapping[str, Decimal],
                 severity_weights: Mapping[str, Decimal]) -> tuple[tuple[RatingReason, ...], tuple[PathStep, ...]]:
    """`explain` of an Assessment in its contract shape (a stored body, parsed with exact decimals)."""
    criteria = [_made(CriterionResult, c) for c in assessment["criteria"]]
    findings = [_made(Finding, {**f, "fields": tuple(f.get("fields") or ())}) for f in assessment["findings"]]
    return explain(assessment["rating"], assessment["score"], criteria, findings, thresholds, severity_weights)


def _made(cls: type, values: Mapping) -> Any:
    """`cls` from a stored dict that may lack keys added since (or hold keys added later)."""
    return cls(**{f.name: values.get(f.name) for f in dataclasses.fields(cls)})
