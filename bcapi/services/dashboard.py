"""The board's portfolio view, computed by SQL aggregation over each case's latest assessment.

What a case counts for (its rating, status, money, criterion scores and failed rules, under its
consortium, service area and month of submission) is written by three grouping queries,
`_case_groups`, `_criterion_groups` and `_failure_groups`. Their results over all cases are kept
in three rollup tables (models.PortfolioCases, PortfolioCriterion, PortfolioFailure), changed in
the transaction of every write that changes what a case counts for (`keeping_rollups`, which
works out one case's figures in Python, `counted_for`, rather than running the queries for it).

The dashboard adds up rollup rows for the whole months its filters cover and the same grouping
queries over the cases themselves for the part-months at the edges of a date range, so any
filter gives exact figures while reading a few thousand rollup rows, not every case's rows.
`portfolio(..., rollups=False)` reads only the cases (the tests compare the two). Overdue cases
and the median time to a decision depend on today and on single cases: they are always read
from the cases. Money is summed in pennies and scores in tenths, as integers, so that sums are
exact and the same on SQLite and PostgreSQL; the dialect differences are in `_Dialect`.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator

from sqlalchemy import (BigInteger, ColumnElement, Select, and_, bindparam, case, cast, delete, func, insert,
                        inspect, literal, or_, select, true, union_all)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bcapi.engine import Ruleset
from bcapi.storage.models import (AssessmentCriterion, BusinessCase, FailedRule, PortfolioCases, PortfolioCriterion,
                          PortfolioFailure)

TOP_RULES = 10
CASES_PER_RULE = 5
TWO_PLACES = Decimal("0.01")
ONE_PLACE = Decimal("0.1")
RATINGS = ("green", "amber", "red")
STATUSES = ("submitted", "revised", "decided")
SEVERITY_RANK = {"blocker": 0, "major": 1, "minor": 2, "advice": 3}


@dataclass(frozen=True)
class PortfolioFilters:
    consortium: str | None = None
    service_area: str | None = None
    submitted_after: dt.datetime | None = None  # inclusive
    submitted_before: dt.datetime | None = None  # exclusive

    def apply(self, query: Select) -> Select:
        return query.where(self.cases(self.submitted_after, self.submitted_before))

    def cases(self, after: dt.datetime | None, before: dt.datetime | None) -> ColumnElement[bool]:
        """SQL: the case is in this consortium and service area, and submitted in [after, before)."""
        conditions = [true()]
        if self.consortium:
            conditions.append(BusinessCase.consortium_code == self.consortium)
        if self.service_area:
            conditions.append(BusinessCase.service_area == self.service_area)
        if after:
            conditions.append(BusinessCase.submitted_at >= after)
        if before:
            conditions.append(BusinessCase.submitted_at < before)
        return and_(*conditions)

    def rollup(self, table, first_month: str | None, end_month: str | None) -> ColumnElement[bool]:
        """SQL: the rollup row is in this consortium and service area, and in [first, end) months."""
        conditions = [true()]
        if self.consortium:
            conditions.append(table.consortium_code == self.consortium)
        if self.service_area:
            conditions.append(table.service_area == self.service_area)
        if first_month:
            conditions.append(table.month >= first_month)
        if end_month:
            conditions.append(table.month < end_month)
        return and_(*conditions)


def awaiting_decision():
    """SQL: the case waits for the board (never decided on this revision, or deferred)."""
    return or_(BusinessCase.status != "decided", BusinessCase.decision_outcome == "deferred")


class _Dialect:
    """The few expressions SQLite and PostgreSQL spell differently."""

    def __init__(self, session: Session):
        self.sqlite = session.get_bind().dialect.name == "sqlite"

    def month(self):
        """'YYYY-MM' of the case's submission, in UTC."""
        if self.sqlite:
            return func.strftime("%Y-%m", BusinessCase.submitted_at)
        return func.to_char(func.timezone("UTC", BusinessCase.submitted_at), "YYYY-MM")

    @staticmethod
    def scaled(column, factor: int):
        """`column` x `factor` as an exact integer (SQLite keeps Numeric as a float)."""
        return cast(func.round(func.coalesce(column, 0) * factor), BigInteger)


# -- what a case counts for: the grouping queries ---------------------------------------------------

