"""The embedded default CRM: SQLite under SALESOS_HOME.

It behaves like the real CRMs where it matters: upserts by natural key
(lower-cased domain, lower-cased email), custom fields as columns named by
`fields.py`, fields left out of a write are left alone, a bad record is
reported without blocking its batch, and a write that changes nothing changes
nothing (not even `updated_at`), so re-running a market is visibly a no-op.

Several RQ worker processes write the same file: WAL lets readers run beside
the one writer, and every write transaction starts with BEGIN IMMEDIATE so
writers queue on the busy timeout instead of failing with "database is locked".
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from connector.private_files import connect
from connector.transactions import transaction
from crm_adapters.base import (
    Account, AccountWrite, Activity, ActivityWrite, Association, Contact, ContactWrite, CRMAdapter, CRMMeeting,
    MeetingWrite, Task, TaskWrite, WriteResult,
)
from crm_adapters.fields import CustomField, fields_for
from crm_adapters.values import (
    check_domain as _check_domain, check_email as _check_email, check_link as _check_link, decode as _decode,
    encode as _encode, instant as _instant, normal_domain as _domain, normal_email as _email,
)

Clock = Callable[[], dt.datetime]
Row = dict[str, Any]
_Item = TypeVar("_Item", bound=BaseModel)
_Encoded = TypeVar("_Encoded")

_CHUNK = 500  # parameters per IN list: well under SQLite's old 999 limit
_SQL_TYPE = {"number": "REAL", "bool": "INTEGER", "json": "TEXT", "datetime": "TEXT", "text": "TEXT", "enum": "TEXT"}

# Core columns only: custom-field columns are added by `_add_missing_columns`,
# the same path that migrates an older file when the field list grows.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE, name TEXT, industry TEXT,
    employee_count INTEGER, annual_revenue REAL, country TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT, title TEXT, phone TEXT,
    linkedin_url TEXT, country TEXT, timezone TEXT, company_domain TEXT, email_opt_out INTEGER,
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
CREATE INDEX IF NOT EXISTS tasks_by_contact ON tasks (contact_email);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, contact_email TEXT NOT NULL COLLATE NOCASE, kind TEXT,
    subject TEXT, body TEXT, occurred_at TEXT, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_by_contact ON activities (contact_email);
CREATE TABLE IF NOT EXISTS meetings (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, contact_email TEXT NOT NULL COLLATE NOCASE, owner_id TEXT,
    subject TEXT, start_at TEXT, end_at TEXT, location TEXT, video_url TEXT, body TEXT, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS meetings_by_contact ON meetings (contact_email)
"""


@dataclass(frozen=True)
class _Table:
    """How one upserted record kind maps onto its table."""

    name: str
    key: str  # the natural key column
    core: tuple[str, ...]  # the model's other standard columns
    fields: dict[str, CustomField]  # custom fields by canonical name, one column each

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key, *self.core, *self.fields)


