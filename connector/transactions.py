"""One write transaction on a SQLite connection opened with `isolation_level=None` (SalesOS says when).

For the local CRM (`crm_adapters/local.py`), a SQLite file of its own; SalesOS's state writes through
`connector.store`'s `write()`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if anything is raised (KeyboardInterrupt too); inside a
    transaction already open on `db`, a part of it.

    IMMEDIATE takes the write lock up front: concurrent writers (workers, the web app, the CLI) wait their turn
    for the busy timeout instead of failing with "database is locked" when a read would turn into a write."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
