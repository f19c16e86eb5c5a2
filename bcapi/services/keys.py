"""API key lifecycle: create (the key is shown once), list, revoke. Only hashes are stored."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bcapi.services.principal import ROLES, Principal, generate_key, hash_key
from bcapi.storage.models import ApiKey, utcnow

from . import audit
from .errors import Invalid, NotFound


def create(session: Session, *, role: str, consortium: str | None = None, label: str | None = None,
           expires_at: dt.datetime | None = None, actor: Principal | None = None) -> tuple[ApiKey, str]:
    """Store a new key's hash; return the row and the key itself (never stored)."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", pointer="/role")
    if role == "commissioner" and not consortium:
        raise Invalid("a commissioner key needs a consortium", pointer="/consortium")
    if role != "commissioner" and consortium:
        raise Invalid("only commissioner keys are bound to a consortium", pointer="/consortium")
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("the expiry must be in the future", pointer="/expires_at")
    key = generate_key()
    row = ApiKey(key_hash=hash_key(key), prefix=key[:12], role=role, consortium_code=consortium,
                 label=label, expires_at=expires_at)
    session.add(row)
    session.flush()
    audit.record(session, "key.created", actor, system_label="command line", key_id=row.id, role=role,
                 consortium=consortium, label=label)
    return row, key


def listing(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)))


def revoke(session: Session, key_id: str, *, actor: Principal | None = None) -> ApiKey:
    """Revoke a key at once (every worker checks the database on each request)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"No API key {key_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, "key.revoked", actor, system_label="command line", key_id=row.id,
                     role=row.role, label=row.label)
    return row


def view(row: ApiKey) -> dict[str, Any]:
    now = utcnow()
    state = ("revoked" if row.revoked_at else "expired" if row.expires_at and row.expires_at <= now else "active")
    stamp = lambda t: t.isoformat() if t else None  # noqa: E731
    return {"id": row.id, "prefix": row.prefix, "role": row.role, "consortium": row.consortium_code,
            "label": row.label, "state": state, "created_at": stamp(row.created_at),
            "expires_at": stamp(row.expires_at), "revoked_at": stamp(row.revoked_at),
            "last_used_at": stamp(row.last_used_at)}