_ACCOUNTS = _Table(
    "accounts", "domain", ("name", "industry", "employee_count", "annual_revenue", "country"),
    {field.name: field for field in fields_for("company")},
)
_CONTACTS = _Table(
    "contacts", "email",
    ("name", "title", "phone", "linkedin_url", "country", "timezone", "company_domain", "email_opt_out"),
    {field.name: field for field in fields_for("contact")},
)
_ADDED_CORE_COLUMNS = {"contacts": {"email_opt_out": "INTEGER"}}  # core columns newer than the first release
_TASK_COLUMNS = ("key", "contact_email", "kind", "subject", "body", "due_at")
_ACTIVITY_COLUMNS = ("key", "contact_email", "kind", "subject", "body", "occurred_at")
_MEETING_COLUMNS = ("key", "contact_email", "owner_id", "subject", "start_at", "end_at", "location", "video_url",
                    "body")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LocalCRM(CRMAdapter):
    """`CRMAdapter` on one SQLite file; one connection per object, safe to share between threads."""

    name = "local"

    def __init__(self, path: Path, clock: Clock = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.RLock()  # one connection, so one transaction at a time
        self._db = connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._write():
            for statement in _SCHEMA.split(";"):
                self._db.execute(statement)
            self._add_missing_columns()

    # --- writes -------------------------------------------------------------

    def upsert_accounts(self, accounts: list[AccountWrite]) -> WriteResult:
        return self._upsert(_ACCOUNTS, _prepare(accounts, lambda account: _domain(account.domain), _account_values))

    def upsert_contacts(self, contacts: list[ContactWrite]) -> WriteResult:
        return self._upsert(_CONTACTS, _prepare(contacts, lambda contact: _email(contact.email), _contact_values))

    def opt_out(self, emails: list[str]) -> dict[str, str]:
        """The contacts' opt-out column; an address without a contact has nothing to hold it (the ledger does)."""
        with self._write():
            for chunk in _chunks(list(dict.fromkeys(_email(email) for email in emails))):
                self._db.execute(f"UPDATE {_CONTACTS.name} SET email_opt_out = 1, updated_at = ? WHERE email IN "
                                 f"({', '.join('?' * len(chunk))}) AND email_opt_out IS NOT 1", [self._now(), *chunk])
        return {}

    def associate(self, links: list[Association]) -> WriteResult:
        """Link contacts to accounts by email and domain; a link to a missing record is an error."""
        pairs = [(_email(link.contact_email), _domain(link.company_domain)) for link in links]
        result, now = WriteResult(), self._now()
        with self._write():
            contacts = self._ids(_CONTACTS, [email for email, _ in pairs])
            accounts = self._ids(_ACCOUNTS, [domain for _, domain in pairs])
            rows = []
            for email, domain in pairs:
                key = f"{email}->{domain}"
                if email not in contacts:
                    result.errors[key] = f"no contact with email {email!r}"
                elif domain not in accounts:
                    result.errors[key] = f"no account with domain {domain!r}"
                else:
                    rows.append((contacts[email], accounts[domain], now))
                    result.ids[key] = f"{contacts[email]}-{accounts[domain]}"
            sql = "INSERT OR IGNORE INTO associations (contact_id, account_id, created_at) VALUES (?, ?, ?)"
            result.created = self._db.executemany(sql, rows).rowcount
        result.unchanged = len(rows) - result.created
        return result

    def create_tasks(self, tasks: list[TaskWrite]) -> WriteResult:
        return self._insert_once("tasks", _TASK_COLUMNS, _prepare(tasks, lambda task: task.key, _task_row))

    def log_activities(self, activities: list[ActivityWrite]) -> WriteResult:
        prepared = _prepare(activities, lambda activity: activity.key, _activity_row)
        return self._insert_once("activities", _ACTIVITY_COLUMNS, prepared)

    def log_meetings(self, meetings: list[MeetingWrite]) -> WriteResult:
        """Meetings on contacts this CRM holds, as HubSpot and Salesforce need a contact to put them on."""
        rows, result = _prepare(meetings, lambda meeting: meeting.key, _meeting_row)
        with self._read():
            known = self._ids(_CONTACTS, [values[1] for _, values in rows])
        for key, values in rows:
            if values[1] not in known:
                result.errors[key] = f"no contact with email {values[1]!r}"
        return self._insert_once("meetings", _MEETING_COLUMNS, ([row for row in rows if row[1][1] in known], result))

    # --- reads --------------------------------------------------------------

    def get_accounts(self, domains: list[str] | None = None) -> list[Account]:
        keys = None if domains is None else [_domain(domain) for domain in domains]
        with self._read():
            rows = self._select("SELECT * FROM accounts WHERE 1", (), "domain", keys)
        return [Account(**_record(_ACCOUNTS, row)) for row in rows]

    def get_contacts(self, emails: list[str] | None = None, company_domain: str | None = None) -> list[Contact]:
        """Contacts by email, by company, or both (contacts matching both); every contact when neither."""
        keys = None if emails is None else [_email(email) for email in emails]
        sql, params = "SELECT * FROM contacts WHERE 1", ()
        if company_domain is not None:
            sql, params = "SELECT * FROM contacts WHERE company_domain = ?", (_domain(company_domain),)
        with self._read():
            rows = self._select(sql, params, "email", keys)
        return [Contact(**_record(_CONTACTS, row)) for row in rows]

    def get_tasks(self, contact_email: str | None = None) -> list[Task]:
        return [Task(**row) for row in self._log_rows("tasks", (*_TASK_COLUMNS, "status"), contact_email)]

    def get_activities(self, contact_email: str | None = None) -> list[Activity]:
        return [Activity(**row) for row in self._log_rows("activities", _ACTIVITY_COLUMNS, contact_email)]

    def get_meetings(self, contact_email: str | None = None) -> list[CRMMeeting]:
        rows = self._log_rows("meetings", _MEETING_COLUMNS, contact_email)
        return [CRMMeeting(**{**row, "start": row.pop("start_at"), "end": row.pop("end_at")}) for row in rows]

    def counts(self) -> dict[str, int]:
        """Rows per table, for run summaries and the report."""
        tables = ("accounts", "contacts", "associations", "tasks", "activities")
        with self._read():
            return {table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- internals ----------------------------------------------------------

    def _upsert(self, table: _Table, prepared: tuple[list[tuple[str, Row]], WriteResult]) -> WriteResult:
        """Compare the batch with the stored rows in Python, then write only what changed, in one statement.

        A record's values hold only what it sets, so merging them over the
        stored row leaves everything else alone; equal merged and stored rows
        mean nothing changed, and the row (with its `updated_at`) is not touched.
        """
        records, result = prepared
        with self._write():
            stored = self._stored(table, [key for key, _ in records])
            changed: dict[str, Row] = {}
            for key, update in records:
                before = stored.get(key)
                after = {**(before or {table.key: key}), **update}
                if before is None:
                    result.created += 1
                elif after == before:
                    result.unchanged += 1
                    continue
                else:
                    result.updated += 1
                stored[key] = changed[key] = after  # a key twice in one batch: the later record wins
            self._write_rows(table, changed.values())
            new = [key for key, row in stored.items() if "id" not in row]
            result.ids = {key: str(row["id"]) for key, row in stored.items() if "id" in row}
            result.ids |= {key: str(row_id) for key, row_id in self._ids(table, new).items()}
        return result

    def _write_rows(self, table: _Table, rows: Iterable[Row]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE with whole merged rows: one executemany per batch."""
        columns = table.columns
        updates = ", ".join(f"{column} = excluded.{column}" for column in (*columns[1:], "updated_at"))
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}, created_at, updated_at) "
            f"VALUES ({', '.join('?' * (len(columns) + 2))}) "
            f"ON CONFLICT ({table.key}) DO UPDATE SET {updates}"
        )
        now = self._now()
        self._db.executemany(sql, ([*(row.get(column) for column in columns), now, now] for row in rows))

    def _insert_once(
        self, table: str, columns: tuple[str, ...], prepared: tuple[list[tuple[str, tuple]], WriteResult]
    ) -> WriteResult:
        """INSERT OR IGNORE by key: a retried job's second write creates nothing and says so."""
        rows, result = prepared
        sql = (
            f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}, created_at) "
            f"VALUES ({', '.join('?' * (len(columns) + 1))})"
        )
        now = self._now()
        with self._write():
            result.created = self._db.executemany(sql, [[*values, now] for _, values in rows]).rowcount
            found = self._select(f"SELECT key, id FROM {table} WHERE 1", (), "key", [key for key, _ in rows])
        result.unchanged = len(rows) - result.created
        result.ids = {found_row["key"]: str(found_row["id"]) for found_row in found}
        return result

    def _stored(self, table: _Table, keys: list[str]) -> dict[str, Row]:
        rows = self._select(f"SELECT * FROM {table.name} WHERE 1", (), table.key, keys)
        return {row[table.key].lower(): row for row in rows}

    def _ids(self, table: _Table, keys: list[str]) -> dict[str, int]:
        rows = self._select(f"SELECT {table.key}, id FROM {table.name} WHERE 1", (), table.key, keys)
        return {row[table.key].lower(): row["id"] for row in rows}

    def _select(self, sql: str, params: Sequence[Any], column: str, values: list[str] | None) -> list[Row]:
        """`sql` (ending in a WHERE clause) narrowed to `column IN values`, chunked so any number of values fits."""
        if values is None:
            return self._rows(f"{sql} ORDER BY id", params)
        rows: list[Row] = []
        for chunk in _chunks(list(dict.fromkeys(values))):
            rows += self._rows(f"{sql} AND {column} IN ({', '.join('?' * len(chunk))})", [*params, *chunk])
        return sorted(rows, key=lambda row: row["id"])

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Row]:
        cursor = self._db.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def _log_rows(self, table: str, columns: tuple[str, ...], contact_email: str | None) -> list[Row]:
        sql, params = f"SELECT id, {', '.join(columns)} FROM {table} WHERE 1", ()
        if contact_email is not None:
            sql, params = f"{sql} AND contact_email = ?", (_email(contact_email),)
        with self._read():
            rows = self._rows(f"{sql} ORDER BY id", params)
        return [{**row, "id": str(row["id"])} for row in rows]

    def _add_missing_columns(self) -> None:
        """The field list grows; a file written by an older version gains the new columns on open."""
        for table in (_ACCOUNTS, _CONTACTS):
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table.name})")}
            wanted = {**_ADDED_CORE_COLUMNS.get(table.name, {}),
                      **{field.name: _SQL_TYPE[field.type] for field in table.fields.values()}}
            for column, sql_type in wanted.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE {table.name} ADD COLUMN {column} {sql_type}")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction (`connector.transactions`), one thread at a time: the threads share the
        connection."""
        with self._lock, transaction(self._db):
            yield

    @contextmanager
    def _read(self) -> Iterator[None]:
        """One snapshot for a read, so a chunked IN query never mixes before and after another worker's commit."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def _now(self) -> str:
        return self._clock().astimezone(dt.UTC).isoformat()


