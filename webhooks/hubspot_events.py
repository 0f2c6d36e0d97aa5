"""POST /webhooks/hubspot: HubSpot's app webhooks, checked and queued in one Redis round trip.

HubSpot waits 5 s and retries any 4xx/5xx for 24 h, so the endpoint only
checks and queues; the dispatcher routes the inbox to stage jobs later. The
checks run cheapest-and-most-hostile first, and none of the refused requests
reaches a queue:

1. body over 256 KiB: 413, decided from Content-Length (a chunked body is read
   only until it passes the limit), never by reading it all;
2. signature (v3, or v1/v2 for requests without v3; see `webhooks.signatures`):
   401 with the reason, never echoing the body;
3. a JSON array of at most 100 well-formed events: 400 naming the problem;
4. tenants: each event goes to the tenant of its own `portalId`, looked up in
   the tenant store and nowhere else (not a header, not the URL). Events of a
   portal with no tenant are logged and skipped; a request with only such
   events gets 404, so HubSpot keeps retrying (an install may still be on its
   way), while a mixed batch is answered 2xx for the events that are known:
   answering 404 would make HubSpot redeliver events already queued.
5. events SalesOS caused itself are dropped (`webhooks.echoes`);
6. the rest go to `Intake.accept` in one call, which deduplicates for 25 h.

Answers: 200 with counts (also when everything was ignored or a duplicate),
503 when Redis is unreachable (HubSpot retries; nothing was half-stored) or
when HUBSPOT_CLIENT_SECRET is not set.

The intake's Redis client has short timeouts and a single immediate retry (to
replace a connection a Redis restart closed), so a dead or hung Redis costs
about a second, well inside HubSpot's 5 s.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from redis.backoff import NoBackoff
from redis.retry import Retry

from connector.settings import Settings
from connector.tenants import TenantStore
from webhooks.echoes import EchoFilter
from webhooks.hubspot_payload import BadDelivery, HubSpotEvent, parse_delivery
from webhooks.intake import DEDUPE_SECONDS, CrmEvent, Intake
from webhooks.signatures import BadSignature, check_request, public_uri

log = logging.getLogger(__name__)
hubspot_events = Blueprint("hubspot_events", __name__)

MAX_BODY = 256 * 1024  # 100 events are ~30 KiB; anything near this is not HubSpot
REDIS_TIMEOUT = 0.5  # seconds, for connecting and for each reply
TENANT_TTL = 5.0  # seconds a portal's tenant (or its absence) is remembered by a worker


@hubspot_events.post("/webhooks/hubspot")
def receive():
    body, refused = signed_body()
    if refused is not None:
        return refused
    try:
        raw = json.loads(body)
        events = parse_delivery(raw)
    except (ValueError, RecursionError) as exc:
        problems = exc.problems if isinstance(exc, BadDelivery) else [f"body: not valid JSON ({_short(exc)})"]
        return jsonify(error="malformed HubSpot delivery", problems=problems), 400
    return _queue(events, raw)


def _queue(events: list[HubSpotEvent], raw: list[dict]):
    state = endpoint_state()
    by_portal: dict[int, list[int]] = {}
    for position, event in enumerate(events):
        by_portal.setdefault(event.portalId, []).append(position)
    accepted, ignored, unknown = [], 0, []
    for portal, positions in by_portal.items():
        tenant = state.tenant_of(portal)
        if tenant is None:
            unknown.append(portal)
            log.warning("HubSpot webhook: no tenant for portal %s; %d event(s) skipped", portal, len(positions))
            continue
        portal_events = [events[p] for p in positions]
        own = state.echoes.own(tenant, portal_events)
        ignored += len(own)
        accepted.extend(events[p].to_crm_event(tenant, raw[p]) for i, p in enumerate(positions) if i not in own)
    if unknown and len(unknown) == len(by_portal):
        return jsonify(error="no SalesOS tenant for this HubSpot portal", portals=unknown), 404
    if state.intake is None:
        log.error("HubSpot webhook refused: REDIS_URL is not set, so events cannot be queued")
        return jsonify(error="queue not configured; HubSpot will retry"), 503
    try:
        queued = state.intake.accept(accepted)
    except redis.RedisError as exc:
        log.warning("HubSpot webhook: queue unavailable (%s); answered 503 so HubSpot retries", type(exc).__name__)
        return jsonify(error="queue unavailable; HubSpot will retry"), 503
    counts = {"queued": queued, "duplicates": len(accepted) - queued, "ignored": ignored, "unknown_portals": unknown}
    return Response(json.dumps(counts), 200, mimetype="application/json")


def signed_body(allow_v1: bool = True) -> tuple[bytes, None] | tuple[None, tuple[Response, int]]:
    """The raw body of a request HubSpot signed, or the answer to give instead: 413 too big, 503 no secret
    configured, 401 not signed by HubSpot (`allow_v1=False` where the URL must be covered by the signature)."""
    body = body_within_limit()
    if body is None:
        return None, (jsonify(error=f"request body over {MAX_BODY} bytes"), 413)
    secret = hubspot_secret()
    if not secret:
        log.error("HubSpot request refused: HUBSPOT_CLIENT_SECRET is not set, so no signature can be checked")
        return None, (jsonify(error="SalesOS cannot check HubSpot signatures yet (HUBSPOT_CLIENT_SECRET is not set)"),
                      503)
    try:
        version = check_request(secret, request.headers, request.method, signed_uri(current_app.config[
            "SALESOS_SETTINGS"]), body)
        if version == "v1" and not allow_v1:
            raise BadSignature("a v1 signature covers the body only, not the URL: sign with v2 or v3")
    except BadSignature as exc:
        log.warning("HubSpot request to %s refused: %s", request.path, exc)
        return None, (jsonify(error="invalid signature", reason=str(exc)), 401)
    return body, None


def hubspot_secret() -> str:
    settings: Settings = current_app.config["SALESOS_SETTINGS"]
    return settings.hubspot_client_secret.get_secret_value() if settings.hubspot_client_secret else ""


def body_within_limit() -> bytes | None:
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


def signed_uri(settings: Settings) -> str:
    """SALESOS_PUBLIC_URL when it is configured (behind a proxy Flask's own URL is not what HubSpot called),
    else the URL this request arrived at (a server reached directly, as in `connector serve`)."""
    configured = "salesos_public_url" in settings.model_fields_set
    base = settings.salesos_public_url if configured else request.root_url
    return public_uri(base, request.path, request.query_string)


def _short(exc: BaseException) -> str:
    return str(exc)[:120] if isinstance(exc, ValueError) else "nested too deeply"


class EndpointState:
    """Per-app objects the HubSpot endpoints share: the intake, tenant lookups, the echo filter."""

    def __init__(self, app: Flask) -> None:
        settings: Settings = app.config["SALESOS_SETTINGS"]
        pool = intake_pool(app)
        self.intake = PooledIntake(pool) if pool is not None else None
        self.echoes = EchoFilter(settings.state_path, settings.hubspot_app_id)
        self._state_path = settings.state_path
        self._local = threading.local()
        self._tenants: dict[int, tuple[float, str | None]] = {}

    def tenant_of(self, portal: int) -> str | None:
        """The tenant id of a portal, remembered for TENANT_TTL seconds (a removed tenant stops receiving
        within that time); a tenant store per thread, since SQLite connections stay in their thread."""
        now = time.monotonic()
        known = self._tenants.get(portal)
        if known is not None and known[0] > now:
            return known[1]
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = TenantStore(self._state_path, _NoTokens())
        tenant = store.find("hubspot", str(portal))
        found = tenant.id if tenant else None
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants[portal] = (now + TENANT_TTL, found)
        return found


def intake_pool(app: Flask) -> redis.ConnectionPool | None:
    """Connections to the app's Redis that fail within about a second instead of retrying for many."""
    base: redis.Redis | None = app.extensions.get("salesos_redis")
    if base is None:
        return None
    pool = base.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT,
              "retry": Retry(NoBackoff(), 1)}
    return redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)


