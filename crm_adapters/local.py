"""The embedded default CRM: SQLite under SALESOS_HOME.

It behaves like the real CRMs where it matters: upserts by natural key,
custom fields as columns named by `fields.py`, fields left out of a write are
left alone, and a write that changes nothing changes nothing (not even
`updated_at`), so re-running a market is visibly a no-op.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crm_adapters.base import (
    Account, AccountWrite, Activity, ActivityWrite, Association, Contact, ContactWrite, CRMAdapter, Task,
    TaskWrite, WriteResult,
)
from crm_adapters.fields import CustomField, fields_for

Clock = Callable[[], dt.datetime]
_CHUNK = 500  # SQLite's parameter limit is 999 on old builds

_ACCOUNT_CORE = ("domain", "name", "industry", "employee_count", "annual_revenue", "country")
_CONTACT_CORE = ("email", "name", "title", "phone", "linkedin_url", "country", "timezone", "company_domain")
_SQL_TYPE = {"number": "REAL", "bool": "INTEGER", "json": "TEXT", "datetime": "TEXT", "text": "TEXT", "enum": "TEXT"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE, name TEXT, industry TEXT,
    employee_count INTEGER, annual_revenue REAL, country TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT, title TEXT, phone TEXT,
    linkedin_url TEXT, country TEXT, timezone TEXT, company_domain TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_by_company ON contacts (company_domain);
CREATE TABLE IF NOT EXISTS associations (
    contact_id INTEGER NOT NULL REFERENCES contacts (id), account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at TEXT NOT NULL, UNIQUE (contact_id, account_id)
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, contact_email TEXT NOT NULL COLLATE NOCASE, kind TEXT,
    subject TEXT, body TEXT, due_at TEXT, status TEXT NOT NULL DEFAULT 'open', created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, contact_email TEXT NOT NULL COLLATE NOCASE, kind TEXT,
    subject TEXT, body TEXT, occurred_at TEXT, created_at TEXT NOT NULL
);
"""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LocalCRM(CRMAdapter):
    name = "local"

    def __init__(self, path: Path, clock: Clock = _utc_now) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._write():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            self._add_missing_columns()
        self._fields = {"accounts": _by_name(fields_for("company")), "contacts": _by_name(fields_for("contact"))}

    # --- writes -------------------------------------------------------------

    def upsert_accounts(self, accounts: list[AccountWrite]) -> WriteResult:
        rows = [(a.domain.strip().lower(), {k: getattr(a, k) for k in _ACCOUNT_CORE[1:]}, a.fields) for a in accounts]
        return self._upsert("accounts", "domain", _ACCOUNT_CORE, rows)

    def upsert_contacts(self, contacts: list[ContactWrite]) -> WriteResult:
        rows = [
            (c.email.strip().lower(), {k: getattr(c, k) for k in _CONTACT_CORE[1:]}, c.fields) for c in contacts
        ]
        for _, core, _ in rows:
            if core["company_domain"]:
                core["company_domain"] = core["company_domain"].lower()
        return self._upsert("contacts", "email", _CONTACT_CORE, rows)

    def associate(self, links: list[Association]) -> WriteResult:
        result = WriteResult()
        if not links:
            return result
        emails = self._ids("contacts", "email", [link.contact_email.lower() for link in links])
        domains = self._ids("accounts", "domain", [link.company_domain.lower() for link in links])
        now = self._now()
        with self._write():
            for link in links:
                key = f"{link.contact_email.lower()}->{link.company_domain.lower()}"
                contact_id, account_id = emails.get(link.contact_email.lower()), domains.get(link.company_domain.lower())
                if contact_id is None or account_id is None:
                    missing = "contact" if contact_id is None else "account"
                    result.errors[key] = f"no {missing} with that {'email' if missing == 'contact' else 'domain'}"
                    continue
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO associations (contact_id, account_id, created_at) VALUES (?, ?, ?)",
                    (contact_id, account_id, now),
                )
                result.ids[key] = f"{contact_id}-{account_id}"
                result.created += cursor.rowcount
                result.unchanged += 1 - cursor.rowcount
        return result

    def create_tasks(self, tasks: list[TaskWrite]) -> WriteResult:
        return self._insert_once(
            "tasks", ("key", "contact_email", "kind", "subject", "body", "due_at"),
            [(t.key, t.contact_email.lower(), t.kind, t.subject, t.body, t.due_at.isoformat()) for t in tasks],
        )

    def log_activities(self, activities: list[ActivityWrite]) -> WriteResult:
        return self._insert_once(
            "activities", ("key", "contact_email", "kind", "subject", "body", "occurred_at"),
            [(a.key, a.contact_email.lower(), a.kind, a.subject, a.body, a.occurred_at.isoformat())
             for a in activities],
        )

    # --- reads --------------------------------------------------------------

    def get_accounts(self, domains: list[str] | None = None) -> list[Account]:
        rows = self._select("accounts", "domain", None if domains is None else [d.lower() for d in domains])
        return [Account(**self._record(row, "accounts", _ACCOUNT_CORE)) for row in rows]

    def get_contacts(self, emails: list[str] | None = None, company_domain: str | None = None) -> list[Contact]:
        if company_domain is not None:
            rows = self._db.execute(
                "SELECT * FROM contacts WHERE company_domain = ? ORDER BY id", (company_domain.lower(),)
            ).fetchall()
        else:
            rows = self._select("contacts", "email", None if emails is None else [e.lower() for e in emails])
        return [Contact(**self._record(row, "contacts", _CONTACT_CORE)) for row in rows]

    def get_tasks(self, contact_email: str | None = None) -> list[Task]:
        return [Task(**row) for row in self._log_rows("tasks", contact_email)]

    def get_activities(self, contact_email: str | None = None) -> list[Activity]:
        return [Activity(**row) for row in self._log_rows("activities", contact_email)]

    def counts(self) -> dict[str, int]:
        tables = ("accounts", "contacts", "associations", "tasks", "activities")
        return {table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}

    def close(self) -> None:
        self._db.close()

    # --- internals ----------------------------------------------------------

    def _upsert(self, table: str, key: str, core: tuple[str, ...], rows: list[tuple[str, dict, dict]]) -> WriteResult:
        """Insert new keys, update changed ones, leave the rest alone: one transaction."""
        result = WriteResult()
        fields = self._fields[table]
        now = self._now()
        with self._write():
            existing = {row[key].lower(): row for row in self._select(table, key, [r[0] for r in rows])}
            inserts, updates = [], []
            for natural, values, custom in rows:
                try:
                    columns = {k: v for k, v in values.items() if v is not None}
                    columns |= {name: _to_column(fields, name, value) for name, value in custom.items()}
                except ValueError as exc:
                    result.errors[natural] = str(exc)
                    continue
                current = existing.get(natural)
                if current is None:
                    inserts.append({key: natural, **columns})
                    existing[natural] = {key: natural, **columns}  # a key twice in one batch updates
                    continue
                changed = {k: v for k, v in columns.items() if current.get(k) != v}
                if changed:
                    updates.append((changed, natural))
                    result.updated += 1
                else:
                    result.unchanged += 1
            for columns in inserts:
                self._db.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}, created_at, updated_at) "
                    f"VALUES ({', '.join('?' * len(columns))}, ?, ?)",
                    [*columns.values(), now, now],
                )
            result.created = len(inserts)
            for changed, natural in updates:
                assignments = ", ".join(f"{column} = ?" for column in changed)
                self._db.execute(
                    f"UPDATE {table} SET {assignments}, updated_at = ? WHERE {key} = ?",
                    [*changed.values(), now, natural],
                )
            result.ids = {k: str(v) for k, v in self._ids(table, key, [r[0] for r in rows]).items()}
        return result

    def _insert_once(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> WriteResult:
        result = WriteResult()
        now = self._now()
        with self._write():
            for row in rows:
                cursor = self._db.execute(
                    f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}, created_at) "
                    f"VALUES ({', '.join('?' * len(columns))}, ?)",
                    [*row, now],
                )
                result.created += cursor.rowcount
                result.unchanged += 1 - cursor.rowcount
            result.ids = {k: str(v) for k, v in self._ids(table, "key", [row[0] for row in rows]).items()}
        return result

    def _select(self, table: str, key: str, values: list[str] | None) -> list[dict]:
        if values is None:
            return self._rows(f"SELECT * FROM {table} ORDER BY id", ())
        rows: list[dict] = []
        for chunk in _chunks(list(dict.fromkeys(values))):
            rows += self._rows(f"SELECT * FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})", chunk)
        return sorted(rows, key=lambda row: row["id"])

    def _ids(self, table: str, key: str, values: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(values))):
            sql = f"SELECT {key}, id FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})"
            found.update((natural.lower(), row_id) for natural, row_id in self._db.execute(sql, chunk))
        return found

    def _rows(self, sql: str, params) -> list[dict]:
        cursor = self._db.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _record(self, row: dict, table: str, core: tuple[str, ...]) -> dict[str, Any]:
        fields = self._fields[table]
        return {
            "id": str(row["id"]),
            **{name: row[name] for name in core},
            "fields": {
                name: _from_column(field, row[name]) for name, field in fields.items() if row.get(name) is not None
            },
        }

    def _log_rows(self, table: str, contact_email: str | None) -> list[dict]:
        if contact_email is None:
            rows = self._rows(f"SELECT * FROM {table} ORDER BY id", ())
        else:
            rows = self._rows(f"SELECT * FROM {table} WHERE contact_email = ? ORDER BY id", (contact_email.lower(),))
        for row in rows:
            row["id"] = str(row["id"])
            row.pop("created_at")
        return rows

    def _add_missing_columns(self) -> None:
        """The field list grows; an older database gains the new columns on open."""
        for table, kind in (("accounts", "company"), ("contacts", "contact")):
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for field in fields_for(kind):
                if field.name not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {field.name} {_SQL_TYPE[field.type]}")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: concurrent workers take turns instead of failing with 'database is locked'."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _now(self) -> str:
        return self._clock().isoformat()


def _by_name(fields: tuple[CustomField, ...]) -> dict[str, CustomField]:
    return {field.name: field for field in fields}


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _to_column(fields: dict[str, CustomField], name: str, value: Any) -> Any:
    """Check a custom field value against its definition and encode it for SQLite."""
    field = fields.get(name)
    if field is None:
        raise ValueError(f"unknown field {name!r}")
    if value is None:
        return None
    if field.type == "json":
        return json.dumps(value, sort_keys=True, default=str)
    if field.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {value!r}")
        return int(value)
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        return value
    if field.type == "datetime":
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"{name}: expected a datetime with a time zone, got {value!r}")
        return value.isoformat()
    if field.type == "enum" and value not in field.options:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(field.options)}")
    return str(value)


def _from_column(field: CustomField, value: Any) -> Any:
    if field.type == "json":
        return json.loads(value)
    if field.type == "bool":
        return bool(value)
    if field.type == "datetime":
        return dt.datetime.fromisoformat(value)
    return value
