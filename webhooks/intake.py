"""Where every CRM event lands: deduplicated and queued in one Redis round trip.

A webhook must answer within seconds (HubSpot: 5 s) and retries for a day on
any failure, so the endpoints do no work beyond checking the request: each
event is reduced to a `CrmEvent`, and `Intake.accept` stores the new ones in
the inbox list and remembers every event's identity for `DEDUPE_SECONDS`, all
in one Lua script, so a repeated delivery is dropped and a half-done accept
cannot happen. The dispatcher (`connector.dispatch`) routes the inbox to
stage jobs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field

INBOX = "salesos:events:inbox"
DEDUPE_SECONDS = 25 * 3600  # HubSpot and Salesforce retry for 24 h; keep identities a little longer

Source = Literal["hubspot-webhook", "hubspot-workflow", "salesforce-outbound", "salesforce-flow"]

_ACCEPT = """
local added = 0
for i = 1, #KEYS do
    if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
        redis.call('RPUSH', ARGV[2], ARGV[i + 2])
        added = added + 1
    end
end
return added
"""


class CrmEvent(BaseModel):
    """One thing that happened in a tenant's CRM, in the same shape whichever CRM sent it."""

    tenant: str
    source: Source
    kind: str = Field(description="e.g. contact.propertyChange, company.creation, workflow.prospect_company")
    object_type: str = Field(description="company, contact, deal, market, ...")
    object_id: str
    property_name: str | None = None
    property_value: str | None = None
    change_source: str | None = Field(default=None, description="who made the change, as the CRM says")
    occurred_at: dt.datetime
    identity: str = Field(description="what makes two deliveries the same event (dedupe key)")
    payload: dict[str, Any] = Field(default_factory=dict, description="the CRM's own fields, for the stage job")


def identity_of(*parts: Any) -> str:
    """A stable digest of the fields that identify an event (HubSpot's eventId alone is not unique)."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:40]


class Intake:
    def __init__(self, conn: redis.Redis, inbox: str = INBOX) -> None:
        self._conn, self._inbox = conn, inbox
        self._accept = conn.register_script(_ACCEPT)

    def accept(self, events: list[CrmEvent], remember_for: int = DEDUPE_SECONDS) -> int:
        """Queue the events not seen in the last `remember_for` seconds; returns how many were new.

        Raises redis.RedisError when Redis is unreachable: the endpoint answers
        503 and the CRM delivers again later, so nothing is lost.
        """
        if not events:
            return 0
        keys = [f"salesos:events:seen:{event.tenant}:{event.identity}" for event in events]
        return int(self._accept(keys=keys, args=[remember_for, self._inbox,
                                                 *(event.model_dump_json() for event in events)]))
