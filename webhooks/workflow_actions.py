"""SalesOS's HubSpot workflow actions: custom actions (answered asynchronously) and "Send a webhook".

POST /webhooks/hubspot/actions/<action>, the custom workflow actions:
HubSpot posts the enrolled record (with the properties the action definition
asks for) and waits for an `hs_execution_state`. Research takes longer than a
request, so the answer is `BLOCK`: the workflow waits, and `connector.actions`
completes it with SUCCESS or FAIL_CONTINUE when the record's run ends. A
delivery HubSpot repeats (same `callbackId`) is queued once and answered the
same way. The request is checked like an app webhook (signature, size,
portal → tenant) and queued through the same intake.

POST /webhooks/hubspot/workflow/<portal id>/<token>/<action>, HubSpot's own
"Send a webhook" action (Data Hub Professional): for portals that build the
workflow themselves. Its body is the enrolled record as the object API returns
it ("include all properties") or the key/value body the admin chose; it
carries no portal id, and HubSpot signs every portal's request with SalesOS's
one app secret, so the URL carries the portal's own random token
(`connector.tenant_credentials`; `tenants workflow-url` prints the URLs), and
the signature must cover the URL: v3, or v2 (what the docs say HubSpot signs
this action with; v1 covers only the body). A v2 signature has no timestamp,
so each request is remembered for CALLBACK_KEPT: a captured one replayed
within that time starts nothing.
The custom actions are signed with v3 like the app webhooks, and only v3 is
accepted there.
It has no callback: the request is queued and answered 200.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import redis
from flask import Blueprint, jsonify, request
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import from_json

from agents.domains import registered_domain
from agents.events import CrmEvent
from agents.validation import clip, describe, quote
from connector.tenant_credentials import WORKFLOW
from crm_adapters.values import normal_email
from crm_adapters.workflow_actions import BY_NAME, RESULT_FIELD
from webhooks.hubspot_events import endpoint_state, signed_body
from webhooks.intake import identity_of

log = logging.getLogger(__name__)
workflow_actions = Blueprint("workflow_actions", __name__)
HOLD_FOR = "P1D"  # ISO 8601: how long HubSpot keeps the workflow waiting before it gives up on the callback
# A callback id (and a "Send a webhook" request) is remembered for longer than HubSpot holds the workflow and
# retries the request (3 days), so a delivery HubSpot repeats late, or a replay of a v2-signed one, starts nothing.
CALLBACK_KEPT = 8 * 24 * 3600


class Origin(BaseModel):
    portalId: int = Field(gt=0)
    actionDefinitionId: int | str | None = None


class EnrolledObject(BaseModel):
    objectId: int | str
    objectType: str
    properties: dict[str, str | None] = Field(default_factory=dict)


class ActionRequest(BaseModel):
    """HubSpot's execution request (see tests/fixtures/crm/hubspot_custom_action_execution_request.json)."""

    callbackId: str = Field(min_length=1, max_length=200)
    origin: Origin
    object: EnrolledObject
    inputFields: dict = Field(default_factory=dict)


@workflow_actions.post("/webhooks/hubspot/actions/<name>")
def execute(name: str):
    action = BY_NAME.get(name)
    if action is None:
        return jsonify(error=f"no SalesOS workflow action {quote(name)}"), 404
    state = endpoint_state()
    body, refused = signed_body(request, state)
    if refused is not None:
        return refused
    try:
        execution = ActionRequest.model_validate(from_json(body, allow_inf_nan=False))
    except ValidationError as exc:
        return jsonify(error="malformed workflow action request", problems=describe(exc)), 400
    except ValueError as exc:  # not JSON, too deep, or text no string can hold (a lone surrogate)
        return jsonify(error="malformed workflow action request",
                       problems=[f"body: not valid JSON ({clip(str(exc))})"]), 400
    tenant = state.tenant_of(execution.origin.portalId)
    if tenant is None:
        log.warning("HubSpot workflow action: no tenant for portal %s", execution.origin.portalId)
        return jsonify(error="no SalesOS tenant for this HubSpot portal"), 404
    event, missing = _event(tenant, name, action.object_type, execution)
    if event is None:
        return jsonify(outputFields={"hs_execution_state": "FAIL_CONTINUE", RESULT_FIELD: missing})
    if state.intake is None:
        return jsonify(error="queue not configured; HubSpot will retry"), 503
    try:
        state.intake.accept([event], remember_for=CALLBACK_KEPT)
    except redis.RedisError as exc:
        log.warning("HubSpot workflow action: queue unavailable (%s); answered 503", type(exc).__name__)
        return jsonify(error="queue unavailable; HubSpot will retry"), 503
    return jsonify(outputFields={"hs_execution_state": "BLOCK", "hs_expiration_duration": HOLD_FOR})


