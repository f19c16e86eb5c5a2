"""The JSON shapes the API serves (CONTRACT §2), built from stored rows.

Documents and assessments are stored as JSON text and parsed with exact decimals, so what
goes out is what came in (and what the engine said).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from bcapi.document import dumps, loads
from bcapi.storage.models import BusinessCase, Revision, StoredAssessment


def timestamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def assessment_view(row: StoredAssessment) -> dict[str, Any]:
    return loads(row.body)


def assessment_summary(row: StoredAssessment | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row.id, "revision": row.revision, "assessed_at": timestamp(row.assessed_at),
            "rating": row.rating, "score": row.score}


def awaiting_decision(case: BusinessCase) -> bool:
    return case.status != "decided" or case.decision_outcome == "deferred"


def case_summary(case: BusinessCase, today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    awaiting = awaiting_decision(case)
    return {
        "id": case.id,
        "reference": case.reference,
        "title": case.title,
        "consortium": {"code": case.consortium_code, "name": case.consortium_name},
        "service_area": case.service_area,
        "status": case.status,
        "revision": case.current_revision,
        "rating": case.rating,
        "score": case.score,
        "submitted_at": timestamp(case.submitted_at),
        "updated_at": timestamp(case.updated_at),
        "decision_due": case.decision_due.isoformat() if case.decision_due else None,
        "overdue": bool(awaiting and case.decision_due and today > case.decision_due),
        "decision": ({"outcome": case.decision_outcome, "decided_at": timestamp(case.decided_at)}
                     if case.decision_outcome else None),
    }


def case_view(case: BusinessCase, revision: Revision, latest: StoredAssessment | None,
              document: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full Case; pass `document` when it is already parsed, to save parsing it again."""
    return {
        **case_summary(case),
        "document": loads(revision.document) if document is None else document,
        "latest_assessment": assessment_view(latest) if latest else None,
    }


def case_view_json(case: BusinessCase, revision: Revision, latest: StoredAssessment | None,
                   document: dict[str, Any] | None = None) -> str:
    """`case_view(...)` as JSON text: the same value, with the latest assessment spliced in as the
    text it is stored as (`dumps` of the same value) rather than parsed and serialised again."""
    head = dumps(case_view(case, revision, None, document))
    if latest is None:
        return head
    tail = "null}"
    if not head.endswith('"latest_assessment":' + tail):
        raise AssertionError("case_view must end with latest_assessment")
    return head[:-len(tail)] + latest.body + "}"


def revision_view(revision: Revision) -> dict[str, Any]:
    return {
        "case_id": revision.case_id,
        "number": revision.number,
        "created_at": timestamp(revision.created_at),
        "digest": revision.digest,
        "document": loads(revision.document),
    }


def revision_summary(revision: Revision) -> dict[str, Any]:
    return {"case_id": revision.case_id, "number": revision.number,
            "created_at": timestamp(revision.created_at), "digest": revision.digest}
