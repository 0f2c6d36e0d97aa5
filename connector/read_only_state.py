"""SalesOS's state database opened only to read it, for `health`: nothing is created, migrated or written.

Health may run in an on-call engineer's shell, without the right to write
SalesOS's files, and must not change what it inspects. So it opens a read-only
connection of its own rather than the store's (the store creates a SQLite file
that is missing, upgrades the schema and switches SQLite to WAL): a SQLite
file opened with `mode=ro`, a PostgreSQL session whose transactions are read
only. A SQLite file that does not exist is "no database yet"; anything that
cannot be read (no server, a wrong password, a file that is no database)
raises `StateUnreadable`, which names the database without its password.

A database an older SalesOS made and no process of this release has upgraded
yet may lack tables and columns: `tables` says what is there, and readers
check before they query (on PostgreSQL a failed query ends the transaction,
so asking and catching is no way to find out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, Select, Table, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from agents.validation import clip
from connector.store.migrate import current

CONNECT_TIMEOUT_S = 5


class StateUnreadable(Exception):
    """The state database is there (or should be) and cannot be read: `where` names it, `reason` says why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"could not read {where}: {reason}")
        self.where, self.reason = where, reason


@dataclass(frozen=True)
class StateSnapshot:
    """One read-only transaction on the state database, and what its schema holds."""

    conn: Connection
    where: str  # the database as `describe` names it
    revision: str | None  # Alembic's; None before any migration ran
    tables: dict[str, frozenset[str]]  # table name -> its columns

    def has(self, table: Table, *columns: str) -> bool:
        present = self.tables.get(table.name)
        return present is not None and present.issuperset(columns)

    def rows(self, query: Select) -> list[tuple]:
        """The rows, or none when a table the query reads is missing (a database from before that table)."""
        if not all(self.has(table) for table in query.get_final_froms() if isinstance(table, Table)):
            return []
        return [tuple(row) for row in self.conn.execute(query)]


def describe(database_url: str) -> str:
    """The database as an operator names it: a SQLite file's path, or the URL without its password."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


@contextmanager
def read_only(database_url: str) -> Iterator[StateSnapshot | None]:
    """A snapshot of the state database; None when it is a SQLite file that does not exist yet.

    Raises StateUnreadable when it cannot be opened or read, here or in the caller's queries."""
    url, where = make_url(database_url), describe(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not os.path.lexists(url.database):
        yield None
        return
    try:
        engine = _engine(url)
    except (SQLAlchemyError, ValueError) as exc:  # a URL no engine takes
        raise StateUnreadable(where, _reason(exc, url)) from None
    try:
        with engine.connect() as conn, conn.begin():
            yield _snapshot(conn, where)
    except SQLAlchemyError as exc:
        raise StateUnreadable(where, _reason(exc, url)) from None
    finally:
        engine.dispose()


def _snapshot(conn: Connection, where: str) -> StateSnapshot:
    inspector = inspect(conn)
    tables = {name: frozenset(column["name"] for column in inspector.get_columns(name))
              for name in inspector.get_table_names()}
    return StateSnapshot(conn=conn, where=where, revision=current(conn) if "alembic_version" in tables else None,
                         tables=tables)


def _engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(Path(url.database or ""))
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # the driver SalesOS ships, as the store chooses it
        return create_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ", connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "salesos-health",
            "options": "-c default_transaction_read_only=on"})
    raise ValueError(f"not a sqlite:/// or postgresql:// URL (a {url.drivername} URL)")


def _sqlite_engine(path: Path) -> Engine:
    uri = URL.create("sqlite", database=path.absolute().as_uri(), query={"mode": "ro", "uri": "true"})
    engine = create_engine(uri, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT_S,
                                                                   "isolation_level": None})

    @event.listens_for(engine, "begin")
    def _one_snapshot(conn: Connection) -> None:  # the driver would leave reads outside any transaction
        conn.exec_driver_sql("BEGIN")

    return engine


def _reason(exc: Exception, url: URL) -> str:
    """The driver's own words (first line), never the password even if a driver echoed it."""
    text = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    line = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if url.password:
        line = line.replace(str(url.password), "***")
    return clip(line, 300)
