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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Row, Table, func, select

from connector.store import Store, open_store
from connector.store.schema import crm_records, crm_stamps
from crm_adapters.values import JSON

# Keys per IN (...): well under SQLite's and PostgreSQL's bound-parameter limits, few round trips at 10,000 keys.
_CHUNK = 500


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
    """One tenant's ids and stamps in SalesOS's state store.

    Keys are kept exactly as given: callers pass emails and domains already normalised, and a task's key
    (which names its tenant, in that tenant's case) is an identifier, not an address.
    """

    def __init__(self, store: Store | Path | str, tenant: str) -> None:
        self.tenant = tenant
        self._store = open_store(store)

    # --- ids ----------------------------------------------------------------

    def ids(self, kind: str, keys: Iterable[str]) -> dict[str, str]:
        return dict(self._rows_in(crm_records, kind, crm_records.c.key, keys, crm_records.c.key, crm_records.c.crm_id))

    def keys_of(self, kind: str, crm_ids: Iterable[str]) -> dict[str, str]:
        """Natural key by CRM id: a webhook names records by id, SalesOS by email or domain."""
        return dict(self._rows_in(crm_records, kind, crm_records.c.crm_id, crm_ids,
                                  crm_records.c.crm_id, crm_records.c.key))

    def children(self, kind: str, parent: str | None) -> dict[str, str]:
        """Key → id of records under `parent` (tasks of a contact); every one when parent is None."""
        query = select(crm_records.c.key, crm_records.c.crm_id).where(crm_records.c.tenant == self.tenant,
                                                                      crm_records.c.kind == kind)
        if parent is not None:
            query = query.where(crm_records.c.parent == parent)
        with self._store.read() as conn:
            return dict(conn.execute(query).all())

    def parents(self, kind: str, keys: Iterable[str]) -> dict[str, str]:
        return dict(self._rows_in(crm_records, kind, crm_records.c.key, keys, crm_records.c.key, crm_records.c.parent))

    def remember(self, kind: str, ids: dict[str, str], parents: dict[str, str] | None = None) -> None:
        rows = [{"tenant": self.tenant, "kind": kind, "key": key, "crm_id": crm_id, "parent": (parents or {}).get(key)}
                for key, crm_id in sorted(ids.items())]  # in key order: two writers lock rows alike, never crosswise
        if not rows:
            return
        insert = self._store.insert(crm_records)
        upsert = insert.on_conflict_do_update(
            index_elements=[crm_records.c.tenant, crm_records.c.kind, crm_records.c.key],
            set_={"crm_id": insert.excluded.crm_id,
                  "parent": func.coalesce(insert.excluded.parent, crm_records.c.parent)})
        with self._store.write() as conn:
            conn.execute(upsert, rows)

    def forget(self, kind: str, keys: Iterable[str]) -> None:
        chunks = list(_chunks(keys))
        if not chunks:
            return
        with self._store.write() as conn:
            for chunk in chunks:
                conn.execute(crm_records.delete().where(crm_records.c.tenant == self.tenant,
                                                        crm_records.c.kind == kind, crm_records.c.key.in_(chunk)))

    def relink(self, kind: str, ids: dict[str, str], parents: dict[str, str]) -> None:
        """Remember records that are their parent's only one of `kind`, forgetting each parent's others (a
        Salesforce contact has one account, so its new link replaces the old): one write for the batch."""
        with self._store.write():
            stale = [key for (key,) in self._rows_in(crm_records, kind, crm_records.c.parent, set(parents.values()),
                                                     crm_records.c.key) if key not in ids]
            self.forget(kind, stale)
            self.remember(kind, ids, parents)

    # --- stamps -------------------------------------------------------------

    def stamps(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for key, name, digest in self._rows_in(crm_stamps, kind, crm_stamps.c.key, keys, crm_stamps.c.key,
                                               crm_stamps.c.field, crm_stamps.c.value_hash):
            found.setdefault(key, {})[name] = digest
        return found

    def stamp(self, kind: str, written: dict[str, dict[str, Any]], at: dt.datetime | None = None) -> None:
        """Record the values just written: {key: {field: value}}."""
        when = (at or dt.datetime.now(dt.UTC)).isoformat()
        rows = [{"tenant": self.tenant, "kind": kind, "key": key, "field": name, "value_hash": value_hash(value),
                 "written_at": when}
                for key, values in sorted(written.items()) for name, value in sorted(values.items())]  # as `remember`
        if not rows:
            return
        insert = self._store.insert(crm_stamps)
        upsert = insert.on_conflict_do_update(
            index_elements=[crm_stamps.c.tenant, crm_stamps.c.kind, crm_stamps.c.key, crm_stamps.c.field],
            set_={"value_hash": insert.excluded.value_hash, "written_at": insert.excluded.written_at})
        with self._store.write() as conn:
            conn.execute(upsert, rows)

    def is_echo(self, kind: str, key: str, field: str, value: Any) -> bool:
        """True when `value` is what SalesOS last wrote to this field: a webhook echo, not a person's edit."""
        return self.stamps(kind, [key]).get(key, {}).get(field) == value_hash(value)

    def _rows_in(self, table: Table, kind: str, column: Column, values: Iterable[str], *columns: Column) -> list[Row]:
        """`columns` of this tenant's rows of `kind` whose `column` is one of `values`: one IN per chunk, one
        snapshot for all of them."""
        chunks = list(_chunks(values))
        if not chunks:
            return []
        query = select(*columns).where(table.c.tenant == self.tenant, table.c.kind == kind)
        with self._store.read() as conn:
            return [row for chunk in chunks for row in conn.execute(query.where(column.in_(chunk)))]


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start:start + _CHUNK]
