"""Where Salesforce pushes events: Outbound Messages (SOAP) and Flow HTTP callouts (signed JSON).

Both endpoints only check the request and hand its events to `Intake` in one
Redis round trip; stage jobs do the work. What each answer makes Salesforce do:

- Outbound Message: anything but the documented Ack keeps the message in the
  org's queue, retried with growing intervals for 24 h. So errors answer a
  SOAP fault (its text is what the admin sees as the delivery failure reason)
  with a 4xx when the message itself is wrong (it stays wrong: 401 not sent
  to the org's own URL, 400 malformed, 413 too big) and 503 when SalesOS
  cannot queue it (Redis down, vault unreadable): the Lua intake queues all of
  a message's events or none, so the retry queues each exactly once.
- Flow callout: the Flow gets the status (202, or 400/401/413/503 with a
  JSON reason) and its fault path decides whether to retry.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import secrets

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError
from pydantic_core import from_json
from werkzeug.exceptions import RequestEntityTooLarge

from agents.events import CrmEvent
from agents.validation import clip, quote
from connector.change_order import CLOCK_SKEW, beyond_skew
from connector.oauth.flows import INTEGRATION_USER
from connector.settings import Settings
from connector.tenant_credentials import OUTBOUND
from connector.tenants import Tenant, check_external_id, open_tenant_records, open_tenant_store
from connector.vault import VaultError
from crm_adapters.record_index import RecordIndex
from crm_adapters.salesforce_map import parse_datetime
from webhooks import salesforce_flow as flow
from webhooks.intake import Intake, app_intake
from webhooks.salesforce_echo import MAPS, natural_key, own_writes
from webhooks.salesforce_soap import ACK, MalformedMessage, Notification, OutboundMessage, fault, parse

log = logging.getLogger(__name__)
salesforce_events = Blueprint("salesforce_events", __name__, url_prefix="/webhooks/salesforce")

# 100 notifications of records whose long text fields (SalesOS's JSON fields among them) were selected
# stay far below this; a genuine message refused here would be retried for 24 h and then dropped.
OUTBOUND_MAX_BYTES = 4 * 1024 * 1024
OBJECT_TYPES = {"Account": "company", "Contact": "contact", "Lead": "lead", "Opportunity": "opportunity"}


# What every refused Outbound Message gets, byte for byte, whatever was wrong: no token, a token that is no
# org's, another org's token. So the answer tells nobody whether an org id is installed. Salesforce shows the
# fault string to the org's admin as the delivery failure.
REFUSED = fault("SalesOS accepts this org's Outbound Messages only at the URL it gave the org: paste the URL "
                "that `python -m connector tenants outbound-url <tenant id>` prints (also shown on the install "
                "page) into each SalesOS Outbound Message's Endpoint URL")


# What every refused Flow callout gets, byte for byte; what was wrong is logged for the operator.
FLOW_REFUSED = json.dumps({"error": (
    f"not signed with this tenant's Flow secret: send {flow.TIMESTAMP_HEADER}: <unix seconds, within "
    f"{flow.WINDOW_SECONDS // 60} minutes> and {flow.SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of timestamp + "
    "'.' + body, keyed with the secret `python -m connector tenants flow-secret <tenant id>` prints>")}).encode()
_NO_SECRET = secrets.token_urlsafe(32)  # what a callout is checked against when its tenant has no secret


@salesforce_events.post("/outbound")
@salesforce_events.post("/outbound/<token>")
def outbound(token: str | None = None):
    """An Outbound Message: up to 100 notifications of one org, acknowledged once all are queued.

    The tenant is the one whose URL token this is (see `connector.tenant_credentials`), found before a byte of
    the body is read: a URL that is no org's is refused at the cost of one query, whatever the body holds. Then
    the message must name that tenant's org; the org the body names is never looked up on its own.
    """
    tenant = open_tenant_records(_settings()).by_url_token(OUTBOUND, token)
    if tenant is None or tenant.crm != "salesforce":
        return _refused("no token in the URL" if not token else "the URL's token is no org's")
    return _outbound(tenant)


def _outbound(tenant: Tenant) -> Response:
    request.max_content_length = OUTBOUND_MAX_BYTES
    try:
        message = parse(request.get_data(cache=False))
    except RequestEntityTooLarge:
        return _soap(fault(f"the message is larger than {OUTBOUND_MAX_BYTES} bytes"), 413)
    except MalformedMessage as exc:
        log.info("salesforce outbound message for %s refused (400): %s", tenant.id, exc)
        return _soap(fault(str(exc)), 400)
    if not same_org(tenant.external_id, message.organization_id):
        return _refused(f"it names org {quote(message.organization_id)} but the URL is {tenant.id}'s; "
                        f"{len(message.notifications)} notifications not queued")
    try:
        integration_user = open_tenant_store(_settings()).secret(tenant.id, INTEGRATION_USER)
    except VaultError as exc:
        log.error("salesforce outbound message not accepted: %s", exc)
        return _soap(fault("SalesOS cannot open its tenant vault; Salesforce will deliver this message again",
                           server=True), 503)
    echoes = _echoes(tenant, message.notifications, integration_user)
    events = [to_event(tenant, message, note) for note in message.notifications if note.id not in echoes]
    future = sum(beyond_skew(event.occurred_at) for event in events)
    if future:  # a retry would carry the same dates: acked, so Salesforce does not resend them for 24 h
        log.warning("salesforce outbound message of %s: %d notification(s) refused as dated in the future "
                    "(LastModifiedDate more than %s ahead of SalesOS's clock: check the server's clock); not queued",
                    tenant.id, future, CLOCK_SKEW)
        events = [event for event in events if not beyond_skew(event.occurred_at)]
    try:
        added = _intake().accept(events)
    except redis.RedisError as exc:
        log.warning("salesforce outbound message of %s not queued (503, Salesforce retries): %s", tenant.id, exc)
        return _soap(fault("SalesOS cannot queue events right now; Salesforce will deliver this message again",
                           server=True), 503)
    log.info("salesforce outbound message of %s: %d notifications, %d queued, %d echoes of SalesOS's writes",
             tenant.id, len(message.notifications), added, len(echoes))
    return _soap(ACK, 200)


def _refused(why: str) -> Response:
    """The one answer to a message not sent to its org's URL; the log tells the operator what to run."""
    log.warning("salesforce outbound message refused (401): %s. If the org has installed SalesOS, run "
                "`python -m connector tenants outbound-url <its tenant id>` (see `tenants list`) and paste the URL "
                "it prints into the org's SalesOS Outbound Messages", why)
    return _soap(REFUSED, 401)