def _count_if(condition) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _bucket(d: _Dialect) -> list:
    return [BusinessCase.consortium_code, func.coalesce(BusinessCase.service_area, "").label("service_area"),
            d.month().label("month")]


def _case_groups(d: _Dialect, where) -> Select:
    """Columns as PortfolioCases, from the cases `where` says."""
    code, area, month = _bucket(d)
    return (select(code, BusinessCase.consortium_name, area, month, func.count().label("cases"),
                   *[_count_if(BusinessCase.rating == r).label(r) for r in RATINGS],
                   *[_count_if(BusinessCase.status == s).label(s) for s in STATUSES],
                   _count_if(awaiting_decision()).label("awaiting"),
                   func.sum(d.scaled(BusinessCase.total_investment, 100)).label("investment_pennies"),
                   func.sum(d.scaled(BusinessCase.total_savings, 100)).label("savings_pennies"))
            .where(where).group_by(code, BusinessCase.consortium_name, area, month))


def _criterion_groups(d: _Dialect, where) -> Select:
    """Columns as PortfolioCriterion, from the latest assessments of the cases `where` says."""
    code, area, month = _bucket(d)
    c = AssessmentCriterion
    return (select(code, area, month, c.criterion, func.count().label("cases"),
                   func.sum(d.scaled(c.score, 10)).label("score_tenths"), _count_if(c.rating == "red").label("red"))
            .select_from(c).join(BusinessCase, BusinessCase.latest_assessment_id == c.assessment_id)
            .where(where).group_by(code, area, month, c.criterion))


def _failure_groups(d: _Dialect, where) -> Select:
    """Columns as PortfolioFailure, from the latest assessments of the cases `where` says."""
    code, area, month = _bucket(d)
    f = FailedRule
    return (select(code, area, month, f.rule_id, f.criterion, f.severity, func.count().label("cases"))
            .select_from(f).join(BusinessCase, BusinessCase.latest_assessment_id == f.assessment_id)
            .where(where).group_by(code, area, month, f.rule_id, f.criterion, f.severity))


ROLLUPS = ((PortfolioCases, _case_groups), (PortfolioCriterion, _criterion_groups),
           (PortfolioFailure, _failure_groups))


def _key(model) -> list[str]:
    return [c.name for c in model.__table__.primary_key.columns]


def _counts(model) -> list[str]:
    return [c.name for c in model.__table__.columns if not c.primary_key]


# -- the dashboard ----------------------------------------------------------------------------------

