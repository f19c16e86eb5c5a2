"""The migrations and the models agree, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from bcapi import migrate
from bcapi.models import Base


def test_migration_head_matches_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == migrate.head_revision()
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()
