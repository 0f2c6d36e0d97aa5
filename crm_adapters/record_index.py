"""What SalesOS knows about the records it wrote into a tenant's CRM.

Two things, both keyed by tenant, record kind and natural key:
- the CRM's id for the record, so associations and tasks need no lookup call
  (HubSpot links records by id, never by email or domain);
- a write stamp per field: a hash of the value SalesOS last wrote. A field
  whose CRM value no longer matches its stamp was changed by a person, and
  SalesOS leaves it alone; a webhook event whose value matches the stamp is
  the echo of SalesOS's own write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connector.private_files import connect
from connector.transactions import transaction
from crm_adapters.values import JSON

_SCHEMA = """
CREATE TABLE IF NOT EXISTS crm_records (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, crm_id TEXT NOT NULL, parent TEXT,
    PRIMARY KEY (tenant, kind, key)
);
CREATE INDEX IF NOT EXISTS crm_records_by_id ON crm_records (tenant, kind, crm_id);
CREATE INDEX IF NOT EXISTS crm_records_by_parent ON crm_records (tenant, kind, parent);
CREATE TABLE IF NOT EXISTS crm_stamps (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, value_hash TEXT NOT NULL,
    written_at TEXT NOT NULL, PRIMARY KEY (tenant, kind, key, field)
)
"""
_CHUNK = 400


def value_hash(value: Any) -> str:
    """Equal values hash equal whatever their Python type's quirks (dict order, datetime offsets).

    Text is compared as a CRM returns it: runs of spaces collapsed and "" as
    unset (HubSpot and Salesforce both read an empty field back as null), so a
    value's round trip through the CRM never looks like a person's edit.
    """
    if isinstance(value, str):
        value = " ".join(value.split()) or None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return hashlib.sha256(JSON.encode(value).encode()).hexdigest()[:32]


class RecordIndex:
    """One tenant's ids and stamps in a SQLite file (the state database; ':memory:' in tests)."""

    def __init__(self, path: Path | str, tenant: str) -> None:
        self.tenant = tenant
        self._lock = threading.Lock()
        open_db = connect if isinstance(path, Path) else sqlite3.connect  # a str is ':memory:'
        self._db = open_db(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=30000")
        for statement in _SCHEMA.split(";"):
            self._db.execute(statement)

    # --- ids ----------------------------------------------------------------

    def ids(self, kind: str, keys: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT key, crm_id FROM crm_records WHERE tenant = ? AND kind = ? AND key IN ({marks})",
                               (self.tenant, kind, *chunk))
            found.update(rows)
        return found

    def keys_of(self, kind: str, crm_ids: Iterable[str]) -> dict[str, str]:
        """Natural key by CRM id: a webhook names records by id, SalesOS by email or domain."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(crm_ids)):
            marks = ",".join("?" * len(chunk))
            found.update(self._query(
                f"SELECT crm_id, key FROM crm_records WHERE tenant = ? AND kind = ? AND crm_id IN ({marks})",
                (self.tenant, kind, *chunk)))
        return found

    def children(self, kind: str, parent: str | None) -> dict[str, str]:
        """Key → id of records under `parent` (tasks of a contact); every one when parent is None."""
        if parent is None:
            return dict(self._query("SELECT key, crm_id FROM crm_records WHERE tenant = ? AND kind = ?",
                                    (self.tenant, kind)))
        return dict(self._query("SELECT key, crm_id FROM crm_records WHERE tenant = ? AND kind = ? AND parent = ?",
                                (self.tenant, kind, parent)))

    def parents(self, kind: str, keys: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            found.update(self._query(
                f"SELECT key, parent FROM crm_records WHERE tenant = ? AND kind = ? AND key IN ({marks})",
                (self.tenant, kind, *chunk)))
        return found

    def remember(self, kind: str, ids: dict[str, str], parents: dict[str, str] | None = None) -> None:
        rows = [(self.tenant, kind, key, crm_id, (parents or {}).get(key)) for key, crm_id in ids.items()]
        self._write("INSERT INTO crm_records (tenant, kind, key, crm_id, parent) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant, kind, key) DO UPDATE SET crm_id = excluded.crm_id, "
                    "parent = COALESCE(excluded.parent, crm_records.parent)", rows)

    def forget(self, kind: str, keys: Iterable[str]) -> None:
        self._write("DELETE FROM crm_records WHERE tenant = ? AND kind = ? AND key = ?",
                    [(self.tenant, kind, key) for key in keys])

    # --- stamps -------------------------------------------------------------

    def stamps(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT key, field, value_hash FROM crm_stamps WHERE tenant = ? AND kind = ? AND key IN ({marks})",
                (self.tenant, kind, *chunk))
            for key, name, digest in rows:
                found.setdefault(key, {})[name] = digest
        return found

    def stamp(self, kind: str, written: dict[str, dict[str, Any]], at: dt.datetime | None = None) -> None:
        """Record the values just written: {key: {field: value}}."""
        when = (at or dt.datetime.now(dt.UTC)).isoformat()
        rows = [(self.tenant, kind, key, name, value_hash(value), when)
                for key, values in written.items() for name, value in values.items()]
        self._write("INSERT INTO crm_stamps (tenant, kind, key, field, value_hash, written_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, kind, key, field) DO UPDATE SET "
                    "value_hash = excluded.value_hash, written_at = excluded.written_at", rows)

    def is_echo(self, kind: str, key: str, field: str, value: Any) -> bool:
        """True when `value` is what SalesOS last wrote to this field: a webhook echo, not a person's edit."""
        return self.stamps(kind, [key]).get(key, {}).get(field) == value_hash(value)

    def close(self) -> None:
        self._db.close()

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _write(self, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock, transaction(self._db):
            self._db.executemany(sql, rows)


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]
