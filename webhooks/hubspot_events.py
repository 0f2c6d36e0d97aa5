"""POST /webhooks/hubspot: HubSpot's app webhooks, checked and queued in one Redis round trip.

HubSpot waits 5 s and retries any 4xx/5xx for 24 h, so the endpoint only
checks and queues; the dispatcher routes the inbox to stage jobs later. The
checks run cheapest-and-most-hostile first, and none of the refused requests
reaches a queue:

1. body over 256 KiB: 413, decided from Content-Length (a chunked body is read
   only until it passes the limit), never by reading it all;
2. signature (v3 only, as HubSpot signs every request to an OAuth app; see
   `webhooks.signatures`): 401 with the reason, never echoing the body;
3. a JSON array of at most 100 well-formed events: 400 naming the problem;
4. events whose `occurredAt` is older than the dedupe window (25 h) are
   refused as stale: logged, counted, never queued (a redelivery of one could
   not be told from the first); so are events dated more than an hour ahead
   (`connector.change_order.CLOCK_SKEW`), which would make every later real
   change of their record look older. They are answered 2xx all the same:
   they can never be accepted, and a 4xx would only make HubSpot send them
   for a day;
5. tenants: each event goes to the tenant of its own `portalId`, looked up in
   the tenant store and nowhere else (not a header, not the URL). Events of a
   portal with no tenant are logged (one line) and skipped; a request with only
   such events gets 404 naming at most PORTALS_SHOWN of them, so HubSpot keeps retrying (an install may still be on its
   way), while a mixed batch is answered 2xx for the events that are known:
   answering 404 would make HubSpot redeliver events already queued.
6. events SalesOS caused itself are dropped (`webhooks.echoes`);
7. the rest go to `Intake.accept` in one call, which deduplicates for 25 h.

Answers: 200 with counts (also when everything was ignored, a duplicate or
stale), 503 when Redis is unreachable (HubSpot retries; nothing was
half-stored) or when HUBSPOT_CLIENT_SECRET is not set.

The endpoint is the one that carries a portal's whole change stream, so it
is served by a plain WSGI app in front of Flask (`HubSpotWebhooks`), using
werkzeug's request and response but not Flask's request context, URL map,
session or hooks. That and the intake's direct Redis connections are what
bring it within reach of a bare Flask route's throughput (bench/webhooks.py).
The intake's connections have short timeouts and one immediate retry (to
replace a connection a Redis restart closed), so a dead or hung Redis costs
about a second, well inside HubSpot's 5 s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from flask import Flask, current_app
from pydantic_core import from_json, to_json
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from agents.validation import clip, quote
from connector.change_order import CLOCK_SKEW
from connector.settings import Settings
from connector.tenants import TenantRecords, open_tenant_records
from webhooks.echoes import EchoFilter
from webhooks.hubspot_payload import BadDelivery, HubSpotEvent, parse_delivery
from webhooks.intake import STALE_AFTER_SECONDS, Intake, app_intake
from webhooks.signatures import BadSignature, check_request, public_uri

log = logging.getLogger(__name__)

PATH = "/webhooks/hubspot"
MAX_BODY = 256 * 1024  # 100 events are ~30 KiB; anything near this is not HubSpot
TENANT_TTL = 5.0  # seconds a portal's tenant (or its absence) is remembered by a worker
PORTALS_SHOWN = 5  # unknown portals an answer or a log line names; the rest are counted


class HubSpotWebhooks:
    """WSGI middleware: serves `POST /webhooks/hubspot` itself and passes every other request to Flask."""

    def __init__(self, app: Flask) -> None:
        self._app, self._next = app, app.wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._next(environ, start_response)
        request = Request(environ)
        if request.method != "POST":
            response = json_response(405, error="HubSpot webhooks are POSTed")
            response.headers["Allow"] = "POST"
        else:
            response = self._receive(request)
        return response(environ, start_response)

    def _receive(self, request: Request) -> Response:
        try:
            return receive(request, endpoint_state(self._app))
        except HTTPException as exc:  # e.g. a body shorter than its Content-Length
            return json_response(exc.code or 400, error=exc.description)
        except Exception:  # what Flask would do: log it and answer 500 (HubSpot retries)
            log.exception("HubSpot webhook failed")
            return json_response(500, error="internal error; HubSpot will retry")


def mount(app: Flask) -> None:
    """Put the endpoint in front of the app's routes (call it last, so it is the outermost middleware)."""
    app.wsgi_app = HubSpotWebhooks(app)


def receive(request: Request, state: EndpointState) -> Response:
    body, refused = signed_body(request, state)
    if refused is not None:
        return refused
    try:
        raw = from_json(body, allow_inf_nan=False)  # no NaN, no lone surrogates, big integers exact
        events = parse_delivery(raw)
    except ValueError as exc:
        problems = exc.problems if isinstance(exc, BadDelivery) else [f"body: not valid JSON ({clip(str(exc))})"]
        return json_response(400, error="malformed HubSpot delivery", problems=problems)
    return _queue(state, events, raw)


