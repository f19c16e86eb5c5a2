"""Assessments: run the engine on a revision, store what it said, read the history back."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from bcapi.storage.database import insert_if_absent
from bcapi.document import dumps
from bcapi.engine import Assessment, Ruleset, assess
from bcapi.storage.models import (AssessmentCriterion, BusinessCase, FailedRule, StoredAssessment,
                          StoredRuleset, new_id, utcnow)

from . import audit, dashboard


def assessment_body(assessment: Assessment, *, assessment_id: str | None, case_id: str | None,
                    revision: int | None, assessed_at: dt.datetime) -> dict[str, Any]:
    """The contract's Assessment: the engine's verdict plus where and when it was made.

    Keys in AssessmentSchema's order, so that the body can be served as it is, without a dump
    through the schema (which would only reorder it).
    """
    verdict = assessment.to_dict()
    return {"id": assessment_id, "case_id": case_id, "revision": revision, "ruleset": verdict.pop("ruleset"),
            "assessed_at": assessed_at.isoformat(), **verdict}


def dry_run(document: dict[str, Any], ruleset: Ruleset) -> dict[str, Any]:
    """Assess without storing anything."""
    return assessment_body(assess(document, ruleset), assessment_id=None, case_id=None, revision=None,
                           assessed_at=utcnow())


_RULESET_STORED = select(StoredRuleset.digest).where(StoredRuleset.digest == bindparam("digest"))


def ensure_ruleset_stored(session: Session, ruleset: Ruleset) -> None:
    """Keep the ruleset's text by digest, the first time an assessment uses it (two workers may
    try at once: only the one that stores it records `ruleset.loaded`)."""
    if session.execute(_RULESET_STORED, {"digest": ruleset.digest}).first() is not None:
        return
    if insert_if_absent(session, StoredRuleset, digest=ruleset.digest, ruleset_id=ruleset.id,
                        version=ruleset.version, title=ruleset.title, text=ruleset.text, loaded_at=utcnow()):
        audit.record(session, "ruleset.loaded", None, ruleset=ruleset.id, version=ruleset.version,
                     digest=ruleset.digest)


@dataclass(frozen=True)
class Recorded:
    """An assessment of one revision, as the rows that store it."""

    row: StoredAssessment  # not attached to a session: `store` writes it
    criteria: dashboard.Criteria
    failures: list[tuple[str, str, str, str]]  # (rule_id, criterion, severity, status)

    def as_latest(self) -> dict[str, Any]:
        """What the case's own row says of its latest assessment."""
        row = self.row
        return {"latest_assessment_id": row.id, "rating": row.rating, "score": row.score,
                "total_investment": row.total_investment, "total_savings": row.total_savings}


def assessed(case_id: str, revision: int, document: dict[str, Any], ruleset: Ruleset,
             now: dt.datetime) -> Recorded:
    """Assess `document` (revision `revision` of case `case_id`); nothing is stored."""
    result = assess(document, ruleset)
    assessment_id = new_id()
    body = assessment_body(result, assessment_id=assessment_id, case_id=case_id, revision=revision,
                           assessed_at=now)
    row = StoredAssessment(
        id=assessment_id, case_id=case_id, revision=revision, ruleset_digest=ruleset.digest,
        assessed_at=now, rating=result.rating, score=result.score,
        total_investment=result.figures.get("total_investment"),
        total_savings=result.figures.get("total_savings"), body=dumps(body))
    return Recorded(row, [(c.id, c.score, c.rating) for c in result.criteria],
                    [(f.rule_id, f.criterion, f.severity, f.status)
                     for f in result.findings if f.status in ("fail", "error")])


_ASSESSMENT_COLUMNS = [c.key for c in StoredAssessment.__table__.columns]


def store(session: Session, recorded: Recorded) -> None:
    """Write the assessment and its criterion and failed-rule rows (the case's row must exist).

    Core INSERTs, not the ORM's unit of work: these rows are written once and never changed, and
    this is every submission's path."""
    row, assessment_id = recorded.row, recorded.row.id
    session.execute(insert(StoredAssessment.__table__), {c: getattr(row, c) for c in _ASSESSMENT_COLUMNS})
    if recorded.criteria:
        session.execute(insert(AssessmentCriterion.__table__),
                        [{"assessment_id": assessment_id, "criterion": criterion, "score": score, "rating": rating}
                         for criterion, score, rating in recorded.criteria])
    if recorded.failures:
        session.execute(insert(FailedRule.__table__),
                        [{"assessment_id": assessment_id, "rule_id": rule_id, "criterion": criterion,
                          "severity": severity, "status": status}
                         for rule_id, criterion, severity, status in recorded.failures])
    dashboard.remember_scores(session, assessment_id, recorded.criteria,
                              [(rule_id, criterion, severity) for rule_id, criterion, severity, _ in recorded.failures])


def record(session: Session, case: BusinessCase, revision: int, document: dict[str, Any],
           ruleset: Ruleset, now: dt.datetime | None = None) -> StoredAssessment:
    """Assess `document` (revision `revision` of the stored `case`), store it and make it the
    case's latest."""
    now = now or utcnow()
    recorded = assessed(case.id, revision, document, ruleset, now)
    ensure_ruleset_stored(session, ruleset)
    with dashboard.keeping_rollups(session, case):  # the case counts for its new latest assessment
        store(session, recorded)
        for name, value in recorded.as_latest().items():
            setattr(case, name, value)
    return recorded.row


def history(session: Session, case: BusinessCase) -> list[StoredAssessment]:
    """Every assessment of the case, newest first."""
    return list(session.scalars(select(StoredAssessment).where(StoredAssessment.case_id == case.id)
                                .order_by(StoredAssessment.assessed_at.desc(), StoredAssessment.id.desc())))
