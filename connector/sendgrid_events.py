"""SendGrid's Event Webhook: checking a batch's signature, and what each event means for SalesOS.

SendGrid signs `timestamp + raw body` with ECDSA P-256 / SHA-256; the
verification key an admin copies from SendGrid (Settings > Mail Settings >
Event Webhook > Signed Event Webhook) is base64 DER of the public key, the
signature base64 DER. An event names its SalesOS tenant and step through the
custom args the sender put on the message (`salesos_tenant`, `salesos_step`),
which SendGrid copies onto every event as top-level fields; an event without
them is not ours to act on and is skipped.

What each event does:

- bounce: a hard bounce (no `type`, or `type` "bounce") suppresses the address;
  `type` "blocked" is soft (the receiver refused for now) and is only recorded;
- deferred: soft, ignored (SendGrid retries; a bounce follows if it gives up);
- dropped: SendGrid's own lists refused it; "Bounced Address" and "Spam Reporting
  Address" suppress as a bounce and a complaint, "Unsubscribed Address" unsubscribes;
  other reasons are only recorded;
- spamreport: a complaint; recorded and suppressed;
- unsubscribe / group_unsubscribe: the ledger's unsubscribe, written into the CRM like a link click;
- open (unreliable; `sg_machine_open` says a proxy opened it) and click: engagement;
- processed, delivered, group_resubscribe: nothing (a resubscribe never undoes an unsubscribe SalesOS holds).

Each event's dedupe key is its `sg_event_id` (with its kind: SendGrid's own
documentation sample gives every event the same id).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from agents.engagement import EngagementEvent

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 5000


class SendGridEvent(BaseModel):
    """One event of a batch: only the fields SalesOS reads, each bounded."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event: str = Field(max_length=40)
    email: str = Field(max_length=320)
    timestamp: int = Field(ge=0, lt=2**40)
    sg_event_id: str | None = Field(default=None, max_length=200)
    sg_message_id: str | None = Field(default=None, max_length=300)
    type: str | None = Field(default=None, max_length=40)  # a bounce's: "bounce" (hard) or "blocked" (soft)
    reason: str | None = Field(default=None, max_length=2000)
    status: str | None = Field(default=None, max_length=40)
    url: str | None = Field(default=None, max_length=4000)
    sg_machine_open: bool | None = None
    salesos_tenant: str | None = Field(default=None, max_length=200)
    salesos_step: str | None = Field(default=None, max_length=300)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


BATCH = TypeAdapter(list[SendGridEvent])


def load_public_keys(configured: str | None) -> list[ec.EllipticCurvePublicKey]:
    """The configured verification keys; ValueError naming the setting for one that is not a P-256 key."""
    keys = []
    for text in (configured or "").split(","):
        text = "".join(text.split()).removeprefix("-----BEGINPUBLICKEY-----").removesuffix("-----ENDPUBLICKEY-----")
        if not text:
            continue
        try:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ValueError("SENDGRID_EVENT_PUBLIC_KEYS must hold SendGrid's base64 verification keys (ECDSA P-256)")
        keys.append(key)
    return keys


def signature_valid(keys: list[ec.EllipticCurvePublicKey], signature: str, timestamp: str, body: bytes) -> bool:
    """Whether any key verifies `signature` (base64 DER ECDSA) over timestamp + body."""
    try:
        decoded = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    signed = timestamp.encode() + body
    for key in keys:
        try:
            key.verify(decoded, signed, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            continue
    return False


def fresh(timestamp: str, now: dt.datetime, max_age: int) -> bool:
    """A batch signed within `max_age` seconds (and not more than a minute ahead of our clock)."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    age = now.timestamp() - int(timestamp)
    return -60 <= age <= max_age


@dataclass
class Actions:
    """What a batch asks of SalesOS."""

    engagement: list[tuple[str, EngagementEvent]] = field(default_factory=list)
    suppress: list[tuple[str, str, str]] = field(default_factory=list)  # (tenant, email, reason)
    unsubscribe: list[tuple[str, str]] = field(default_factory=list)  # (tenant, email)
    skipped: int = 0  # events not ours (no salesos_tenant) or of no interest


_DROPPED = {"bounced address": "bounce", "spam reporting address": "complaint"}


def actions(events: list[SendGridEvent]) -> Actions:
    """Map a verified batch onto engagement rows, suppressions and unsubscribes (pure)."""
    out = Actions()
    for event in events:
        if not event.salesos_tenant or not event.email:
            out.skipped += 1
            continue
        tenant, email, step = event.salesos_tenant, event.email, event.salesos_step
        at = dt.datetime.fromtimestamp(event.timestamp, dt.UTC)
        key = f"sendgrid:{event.event}:{event.sg_event_id or _fallback_id(event)}"

        def record(kind: str, reliable: bool = True, detail: str | None = None) -> None:
            out.engagement.append((key, EngagementEvent(tenant=tenant, email=email, kind=kind, at=at, step_key=step,
                                                        reliable=reliable, detail=detail)))

        kind = event.event
        if kind == "bounce":
            hard = (event.type or "bounce") == "bounce"
            record("bounce", detail=f"{'hard' if hard else 'soft'}: {event.status or ''} {event.reason or ''}".strip())
            if hard:
                out.suppress.append((tenant, email, "bounce"))
        elif kind == "dropped":
            reason = (event.reason or "").strip().lower()
            if reason == "unsubscribed address":
                out.unsubscribe.append((tenant, email))
            elif reason in _DROPPED:
                record(_DROPPED[reason], detail=f"dropped: {event.reason}")
                out.suppress.append((tenant, email, _DROPPED[reason]))
            else:
                record("bounce", detail=f"dropped: {event.reason or 'no reason given'}")
        elif kind == "spamreport":
            record("complaint", detail="spam report")
            out.suppress.append((tenant, email, "complaint"))
        elif kind in ("unsubscribe", "group_unsubscribe"):
            out.unsubscribe.append((tenant, email))
        elif kind == "open":
            record("open", reliable=False, detail="machine open" if event.sg_machine_open else None)
        elif kind == "click":
            record("click", detail=event.url)
        else:
            out.skipped += 1
    return out


def _fallback_id(event: SendGridEvent) -> str:
    """Events always carry sg_event_id; should one not, the message, address and moment identify it."""
    return f"{event.sg_message_id}:{event.email}:{event.timestamp}"
