"""Idempotency-Key handling for POSTs that create things.

The first request with a key claims it in its own short transaction (`claim`), does its work,
and stores its answer with that work (`complete`, same transaction as the case). A retry with
the same key and body gets the stored answer; with another body, `IdempotencyMismatch`; while
the first is still running, `IdempotencyConflict`. A claim left by a crashed worker goes stale
after `stale_after` and may be taken over.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bcapi.document import dumps
from bcapi.storage.models import IdempotencyRecord, utcnow

from .errors import IdempotencyConflict, IdempotencyMismatch


@dataclass(frozen=True)
class Replay:
    status: int
    body: str
    case_id: str | None


def request_digest(document: object) -> str:
    """Same JSON value, same digest, whatever the whitespace or key order."""
    return hashlib.sha256(dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def claim(db, *, api_key_id: str, key: str, digest: str, ttl: dt.timedelta,
          stale_after: dt.timedelta = dt.timedelta(seconds=60)) -> Replay | None:
    """Claim `key` for this request, or return the stored answer of the first one."""
    now = utcnow()
    for _ in range(3):
        try:
            with db.writing() as session:
                record = session.scalar(select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key))
                if record is not None:
                    expired = record.created_at <= now - ttl
                    abandoned = record.state == "in_flight" and record.created_at <= now - stale_after
                    if not (expired or abandoned):
                        if record.request_digest != digest:
                            raise IdempotencyMismatch(
                                "This Idempotency-Key was used with a different body; use a new key.")
                        if record.state == "in_flight":
                            raise IdempotencyConflict(
                                "A request with this Idempotency-Key is still being processed; retry shortly.")
                        return Replay(record.response_status or 200, record.response_body or "", record.case_id)
                    session.delete(record)
                    session.flush()
                session.add(IdempotencyRecord(api_key_id=api_key_id, key=key, request_digest=digest,
                                              state="in_flight", created_at=now))
            return None
        except IntegrityError:
            continue  # another request claimed it between our read and insert: look again
    raise IdempotencyConflict("A request with this Idempotency-Key is still being processed; retry shortly.")


def complete(session, *, api_key_id: str, key: str, status: int, body: str, case_id: str | None) -> None:
    record = session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key))
    if record is not None:
        record.state, record.response_status, record.response_body, record.case_id = "done", status, body, case_id


def release(db, *, api_key_id: str, key: str) -> None:
    """Forget an unfinished claim after the request failed, so that a retry can run afresh."""
    with db.writing() as session:
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key,
            IdempotencyRecord.state == "in_flight"))
