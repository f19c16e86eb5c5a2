"""What a ruleset change does to real cases (`bcapi rules impact`): compare and summarise.

`Comparison` assesses one document under a base and a head ruleset. A head rule whose spec and
the parameters it names are the same as the base's gets the base's outcome instead of being
evaluated twice, so the cost of a small change is close to one assessment; scoring still runs
through `assess` under each ruleset, so the verdicts are exactly those the service would give.

`ImpactSummary` takes one `CaseImpact` (or `InvalidCase`) at a time and keeps only counters
plus a compact row per case that changed, so memory does not grow with the cases that do not.
"""
from __future__ import annotations

import dataclasses
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bcapi.document import JSONBodyError, loads, validate_document

from .assess import assess
from .model import Assessment, Rule, RuleOutcome, Ruleset

FAILING = ("fail", "error")
MAX_INVALID_LISTED = 1000  # invalid cases beyond this are counted, not listed (memory stays bounded)
RATING_ORDER = {"green": 0, "amber": 1, "red": 2}
_PARAM_NAME = re.compile(r"\bparams\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_ANY_PARAMS = re.compile(r"\bparams\b")


@dataclass(frozen=True)
class Verdict:
    """What the impact report needs of one assessment."""

    rating: str
    score: Decimal
    criteria: tuple[tuple[str, str], ...]  # (criterion id, rating), in ruleset order
    failing: frozenset[str]                # rules that failed or could not be evaluated

    @classmethod
    def of(cls, assessment: Assessment) -> "Verdict":
        return cls(assessment.rating, assessment.score,
                   tuple((c.id, c.rating) for c in assessment.criteria),
                   frozenset(f.rule_id for f in assessment.findings if f.status in FAILING))


@dataclass(frozen=True)
class CaseImpact:
    case: str                 # case id, or the file's path under the cases folder
    reference: str | None     # the commissioner's own reference
    before: Verdict
    after: Verdict

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def rating_changed(self) -> bool:
        return self.before.rating != self.after.rating

    @property
    def appeared(self) -> tuple[str, ...]:
        return tuple(sorted(self.after.failing - self.before.failing))

    @property
    def disappeared(self) -> tuple[str, ...]:
        return tuple(sorted(self.before.failing - self.after.failing))



@dataclass(frozen=True, slots=True)
class ChangedRow:
    """A changed case as the report lists it: only what differs, so that many fit in memory."""

    case: str
    reference: str | None
    rating: tuple[str, str]                              # before, after
    score: tuple[Decimal, Decimal]
    appeared: tuple[str, ...]                            # rules failing now, not before
    disappeared: tuple[str, ...]                         # rules failing before, not now
    criteria: tuple[tuple[str, str | None, str | None], ...]  # criteria whose rating changed

    @classmethod
    def of(cls, impact: CaseImpact) -> "ChangedRow":
        intern = sys.intern
        return cls(impact.case, impact.reference, (impact.before.rating, impact.after.rating),
                   (impact.before.score, impact.after.score), tuple(map(intern, impact.appeared)),
                   tuple(map(intern, impact.disappeared)),
                   tuple((intern(c), b, a) for c, (b, a) in _criteria_pairs(impact).items() if a != b))

    @property
    def rating_changed(self) -> bool:
        return self.rating[0] != self.rating[1]

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "reference": self.reference,
                "rating": {"before": self.rating[0], "after": self.rating[1]},
                "score": {"before": self.score[0], "after": self.score[1]},
                "appeared": list(self.appeared), "disappeared": list(self.disappeared),
                "criteria": {c: {"before": b, "after": a} for c, b, a in self.criteria}}


@dataclass(frozen=True)
class InvalidCase:
    """A case that could not be assessed: not JSON, or not a valid business-case document."""

    case: str
    reason: str


def _criteria_pairs(impact: CaseImpact) -> dict[str, tuple[str | None, str | None]]:
    before, after = dict(impact.before.criteria), dict(impact.after.criteria)
    return {c: (before.get(c), after.get(c)) for c in dict.fromkeys([*before, *after])}


def _params_read(rule: Rule) -> set[str] | None:
    """The parameter names a rule's expressions and message use; None if it could use any."""
    texts = [v for v in rule.spec.values() if isinstance(v, str)]
    names = {m.group(1) for t in texts for m in _PARAM_NAME.finditer(t)}
    if sum(len(_ANY_PARAMS.findall(t)) for t in texts) != sum(len(_PARAM_NAME.findall(t)) for t in texts):
        return None  # `params` used other than as params.NAME
    return names


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and str(a) == str(b)


def unchanged_rules(base: Ruleset, head: Ruleset) -> frozenset[str]:
    """Ids of head rules that give the same outcome as the base's on every document."""
    base_rules = {r.id: r for r in base.rules}
    same = set()
    for rule in head.rules:
        old = base_rules.get(rule.id)
        if old is None or old.spec != rule.spec:
            continue
        names = _params_read(rule)
        names = set(base.parameters) | set(head.parameters) if names is None else names
        missing = object()
        if all(_same_value(base.parameters.get(n, missing), head.parameters.get(n, missing)) for n in names):
            same.add(rule.id)
    return frozenset(same)