# --- record encoding -------------------------------------------------------------


def _prepare(
    items: list[_Item], key: Callable[[_Item], str], encode: Callable[[_Item], _Encoded]
) -> tuple[list[tuple[str, _Encoded]], WriteResult]:
    """Encode each record under its natural key; one that fails is an error under that key, the rest go on."""
    encoded, result = [], WriteResult()
    for item in items:
        natural = key(item)
        try:
            encoded.append((natural, encode(item)))
        except ValueError as exc:
            result.errors[natural] = str(exc)
    return encoded, result


def _account_values(account: AccountWrite) -> Row:
    _check_domain(account.domain)
    return _set_values(_ACCOUNTS, account, account.fields)


def _contact_values(contact: ContactWrite) -> Row:
    _check_email(contact.email)
    _check_link("linkedin_url", contact.linkedin_url)
    values = _set_values(_CONTACTS, contact, contact.fields)
    if "company_domain" in values:
        values["company_domain"] = _domain(values["company_domain"])
    return values


def _set_values(table: _Table, record: BaseModel, custom: dict[str, Any]) -> Row:
    """The columns a record sets: core values that are not None, and every custom field it names.

    A custom field given as None is cleared, as in HubSpot and Salesforce; one
    left out is left alone.
    """
    values = {column: getattr(record, column) for column in table.core if getattr(record, column) is not None}
    for name, value in custom.items():
        field = table.fields.get(name)
        if field is None:
            raise ValueError(f"unknown field {name!r}")
        values[name] = None if value is None else _encode(field, value)
    return values


