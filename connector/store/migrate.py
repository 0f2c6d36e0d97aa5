"""The schema's version, and upgrading it with Alembic (`python -m connector db upgrade`, or the first use).

Upgrades run in one write transaction under a lock (SQLite's write lock, a
PostgreSQL advisory lock), so processes starting together on a fresh database
migrate it once and the others find it done.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text

from connector.store.engine import Store

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0006"  # the newest revision in migrations/versions; a test checks it against Alembic's head
_LOCK_ID = 0x5A1E5_05  # PostgreSQL advisory lock: one migrator at a time


def current(conn: Connection) -> str | None:
    """The database's revision, None for a database Alembic never touched (new, or made by an older SalesOS)."""
    table = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'" if conn.dialect.name == "sqlite"
        else "SELECT 1 FROM information_schema.tables WHERE table_name = 'alembic_version' "
             "AND table_schema = current_schema()").first()
    if table is None:
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(store: Store) -> str:
    """Bring the database to HEAD; returns the revision it was at (the same as HEAD when nothing was to do)."""
    with store.engine.connect() as conn:
        with conn.begin():
            before = current(conn)
        if before == HEAD:
            return before
        conn.execution_options(salesos_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            before = current(conn)  # another process may have migrated while this one waited
            if before != HEAD:
                _alembic_upgrade(conn)
        return before


def _alembic_upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
