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


def _rows(url: str) -> dict[str, list]:
    """Every row of every table the models know that exists (its columns that exist), in a
    stable order."""
    from sqlalchemy import inspect, select

    engine = create_engine(url)
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    rows = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in present:
                columns = [table.c[c["name"]] for c in inspector.get_columns(table.name)]
                rows[table.name] = sorted((tuple(row) for row in conn.execute(select(*columns))), key=repr)
    engine.dispose()
    return rows


def test_every_downgrade_and_upgrade_keeps_every_row(app, api, database_url):
    """From the head down to each earlier migration and back up, with cases, revisions,
    assessments, decisions, keys, an idempotency record and the audit trail present: every row
    comes back as it was (the rollups rebuilt), and on the way down no row of a table the older
    schema has is lost. Web sessions alone are dropped (everyone is signed out), by design."""
    from sqlalchemy import inspect

    from .factories import body, make_document, sample
    from .test_web import sign_in

    first = body(api.submit(sample("copd-community-service"), as_="admin"))
    second = api.submit(make_document(title="To revise"), headers={"Idempotency-Key": "round-trip-1"})
    third = body(api.submit(sample("dermatology-gpwsi"), as_="admin"))
    revised = api.put(second.headers["Location"], json=make_document(title="Revised"),
                      headers={"If-Match": second.headers["ETag"]})
    assert revised.status_code == 200
    for case in (first, third):
        assert api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board",
                        json={"outcome": "approved"}).status_code == 201
    assert sign_in(app.test_client(), api.key("board")).status_code == 303
    app.extensions["bcapi"].db.dispose()

    before = _rows(database_url)
    counts = {name: len(rows) for name, rows in before.items()}
    # 3 keys, 1 ruleset, 3 cases + 1 revision, 2 decisions; audit: 3 keys created, the ruleset
    # loaded, 3 cases submitted, 1 revised, 2 decided.
    assert {name: counts[name] for name in ("api_keys", "rulesets", "business_cases", "revisions", "assessments",
                                            "decisions", "audit_events", "idempotency_records", "web_sessions")} == {
        "api_keys": 3, "rulesets": 1, "business_cases": 3, "revisions": 4, "assessments": 4, "decisions": 2,
        "audit_events": 10, "idempotency_records": 1, "web_sessions": 1}
    assert all(counts[name] > 0 for name in ("assessment_criteria", "failed_rules", "portfolio_cases",
                                             "portfolio_criteria", "portfolio_failures"))
    before.pop("web_sessions")

    config = migrate.alembic_config(database_url)
    for target in ("0003", "0002", "0001"):
        command.downgrade(config, target)
        down = _rows(database_url)
        for name in ("api_keys", "rulesets", "business_cases", "revisions", "assessments", "assessment_criteria",
                     "failed_rules", "idempotency_records"):
            assert len(down[name]) == counts[name], (target, name)
        migrate.upgrade(database_url)
        after = _rows(database_url)
        assert after.pop("web_sessions") == [], target
        assert after == before, target

    engine = create_engine(database_url)
    assert not [t for t in inspect(engine).get_table_names() if t.startswith("kept_")]
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
    engine.dispose()


def test_downgrading_past_the_first_migration_refuses_while_rows_exist(api, database_url):
    import pytest

    api.submit()
    api.app.extensions["bcapi"].db.dispose()
    config = migrate.alembic_config(database_url)
    command.downgrade(config, "0001")
    with pytest.raises(RuntimeError, match="Refusing to downgrade below 0001.*business_cases"):
        command.downgrade(config, "base")
    migrate.upgrade(database_url)
    assert len(_rows(database_url)["business_cases"]) == 1
