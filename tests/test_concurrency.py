"""Two workers doing the same first-time work at once: neither may fail for the other's row.

SQLite queues writers (BEGIN IMMEDIATE); PostgreSQL lets them run side by side, so these
races only show there, and the tests run on both.
"""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from bcapi.storage.models import AuditEvent, StoredRuleset
from bcapi.services.assessments import ensure_ruleset_stored


def test_two_workers_storing_the_same_ruleset_at_once_both_succeed(app):
    state = app.extensions["bcapi"]
    errors: list[BaseException] = []

    def second_worker():
        try:
            with state.db.writing() as session:
                ensure_ruleset_stored(session, state.ruleset)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with state.db.writing() as session:
        ensure_ruleset_stored(session, state.ruleset)
        other = threading.Thread(target=second_worker)
        other.start()
        other.join(0.5)  # it now waits on our uncommitted row (PostgreSQL) or our write lock (SQLite)
    other.join(30)

    assert not other.is_alive() and errors == []
    with state.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(StoredRuleset)) == 1
        loaded = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ruleset.loaded")
        assert session.scalar(loaded) == 1
