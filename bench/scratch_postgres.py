"""A throwaway PostgreSQL database for a benchmark's PostgreSQL leg, shared by the bench scripts.

The server is BCAPI_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""
from __future__ import annotations

import os
import uuid
from typing import Callable

POSTGRES_URL = os.environ.get("BCAPI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def scratch_database(prefix: str) -> tuple[str, Callable[[], None]] | None:
    """(url, drop) of a fresh database named `prefix` + a random suffix; None, said aloud, when no
    server answers (or the driver is missing, or creating it is not allowed): no PostgreSQL leg."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL leg skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False), drop
