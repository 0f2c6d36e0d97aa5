"""Building signed HubSpot deliveries in tests, as HubSpot would send them."""

from __future__ import annotations

import datetime as dt
import json
import time
from itertools import count

from connector.settings import Settings
from connector.tenants import Tenant, TenantStore, open_tenant_store
from connector.vault import Vault
from webhooks.signatures import v3_signature

SECRET = "hubspot-app-secret-for-tests"
PUBLIC = "https://salesos.example.com"
URI = f"{PUBLIC}/webhooks/hubspot"
_event_ids = count(1000)


def hubspot_event(portal: int = 62515, object_id: int = 101, kind: str = "contact.propertyChange",
                  prop: str | None = "lifecyclestage", value: str | None = "lead", **extra) -> dict:
    event = {"eventId": next(_event_ids), "subscriptionId": 25, "portalId": portal, "appId": 1160452,
             "occurredAt": int(time.time() * 1000) - 60_000, "subscriptionType": kind, "attemptNumber": 0,
             "objectId": object_id, "changeSource": "CRM_UI"}
    if prop is not None:
        event |= {"propertyName": prop, "propertyValue": value}
    return event | extra


def happened_just_now(body: bytes) -> bytes:
    """A documented delivery whose events happened a minute ago (the docs' own are years old, so stale)."""
    events = json.loads(body)
    for event in events:
        event["occurredAt"] = int(time.time() * 1000) - 60_000
    return json.dumps(events).encode()


def signed_headers(body: bytes, uri: str = URI, secret: str = SECRET, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
            "X-HubSpot-Signature-v3": v3_signature(secret, "POST", uri, body, stamp),
            "X-HubSpot-Signature-Version": "v1"}


def deliver(client, events, **signing):
    body = events if isinstance(events, bytes) else json.dumps(events).encode()
    return client.post("/webhooks/hubspot", data=body, headers=signed_headers(body, **signing))


def register(settings: Settings, *portals: int) -> None:
    store = TenantStore(settings.state_path, Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()))
    for portal in portals:
        store.add(Tenant(id=f"hubspot-{portal}", crm="hubspot", external_id=str(portal),
                         installed_at=dt.datetime.now(dt.UTC)), {"access_token": f"token-{portal}"})


def workflow_token(settings: Settings, portal: int) -> str:
    """The portal's "Send a webhook" URL token, as `tenants workflow-url` puts it in the portal's URLs."""
    return open_tenant_store(settings).workflow.ensure(f"hubspot-{portal}")