@salesforce_events.post("/flow/<tenant_id>")
def flow_callout(tenant_id: str):
    """A Flow's HTTP callout asking SalesOS to act on one record: 202 with the event's identity once queued.

    A tenant id is an org id, no secret: every way of not holding the tenant's Flow secret (no such tenant,
    not a Salesforce one, no secret made yet, one the vault cannot open, a wrong or stale signature) gets
    `FLOW_REFUSED`, after the same work (a ciphertext opened, a decoy when there is none, and the signature
    checked, against a throwaway secret when there is none); the reason goes to the log only. A vault that no
    key opens at all answers 503, alike for every tenant.
    """
    request.max_content_length = flow.MAX_BYTES
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return jsonify(error=f"body larger than {flow.MAX_BYTES} bytes"), 413
    try:
        store = open_tenant_store(_settings())
    except VaultError as exc:  # no key, or a malformed one: every tenant alike
        log.error("salesforce flow callout not accepted: %s", exc)
        return jsonify(error="SalesOS cannot open its tenant vault; retry later"), 503
    tenant = store.get(tenant_id)
    try:
        secret = store.flow.current_evenly(tenant_id)  # the same work for a tenant without a secret, or none
    except VaultError as exc:  # a secret no key opens, or one copied from another row: as good as none
        log.error("salesforce flow callout for %r refused (401): its Flow secret cannot be used: %s "
                  "(`python -m connector tenants flow-secret <tenant id> --rotate` makes a new one)",
                  clip(tenant_id), exc)
        secret = None
    if tenant is None or tenant.crm != "salesforce":
        why, secret = "no such Salesforce tenant", None
    elif secret is None:
        why = f"the tenant has no usable Flow secret (`tenants flow-secret {tenant.id}` makes it)"
    else:
        why = None
    try:
        signed_at = flow.verify(secret or _NO_SECRET, request.headers.get(flow.TIMESTAMP_HEADER),
                                request.headers.get(flow.SIGNATURE_HEADER), body)
    except flow.BadSignature as exc:
        why = why or str(exc)
    if why:
        log.warning("salesforce flow callout for %r refused (401): %s", clip(tenant_id), why)
        return Response(FLOW_REFUSED, 401, mimetype="application/json")
    try:
        callout = flow.FlowCallout.model_validate(from_json(body, allow_inf_nan=False))
    except ValidationError as exc:
        return jsonify(error="invalid request body", problems=flow.problems(exc)), 400
    except ValueError as exc:  # not JSON, too deep, or text no string can hold (a lone surrogate)
        return jsonify(error="invalid request body", problems=[f"body: not JSON ({clip(str(exc))})"]), 400
    event = flow.to_event(tenant.id, callout, signed_at, body)
    try:
        added = _intake().accept([event])
    except redis.RedisError as exc:
        log.warning("salesforce flow callout of %s not queued (503): %s", tenant.id, exc)
        return jsonify(error="queue unavailable; retry later"), 503
    return jsonify(identity=event.identity, queued=bool(added)), 202


