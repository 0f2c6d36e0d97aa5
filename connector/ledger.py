"""The send ledger: what SalesOS has done to whom, so it never does it twice.

RQ delivers jobs at least once. Every side effect has a key
(stage, tenant, record, step); the ledger claims keys before the effect and
marks them done after. A key already done is skipped. A key claimed but never
marked done (a worker died mid-effect) is handed out again: the local
effects are themselves idempotent by key (file name, task key, activity key).

A rep's changes to one record reach SalesOS in any order (CRMs retry late,
workers run jobs in parallel), so a change older than the last one applied
to its (tenant, record, property) is not applied at all
(`connector.change_order`): the check and the effect are one transaction.

The ledger also holds unsubscribe tokens: random, opaque, one per contact,
so an unsubscribe link reveals nothing and cannot be forged. An unsubscribe
takes effect here at once (every send checks it) and stays unsynced until a
job has written it into the tenant's CRM (`synced_at`), so a CRM write that
could not be queued or did not land is done later, never lost. `queued_at`
says when its CRM write was last queued (retries wait for it to age), and
`note` why it has not landed, or what syncing it found. One whose tenant was
uninstalled has no CRM left to write to: it is `abandoned_at`, with the
reason, and stays in force here; registering the tenant again
(`reopen_abandoned_unsubscribes`) makes it wait for its CRM write once more.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from connector import change_order
from connector.private_files import connect
from connector.transactions import transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('claimed', 'done')),
    claimed_at TEXT NOT NULL,
    done_at TEXT
);
CREATE TABLE IF NOT EXISTS unsubscribe_tokens (
    token TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    created_at TEXT NOT NULL,
    UNIQUE (tenant, email)
);
CREATE TABLE IF NOT EXISTS holds (
    tenant TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (tenant, email)
);
CREATE TABLE IF NOT EXISTS parked (
    key TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sequence_versions (
    tenant TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant, email)
);
CREATE TABLE IF NOT EXISTS unsubscribes (
    tenant TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    at TEXT NOT NULL,
    synced_at TEXT,
    queued_at TEXT,
    abandoned_at TEXT,
    note TEXT,
    PRIMARY KEY (tenant, email)
);
"""
# Columns a ledger made by an older SalesOS lacks; every unsubscribe it holds starts unsynced.
_ADDED_UNSUBSCRIBE_COLUMNS = ("synced_at", "queued_at", "abandoned_at", "note")
_WAITING = "synced_at IS NULL AND abandoned_at IS NULL"  # an unsubscribe not yet in its CRM, to be written there


def effect_key(stage: str, tenant: str, record: str, step: int | str) -> str:
    return f"{stage}:{tenant}:{record.lower()}:{step}"


