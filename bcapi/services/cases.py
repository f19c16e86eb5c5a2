"""Business cases: submit, revise, read, list; every revision and assessment is kept.

Each function takes an open session; the caller's `Database.writing()` commits the whole unit
of work or rolls all of it back, so nothing half-written stays.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from bcapi.services.principal import Principal
from bcapi.document import loads
from bcapi.engine import Ruleset
from bcapi.storage.models import BusinessCase, Revision, StoredAssessment, new_id, utcnow

from . import assessments, audit, dashboard
from .errors import Forbidden, NotFound, StaleRevision

DEFAULT_DECISION_CLOCK_DAYS = 56


def document_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def etag_for(case: BusinessCase, revision: int | None = None) -> str:
    """A strong validator (unquoted) naming a revision of the case, by default its current one;
    opaque to clients."""
    return f"{case.id}.r{case.current_revision if revision is None else revision}"


def _identity(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "consortium_code": document["consortium"]["code"],
        "consortium_name": document["consortium"]["name"],
        "reference": document.get("reference"),
        "title": document["title"],
        "service_area": document.get("service_area"),
    }


def check_submitter(principal: Principal, document: dict[str, Any]) -> None:
    code = document["consortium"]["code"]
    if not principal.can_see_consortium(code):
        raise Forbidden(f"Your key is for consortium {principal.consortium}; this case is for {code}.")


def submit(session: Session, *, document: dict[str, Any], raw: str, principal: Principal,
           ruleset: Ruleset) -> tuple[BusinessCase, Revision, StoredAssessment]:
    """Store a new case as revision 1 and assess it.

    The case is assessed first and its rows are then written with Core INSERTs in one go (this is
    the service's busiest write); the objects returned hold what was written and are not attached
    to `session`.
    """
    check_submitter(principal, document)
    now = utcnow()
    case_id = new_id()
    # The engine runs before the first statement: on SQLite that is when the write lock is taken.
    recorded = assessments.assessed(case_id, 1, document, ruleset, now)
    assessments.ensure_ruleset_stored(session, ruleset)
    case_row = {**_identity(document), "id": case_id, "status": "submitted", "current_revision": 1,
                "submitted_at": now, "updated_at": now, "created_by_key_id": principal.key_id,
                "decision_due": decision_due(now, ruleset), **recorded.as_latest()}
    revision_row = {"case_id": case_id, "number": 1, "document": raw, "digest": document_digest(raw),
                    "created_at": now, "created_by_key_id": principal.key_id}
    case = BusinessCase(**case_row)
    with dashboard.keeping_rollups(session, case):  # the dashboard counts the case from now
        session.execute(insert(BusinessCase.__table__), case_row)
        session.execute(insert(Revision.__table__), revision_row)
        assessments.store(session, recorded)
    audit.record(session, "case.submitted", principal, case_id=case_id, revision=1, rating=recorded.row.rating)
    return case, Revision(**revision_row), recorded.row


def decision_due(start: dt.datetime, ruleset: Ruleset) -> dt.date:
    """The date a decision is due: the ruleset's decision clock (56 days by default) from `start`."""
    days = int(ruleset.parameters.get("decision_clock_days", DEFAULT_DECISION_CLOCK_DAYS))
    return start.date() + dt.timedelta(days=days)


def revise(session: Session, case_id: str, *, if_match: Callable[[str], bool], document: dict[str, Any], raw: str,
           principal: Principal, ruleset: Ruleset) -> tuple[BusinessCase, Revision, StoredAssessment]:
    """Add a revision if `if_match` accepts the case's current ETag, and assess it at once."""
    case = visible_case(session, case_id, principal)
    if not if_match(etag_for(case)):
        raise StaleRevision(f"The case is at revision {case.current_revision}; fetch it and apply your change again.")
    check_submitter(principal, document)
    if document["consortium"]["code"] != case.consortium_code:
        raise Forbidden("A revision cannot move a case to another consortium.")
    now = utcnow()
    seen = case.current_revision  # the revision the ETag named
    number = seen + 1
    # The dashboard counts the case under its status, name and service area: it takes the case
    # out under the old ones and in under the new (and locks the case's row meanwhile).
    with dashboard.keeping_rollups(session, case):
        # A revision after a decision (returned for revision, or rejected and tried again) is a
        # new submission for the board: its clock starts again.
        new_due = decision_due(now, ruleset) if case.status == "decided" else case.decision_due
        # Compare-and-set: of two concurrent revisions from the same ETag exactly one wins.
        won = session.execute(
            update(BusinessCase)
            .where(BusinessCase.id == case.id, BusinessCase.current_revision == seen)
            .values(current_revision=number, updated_at=now, status="revised", decision_due=new_due,
                    **_identity(document))
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            raise StaleRevision("Another revision was stored first; fetch the case and apply your change again.")
        session.refresh(case)
        revision = Revision(case_id=case.id, number=number, document=raw, digest=document_digest(raw),
                            created_at=now, created_by_key_id=principal.key_id)
        session.add(revision)
        latest = assessments.record(session, case, number, document, ruleset, now)
    audit.record(session, "case.revised", principal, case_id=case.id, revision=number, rating=latest.rating)
    return case, revision, latest


def visible_case(session: Session, case_id: str, principal: Principal) -> BusinessCase:
    case = session.get(BusinessCase, case_id)
    if case is None or not principal.can_see_consortium(case.consortium_code):
        raise NotFound(f"No business case {case_id}.")
    return case


def current_revision(session: Session, case: BusinessCase) -> Revision:
    return revision(session, case, case.current_revision)


def revision(session: Session, case: BusinessCase, number: int) -> Revision:
    row = None
    if 1 <= number <= case.current_revision:  # and never an out-of-range integer to the database
        row = session.scalar(select(Revision).where(Revision.case_id == case.id, Revision.number == number))
    if row is None:
        raise NotFound(f"Case {case.id} has no revision {number}.")
    return row


def reassess(session: Session, case: BusinessCase, ruleset: Ruleset, principal: Principal) -> StoredAssessment:
    """Assess the case's current revision again, under the current ruleset."""
    row = assessments.record(session, case, case.current_revision,
                             loads(current_revision(session, case).document), ruleset)
    audit.record(session, "case.reassessed", principal, case_id=case.id, revision=case.current_revision,
                 rating=row.rating, ruleset=ruleset.digest)
    return row


def revisions(session: Session, case: BusinessCase) -> list[Revision]:
    return list(session.scalars(select(Revision).where(Revision.case_id == case.id).order_by(Revision.number)))


def latest_assessment(session: Session, case: BusinessCase) -> StoredAssessment | None:
    if case.latest_assessment_id is None:
        return None
    return session.get(StoredAssessment, case.latest_assessment_id)


@dataclass(frozen=True)
class CaseFilters:
    consortium: str | None = None
    rating: str | None = None
    status: str | None = None
    service_area: str | None = None
    submitted_after: dt.datetime | None = None
    submitted_before: dt.datetime | None = None


def encode_cursor(case: BusinessCase) -> str:
    text = f"{case.submitted_at.isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """The (submitted_at, id) a page starts after; ValueError if the cursor is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, case_id = text.split("|", 1)
        when = dt.datetime.fromisoformat(stamp)
        if when.tzinfo is None or len(case_id) > 64 or "\x00" in case_id:
            raise ValueError(cursor)
        when = when.astimezone(dt.timezone.utc)
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise ValueError("not a cursor this service issued") from exc
    return when, case_id


def list_page(session: Session, principal: Principal, filters: CaseFilters, *, limit: int,
              after: tuple[dt.datetime, str] | None) -> tuple[list[BusinessCase], str | None]:
    """Newest first, keyset-paginated on (submitted_at, id): stable while cases are added."""
    query = select(BusinessCase)
    if principal.role == "commissioner":
        query = query.where(BusinessCase.consortium_code == principal.consortium)
    if filters.consortium:
        query = query.where(BusinessCase.consortium_code == filters.consortium)
    if filters.rating:
        query = query.where(BusinessCase.rating == filters.rating)
    if filters.status:
        query = query.where(BusinessCase.status == filters.status)
    if filters.service_area:
        query = query.where(BusinessCase.service_area == filters.service_area)
    if filters.submitted_after:
        query = query.where(BusinessCase.submitted_at >= filters.submitted_after)
    if filters.submitted_before:
        query = query.where(BusinessCase.submitted_at < filters.submitted_before)
    if after:
        when, case_id = after
        query = query.where(or_(BusinessCase.submitted_at < when,
                                and_(BusinessCase.submitted_at == when, BusinessCase.id < case_id)))
    rows = list(session.scalars(query.order_by(BusinessCase.submitted_at.desc(), BusinessCase.id.desc())
                                .limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
