"""db.DriverQuery, the API key lookup's path past SQLAlchemy's Connection: it must give exactly
what a Connection gives, on both databases, and fail the way a Connection fails."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, column, exc, select, table, update

from bcapi.http.auth import KEY_LOOKUP
from bcapi.services.principal import hash_key
from bcapi.storage.database import Database
from bcapi.storage.models import ApiKey
from bcapi.services.keys import create as create_key


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _through_a_connection(db: Database, key_hash: str):
    with db.engine.connect() as connection:
        return connection.execute(KEY_LOOKUP, {"key_hash": key_hash}).first()


def test_the_key_row_is_what_a_connection_reads(db, app):
    with db.writing() as session:
        row, key = create_key(session, role="board", consortium=None, label="driver query")
        expires = dt.datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)
        session.execute(update(ApiKey).where(ApiKey.id == row.id)
                        .values(expires_at=expires, last_used_at=expires - dt.timedelta(days=400)))
    found = db.driver_query(KEY_LOOKUP).first(key_hash=hash_key(key))
    assert tuple(found) == tuple(_through_a_connection(db, hash_key(key)))
    assert found.id == row.id and found.role == "board" and found.consortium_code is None
    assert found.expires_at == expires and found.expires_at.tzinfo is not None
    assert found.revoked_at is None
    assert db.driver_query(KEY_LOOKUP).first(key_hash=hash_key("not-a-key")) is None
    assert db.driver_query(KEY_LOOKUP) is db.driver_query(KEY_LOOKUP)  # compiled once


def test_a_driver_error_is_raised_as_sqlalchemys(db, app):
    missing = select(column("id")).select_from(table("no_such_table")).where(column("id") == bindparam("id"))
    with pytest.raises(exc.DBAPIError) as raised:
        db.driver_query(missing).first(id=1)
    assert isinstance(raised.value.orig, db.engine.dialect.loaded_dbapi.Error)
    with db.engine.connect() as connection:  # and the pool's connections still work
        assert connection.execute(select(1)).scalar() == 1