class Ledger:
    def __init__(self, path: Path, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        """`clock` is what a change's time is judged against (`connector.change_order`)."""
        self._clock = clock
        self._db = connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA + change_order.SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(unsubscribes)")}
        for column in _ADDED_UNSUBSCRIBE_COLUMNS:
            if column not in columns:
                self._db.execute(f"ALTER TABLE unsubscribes ADD COLUMN {column} TEXT")
        self._db.execute(f"CREATE INDEX IF NOT EXISTS unsubscribes_waiting ON unsubscribes (at) WHERE {_WAITING}")

    def claim(self, keys: Iterable[str]) -> list[str]:
        """Claim keys; return those whose effect must still happen."""
        keys = list(dict.fromkeys(keys))
        now = _now()
        with self._write():
            self._db.executemany(
                "INSERT OR IGNORE INTO effects (key, status, claimed_at) VALUES (?, 'claimed', ?)",
                [(key, now) for key in keys],
            )
            done = self._done(keys)
        return [key for key in keys if key not in done]

    def complete(self, keys: Iterable[str]) -> None:
        now = _now()
        with self._write():
            self._db.executemany(
                "UPDATE effects SET status = 'done', done_at = ? WHERE key = ?",
                [(now, key) for key in keys],
            )

    def release_claims(self, keys: Iterable[str]) -> None:
        """Give up claims whose effect did not happen (a step the CRM refused, a job that failed or deferred): the
        key is free for the next claim at once. A key already done stays done."""
        keys = list(dict.fromkeys(keys))
        with self._write():
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM effects WHERE status = 'claimed' AND key IN ({marks})", chunk)

    def claimed(self, keys: Iterable[str]) -> set[str]:
        """Which of these keys are claimed and not done: an effect under way, or left behind by a crash."""
        rows = self._select_in("SELECT key FROM effects WHERE status = 'claimed' AND key IN ({})", [], list(keys))
        return {key for (key,) in rows}

    def is_done(self, key: str) -> bool:
        return key in self._done([key])

    def unsubscribe_tokens(self, tenant: str, emails: Iterable[str]) -> dict[str, str]:
        """One stable random token per contact, created on first use."""
        emails = [email.lower() for email in dict.fromkeys(emails)]
        now = _now()
        with self._write():
            self._db.executemany(
                "INSERT OR IGNORE INTO unsubscribe_tokens (token, tenant, email, created_at) VALUES (?, ?, ?, ?)",
                [(secrets.token_urlsafe(18), tenant, email, now) for email in emails],
            )
            rows = self._select_in(
                "SELECT email, token FROM unsubscribe_tokens WHERE tenant = ? AND email IN ({})", [tenant], emails
            )
        return {email.lower(): token for email, token in rows}

    def unsubscribe(self, token: str) -> tuple[str, str] | None:
        """Record an unsubscribe by token; return (tenant, email), None if unknown."""
        row = self._db.execute(
            "SELECT tenant, email FROM unsubscribe_tokens WHERE token = ?", (token,)
        ).fetchone()
        if row is None:
            return None
        with self._write():
            self._db.execute(
                "INSERT OR IGNORE INTO unsubscribes (tenant, email, at) VALUES (?, ?, ?)", (*row, _now())
            )
        return row

    def due_unsubscribes(self, queued_before: dt.datetime, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` waiting unsubscribes, oldest first, whose CRM write was never queued or last queued
        before `queued_before` (it failed, or its job was lost)."""
        return self._db.execute(
            f"SELECT tenant, email FROM unsubscribes WHERE {_WAITING} AND (queued_at IS NULL OR queued_at < ?) "
            "ORDER BY at, rowid LIMIT ?", (queued_before.astimezone(dt.UTC).isoformat(), limit)).fetchall()

    def waiting_unsubscribes(self, tenant: str, emails: Iterable[str]) -> list[str]:
        """Which of these emails (lower case) have an unsubscribe still waiting for its CRM write."""
        rows = self._select_in(f"SELECT email FROM unsubscribes WHERE tenant = ? AND {_WAITING} AND email IN ({{}})",
                               [tenant], [email.lower() for email in emails])
        return sorted({email.lower() for (email,) in rows})

    def unsubscribes_queued(self, tenant: str, emails: Iterable[str], at: dt.datetime | None = None) -> None:
        self._mark(tenant, emails, "queued_at = ?", ((at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(),))

    def unsubscribes_synced(self, tenant: str, emails: Iterable[str], note: str | None = None) -> None:
        self._mark(tenant, emails, "synced_at = ?, note = ?", (_now(), note))

    def unsubscribes_failed(self, tenant: str, reasons: dict[str, str]) -> None:
        """Why each CRM write did not land; the unsubscribe keeps waiting (the next pass queues it again)."""
        with self._write():
            self._db.executemany("UPDATE unsubscribes SET note = ? WHERE tenant = ? AND email = ?",
                                 [(reason, tenant, email) for email, reason in reasons.items()])

    def abandon_unsubscribes(self, tenant: str, emails: Iterable[str], reason: str) -> None:
        """No CRM is left to write these into (the tenant was uninstalled): never queued again, kept with why."""
        self._mark(tenant, emails, "abandoned_at = ?, note = ?", (_now(), reason))

    def _mark(self, tenant: str, emails: Iterable[str], assignments: str, values: tuple) -> None:
        with self._write():
            self._db.executemany(f"UPDATE unsubscribes SET {assignments} WHERE tenant = ? AND email = ?",
                                 [(*values, tenant, email) for email in dict.fromkeys(emails)])

    def unsubscribed(self, tenant: str, emails: Iterable[str]) -> set[str]:
        rows = self._select_in(
            "SELECT email FROM unsubscribes WHERE tenant = ? AND email IN ({})", [tenant], list(emails)
        )
        return {email.lower() for (email,) in rows}

    def hold(self, tenant: str, email: str, reason: str, changed_at: dt.datetime | None = None) -> bool:
        """A rep paused or stopped this contact's sequence in the CRM: no step runs until `release`.

        False (and nothing held) when a sequence change newer than `changed_at` was already applied.
        """
        with self._write():
            if changed_at is not None and not self._newest(tenant, email, "sequence_state", changed_at):
                return False
            self._db.execute("INSERT INTO holds (tenant, email, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT "
                             "(tenant, email) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                             (tenant, email, reason, _now()))
        return True

    def held(self, tenant: str, emails: Iterable[str]) -> set[str]:
        rows = self._select_in("SELECT email FROM holds WHERE tenant = ? AND email IN ({})", [tenant], list(emails))
        return {email.lower() for (email,) in rows}

    def park(self, tenant: str, key: str, email: str, item: str) -> None:
        """Keep a step that fell due while its contact was held, to run when the hold is released."""
        with self._write():
            self._db.execute("INSERT OR REPLACE INTO parked (key, tenant, email, item) VALUES (?, ?, ?, ?)",
                             (key, tenant, email, item))

    def release(self, tenant: str, email: str, changed_at: dt.datetime | None = None) -> dict[str, str] | None:
        """End a hold; returns the parked steps by key (as stored), kept until `unpark` says they are queued.

        None (and the hold kept) when a sequence change newer than `changed_at` was already applied.
        """
        with self._write():
            if changed_at is not None and not self._newest(tenant, email, "sequence_state", changed_at):
                return None
            self._db.execute("DELETE FROM holds WHERE tenant = ? AND email = ?", (tenant, email))
            return dict(self._db.execute("SELECT key, item FROM parked WHERE tenant = ? AND email = ? ORDER BY key",
                                         (tenant, email)).fetchall())

    def unpark(self, keys: Iterable[str]) -> None:
        with self._write():
            self._db.executemany("DELETE FROM parked WHERE key = ?", [(key,) for key in keys])

    def replace_sequence(self, tenant: str, email: str, changed_at: dt.datetime | None = None) -> int | None:
        """A new plan for the contact's sequence (a rep's tier override): its version, after which steps of older
        plans are dropped. None (and no new plan) when a tier change newer than `changed_at` was already applied."""
        with self._write():
            if changed_at is not None and not self._newest(tenant, email, "priority_tier", changed_at):
                return None
            self._db.execute("INSERT INTO sequence_versions (tenant, email, version) VALUES (?, ?, 1) ON CONFLICT "
                             "(tenant, email) DO UPDATE SET version = version + 1", (tenant, email))
            return self._db.execute("SELECT version FROM sequence_versions WHERE tenant = ? AND email = ?",
                                    (tenant, email)).fetchone()[0]

    def versions(self, tenant: str, emails: Iterable[str]) -> dict[str, int]:
        rows = self._select_in("SELECT email, version FROM sequence_versions WHERE tenant = ? AND email IN ({})",
                               [tenant], list(emails))
        return {email.lower(): version for email, version in rows}

    def close(self) -> None:
        self._db.close()

    def _newest(self, tenant: str, record: str, prop: str, changed_at: dt.datetime) -> bool:
        return change_order.newest(self._db, tenant, record, prop, changed_at, self._clock())

    def _done(self, keys: list[str]) -> set[str]:
        rows = self._select_in("SELECT key FROM effects WHERE status = 'done' AND key IN ({})", [], keys)
        return {key for (key,) in rows}

    def _select_in(self, sql: str, params: list, values: list[str]) -> list[tuple]:
        rows: list[tuple] = []
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(self._db.execute(sql.format(marks), [*params, *chunk]).fetchall())
        return rows

    def _write(self):
        return transaction(self._db)


def reopen_abandoned_unsubscribes(db: sqlite3.Connection, tenant: str) -> int:
    """The tenant is registered again (`TenantStore.add`): it has a CRM again, so its abandoned unsubscribes wait
    for their CRM write once more, due at the dispatcher's next pass. Returns how many.

    On the state database's connection, whether or not a ledger was opened on it yet."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(unsubscribes)")}
    if "abandoned_at" not in columns:
        return 0  # no ledger yet, or one from before anything could be abandoned
    return db.execute("UPDATE unsubscribes SET abandoned_at = NULL, queued_at = NULL, note = NULL "
                      "WHERE tenant = ? AND abandoned_at IS NOT NULL AND synced_at IS NULL", (tenant,)).rowcount


def unsubscribe_backlog(db: sqlite3.Connection) -> list[tuple[str, int, int, str | None, str | None]]:
    """Per tenant with any: (tenant, waiting, abandoned, the newest note among them, when the oldest waiting one
    was made). On any connection to the ledger's database: `health` reads it read-only."""
    return db.execute(
        "SELECT tenant, SUM(abandoned_at IS NULL), SUM(abandoned_at IS NOT NULL), "
        "(SELECT note FROM unsubscribes AS newest WHERE newest.tenant = unsubscribes.tenant AND "
        "newest.synced_at IS NULL AND newest.note IS NOT NULL ORDER BY newest.at DESC LIMIT 1), "
        "MIN(CASE WHEN abandoned_at IS NULL THEN at END) "
        "FROM unsubscribes WHERE synced_at IS NULL GROUP BY tenant ORDER BY tenant").fetchall()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
