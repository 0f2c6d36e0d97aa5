"""One `Store` per database URL and process: SQLAlchemy's engine, with writes that never interleave.

A write is one transaction that holds the database's write lock from its
first statement (SQLite: BEGIN IMMEDIATE, so two writers queue for the busy
timeout instead of failing on "database is locked"; PostgreSQL: row locks and
ON CONFLICT). Writes nest: a write opened inside another on the same thread is
part of it (a tenant's row, its secrets and its URL tokens change together).

RQ forks a work horse per job, and a connection must never be shared across a
fork: the child forgets the parent's pooled connections and opens its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from connector.private_files import private_file

BUSY_TIMEOUT_S = 30


class Store:
    """SalesOS's state database: `write()` and `read()` hand out a connection inside a transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._local = threading.local()
        self._schema_checked = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, committed on exit and rolled back on any exception (KeyboardInterrupt too)."""
        open_write = getattr(self._local, "write", None)
        if open_write is not None:
            yield open_write
            return
        self.ensure_schema()
        with self.engine.connect() as conn:
            conn.execution_options(salesos_write=True)
            with conn.begin():
                self._local.write = conn
                try:
                    yield conn
                finally:
                    self._local.write = None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One consistent snapshot for a read (inside an open write, that write)."""
        open_write = getattr(self._local, "write", None)
        if open_write is not None:
            yield open_write
            return
        self.ensure_schema()
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def insert(self, table: Table):
        """INSERT with ON CONFLICT (`on_conflict_do_nothing` / `on_conflict_do_update`) in this engine's dialect."""
        return _insert(self.dialect, table)

    def ensure_schema(self) -> None:
        """Create or upgrade the schema the first time this process uses the database."""
        if not self._schema_checked:
            from connector.store.migrate import upgrade  # Alembic loads only when the schema is behind

            upgrade(self)
            self._schema_checked = True

    def dispose(self) -> None:
        self.engine.dispose()


def insert_for(conn: Connection, table: Table):
    """`Store.insert` for code handed a connection inside someone else's transaction."""
    return _insert(conn.dialect.name, table)


def _insert(dialect: str, table: Table):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def database_url(target: Path | str) -> str:
    """A SQLAlchemy URL for a path (a SQLite file) or a URL as given."""
    return f"sqlite:///{target}" if isinstance(target, Path) else target


def open_store(target: Store | Path | str) -> Store:
    """The process's store for a database: a path is a SQLite file, a string is a SQLAlchemy URL."""
    if isinstance(target, Store):
        return target
    url = database_url(target)
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Store(url)
        return store


def close_stores() -> None:
    """Dispose of every store this process opened (tests, between one SALESOS_HOME and the next)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.dispose()


def _forget_after_fork() -> None:
    for store in list(_stores.values()):
        store.engine.dispose(close=False)
        store._local = threading.local()


os.register_at_fork(after_in_child=_forget_after_fork)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver SalesOS ships
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                             connect_args={"connect_timeout": 10, "application_name": "salesos"})
    raise ValueError(f"SALESOS_DATABASE_URL must be a sqlite:/// or postgresql:// URL (got a {parsed.drivername} URL)")


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        private_file(Path(database))  # 0600 before SQLite opens it; its -wal and -shm follow its mode
    # Pooled: opening one (the file, its WAL index, two PRAGMAs) cost each outreach step 2 ms of its 3. No cap: a
    # thread never waits for a connection another holds (a job's lease renewer, a web node's threads).
    engine = create_engine(url, pool_size=5, max_overflow=-1,
                           connect_args={"timeout": BUSY_TIMEOUT_S, "isolation_level": None,
                                         "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("salesos_write") else "BEGIN")

    return engine
