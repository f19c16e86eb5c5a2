"""The board's portfolio view, computed by SQL aggregation over each case's latest assessment.

Every figure is one aggregate query (no Python loop over cases), written so that SQLite and
PostgreSQL give the same answers; the few dialect differences (month buckets, day spans) are
in `_month` and `_days`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from bcapi.engine import Ruleset
from bcapi.models import AssessmentCriterion, BusinessCase, FailedRule

TOP_RULES = 10
CASES_PER_RULE = 5
TWO_PLACES = Decimal("0.01")
ONE_PLACE = Decimal("0.1")


@dataclass(frozen=True)
class PortfolioFilters:
    consortium: str | None = None
    service_area: str | None = None
    submitted_after: dt.datetime | None = None
    submitted_before: dt.datetime | None = None

    def apply(self, query: Select) -> Select:
        if self.consortium:
            query = query.where(BusinessCase.consortium_code == self.consortium)
        if self.service_area:
            query = query.where(BusinessCase.service_area == self.service_area)
        if self.submitted_after:
            query = query.where(BusinessCase.submitted_at >= self.submitted_after)
        if self.submitted_before:
            query = query.where(BusinessCase.submitted_at < self.submitted_before)
        return query


def awaiting_decision():
    """SQL: the case waits for the board (never decided on this revision, or deferred)."""
    return or_(BusinessCase.status != "decided", BusinessCase.decision_outcome == "deferred")


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _month(session: Session):
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", BusinessCase.submitted_at)
    return func.to_char(func.timezone("UTC", BusinessCase.submitted_at), "YYYY-MM")


def _days(session: Session, start, end):
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return func.extract("epoch", end - start) / 86400


def portfolio(session: Session, filters: PortfolioFilters, ruleset: Ruleset,
              today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "filters": {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in filters.__dict__.items() if v is not None},
        "cases": _counts(session, filters),
        "criteria": _criteria(session, filters, ruleset),
        "money": _money_in_play(session, filters),
        "failing_rules": _failing_rules(session, filters),
        "timeliness": _timeliness(session, filters, today),
        "trend": _trend(session, filters),
    }


def _counts(session: Session, filters: PortfolioFilters) -> dict[str, Any]:
    by_rating = dict(session.execute(filters.apply(
        select(BusinessCase.rating, func.count()).group_by(BusinessCase.rating))).all())
    by_status = dict(session.execute(filters.apply(
        select(BusinessCase.status, func.count()).group_by(BusinessCase.status))).all())
    return {
        "total": sum(by_status.values()),
        "by_rating": {r: by_rating.get(r, 0) for r in ("green", "amber", "red")},
        "by_status": {s: by_status.get(s, 0) for s in ("submitted", "revised", "decided")},
    }


def _criteria(session: Session, filters: PortfolioFilters, ruleset: Ruleset) -> list[dict[str, Any]]:
    rows = session.execute(filters.apply(
        select(AssessmentCriterion.criterion, func.avg(AssessmentCriterion.score),
               func.sum(case((AssessmentCriterion.rating == "red", 1), else_=0)), func.count())
        .join(BusinessCase, BusinessCase.latest_assessment_id == AssessmentCriterion.assessment_id)
        .group_by(AssessmentCriterion.criterion))).all()
    found = {criterion: (mean, red, n) for criterion, mean, red, n in rows}
    out = []
    for criterion in ruleset.criteria:
        mean, red, n = found.get(criterion.id, (None, 0, 0))
        out.append({"id": criterion.id, "title": criterion.title,
                    "mean_score": None if mean is None else Decimal(str(mean)).quantize(ONE_PLACE, ROUND_HALF_UP),
                    "red": int(red or 0), "cases": int(n)})
    return out


def _money_in_play(session: Session, filters: PortfolioFilters) -> dict[str, Any]:
    investment = func.coalesce(func.sum(BusinessCase.total_investment), 0)
    savings = func.coalesce(func.sum(BusinessCase.total_savings), 0)

    def grouped(column, *extra) -> list:
        return session.execute(filters.apply(select(column, *extra, func.count(), investment, savings)
                                             .group_by(column).order_by(column))).all()

    total_investment, total_savings = session.execute(filters.apply(select(investment, savings))).one()
    return {
        "total_investment": _money(total_investment),
        "total_savings": _money(total_savings),
        "net": _money(total_savings) - _money(total_investment),
        "by_consortium": [
            {"code": code, "name": name, "cases": n, "investment": _money(i), "savings": _money(s),
             "net": _money(s) - _money(i)}
            for code, name, n, i, s in grouped(BusinessCase.consortium_code, func.max(BusinessCase.consortium_name))],
        "by_service_area": [
            {"service_area": area, "cases": n, "investment": _money(i), "savings": _money(s),
             "net": _money(s) - _money(i)}
            for area, n, i, s in grouped(BusinessCase.service_area)],
    }


def _failing_rules(session: Session, filters: PortfolioFilters) -> list[dict[str, Any]]:
    base = filters.apply(select(FailedRule.rule_id, FailedRule.criterion, FailedRule.severity, func.count())
                         .join(BusinessCase, BusinessCase.latest_assessment_id == FailedRule.assessment_id)
                         .group_by(FailedRule.rule_id, FailedRule.criterion, FailedRule.severity)
                         .order_by(func.count().desc(), FailedRule.rule_id).limit(TOP_RULES))
    out = []
    for rule_id, criterion, severity, n in session.execute(base).all():
        examples = session.execute(filters.apply(
            select(BusinessCase.id, BusinessCase.reference, BusinessCase.title)
            .join(FailedRule, and_(FailedRule.assessment_id == BusinessCase.latest_assessment_id,
                                   FailedRule.rule_id == rule_id))
            .order_by(BusinessCase.submitted_at.desc(), BusinessCase.id.desc()).limit(CASES_PER_RULE))).all()
        out.append({"rule_id": rule_id, "criterion": criterion, "severity": severity, "count": n,
                    "cases": [{"id": i, "reference": r, "title": t} for i, r, t in examples]})
    return out


def _timeliness(session: Session, filters: PortfolioFilters, today: dt.date) -> dict[str, Any]:
    awaiting, overdue = session.execute(filters.apply(select(
        func.coalesce(func.sum(case((awaiting_decision(), 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(awaiting_decision(), BusinessCase.decision_due < today), 1), else_=0)), 0),
    ))).one()
    return {"awaiting": int(awaiting), "overdue": int(overdue),
            "median_days_to_decision": _median_days_to_decision(session, filters)}


def _median_days_to_decision(session: Session, filters: PortfolioFilters) -> Decimal | None:
    """Median of (first decision - submission) in days, by ORDER BY/OFFSET: portable and indexed."""
    days = _days(session, BusinessCase.submitted_at, BusinessCase.decided_at)
    decided = filters.apply(select(days.label("days")).where(BusinessCase.decided_at.is_not(None)))
    n = session.scalar(select(func.count()).select_from(decided.subquery()))
    if not n:
        return None
    middle = session.scalars(decided.order_by(days).offset((n - 1) // 2).limit(2 - n % 2)).all()
    value = sum(Decimal(str(v)) for v in middle) / len(middle)
    return value.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def _trend(session: Session, filters: PortfolioFilters) -> list[dict[str, Any]]:
    month = _month(session).label("month")
    rows = session.execute(filters.apply(
        select(month, BusinessCase.rating, func.count()).group_by(month, BusinessCase.rating).order_by(month))).all()
    months: dict[str, dict[str, Any]] = {}
    for key, rating, n in rows:
        entry = months.setdefault(key, {"month": key, "submitted": 0, "green": 0, "amber": 0, "red": 0})
        entry["submitted"] += n
        if rating in ("green", "amber", "red"):
            entry[rating] += n
    return list(months.values())


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