def same_org(installed: str, named: str) -> bool:
    """The org a message names is the installed one, whether either is in its 15- or 18-character form.

    15-character ids are case-sensitive and are the first 15 characters of the 18-character form.
    """
    try:
        check_external_id("salesforce", named)
    except ValueError:
        return False
    return hmac.compare_digest(installed[:15].encode(), named[:15].encode())


def to_event(tenant: Tenant, message: OutboundMessage, note: Notification) -> CrmEvent:
    """One event per notification, keyed on the notification id (the same on every redelivery).

    An Outbound Message carries the selected fields as they are now, not what
    changed, so they all go in `payload["fields"]` (Salesforce API names).
    """
    object_type = OBJECT_TYPES.get(note.sobject, note.sobject.lower())
    created, modified = note.fields.get("CreatedDate"), note.fields.get("LastModifiedDate")
    action = "creation" if created and created == modified else "updated"
    payload: dict = {"notification_id": note.id, "action_id": message.action_id, "sobject": note.sobject,
                     "fields": note.fields}
    key = natural_key(note)
    if key:
        payload["email" if MAPS[note.sobject].kind == "contact" else "domain"] = key
    return CrmEvent(tenant=tenant.id, source="salesforce-outbound", kind=f"{object_type}.{action}",
                    object_type=object_type, object_id=note.object_id,
                    change_source=note.fields.get("LastModifiedById"), occurred_at=_occurred_at(note),
                    identity=note.id, payload=payload)


def _echoes(tenant: Tenant, notes: list[Notification], integration_user: str | None) -> set[str]:
    if not any(note.sobject in MAPS for note in notes):
        return own_writes(notes, None, integration_user)
    return own_writes(notes, RecordIndex(_settings().database_url, tenant.id), integration_user)


def _occurred_at(note: Notification) -> dt.datetime:
    for name in ("LastModifiedDate", "SystemModstamp", "CreatedDate"):
        try:
            return parse_datetime(note.fields[name] or "")
        except (KeyError, ValueError):
            continue
    return dt.datetime.now(dt.UTC)


def _soap(body: bytes, status: int) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


def _settings() -> Settings:
    return current_app.config["SALESOS_SETTINGS"]


def _intake() -> Intake:
    intake = app_intake(current_app)
    if intake is None:
        raise redis.ConnectionError("REDIS_URL is not set")
    return intake