def _task_row(task: TaskWrite) -> tuple:
    _check_email(task.contact_email)
    return task.key, _email(task.contact_email), task.kind, task.subject, task.body, _instant("due_at", task.due_at)


def _activity_row(activity: ActivityWrite) -> tuple:
    _check_email(activity.contact_email)
    occurred_at = _instant("occurred_at", activity.occurred_at)
    return activity.key, _email(activity.contact_email), activity.kind, activity.subject, activity.body, occurred_at


def _meeting_row(meeting: MeetingWrite) -> tuple:
    _check_email(meeting.contact_email)
    _check_link("video_url", meeting.video_url)
    start, end = _instant("start", meeting.start), _instant("end", meeting.end)
    if meeting.end <= meeting.start:
        raise ValueError(f"end: {end} is not after start {start}")
    return (meeting.key, _email(meeting.contact_email), meeting.owner_id, meeting.subject, start, end,
            meeting.location, meeting.video_url, meeting.body)


def _record(table: _Table, row: Row) -> Row:
    """A stored row as the keyword arguments of its model: custom fields that are set, decoded, under `fields`."""
    core = {column: row[column] for column in (table.key, *table.core)}
    if "email_opt_out" in core:
        core["email_opt_out"] = bool(core["email_opt_out"])  # never set reads as not opted out, as in the CRMs
    return {
        "id": str(row["id"]),
        **core,
        "fields": {name: _decode(field, row[name]) for name, field in table.fields.items() if row[name] is not None},
    }


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
