"""Assessments: run the engine on a revision, store what it said, read the history back."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bcapi.db import insert_if_absent
from bcapi.document import dumps
from bcapi.engine import Assessment, Ruleset, assess
from bcapi.models import (AssessmentCriterion, BusinessCase, FailedRule, StoredAssessment,
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


def ensure_ruleset_stored(session: Session, ruleset: Ruleset) -> None:
    """Keep the ruleset's text by digest, the first time an assessment uses it (two workers may
    try at once: only the one that stores it records `ruleset.loaded`)."""
    if session.get(StoredRuleset, ruleset.digest) is not None:
        return
    if insert_if_absent(session, StoredRuleset, digest=ruleset.digest, ruleset_id=ruleset.id,
                        version=ruleset.version, title=ruleset.title, text=ruleset.text, loaded_at=utcnow()):
        audit.record(session, "ruleset.loaded", None, ruleset=ruleset.id, version=ruleset.version,
                     digest=ruleset.digest)


def record(session: Session, case: BusinessCase, revision: int, document: dict[str, Any],
           ruleset: Ruleset, now: dt.datetime | None = None) -> StoredAssessment:
    """Assess `document` (revision `revision` of `case`), store it and make it the case's latest."""
    now = now or utcnow()
    ensure_ruleset_stored(session, ruleset)
    result = assess(document, ruleset)
    assessment_id = new_id()
    body = assessment_body(result, assessment_id=assessment_id, case_id=case.id, revision=revision,
                           assessed_at=now)
    row = StoredAssessment(
        id=assessment_id, case_id=case.id, revision=revision, ruleset_digest=ruleset.digest,
        assessed_at=now, rating=result.rating, score=result.score,
        total_investment=result.figures.get("total_investment"),
        total_savings=result.figures.get("total_savings"), body=dumps(body))
    with dashboard.keeping_rollups(session, case):  # the case counts for its new latest assessment
        session.add(row)
        session.flush()  # the rows below refer to it, and there is no relationship() to order them
        session.add_all(AssessmentCriterion(assessment_id=assessment_id, criterion=c.id, score=c.score,
                                            rating=c.rating) for c in result.criteria)
        session.add_all(FailedRule(assessment_id=assessment_id, rule_id=f.rule_id, criterion=f.criterion,
                                   severity=f.severity, status=f.status)
                        for f in result.findings if f.status in ("fail", "error"))
        case.latest_assessment_id = assessment_id
        case.rating, case.score = result.rating, result.score
        case.total_investment, case.total_savings = row.total_investment, row.total_savings
        session.flush()
    return row


def history(session: Session, case: BusinessCase) -> list[StoredAssessment]:
    """Every assessment of the case, newest first."""
    return list(session.scalars(select(StoredAssessment).where(StoredAssessment.case_id == case.id)
                                .order_by(StoredAssessment.assessed_at.desc(), StoredAssessment.id.desc())))
