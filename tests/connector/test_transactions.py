"""A write transaction commits what its block did, or nothing of it, however the block ends."""

import sqlite3

import pytest

from connector.transactions import transaction


@pytest.fixture
def db(tmp_path):
    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE t (n INTEGER)")
    yield db
    db.close()


def rows(db) -> list[int]:
    return [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")]


def test_a_block_that_ends_normally_or_returns_early_is_committed(db):
    def write_and_return() -> int:
        with transaction(db):
            db.execute("INSERT INTO t VALUES (2)")
            return 2

    with transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
    assert write_and_return() == 2 and rows(db) == [1, 2] and not db.in_transaction


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_block_that_raises_anything_is_rolled_back_and_the_error_goes_on(db, error):
    with pytest.raises(error), transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        raise error
    assert rows(db) == [] and not db.in_transaction


def test_the_write_lock_is_taken_at_begin(tmp_path, db):
    other = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None, timeout=0)
    with transaction(db), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    other.close()
