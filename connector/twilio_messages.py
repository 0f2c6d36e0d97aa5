"""Each text and call SalesOS started through Twilio, with the furthest status Twilio reported for it.

Twilio sends status callbacks at least once and not necessarily in order
("sent" may arrive after "delivered"), so a status is recorded only when it
is further along than the one stored (`RANKS`): a repeat or a late callback
changes nothing. A callback for a sid SalesOS has no row for yet (the worker
died between Twilio's answer and writing it) creates the row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select

from connector.store import Store, open_store
from connector.store.schema import twilio_messages

Kind = Literal["sms", "call"]

# How far along each status is: a higher rank replaces a lower one, never the reverse.
RANKS: dict[Kind, dict[str, int]] = {
    "sms": {"accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
            "delivered": 3, "undelivered": 3, "failed": 3, "canceled": 3, "read": 4},
    "call": {"queued": 0, "initiated": 0, "ringing": 1, "in-progress": 2,
             "completed": 3, "busy": 3, "no-answer": 3, "failed": 3, "canceled": 3},
}
FINAL = {"sms": frozenset({"delivered", "undelivered", "failed", "canceled", "read"}),
         "call": frozenset({"completed", "busy", "no-answer", "failed", "canceled"})}


class MessageStatus(BaseModel):
    sid: str
    kind: Kind
    phone: str | None
    status: str
    error_code: str | None
    updated_at: str


class TwilioMessages:
    def __init__(self, target: Store | Path | str,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._store = open_store(target)
        self._clock = clock

    def record(self, tenant: str, sid: str, kind: Kind, status: str, *, phone: str | None = None,
               error_code: str | None = None) -> bool:
        """Record `status` for `sid` unless a status as far along is stored already; True when it was recorded.
        A status Twilio may add later (unknown here) is kept only for a sid not yet seen."""
        rank = RANKS[kind].get(status, -1)
        values = {"kind": kind, "status": status, "rank": rank, "error_code": error_code,
                  "updated_at": self._clock().astimezone(dt.UTC).isoformat()}
        if phone is not None:
            values["phone"] = phone
        statement = self._store.insert(twilio_messages).values(tenant=tenant, sid=sid, **values)
        with self._store.write() as conn:
            result = conn.execute(
                statement.on_conflict_do_update(index_elements=[twilio_messages.c.tenant, twilio_messages.c.sid],
                                                set_=values, where=twilio_messages.c.rank < rank),
                execution_options={"preserve_rowcount": True})
            return result.rowcount > 0

    def get(self, tenant: str, sid: str) -> MessageStatus | None:
        with self._store.read() as conn:
            row = conn.execute(select(twilio_messages).where(twilio_messages.c.tenant == tenant,
                                                             twilio_messages.c.sid == sid)).mappings().first()
        return None if row is None else MessageStatus(**{key: row[key] for key in MessageStatus.model_fields})