def _month_start(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


@dataclass(frozen=True)
class _Plan:
    """Where the figures come from: rollup rows for months [first, end) (`use_rollups`; None is
    unbounded), and the cases themselves for each [after, before) in `from_cases`."""
    use_rollups: bool
    first_month: str | None
    end_month: str | None
    from_cases: tuple[tuple[dt.datetime | None, dt.datetime | None], ...]


def _plan(filters: PortfolioFilters, rollups: bool) -> _Plan:
    after, before = filters.submitted_after, filters.submitted_before
    everything = _Plan(False, None, None, ((after, before),))
    if not rollups:
        return everything
    try:  # whole months: from the first starting at or after `after` to the last ending by `before`
        first = None if after is None else (
            _month_start(after) if _month_start(after) == after else _next_month(_month_start(after)))
        end = None if before is None else _month_start(before)
    except (OverflowError, ValueError):  # at the ends of the calendar: not worth a rollup
        return everything
    if first is not None and end is not None and first >= end:
        return everything  # not one whole month
    edges = tuple(edge for edge in ((after, first), (end, before)) if edge[0] is not None and edge[0] != edge[1])
    return _Plan(True, first and f"{first:%Y-%m}", end and f"{end:%Y-%m}", edges)


def _source(session: Session, d: _Dialect, filters: PortfolioFilters, plan: _Plan, model, groups):
    """The rollup rows and the cases' own groups the plan names, as one subquery shaped as `model`."""
    parts = [groups(d, filters.cases(after, before)) for after, before in plan.from_cases]
    if plan.use_rollups:
        columns = [getattr(model, name) for name in _key(model) + _counts(model)]
        parts.append(select(*columns).where(filters.rollup(model, plan.first_month, plan.end_month)))
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()


def portfolio(session: Session, filters: PortfolioFilters, ruleset: Ruleset,
              today: dt.date | None = None, *, rollups: bool = True, worst_rules: bool = False) -> dict[str, Any]:
    """The dashboard; `rollups=False` computes every figure from the cases alone (same figures).
    `worst_rules=True` adds the board page's `worst_rules` (see `_worst_rules`), from the same
    counts of failed rules as `failing_rules`."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    d = _Dialect(session)
    plan = _plan(filters, rollups)
    cases = _source(session, d, filters, plan, PortfolioCases, _case_groups)
    totals = _totals(session, cases)
    failures = _failure_counts(session, _source(session, d, filters, plan, PortfolioFailure, _failure_groups))
    most, worst = _most_failed(failures), (_worst_rules(failures, ruleset) if worst_rules else [])
    examples = _newest_failing(session, filters, sorted({row[1] for row in most + worst}))
    return {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "filters": {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in filters.__dict__.items() if v is not None},
        "cases": {"total": totals["cases"], "by_rating": {r: totals[r] for r in RATINGS},
                  "by_status": {s: totals[s] for s in STATUSES}},
        "criteria": _criteria(session, _source(session, d, filters, plan, PortfolioCriterion, _criterion_groups),
                              ruleset),
        "money": _money_in_play(session, cases, totals),
        "failing_rules": [{"rule_id": rule_id, "criterion": criterion, "severity": severity, "count": count,
                           "cases": examples[rule_id]} for count, rule_id, criterion, severity in most],
        **({"worst_rules": _titled(worst, ruleset, examples)} if worst_rules else {}),
        "timeliness": {"awaiting": totals["awaiting"], "overdue": _overdue(session, filters, today, totals["awaiting"]),
                       "median_days_to_decision": _median_days_to_decision(session, filters)},
        "trend": _trend(session, cases),
    }


def _pounds(pennies: Any) -> Decimal:
    return (Decimal(int(pennies or 0)) / 100).quantize(TWO_PLACES)


def _totals(session: Session, cases) -> dict[str, int]:
    names = _counts(PortfolioCases)
    row = session.execute(select(*[func.coalesce(func.sum(cases.c[n]), 0) for n in names])).one()
    return {name: int(value) for name, value in zip(names, row)}


def _in_order(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows by `key`, None last: the same on every database, whatever its collation."""
    return sorted(rows, key=lambda row: (row[key] is None, row[key] or ""))


def _money_in_play(session: Session, cases, totals: dict[str, int]) -> dict[str, Any]:
    sums = (func.sum(cases.c.cases), func.sum(cases.c.investment_pennies), func.sum(cases.c.savings_pennies))
    name = func.max(case((cases.c.cases > 0, cases.c.consortium_name)))
    by_consortium = session.execute(select(cases.c.consortium_code, name, *sums)
                                    .group_by(cases.c.consortium_code).having(sums[0] > 0)).all()
    by_area = session.execute(select(cases.c.service_area, *sums)
                              .group_by(cases.c.service_area).having(sums[0] > 0)).all()
    investment, savings = _pounds(totals["investment_pennies"]), _pounds(totals["savings_pennies"])
    return {
        "total_investment": investment,
        "total_savings": savings,
        "net": savings - investment,
        "by_consortium": _in_order([
            {"code": code, "name": name, "cases": int(n), "investment": _pounds(i), "savings": _pounds(s),
             "net": _pounds(s) - _pounds(i)} for code, name, n, i, s in by_consortium], "code"),
        "by_service_area": _in_order([
            {"service_area": area or None, "cases": int(n), "investment": _pounds(i), "savings": _pounds(s),
             "net": _pounds(s) - _pounds(i)} for area, n, i, s in by_area], "service_area"),
    }


def _trend(session: Session, cases) -> list[dict[str, Any]]:
    n = func.sum(cases.c.cases)
    rows = session.execute(select(cases.c.month, n, *[func.sum(cases.c[r]) for r in RATINGS])
                           .group_by(cases.c.month).having(n > 0)).all()
    return sorted(({"month": month, "submitted": int(total), **{r: int(v) for r, v in zip(RATINGS, counts)}}
                   for month, total, *counts in rows), key=lambda entry: entry["month"])


def _criteria(session: Session, criteria, ruleset: Ruleset) -> list[dict[str, Any]]:
    rows = session.execute(select(criteria.c.criterion, func.sum(criteria.c.cases),
                                  func.sum(criteria.c.score_tenths), func.sum(criteria.c.red))
                           .group_by(criteria.c.criterion)).all()
    found = {criterion: (int(n), int(tenths), int(red)) for criterion, n, tenths, red in rows}
    out = []
    for criterion in ruleset.criteria:
        n, tenths, red = found.get(criterion.id, (0, 0, 0))
        mean = (Decimal(tenths) / (10 * n)).quantize(ONE_PLACE, rounding=ROUND_HALF_UP) if n else None
        out.append({"id": criterion.id, "title": criterion.title, "mean_score": mean, "red": red, "cases": n})
    return out


FailureCount = tuple[int, str, str, str]  # (cases, rule_id, criterion, severity)


def _failure_counts(session: Session, failures) -> list[FailureCount]:
    n = func.sum(failures.c.cases)
    rows = session.execute(select(failures.c.rule_id, failures.c.criterion, failures.c.severity, n)
                           .group_by(failures.c.rule_id, failures.c.criterion, failures.c.severity)
                           .having(n > 0)).all()
    return [(int(count), rule_id, criterion, severity) for rule_id, criterion, severity, count in rows]


def _most_failed(counts: list[FailureCount]) -> list[FailureCount]:
    """The rules failed most often (ties by rule id): the API's `failing_rules`."""
    return sorted(counts, key=lambda r: (-r[0], r[1], r[2], r[3]))[:TOP_RULES]


def _worst_rules(counts: list[FailureCount], ruleset: Ruleset) -> list[FailureCount]:
    """The board's worst findings: worst severity first, then most cases, then the ruleset's own
    order (which groups rules by criterion, as its authors wrote them). Advice rules, which never
    lower a score, are left out."""
    position = {rule.id: i for i, rule in enumerate(ruleset.rules)}
    return sorted((r for r in counts if r[3] != "advice"),
                  key=lambda r: (SEVERITY_RANK.get(r[3], len(SEVERITY_RANK)), -r[0],
                                 position.get(r[1], len(position)), r[1]))[:TOP_RULES]


def _titled(rows: list[FailureCount], ruleset: Ruleset, examples: dict[str, list]) -> list[dict[str, Any]]:
    titles = {rule.id: rule.title for rule in ruleset.rules}
    criteria = {c.id: c.title for c in ruleset.criteria}
    return [{"rule_id": rule_id, "title": titles.get(rule_id, rule_id), "criterion": criterion,
             "criterion_title": criteria.get(criterion, criterion), "severity": severity, "count": count,
             "cases": examples[rule_id]} for count, rule_id, criterion, severity in rows]


def _newest_failing(session: Session, filters: PortfolioFilters, rule_ids: list[str]) -> dict[str, list]:
    """For each rule, the newest cases (in the filters) whose latest assessment failed it: one
    statement, a UNION ALL of one small query a rule, each walking ix_business_cases_submitted_at_id
    newest first and probing failed_rules' key, stopping at the fifth."""
    found: dict[str, list] = {rule_id: [] for rule_id in rule_ids}
    if not rule_ids:
        return found
    newest = []
    for rule_id in rule_ids:
        fails = select(FailedRule.assessment_id).where(
            FailedRule.assessment_id == BusinessCase.latest_assessment_id, FailedRule.rule_id == rule_id)
        newest.append(select(filters.apply(
            select(literal(rule_id).label("rule_id"), BusinessCase.id, BusinessCase.reference, BusinessCase.title,
                   BusinessCase.submitted_at).where(fails.exists())
            .order_by(BusinessCase.submitted_at.desc(), BusinessCase.id.desc()).limit(CASES_PER_RULE)).subquery()))
    rows = session.execute(union_all(*newest)).all()
    for rule_id, case_id, reference, title, submitted_at in sorted(rows, key=lambda r: (r[4], r[1]), reverse=True):
        found[rule_id].append({"id": case_id, "reference": reference, "title": title})
    return found


def _overdue(session: Session, filters: PortfolioFilters, today: dt.date, awaiting: int) -> int:
    """Cases awaiting a decision, less those not yet due (or with no due date): those are the
    cases of the last few weeks, read along the index on decision_due, however many are overdue."""
    not_due = or_(BusinessCase.decision_due >= today, BusinessCase.decision_due.is_(None))
    return awaiting - (session.scalar(filters.apply(select(func.count()).where(awaiting_decision(), not_due))) or 0)


def _median_days_to_decision(session: Session, filters: PortfolioFilters) -> Decimal | None:
    """Median of (decision - submission) in days, by ORDER BY/OFFSET along the index on each
    case's exact span in microseconds, so both databases give the same figure."""
    span = BusinessCase.decision_span_us
    n = session.scalar(filters.apply(select(func.count()).where(span.is_not(None))))
    if not n:
        return None
    middle = session.scalars(filters.apply(select(span).where(span.is_not(None)).order_by(span)
                                           .offset((n - 1) // 2).limit(2 - n % 2))).all()
    value = Decimal(sum(middle)) / (Decimal(86_400_000_000) * len(middle))
    return value.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


# -- what the board's page adds --------------------------------------------------------------------

BOARD_ROWS = 25
RED_BY_RATING = 2000  # up to this many red cases, find the newest by the rating index (see board_view)


def board_view(session: Session, filters: PortfolioFilters, ruleset: Ruleset, today: dt.date | None = None,
               *, rows: int = BOARD_ROWS, red_total: int | None = None) -> dict[str, Any]:
    """What the board's page shows besides `portfolio`, most pressing first:

    - `awaiting`: cases waiting for a decision, soonest due first, with the days left on the
      decision clock (negative once overdue) and the money at stake;
    - `red`: red cases, newest first, each with why it is red (the blockers it failed, and its
      score if under the amber threshold).
    Each list holds at most `rows` entries; the portfolio's counts say how many there are
    (`red_total`, the portfolio's red count, picks how to find the newest red cases). The worst
    findings come with the portfolio (`portfolio(..., worst_rules=True)`).
    """
    today = today or dt.datetime.now(dt.timezone.utc).date()
    awaiting = list(session.scalars(filters.apply(select(BusinessCase).where(awaiting_decision()))
                                    .order_by(BusinessCase.decision_due.asc().nulls_last(),
                                              BusinessCase.submitted_at, BusinessCase.id).limit(rows)))
    # Few red cases: read them along the index on rating and sort them. Many: walk the cases
    # newest first along ix_business_cases_submitted_at_id and stop at the `rows`th red one;
    # `rating || ''` keeps the planner off the rating index, which would sort every red case.
    few = red_total is not None and red_total <= RED_BY_RATING
    rating = BusinessCase.rating if few else BusinessCase.rating.concat("")
    red = list(session.scalars(filters.apply(select(BusinessCase).where(rating == "red"))
                               .order_by(BusinessCase.submitted_at.desc(), BusinessCase.id.desc()).limit(rows)))
    blockers, majors = _failed_blockers(session, {c.latest_assessment_id for c in awaiting + red} - {None}, ruleset)

    def row(case: BusinessCase) -> dict[str, Any]:
        investment, savings = case.total_investment, case.total_savings
        return {"id": case.id, "reference": case.reference, "title": case.title,
                "consortium": {"code": case.consortium_code, "name": case.consortium_name},
                "service_area": case.service_area, "status": case.status, "revision": case.current_revision,
                "rating": case.rating, "score": case.score, "decision_outcome": case.decision_outcome,
                "submitted_at": case.submitted_at, "decision_due": case.decision_due,
                "days_left": (case.decision_due - today).days if case.decision_due else None,
                "investment": investment, "savings": savings,
                "net": None if investment is None and savings is None else (savings or 0) - (investment or 0),
                "blockers": blockers.get(case.latest_assessment_id, []),
                "majors_failed": majors.get(case.latest_assessment_id, 0),
                "score_under": _threshold_under(case.score, ruleset)}

    return {"awaiting": [row(c) for c in awaiting], "red": [row(c) for c in red],
            "thresholds": dict(ruleset.thresholds)}


def _threshold_under(score: Decimal | None, ruleset: Ruleset) -> Decimal | None:
    """The rating threshold a score falls short of (amber's, else green's), or None."""
    for rating in ("amber", "green"):
        if score is not None and score < ruleset.thresholds[rating]:
            return ruleset.thresholds[rating]
    return None


def _failed_blockers(session: Session, assessment_ids: set[str],
                     ruleset: Ruleset) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """For each assessment, the blocker rules it failed (or could not evaluate), in ruleset
    order, and how many major rules it failed."""
    if not assessment_ids:
        return {}, {}
    ids = sorted(assessment_ids)
    position = {rule.id: i for i, rule in enumerate(ruleset.rules)}
    titles = {rule.id: rule.title for rule in ruleset.rules}
    blockers: dict[str, list[dict]] = {}
    rows = session.execute(select(FailedRule.assessment_id, FailedRule.rule_id, FailedRule.criterion,
                                  FailedRule.status)
                           .where(FailedRule.assessment_id.in_(ids), FailedRule.severity == "blocker")).all()
    for assessment_id, rule_id, criterion, status in sorted(
            rows, key=lambda r: (position.get(r[1], len(position)), r[1])):
        blockers.setdefault(assessment_id, []).append(
            {"rule_id": rule_id, "title": titles.get(rule_id, rule_id), "criterion": criterion, "status": status})
    majors = session.execute(select(FailedRule.assessment_id, func.count())
                             .where(FailedRule.assessment_id.in_(ids), FailedRule.severity == "major")
                             .group_by(FailedRule.assessment_id)).all()
    return blockers, {assessment_id: int(n) for assessment_id, n in majors}


# -- keeping the rollups ----------------------------------------------------------------------------

_KEEPING = "bcapi.dashboard.keeping"
_SCORES = "bcapi.dashboard.scores"

Criteria = list[tuple[str, Decimal, str]]  # (criterion, score, rating) of one assessment
Failures = list[tuple[str, str, str]]  # (rule_id, criterion, severity) of its failed rules


def remember_scores(session: Session, assessment_id: str, criteria: Criteria, failures: Failures) -> None:
    """An assessment's criteria and failed rules, as `keeping_rollups` reads them, kept for the
    rest of this unit of work (assessments are never changed once stored)."""
    session.info.setdefault(_SCORES, {})[assessment_id] = (criteria, failures)


@contextmanager
def keeping_rollups(session: Session, case: BusinessCase) -> Iterator[None]:
    """Wrap every change to what `case` counts for (its creation, a new latest assessment, a
    revision's identity and status, a decision): the case's row is locked (PostgreSQL; SQLite's
    writers queue anyway) and refreshed, what it counts for is worked out before and after, and
    the difference is added to the rollups, in this transaction. A case not yet stored (transient
    or pending) counted for nothing before. Nested calls for the same case are part of the
    outermost one."""
    keeping = session.info.setdefault(_KEEPING, set())
    if case in keeping:
        yield
        return
    keeping.add(case)
    try:
        before: dict = {model: {} for model, _ in ROLLUPS}
        if inspect(case).persistent:
            session.flush()
            session.refresh(case, with_for_update=True)  # so that two writers cannot both take it out
            before = counted_for(case, *_latest_scores(session, case))
        yield
        _add(session, before, counted_for(case, *_latest_scores(session, case)))
    finally:
        keeping.discard(case)


def counted_for(case: BusinessCase, criteria: Criteria, failures: Failures) -> dict[Any, dict[tuple, tuple[int, ...]]]:
    """What one case counts for, per rollup table ({key: counts}), from its row and its latest
    assessment's criteria and failed rules: the grouping queries' figures for this one case,
    worked out in Python (the tests hold the rollups kept this way equal to the queries')."""
    code, area = case.consortium_code, case.service_area or ""
    submitted = case.submitted_at.astimezone(dt.timezone.utc)
    month = f"{submitted.year:04d}-{submitted.month:02d}"
    waiting = case.status != "decided" or case.decision_outcome == "deferred"
    cases = (1, *[int(case.rating == r) for r in RATINGS], *[int(case.status == s) for s in STATUSES], int(waiting),
             _scaled(case.total_investment, 100), _scaled(case.total_savings, 100))
    failed = Counter((code, area, month, rule_id, criterion, severity) for rule_id, criterion, severity in failures)
    return {
        PortfolioCases: {(code, case.consortium_name, area, month): cases},
        PortfolioCriterion: {(code, area, month, criterion): (1, _scaled(score, 10), int(rating == "red"))
                             for criterion, score, rating in criteria},
        PortfolioFailure: {key: (n,) for key, n in failed.items()},
    }


def _scaled(value: Decimal | None, factor: int) -> int:
    """`value` x `factor` rounded half away from zero, as `_Dialect.scaled` does in SQL."""
    return int((Decimal(value or 0) * factor).to_integral_value(rounding=ROUND_HALF_UP))


_LATEST_CRITERIA = (select(AssessmentCriterion.criterion, AssessmentCriterion.score, AssessmentCriterion.rating)
                    .where(AssessmentCriterion.assessment_id == bindparam("assessment_id")))
_LATEST_FAILURES = (select(FailedRule.rule_id, FailedRule.criterion, FailedRule.severity)
                    .where(FailedRule.assessment_id == bindparam("assessment_id")))


def _latest_scores(session: Session, case: BusinessCase) -> tuple[Criteria, Failures]:
    """The criteria and failed rules of the case's latest assessment, if it has one."""
    assessment_id = case.latest_assessment_id
    if assessment_id is None:
        return [], []
    remembered = session.info.get(_SCORES, {}).get(assessment_id)
    if remembered is not None:
        return remembered
    params = {"assessment_id": assessment_id}
    criteria = [tuple(row) for row in session.execute(_LATEST_CRITERIA, params)]
    failures = [tuple(row) for row in session.execute(_LATEST_FAILURES, params)]
    remember_scores(session, assessment_id, criteria, failures)  # a decision reads them before and after
    return criteria, failures


def _add(session: Session, before: dict, after: dict) -> None:
    """Add after - before to the rollups: one upsert a table, rows in key order (two transactions
    lock shared rows in the same order, so cannot deadlock), changes that cancel out not written."""
    dialect = session.get_bind().dialect.name
    for model, _ in ROLLUPS:
        keys, counts = _key(model), _counts(model)
        changes = []
        for key in sorted(set(before[model]) | set(after[model])):
            old, new = before[model].get(key), after[model].get(key)
            change = [b - a for a, b in zip(old or (0,) * len(counts), new or (0,) * len(counts))]
            if any(change):
                changes.append({**dict(zip(keys, key)), **dict(zip(counts, change))})
        if changes:
            session.execute(_increment(dialect, model), changes)


@functools.cache
def _increment(dialect: str, model) -> Any:
    """INSERT a rollup row, or add its counts to the row with its key (built once a table)."""
    table = model.__table__
    statement = (sqlite if dialect == "sqlite" else postgresql).insert(table)
    return statement.on_conflict_do_update(
        index_elements=_key(model), set_={c: table.c[c] + statement.excluded[c] for c in _counts(model)})


def rebuild_rollups(session: Session) -> None:
    """Recompute the rollups from the cases (after rows were loaded in bulk, behind the services)."""
    d = _Dialect(session)
    for model, groups in ROLLUPS:
        session.execute(delete(model))
        session.execute(insert(model).from_select(_key(model) + _counts(model), groups(d, true())))


# -- CSV --------------------------------------------------------------------------------------------

def csv_rows(session: Session, filters: PortfolioFilters, ruleset: Ruleset, today: dt.date | None = None,
             chunk: int = 1000) -> Iterator[list[Any]]:
    """The portfolio one case a row (header first), streamed from the database in chunks."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    criteria = [c.id for c in ruleset.criteria]
    aliases = {c: AssessmentCriterion.__table__.alias(f"crit_{i}") for i, c in enumerate(criteria)}
    columns = [BusinessCase.id, BusinessCase.reference, BusinessCase.title, BusinessCase.consortium_code,
               BusinessCase.consortium_name, BusinessCase.service_area, BusinessCase.status,
               BusinessCase.decision_outcome, BusinessCase.rating, BusinessCase.score,
               *[aliases[c].c.score for c in criteria], BusinessCase.total_investment,
               BusinessCase.total_savings, BusinessCase.submitted_at, BusinessCase.decision_due,
               case((and_(awaiting_decision(), BusinessCase.decision_due < today), literal(True)), else_=literal(False))]
    query = select(*columns)
    for criterion, alias in aliases.items():
        query = query.outerjoin(alias, and_(alias.c.assessment_id == BusinessCase.latest_assessment_id,
                                            alias.c.criterion == criterion))
    query = filters.apply(query).order_by(BusinessCase.submitted_at.desc(), BusinessCase.id.desc())
    yield ["id", "reference", "title", "consortium_code", "consortium_name", "service_area", "status",
           "decision", "rating", "score", *[f"{c}_score" for c in criteria], "total_investment",
           "total_savings", "submitted_at", "decision_due", "overdue"]
    for row in session.execute(query.execution_options(yield_per=chunk)):
        *head, submitted, due, overdue = row
        yield [*head, submitted.isoformat() if submitted else "", due.isoformat() if due else "",
               "yes" if overdue else "no"]
