"""Flow HTTP callouts: what a Salesforce Flow sends SalesOS, and how SalesOS knows the Flow is the tenant's.

Each Salesforce tenant has its own random Flow secret (`tenants flow-secret`, kept in the vault). The
Flow's callout (through a Named Credential; the signature is computed by a
small Apex invocable with `Crypto.generateMac('hmacSHA256', ...)`, since
External Credential header formulas have HMAC but no clock for the timestamp)
sends

    X-SalesOS-Timestamp: <unix seconds>
    X-SalesOS-Signature: sha256=<hex HMAC-SHA256(flow_secret, timestamp + "." + raw body)>

The URL names the tenant and only that tenant's secret is tried, so a Flow
of org A cannot speak for org B; the timestamp must be within 5 minutes, so a
captured request stops working, and a replay inside that window is one event
(its identity covers the timestamp and the body).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from agents.events import CrmEvent
from agents.validation import describe
from webhooks.intake import identity_of
from webhooks.salesforce_soap import long_id

SIGNATURE_HEADER = "X-SalesOS-Signature"
TIMESTAMP_HEADER = "X-SalesOS-Timestamp"
WINDOW_SECONDS = 300
MAX_BYTES = 64 * 1024  # a callout names one record and a few fields

Action = Literal["prospect_company", "find_buying_team", "score_contact", "stop_sequence"]
# Key prefixes of the records each action works on: 001 Account; 003 Contact, 00Q Lead.
_OBJECTS: dict[str, dict[str, str]] = {
    "prospect_company": {"001": "company"}, "find_buying_team": {"001": "company"},
    "score_contact": {"003": "contact", "00Q": "lead"}, "stop_sequence": {"003": "contact", "00Q": "lead"},
}
_NAMES = {"001": "Account", "003": "Contact", "00Q": "Lead"}
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")


class BadSignature(ValueError):
    """The callout is not signed by this tenant's Flow secret (or too late); the text says which check failed."""


class FlowCallout(BaseModel):
    """The JSON body: which SalesOS action, on which record, with any fields the Flow passes along."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, allow_inf_nan=False)

    action: Action
    record_id: str = Field(description="the Account (company actions) or Contact/Lead id, 15 or 18 characters")
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=100)
    event_id: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="e.g. {!$Flow.InterviewGuid}: a retried interview is one event")

    @field_validator("record_id")
    @classmethod
    def _salesforce_id(cls, value: str, info: ValidationInfo) -> str:
        if not _ID.match(value):
            raise ValueError("must be a 15 or 18 character Salesforce record id")
        action = info.data.get("action")
        if action and value[:3] not in _OBJECTS[action]:
            wanted = " or ".join(f"{_NAMES[prefix]} ({prefix}...)" for prefix in _OBJECTS[action])
            raise ValueError(f"must be the id of what {action} works on: {wanted}")
        return long_id(value)

    @property
    def object_type(self) -> str:
        return _OBJECTS[self.action][self.record_id[:3]]


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> int:
    """Check the signature headers against the tenant's secret; returns the timestamp or raises BadSignature."""
    if not timestamp or not _DIGITS.match(timestamp):
        raise BadSignature(f"{TIMESTAMP_HEADER} must be the signing time in unix seconds")
    signed_at = int(timestamp)
    if abs((time.time() if now is None else now) - signed_at) > WINDOW_SECONDS:
        raise BadSignature(f"{TIMESTAMP_HEADER} is more than {WINDOW_SECONDS // 60} minutes from SalesOS's clock")
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), (signature or "").strip().lower().encode("utf-8", "replace")):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match this tenant's Flow secret")
    return signed_at


def problems(exc: ValidationError) -> list[str]:
    """Each validation error as 'field: rule', clipped as every other input's (`agents.validation.describe`)."""
    return describe(exc, root="body")


def to_event(tenant: str, callout: FlowCallout, signed_at: int, body: bytes) -> CrmEvent:
    """One event per callout; without an event_id, an identical signed request (a replay) is the same event."""
    seen_as = callout.event_id or f"{signed_at}:{hashlib.sha256(body).hexdigest()}"
    return CrmEvent(tenant=tenant, source="salesforce-flow", kind=f"workflow.{callout.action}",
                    object_type=callout.object_type, object_id=callout.record_id,
                    occurred_at=dt.datetime.fromtimestamp(signed_at, dt.UTC),
                    identity=identity_of("salesforce-flow", callout.action, callout.record_id, seen_as),
                    payload={"action": callout.action, "fields": callout.fields, "event_id": callout.event_id})
