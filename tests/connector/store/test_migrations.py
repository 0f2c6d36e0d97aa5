"""The schema is Alembic's to build and upgrade, on SQLite (and PostgreSQL: see test_store_engines)."""

from __future__ import annotations

import multiprocessing
import sqlite3

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from connector.store import open_store
from connector.store.migrate import HEAD, MIGRATIONS, current, upgrade
from connector.store.schema import metadata

LEGACY_SCHEMA = """
CREATE TABLE effects (key TEXT PRIMARY KEY, status TEXT NOT NULL CHECK (status IN ('claimed', 'done')),
                      claimed_at TEXT NOT NULL, done_at TEXT);
CREATE TABLE unsubscribes (tenant TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE, at TEXT NOT NULL,
                           PRIMARY KEY (tenant, email));
INSERT INTO effects VALUES ('send:t:ada@example.com:1', 'claimed', '2026-01-01T00:00:00+00:00', NULL);
INSERT INTO unsubscribes VALUES ('t', 'Ada@Example.COM', '2026-01-01T00:00:00+00:00');
"""


def test_head_names_the_newest_migration():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_a_new_database_is_created_at_head_with_every_table_of_the_schema(state_url):
    store = open_store(state_url)
    with store.read() as conn:
        assert current(conn) == HEAD
        assert set(inspect(conn).get_table_names()) == set(metadata.tables) | {"alembic_version"}


def test_every_column_of_the_schema_is_built_by_the_migrations(state_url):
    store = open_store(state_url)
    with store.read() as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            built = {column["name"]: column["nullable"] for column in inspector.get_columns(table.name)}
            assert built == {column.name: column.nullable for column in table.columns}, table.name


def test_a_database_made_before_alembic_keeps_its_rows_and_gains_what_is_new(tmp_path):
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as legacy:
        legacy.executescript(LEGACY_SCHEMA)
    store = open_store(path)
    with store.read() as conn:
        assert current(conn) == HEAD
        assert conn.exec_driver_sql("SELECT key, owner FROM effects").all() == [("send:t:ada@example.com:1", None)]
        assert conn.exec_driver_sql("SELECT email, synced_at FROM unsubscribes").all() == [("ada@example.com", None)]


def test_upgrading_a_database_at_head_does_nothing(state_url):
    store = open_store(state_url)
    store.ensure_schema()
    assert upgrade(store) == HEAD


def test_the_state_file_is_private_to_its_owner(tmp_path):
    path = tmp_path / "state.sqlite3"
    open_store(path).ensure_schema()
    assert path.stat().st_mode & 0o077 == 0


def _first_use(url: str, start, revisions) -> None:
    start.wait()
    store = open_store(url)
    revisions.put(upgrade(store))


def test_processes_starting_together_on_a_fresh_database_migrate_it_once(state_url):
    context = multiprocessing.get_context("spawn")
    start, revisions = context.Event(), context.Queue()
    starters = [context.Process(target=_first_use, args=(state_url, start, revisions)) for _ in range(4)]
    for starter in starters:
        starter.start()
    start.set()
    found = sorted(str(revisions.get(timeout=120)) for _ in starters)
    for starter in starters:
        starter.join(timeout=60)
    assert found.count("None") == 1 and found.count(HEAD) == 3  # one migrated, three found it done
