"""The migrations and the models agree, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from bcapi.storage import migrate
from bcapi.storage.models import Base


def test_migration_head_matches_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == migrate.head_revision()
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_migration_0003_fills_the_dashboard_rollups_from_the_cases_already_stored(app, api, database_url):
    """Cases stored before 0003 (its tables dropped by a downgrade) show on the dashboard after it,
    with the same figures as before, and the same median time to a decision to the microsecond."""
    from sqlalchemy import select

    from bcapi.storage.models import BusinessCase

    from .factories import body, make_document, sample
    from .test_dashboard_rollups import rollup_rows

    cases = [body(api.submit(document, as_="admin")) for document in (
        sample("copd-community-service"), sample("dermatology-gpwsi"), make_document(consortium="SOTON-C"))]
    api.post(f"/api/v1/cases/{cases[0]['id']}/decisions", as_="board", json={"outcome": "approved"})
    api.post(f"/api/v1/cases/{cases[2]['id']}/decisions", as_="board", json={"outcome": "deferred"})
    db = app.extensions["bcapi"].db
    dashboard_before = body(api.get("/api/v1/dashboard", as_="board"))
    with db.reading() as session:
        rollups_before = rollup_rows(session)
        spans_before = dict(session.execute(select(BusinessCase.id, BusinessCase.decision_span_us)).all())
    db.dispose()

    command.downgrade(migrate.alembic_config(database_url), "0002")
    migrate.upgrade(database_url)

    with db.reading() as session:
        assert rollup_rows(session) == rollups_before
        assert dict(session.execute(select(BusinessCase.id, BusinessCase.decision_span_us)).all()) == spans_before
    dashboard_after = body(api.get("/api/v1/dashboard", as_="board"))
    dashboard_before.pop("generated_at"), dashboard_after.pop("generated_at")
    assert dashboard_after == dashboard_before and dashboard_after["cases"]["total"] == 3
