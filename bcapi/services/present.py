"""The JSON shapes the API serves (CONTRACT §2), built from stored rows.

Documents and assessments are stored as JSON text and parsed with exact decimals, so what
goes out is what came in (and what the engine said).
"""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

from ruamel.yaml import YAML
from sqlalchemy.orm import object_session

from bcapi.document import dumps, loads
from bcapi.engine.explain import explain_dict
from bcapi.storage.models import BusinessCase, Revision, StoredAssessment, StoredRuleset


def timestamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def assessment_view(row: StoredAssessment) -> dict[str, Any]:
    body = loads(row.body)
    return body if "rating_reasons" in body else _explained(body, row)


def assessment_text(row: StoredAssessment) -> str:
    """The stored Assessment as JSON text, as it is served (`dumps(assessment_view(row))`)."""
    # A JSON string cannot hold this unescaped quote-colon, so only the key itself matches.
    return row.body if '"rating_reasons":' in row.body else dumps(assessment_view(row))


# -- assessments stored before rating_reasons and path_to_green (ruleset 2026.11 and earlier) ---
def _explained(body: dict[str, Any], row: StoredAssessment) -> dict[str, Any]:
    """`body` with the two fields worked out as the engine would have: from its findings and
    criterion results and the thresholds and severity weights of the ruleset that made it (kept
    by digest, so the fields are what that ruleset says, not the active one)."""
    session = object_session(row)
    if session is None:
        raise RuntimeError(f"assessment {row.id} predates rating_reasons: read it within a session, "
                           "which finds the ruleset that made it")
    thresholds, weights = _scoring(session, row.ruleset_digest)
    reasons, path = explain_dict(body, thresholds, weights)
    out: dict[str, Any] = {}
    for key, value in body.items():  # the fields after `score`, in AssessmentSchema's order
        out[key] = value
        if key == "score":
            out["rating_reasons"] = [r.to_dict() for r in reasons]
            out["path_to_green"] = [s.to_dict() for s in path]
    return out


_SCORING: dict[str, tuple[dict[str, Decimal], dict[str, Decimal]]] = {}
_SCORING_LOCK = threading.Lock()


def _scoring(session, digest: str) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(thresholds, severity_weights) of the stored ruleset `digest`, read once a process: only
    these two tables, not the whole ruleset, which the code of today may no longer load."""
    if digest not in _SCORING:
        text = session.get(StoredRuleset, digest).text
        data = YAML(typ="safe", pure=True).load(text)
        scoring = ({k: _decimal(v) for k, v in data["rating"].items()},
                   {k: _decimal(v) for k, v in data["severity_weights"].items()})
        with _SCORING_LOCK:
            _SCORING[digest] = scoring
    return _SCORING[digest]


def _decimal(value: int | float) -> Decimal:
    """A number from the YAML as bcapi.engine.ruleset reads it."""
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


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
    return head[:-len(tail)] + assessment_text(latest) + "}"


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