@workflow_actions.post("/webhooks/hubspot/workflow/<int:portal>/<token>/<name>")
def send_a_webhook(portal: int, token: str, name: str):
    action = BY_NAME.get(name)
    if action is None:
        return jsonify(error=f"no SalesOS workflow action {quote(name)}"), 404
    state = endpoint_state()
    body, refused = signed_body(request, state, allow_v2=True)
    if refused is not None:
        return refused
    tenant = state.records.by_url_token(WORKFLOW, token)
    if tenant is None or tenant.crm != "hubspot" or tenant.external_id != str(portal):
        log.warning("HubSpot workflow webhook refused: the URL's token is not portal %s's", portal)
        return jsonify(error="this URL is not one SalesOS gave this portal (`tenants workflow-url`)"), 401
    try:
        record = SentRecord.from_body(from_json(body, allow_inf_nan=False))
    except (ValueError, ValidationError) as exc:  # ValueError: also no JSON, or a lone surrogate in it
        problems = describe(exc) if isinstance(exc, ValidationError) else [clip(str(exc))]
        return jsonify(error="malformed workflow webhook", problems=problems), 400
    execution = ActionRequest(callbackId=hashlib.sha256(body).hexdigest(), origin=Origin(portalId=portal),
                              object=EnrolledObject(objectId=record.object_id, objectType=action.object_type,
                                                    properties=record.properties))
    event, missing = _event(tenant.id, name, action.object_type, execution)
    if event is None:
        return jsonify(error=missing, problems=[f"body: {missing}"]), 400
    event.payload.pop("callbackId")  # nothing waits for this one
    if state.intake is None:
        return jsonify(error="queue not configured; HubSpot will retry"), 503
    try:
        queued = state.intake.accept([event], remember_for=CALLBACK_KEPT)
    except redis.RedisError as exc:
        log.warning("HubSpot workflow webhook: queue unavailable (%s); answered 503", type(exc).__name__)
        return jsonify(error="queue unavailable; HubSpot will retry"), 503
    return jsonify(queued=queued, duplicates=1 - queued)


class SentRecord(BaseModel):
    """The enrolled record of a "Send a webhook" body, in either shape HubSpot sends."""

    object_id: str
    properties: dict[str, str | None]

    @classmethod
    def from_body(cls, body: object) -> SentRecord:
        if not isinstance(body, dict):
            raise ValueError("body: must be a JSON object (the enrolled record)")
        raw = body.get("properties") if isinstance(body.get("properties"), dict) else body
        properties = {name: _value(value) for name, value in raw.items() if not isinstance(_value(value), dict)}
        object_id = body.get("objectId") or body.get("hs_object_id") or body.get("vid") or properties.get(
            "hs_object_id") or body.get("id")
        if object_id in (None, ""):
            raise ValueError("body: no record id (objectId, hs_object_id, vid or id)")
        return cls(object_id=str(object_id), properties=properties)


def _value(value: object) -> object:
    """Legacy contact bodies wrap each property as {"value": ...}; numbers and booleans are read as text."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


def _event(tenant: str, name: str, object_type: str, execution: ActionRequest) -> tuple[CrmEvent | None, str]:
    """The event for the enrolled record, or None and why it cannot be researched."""
    properties = execution.object.properties
    payload: dict = {"callbackId": execution.callbackId}
    try:
        if object_type == "COMPANY":
            payload["domain"] = registered_domain(properties.get("domain") or "")  # "www.acme.io" is acme.io
        else:
            payload["email"] = normal_email(properties.get("email") or "")
    except ValueError:
        pass
    if not (payload.get("domain") or payload.get("email")):
        needed = "a domain" if object_type == "COMPANY" else "an email address"
        return None, f"SalesOS needs {needed} on the record to research it"
    event = CrmEvent(tenant=tenant, source="hubspot-workflow", kind=f"workflow.{name}",
                     object_type=execution.object.objectType.lower(), object_id=str(execution.object.objectId),
                     occurred_at=dt.datetime.now(dt.UTC), identity=identity_of("workflow", execution.callbackId), payload=payload)
    return event, ""
