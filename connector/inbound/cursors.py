"""Where each mailbox's reader got to, in the state store, so any machine can poll any mailbox next time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from connector.store import Store, open_store
from connector.store.schema import inbound_cursors

_UNSET = object()


class InboundCursors:
    """One cursor per (tenant, mailbox address); addresses are compared in lower case."""

    def __init__(self, store: Store | Path | str) -> None:
        self._store = open_store(store)

    def get(self, tenant: str, mailbox: str) -> str | None:
        with self._store.read() as conn:
            return conn.execute(select(inbound_cursors.c.cursor).where(
                inbound_cursors.c.tenant == tenant, inbound_cursors.c.mailbox == mailbox.lower())).scalar()

    def put(self, tenant: str, mailbox: str, cursor: str, *, expected: str | None | object = _UNSET) -> bool:
        """Store `cursor`. With `expected`, only if the stored cursor is still that one (None: none stored):
        a poll that overlapped another (two workers on one mailbox) never moves the cursor back. Returns
        whether it was stored."""
        key = {"tenant": tenant, "mailbox": mailbox.lower()}
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._store.write() as conn:
            if expected is not _UNSET:
                current = conn.execute(select(inbound_cursors.c.cursor).where(
                    inbound_cursors.c.tenant == key["tenant"], inbound_cursors.c.mailbox == key["mailbox"])
                    .with_for_update()).scalar()
                if current != expected:
                    return False
            statement = self._store.insert(inbound_cursors).values(**key, cursor=cursor, updated_at=now)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[inbound_cursors.c.tenant, inbound_cursors.c.mailbox],
                set_={"cursor": statement.excluded.cursor, "updated_at": statement.excluded.updated_at}))
        return True

    def forget(self, tenant: str, mailbox: str | None = None) -> None:
        """Drop a mailbox's cursor (its next poll is a first poll), or all of a tenant's."""
        where = [inbound_cursors.c.tenant == tenant]
        if mailbox is not None:
            where.append(inbound_cursors.c.mailbox == mailbox.lower())
        with self._store.write() as conn:
            conn.execute(inbound_cursors.delete().where(*where))