def _queue(state: EndpointState, events: list[HubSpotEvent], raw: list[dict]) -> Response:
    now = time.time()
    cutoff_ms, ahead_ms = int((now - STALE_AFTER_SECONDS) * 1000), int((now + CLOCK_SKEW.total_seconds()) * 1000)
    by_portal: dict[int, list[int]] = {}
    stale = future = 0
    for position, event in enumerate(events):
        if event.occurredAt < cutoff_ms:
            stale += 1
        elif event.occurredAt > ahead_ms:
            future += 1
        else:
            by_portal.setdefault(event.portalId, []).append(position)
    if stale:
        log.warning("HubSpot webhook: %d event(s) refused as stale (occurredAt more than %d h ago, beyond the dedupe "
                    "window); not queued", stale, STALE_AFTER_SECONDS // 3600)
    if future:
        log.warning("HubSpot webhook: %d event(s) refused as dated in the future (occurredAt more than %s ahead of "
                    "SalesOS's clock: check the server's clock); not queued", future, CLOCK_SKEW)
    accepted, ignored, unknown, skipped = [], 0, [], 0
    for portal, positions in by_portal.items():
        tenant = state.tenant_of(portal)
        if tenant is None:
            unknown.append(portal)
            skipped += len(positions)
            continue
        own = state.echoes.own(tenant, [events[p] for p in positions])
        ignored += len(own)
        accepted.extend(events[p].entry(tenant, raw[p]) for i, p in enumerate(positions) if i not in own)
    shown = [_portal_shown(portal) for portal in unknown[:PORTALS_SHOWN]]
    if unknown:
        log.warning("HubSpot webhook: no tenant for %d portal(s) (%s%s); %d event(s) skipped", len(unknown),
                    ", ".join(map(str, shown)), ", ..." if len(unknown) > len(shown) else "", skipped)
    if unknown and len(unknown) == len(by_portal):
        return json_response(404, error="no SalesOS tenant for this HubSpot portal", portals=shown,
                             portals_total=len(unknown))
    if state.intake is None:
        log.error("HubSpot webhook refused: REDIS_URL is not set, so events cannot be queued")
        return json_response(503, error="queue not configured; HubSpot will retry")
    try:
        queued = state.intake.accept_entries(accepted)
    except redis.RedisError as exc:
        log.warning("HubSpot webhook: queue unavailable (%s); answered 503 so HubSpot retries", type(exc).__name__)
        return json_response(503, error="queue unavailable; HubSpot will retry")
    return json_response(200, queued=queued, duplicates=len(accepted) - queued, ignored=ignored,
                         unknown_portals=shown, stale=stale, future=future)


def _portal_shown(portal: int) -> int | str:
    """A portal id as answers and logs show it: HubSpot's fit in 64 bits; Python reads integers of 4,300 digits."""
    return portal if portal.bit_length() <= 64 else quote(portal)


def signed_body(request: Request, state: EndpointState, allow_v2: bool = False) -> tuple[bytes, None] | tuple[
        None, Response]:
    """The raw body of a request HubSpot signed, or the answer to give instead: 413 too big, 503 no secret
    configured, 401 not signed by HubSpot with v3 (or v2, where `allow_v2` says HubSpot sends nothing newer)."""
    body = body_within_limit(request)
    if body is None:
        return None, json_response(413, error=f"request body over {MAX_BODY} bytes")
    if not state.secret:
        log.error("HubSpot request refused: HUBSPOT_CLIENT_SECRET is not set, so no signature can be checked")
        return None, json_response(
            503, error="SalesOS cannot check HubSpot signatures yet (HUBSPOT_CLIENT_SECRET is not set)")
    try:
        check_request(state.secret, request.headers, request.method, state.signed_uri(request), body, allow_v2)
    except BadSignature as exc:
        log.warning("HubSpot request to %s refused: %s", request.path, exc)
        return None, json_response(401, error="invalid signature", reason=str(exc))
    return body, None


def body_within_limit(request: Request) -> bytes | None:
    """The raw body, or None when it is over MAX_BODY (at most MAX_BODY + 1 bytes are read)."""
    if request.content_length is not None:
        return request.get_data(cache=False) if request.content_length <= MAX_BODY else None
    chunks, size = [], 0  # chunked: read until the end or just past the limit
    while size <= MAX_BODY:
        chunk = request.stream.read(64 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > MAX_BODY else b"".join(chunks)


def json_response(status: int, **body: Any) -> Response:
    return Response(to_json(body), status, mimetype="application/json")


class EndpointState:
    """Per-app objects the HubSpot endpoints share: the secret, the intake, tenant lookups, the echo filter."""

    def __init__(self, app: Flask) -> None:
        settings: Settings = app.config["SALESOS_SETTINGS"]
        secret = settings.hubspot_client_secret
        self.secret = secret.get_secret_value() if secret else ""
        # SALESOS_PUBLIC_URL when it is configured (behind a proxy Flask's own URL is not what HubSpot called),
        # else the URL each request arrived at (a server reached directly, as in `connector serve`).
        self._public_url = settings.salesos_public_url if "salesos_public_url" in settings.model_fields_set else None
        self.intake: Intake | None = app_intake(app)
        self.echoes = EchoFilter(settings.database_url, settings.hubspot_app_id)
        self.records: TenantRecords = open_tenant_records(settings)  # records only: the endpoints hold no vault key
        self._tenants: dict[int, tuple[float, str | None]] = {}

    def signed_uri(self, request: Request) -> str:
        return public_uri(self._public_url or request.root_url, request.path, request.query_string)

    def tenant_of(self, portal: int) -> str | None:
        """The tenant id of a portal, remembered for TENANT_TTL seconds (a removed tenant stops receiving
        within that time)."""
        now = time.monotonic()
        known = self._tenants.get(portal)
        if known is not None and known[0] > now:
            return known[1]
        tenant = self.records.find("hubspot", str(portal))
        found = tenant.id if tenant else None
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants[portal] = (now + TENANT_TTL, found)
        return found


_STATE_LOCK = threading.Lock()


def endpoint_state(app: Flask | None = None) -> EndpointState:
    """The app's state (the current app's by default), made on first use (after gunicorn forked its workers)."""
    app = app or current_app._get_current_object()
    state = app.extensions.get("salesos_hubspot_events")
    if state is None:
        with _STATE_LOCK:
            state = app.extensions.get("salesos_hubspot_events")
            if state is None:
                state = app.extensions["salesos_hubspot_events"] = EndpointState(app)
    return state
