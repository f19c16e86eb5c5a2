"""The database: one engine per process, a session per unit of work.

SQLite (the embedded default) gets foreign keys, WAL, a busy timeout, and `BEGIN IMMEDIATE`
for writing transactions so that two writers queue rather than fail. PostgreSQL is the
production database; both run the same Alembic migrations.
"""
from __future__ import annotations

import os
import threading
from collections import namedtuple
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Select, create_engine, event, exc, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, begins transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Engine and session factories; `writing()` and `reading()` are the units of work."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        writer = self.engine.execution_options(sqlite_immediate=True) if self.is_sqlite else self.engine
        # A forked worker (gunicorn --preload) must not reuse its parent's connections.
        os.register_at_fork(after_in_child=lambda: self.engine.dispose(close=False))
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(writer, expire_on_commit=False)
        self._driver_queries: dict[int, DriverQuery] = {}
        self._writer_turn = WriterTurn(make_url(url).database) if self.is_sqlite else nullcontext()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back whole on any error."""
        with self._writer_turn, self._write() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def driver_query(self, statement: Select) -> "DriverQuery":
        """`statement` as a DriverQuery on this database, compiled the first time it is asked for."""
        query = self._driver_queries.get(id(statement))
        if query is None:
            query = self._driver_queries.setdefault(id(statement), DriverQuery(self.engine, statement))
        return query

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


class WriterTurn:
    """SQLite has one writer at a time. The service's writers (threads, and the processes of one
    host) take turns on locks that wake the next one as soon as the last is done, rather than in
    SQLite's busy handler, which sleeps 1, 2, 5, ... up to 100 ms between tries: a thread lock,
    then an advisory lock on `<database>.writers` (flock, opened once per process).
    """

    def __init__(self, database: str | None):
        self.path = f"{database}.writers" if database and database != ":memory:" and fcntl else None
        self.fd: int | None = None
        self.pid = 0
        self._forked()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """A new process starts with no turn held, whatever its parent held."""
        self.thread_lock = threading.RLock()
        self.depth = 0

    def __enter__(self) -> None:
        self.thread_lock.acquire()
        self.depth += 1
        if self.depth == 1 and self.path:
            try:
                if self.pid != os.getpid():  # a forked worker opens its own (a shared one does not exclude)
                    self.fd, self.pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            except BaseException:
                self.depth -= 1
                self.thread_lock.release()
                raise

    def __exit__(self, *exc) -> None:
        try:
            if self.depth == 1 and self.path:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.depth -= 1
            self.thread_lock.release()


def insert_if_absent(session: Session, model: type, **values) -> bool:
    """INSERT the row unless its key exists (ON CONFLICT DO NOTHING); True if this call added it.

    Safe when two transactions try at once: on PostgreSQL the second waits for the first and
    then does nothing, where a read-then-insert would fail on the unique key.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    key = inspect(model).primary_key
    statement = dialect.insert(model).values(**values).on_conflict_do_nothing().returning(*key)
    return session.execute(statement).first() is not None  # rowcount is -1 here under psycopg


class DriverQuery:
    """A SELECT compiled once for the engine's dialect and run straight on a pooled DBAPI
    connection: for the query every authenticated request makes (its API key), where a SQLAlchemy
    Connection's bookkeeping costs several times the query itself (about 100 us against 15 on
    SQLite). Values come back through the columns' own types (aware UTC datetimes on both
    databases), and driver errors are raised as SQLAlchemy's, as a Connection would raise them.
    For a single-statement read only: the connection is in the driver's autocommit mode on SQLite,
    and rolled back as it goes back to the pool on PostgreSQL.
    """

    def __init__(self, engine: Engine, statement: Select):
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.engine, self.sql, self._order = engine, compiled.string, compiled.positiontup
        self._compiled = compiled
        columns = list(statement.selected_columns)
        self._processors = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self._row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]

    def first(self, **params: Any) -> Any:
        """The first row (fields by column name), or None."""
        values = self._compiled.construct_params(params)
        bound = tuple(values[name] for name in self._order) if self._order is not None else values
        driver_error = self.engine.dialect.loaded_dbapi.Error
        try:
            connection = self.engine.raw_connection()
        except driver_error as error:  # the database is unreachable
            raise exc.DBAPIError.instance(self.sql, bound, error, driver_error) from error
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self.sql, bound)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except driver_error as error:
            if self.engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
                connection.invalidate(error)
            raise exc.DBAPIError.instance(self.sql, bound, error, driver_error) from error
        finally:
            connection.close()
        if row is None:
            return None
        return self._row(*(value if process is None else process(value)
                           for process, value in zip(self._processors, row)))
