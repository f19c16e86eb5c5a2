"""The audit trail: every state change, with its actor and request, written in the same
transaction as the change itself (so the trail cannot claim what did not happen)."""
from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bcapi.document import dumps
from bcapi.storage.models import AuditEvent, utcnow

ACTIONS = ("case.submitted", "case.revised", "case.reassessed", "case.decided",
           "key.created", "key.revoked", "ruleset.loaded")

# Set per request by the HTTP layer; services read it without knowing about HTTP.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("bcapi_request_id", default=None)


def record(session: Session, action: str, actor, *, case_id: str | None = None,
           system_label: str = "system", **details: Any) -> None:
    """Append one event. `actor` is the Principal, or None for the service itself or its CLI."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.execute(insert(AuditEvent.__table__), {
        "occurred_at": utcnow(), "action": action, "case_id": case_id, "request_id": request_id.get(),
        "actor_key_id": actor.key_id if actor else None,
        "actor_label": actor.label if actor else system_label,
        "actor_role": actor.role if actor else None, "details": dumps(details)})


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None
    case_id: str | None = None
    actor_key_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def page(session: Session, filters: AuditFilters, *, limit: int, before_id: int | None) -> tuple[list[AuditEvent], int | None]:
    """Newest first, keyset-paginated on id."""
    query = select(AuditEvent)
    for column, value in ((AuditEvent.action, filters.action), (AuditEvent.case_id, filters.case_id),
                          (AuditEvent.actor_key_id, filters.actor_key_id)):
        if value:
            query = query.where(column == value)
    if filters.since:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.occurred_at < filters.until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)