class Comparison:
    """Assess documents under `base` and `head`, evaluating rules the change left alone once."""

    def __init__(self, base: Ruleset, head: Ruleset):
        self.base_ruleset, self.head_ruleset = base, head
        self.identical = base.digest == head.digest
        self._outcomes: dict[str, RuleOutcome] = {}
        reuse = unchanged_rules(base, head)
        self.reused = reuse
        self.base = dataclasses.replace(base, rules=tuple(self._recording(r) for r in base.rules))
        self.head = dataclasses.replace(head, rules=tuple(
            self._replaying(r) if r.id in reuse else r for r in head.rules))

    def _recording(self, rule: Rule) -> Rule:
        evaluate, outcomes, rule_id = rule.evaluate, self._outcomes, rule.id

        def recorded(document: dict, params: dict) -> RuleOutcome:
            outcomes[rule_id] = outcome = evaluate(document, params)
            return outcome

        return dataclasses.replace(rule, evaluate=recorded)

    def _replaying(self, rule: Rule) -> Rule:
        evaluate, outcomes, rule_id = rule.evaluate, self._outcomes, rule.id

        def replayed(document: dict, params: dict) -> RuleOutcome:
            outcome = outcomes.get(rule_id)
            return evaluate(document, params) if outcome is None else outcome

        return dataclasses.replace(rule, evaluate=replayed)

    def compare(self, case: str, reference: str | None, document: dict[str, Any]) -> CaseImpact:
        self._outcomes.clear()
        before = Verdict.of(assess(document, self.base))
        after = before if self.identical else Verdict.of(assess(document, self.head))
        self._outcomes.clear()
        return CaseImpact(case, reference, before, after)

    def compare_text(self, case: str, reference: str | None, raw: str | bytes, *,
                     validate: bool = True) -> CaseImpact | InvalidCase:
        """Parse (exact decimals), optionally validate, then compare; a bad case is reported, not raised."""
        try:
            document = loads(raw)
        except JSONBodyError as exc:
            return InvalidCase(case, f"not JSON: {exc}")
        if not isinstance(document, dict):
            return InvalidCase(case, "not a business case: the document must be a JSON object")
        if validate:
            errors = validate_document(document)
            if errors:
                shown = "; ".join(f"{e.pointer or '/'} {e.detail}" for e in errors[:3])
                more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
                return InvalidCase(case, f"not a valid business case: {shown}{more}")
        if reference is None:
            ref = document.get("reference")
            reference = ref if isinstance(ref, str) else None
        return self.compare(case, reference, document)


def _transition(before: str | None, after: str | None) -> str:
    return f"{before or 'none'}→{after or 'none'}"


@dataclass
class ImpactSummary:
    """Counters over every case, and the rows of the cases that changed."""

    cases: int = 0
    rating_changes: int = 0
    changes: int = 0
    transitions: Counter = field(default_factory=Counter)          # "green→amber" -> cases
    by_criterion: dict[str, Counter] = field(default_factory=dict)  # criterion -> transitions
    appeared: Counter = field(default_factory=Counter)             # rule id -> cases it now fails
    disappeared: Counter = field(default_factory=Counter)          # rule id -> cases it no longer fails
    ratings_before: Counter = field(default_factory=Counter)
    ratings_after: Counter = field(default_factory=Counter)
    changed: list[ChangedRow] = field(default_factory=list)
    invalid: list[InvalidCase] = field(default_factory=list)  # the first MAX_INVALID_LISTED
    invalid_count: int = 0

    def add(self, result: CaseImpact | InvalidCase) -> None:
        if isinstance(result, InvalidCase):
            self.invalid_count += 1
            if len(self.invalid) < MAX_INVALID_LISTED:
                self.invalid.append(result)
            return
        self.cases += 1
        self.ratings_before[result.before.rating] += 1
        self.ratings_after[result.after.rating] += 1
        if not result.changed:
            return
        row = ChangedRow.of(result)
        self.changes += 1
        self.changed.append(row)
        if row.rating_changed:
            self.rating_changes += 1
            self.transitions[_transition(*row.rating)] += 1
        for criterion, before, after in row.criteria:
            self.by_criterion.setdefault(criterion, Counter())[_transition(before, after)] += 1
        self.appeared.update(row.appeared)
        self.disappeared.update(row.disappeared)

    def rows(self) -> list[ChangedRow]:
        """Changed cases: rating changes first (worst direction first), then by case."""
        def key(row: ChangedRow) -> tuple:
            step = RATING_ORDER.get(row.rating[1], 0) - RATING_ORDER.get(row.rating[0], 0)
            return (not row.rating_changed, -step, row.case)
        return sorted(self.changed, key=key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases, "invalid": self.invalid_count, "changed": self.changes,
            "rating_changed": self.rating_changes, "transitions": dict(self.transitions.most_common()),
            "by_criterion": {c: dict(t.most_common()) for c, t in sorted(self.by_criterion.items())},
            "findings_appeared": dict(sorted(self.appeared.items())),
            "findings_disappeared": dict(sorted(self.disappeared.items())),
            "ratings_before": dict(self.ratings_before), "ratings_after": dict(self.ratings_after),
        }


__all__ = ["CaseImpact", "ChangedRow", "Comparison", "ImpactSummary", "InvalidCase", "Verdict", "unchanged_rules"]
