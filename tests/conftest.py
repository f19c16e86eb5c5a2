"""Fixtures: an app per test on a fresh database, on SQLite and on PostgreSQL.

Database tests take the `app`/`api` fixtures and so run twice, once per backend. The PostgreSQL
leg uses BCAPI_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth), makes its own
database for the session, and is skipped with a loud message only when no server answers.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bcapi.storage import migrate
from bcapi.http.app import create_app
from bcapi.storage.models import Base

from .factories import ApiClient

POSTGRES_ADMIN_URL = os.environ.get("BCAPI_TEST_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
_postgres_skip_reason: list[str] = []


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A migrated PostgreSQL database for this test session, or None if no server answers."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"bcapi_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, or not allowed: the PostgreSQL leg cannot run here
        _postgres_skip_reason.append(f"{POSTGRES_ADMIN_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        admin.dispose()
        yield None
        return
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, sqlite_template) -> str:
    """A fresh, migrated, empty database."""
    if request.param == "sqlite":
        path = tmp_path / "bcapi.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("POSTGRESQL LEG SKIPPED: no PostgreSQL server could be reached "
                    f"({_postgres_skip_reason[0] if _postgres_skip_reason else POSTGRES_ADMIN_URL})")
    _truncate_all(url)
    return url


@pytest.fixture
def app_env(database_url, tmp_path) -> dict[str, str]:
    env = {"BCAPI_DATABASE_URL": database_url, "BCAPI_INSTANCE_PATH": str(tmp_path), "BCAPI_LOG_LEVEL": "WARNING"}
    if os.environ.get("BCAPI_RULES"):
        env["BCAPI_RULES"] = os.environ["BCAPI_RULES"]
    return env


@pytest.fixture
def app(app_env):
    app = create_app(app_env)
    app.config["TESTING"] = True
    yield app
    app.extensions["bcapi"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(app) -> ApiClient:
    return ApiClient(app)


def pytest_terminal_summary(terminalreporter):
    if _postgres_skip_reason:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"No PostgreSQL server answered: {_postgres_skip_reason[0]}", red=True)
        terminalreporter.write_line("Start one (see README) or set BCAPI_TEST_POSTGRES_URL.", red=True)
