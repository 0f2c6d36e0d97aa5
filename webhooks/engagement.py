"""Tracked clicks and opens (`connector.tracking_links`), and SendGrid's signed Event Webhook.

A click redirects to exactly the target its token signs, and anything else
(tampered, truncated, oversized, signed with a retired key) gets the same
404 page, which links nowhere. Recording is one INSERT and never fails the
redirect or the pixel: an engagement row lost to a database hiccup costs
less than a prospect's broken link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time

import redis
from flask import Blueprint, Response, current_app, request
from pydantic import ValidationError
from werkzeug.urls import iri_to_uri

from agents.engagement import EngagementEvent
from connector import sendgrid_events as sg
from connector.engagement_log import EngagementLog
from connector.queues import enqueue_once, job_id
from connector.ledger import Ledger
from connector.settings import Settings
from connector.tenants import vault_keys
from connector.tracking_links import CLICK, OPEN, LinkSigner, TrackingKeys
from connector.unsubscribes import enqueue_sync
from connector.vault import Vault, VaultError

engagement = Blueprint("engagement", __name__)
log = logging.getLogger(__name__)

SIGNER_TTL_SECONDS = 60  # a rotated key reaches every web node within a minute
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
_NOT_FOUND = ('<!doctype html><meta charset="utf-8"><title>Link not found</title>'
              '<body style="font-family:system-ui;max-width:32rem;margin:4rem auto">'
              '<h1>This link is not valid.</h1><p>It may have been mistyped or cut short.</p></body>')
_REFUSED = b'{"error": "not signed by SendGrid with the configured verification key, or too old"}'


@engagement.get("/t/c/<token>", merge_slashes=False)  # no 308 to a "fixed" path for made-up tokens
def click(token: str):
    link = _read(CLICK, token)
    if link is None:
        return _not_found()
    _record(f"click:{_digest(token)}", EngagementEvent(tenant=link.tenant, email=link.email, kind="click",
                                                       at=dt.datetime.now(dt.UTC), step_key=link.step_key,
                                                       detail=link.target))
    _queue_scoring(link.tenant, link.email)
    return Response(status=302, headers={"Location": iri_to_uri(link.target), "Referrer-Policy": "no-referrer"})


@engagement.get("/t/o/<token>.gif", merge_slashes=False)
def pixel(token: str):
    """Counted, but as unreliable: privacy proxies and scanners fetch every image."""
    link = _read(OPEN, token)
    if link is None:
        return _not_found()
    _record(f"open:{_digest(token)}", EngagementEvent(tenant=link.tenant, email=link.email, kind="open",
                                                      at=dt.datetime.now(dt.UTC), step_key=link.step_key,
                                                      reliable=False))
    return Response(PIXEL, mimetype="image/gif")


@engagement.post("/webhooks/sendgrid/events")
def sendgrid_events():
    """A signed batch: 204 once everything is recorded; 503 when it could not be (SendGrid retries, and every
    effect is idempotent); 401 with one answer for any unsigned, wrongly signed or stale batch."""
    settings = _settings()
    if request.content_length is not None and request.content_length > sg.MAX_BODY_BYTES:
        return Response(b'{"error": "body over 1 MiB"}', status=413, mimetype="application/json")
    signature = request.headers.get(sg.SIGNATURE_HEADER, "")
    timestamp = request.headers.get(sg.TIMESTAMP_HEADER, "")
    body = request.get_data(cache=False)
    try:
        keys = sg.load_public_keys(settings.sendgrid_event_public_keys)
    except ValueError as exc:
        log.error("SendGrid events refused: %s", exc)
        keys = []
    if not (keys and len(signature) <= 200 and sg.fresh(timestamp, dt.datetime.now(dt.UTC),
                                                          settings.sendgrid_event_max_age)
            and sg.signature_valid(keys, signature, timestamp, body)):
        return Response(_REFUSED, status=401, mimetype="application/json")
    try:
        events = sg.BATCH.validate_json(body)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "body"
        return Response(json.dumps({"error": f"invalid event batch at {where}: {exc.errors()[0]['msg']}"}),
                        status=400, mimetype="application/json")
    if len(events) > sg.MAX_EVENTS:
        return Response(f'{{"error": "more than {sg.MAX_EVENTS} events"}}'.encode(), status=413,
                        mimetype="application/json")
    todo = sg.actions(events)
    ledger = Ledger(settings.database_url)
    try:
        _log().record(todo.engagement)
        for tenant, email, reason in todo.suppress:
            ledger.suppress(tenant, email, reason)
        new_unsubscribes: dict[str, list[str]] = {}
        for tenant, email in todo.unsubscribe:
            if ledger.unsubscribe_address(tenant, email):
                new_unsubscribes.setdefault(tenant, []).append(email)
    except Exception as exc:  # noqa: BLE001 - any storage failure: SendGrid must retry the batch
        log.error("SendGrid events not recorded (%s); SendGrid will retry the batch", type(exc).__name__)
        return Response(b'{"error": "not recorded, retry"}', status=503, mimetype="application/json")
    for tenant, emails in new_unsubscribes.items():
        _queue_crm_write(ledger, tenant, emails)
    return Response(status=204)


def _read(kind: str, token: str):
    signer = link_signer()
    return None if signer is None else signer.read(kind, token)


def link_signer() -> LinkSigner | None:
    """The app's signer, its keys re-read every minute; None (every link refused) when no key can be had."""
    cached = current_app.extensions.get("salesos_link_signer")
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    settings = _settings()
    configured = settings.salesos_tracking_secrets
    try:
        vault = None if configured else Vault(settings.database_url, vault_keys(settings))
        keys = TrackingKeys(vault, configured.get_secret_value() if configured else None).keys()
        signer = LinkSigner(settings.salesos_public_url, keys)
    except (VaultError, ValueError) as exc:  # remembered like a key: a flood of links is one log line a minute
        log.error("tracked links refused: no tracking key (%s)", exc)
        signer = None
    current_app.extensions["salesos_link_signer"] = (time.monotonic() + SIGNER_TTL_SECONDS, signer)
    return signer


