"""The engine's value types: a loaded ruleset and the assessment it produces.

Plain frozen dataclasses with no Flask or SQLAlchemy in sight, so the API, the CLI
and CI share them. `Assessment.to_dict()` is the contract's Assessment shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

SEVERITIES = ("blocker", "major", "minor", "advice")
STATUSES = ("pass", "fail", "not_applicable", "error")
RATINGS = ("green", "amber", "red")


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    weight: Decimal
    description: str = ""


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str | None = None


@dataclass(frozen=True)
class Rule:
    """One rule as written in the rules file, plus its compiled evaluator.

    `evaluate(document, params)` returns a `RuleOutcome`; it never raises.
    """

    id: str
    criterion: str
    severity: str
    title: str
    guidance: str
    source: tuple[str, ...]
    fields: tuple[str, ...]
    line: int
    spec: dict[str, Any] = field(repr=False, compare=False)
    evaluate: Callable[[dict[str, Any], dict[str, Any]], "RuleOutcome"] = field(repr=False, compare=False)


@dataclass(frozen=True)
class RuleOutcome:
    status: str  # one of STATUSES
    message: str = ""
    fields: tuple[str, ...] = ()
    # What the rule read, for `bcapi rules test` failure reports (expression -> value).
    observed: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Ruleset:
    id: str
    version: str
    title: str
    digest: str  # sha256 of the file's bytes, hex
    text: str  # the file exactly as loaded, for storage by digest
    criteria: tuple[Criterion, ...]
    rules: tuple[Rule, ...]
    parameters: dict[str, Any]
    sources: dict[str, Source]
    severity_weights: dict[str, Decimal]
    thresholds: dict[str, Decimal]  # {"green": .., "amber": ..}

    def criterion(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)

    def ref(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "digest": self.digest}


@dataclass(frozen=True)
class Finding:
    rule_id: str
    criterion: str
    severity: str
    status: str
    title: str
    message: str
    fields: tuple[str, ...]
    guidance: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "criterion": self.criterion,
            "severity": self.severity,
            "status": self.status,
            "title": self.title,
            "message": self.message,
            "fields": list(self.fields),
            "guidance": self.guidance,
            "source": self.source,
        }


@dataclass(frozen=True)
class CriterionResult:
    id: str
    title: str
    weight: Decimal
    score: Decimal
    rating: str
    passed: int
    failed: int
    not_applicable: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "weight": self.weight,
            "score": self.score,
            "rating": self.rating,
            "passed": self.passed,
            "failed": self.failed,
            "not_applicable": self.not_applicable,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class RatingReason:
    """One thing that holds a rating below green: a failed blocker or major rule (`rule_id` set),
    or a score under a threshold (a criterion's, or with `criterion` None the overall score)."""

    rating: str  # "red" or "amber": the rating this reason alone would cap the case at
    criterion: str | None
    rule_id: str | None
    severity: str | None
    reason: str  # one plain sentence

    def to_dict(self) -> dict[str, Any]:
        return {"rating": self.rating, "criterion": self.criterion, "rule_id": self.rule_id,
                "severity": self.severity, "reason": self.reason}


@dataclass(frozen=True)
class PathStep:
    """A failed (or erroring) rule on the shortest path to green, with what to do about it."""

    rule_id: str
    criterion: str
    severity: str
    title: str
    fields: tuple[str, ...]
    guidance: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "criterion": self.criterion, "severity": self.severity,
                "title": self.title, "fields": list(self.fields), "guidance": self.guidance}


@dataclass(frozen=True)
class Assessment:
    """What the engine says of one document under one ruleset: deterministic.

    `rating_reasons` and `path_to_green` (bcapi.engine.explain) are empty for a green case.
    """

    ruleset: dict[str, str]
    rating: str
    score: Decimal
    criteria: tuple[CriterionResult, ...]
    findings: tuple[Finding, ...]
    figures: dict[str, Any] = field(default_factory=dict)  # money in play, for dashboards
    rating_reasons: tuple[RatingReason, ...] = ()
    path_to_green: tuple[PathStep, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleset": dict(self.ruleset),
            "rating": self.rating,
            "score": self.score,
            "rating_reasons": [r.to_dict() for r in self.rating_reasons],
            "path_to_green": [s.to_dict() for s in self.path_to_green],
            "criteria": [c.to_dict() for c in self.criteria],
            "findings": [f.to_dict() for f in self.findings],
        }