class PooledIntake:
    """`Intake.accept` for concurrent requests: each call borrows an `Intake` on a client with its own connection.

    The Redis round trip is most of the endpoint's cost; a single-connection
    client skips the pool's per-command checkout, which measurably raises the
    requests a worker answers per second (about 5 % in bench/webhooks.py).
    Clients are made on demand (so a Redis that is down only costs the request
    that finds out) and reused.
    """

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool, self._idle = pool, queue.SimpleQueue()

    def accept(self, events: list[CrmEvent], remember_for: int = DEDUPE_SECONDS) -> int:
        """As `Intake.accept`: the number of new events; raises redis.RedisError when Redis is unreachable."""
        try:
            intake = self._idle.get_nowait()
        except queue.Empty:
            intake = Intake(redis.Redis(connection_pool=self._pool, single_connection_client=True))
        try:
            return intake.accept(events, remember_for)
        finally:
            self._idle.put(intake)


class _NoTokens:
    """The endpoint reads tenant records only; it never holds the vault key or a token."""

    def __getattr__(self, name: str):
        raise RuntimeError("the webhook endpoint has no access to tenant tokens")


_STATE_LOCK = threading.Lock()


def endpoint_state() -> EndpointState:
    """The current app's state, made on first use (after gunicorn forked its workers)."""
    app = current_app._get_current_object()
    state = app.extensions.get("salesos_hubspot_events")
    if state is None:
        with _STATE_LOCK:
            state = app.extensions.get("salesos_hubspot_events")
            if state is None:
                state = app.extensions["salesos_hubspot_events"] = EndpointState(app)
    return state