def _record(key: str, event: EngagementEvent) -> None:
    try:
        _log().record([(key, event)])
    except Exception as exc:  # noqa: BLE001 - the redirect and the pixel never fail for the record's sake
        log.warning("a %s of a %s contact was not recorded: %s", event.kind, event.tenant, type(exc).__name__)


def _queue_scoring(tenant: str, email: str) -> None:
    """The contact's score is written (and a hot lead's owner told) by the engagement workers, once a minute at
    most per contact; best effort, like the record: the redirect never waits for it."""
    conn = current_app.extensions.get("salesos_redis")
    if conn is None:
        return
    minute = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    try:
        enqueue_once(conn, "engagement", "agents.engagement_jobs.engagement_job", {"tenant": tenant, "email": email},
                     job_key=job_id("score", tenant, f"{email}|{minute}"))
    except redis.RedisError as exc:
        log.warning("a click of a %s contact was not scored: %s", tenant, type(exc).__name__)


def _log() -> EngagementLog:
    found = current_app.extensions.get("salesos_engagement_log")
    if found is None:
        found = current_app.extensions["salesos_engagement_log"] = EngagementLog(_settings().database_url)
    return found


def _queue_crm_write(ledger: Ledger, tenant: str, emails: list[str]) -> None:
    """Best effort, as for a link click: the dispatcher queues what is left unsynced."""
    conn = current_app.extensions.get("salesos_redis")
    if conn is None:
        return
    try:
        enqueue_sync(conn, ledger, tenant, emails)
    except redis.RedisError as exc:
        log.warning("Redis unavailable (%s): %d unsubscribes of %s wait for the dispatcher", exc, len(emails), tenant)


def _not_found() -> tuple[str, int, dict[str, str]]:
    return _NOT_FOUND, 404, {"Content-Type": "text/html; charset=utf-8"}


def _digest(token: str) -> str:
    """The token's payload (not its MAC): the same link signed under a rotated key is the same link."""
    return hashlib.sha256(token.split(".")[0].encode()).hexdigest()[:32]


def _settings() -> Settings:
    return current_app.config["SALESOS_SETTINGS"]
