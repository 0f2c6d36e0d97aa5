"""Unsubscribe links: a confirmation page, and RFC 8058 one-click POST."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, current_app

from connector.ledger import Ledger
from connector.unsubscribes import enqueue_sync

tracking = Blueprint("tracking", __name__)
log = logging.getLogger(__name__)

_PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<body style="font-family:system-ui;max-width:32rem;margin:4rem auto">{body}</body>"""


@tracking.get("/unsubscribe/<token>")
def confirm(token: str):
    """A GET never unsubscribes: mail scanners follow links. The button POSTs."""
    return _PAGE.format(
        title="Unsubscribe",
        body='<h1>Unsubscribe</h1><form method="post"><button>Stop these emails</button></form>',
    )


@tracking.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    """The ledger stops every send at once; the CRM's opt-out and stopped sequence follow in one queued job."""
    ledger = Ledger(current_app.config["SALESOS_SETTINGS"].database_url)  # shared by every web node and worker
    found = ledger.unsubscribe(token)
    if found is None:
        return _PAGE.format(title="Unknown link", body="<h1>This link is not valid.</h1>"), 404
    _queue_crm_write(ledger, *found)
    return _PAGE.format(title="Unsubscribed", body="<h1>You will not get further emails.</h1>")


def _queue_crm_write(ledger: Ledger, tenant: str, email: str) -> None:
    """Best effort: with Redis down, the ledger keeps the unsubscribe unsynced and the dispatcher queues it later."""
    conn = current_app.extensions.get("salesos_redis")
    if conn is None:
        log.warning("REDIS_URL is not set: an unsubscribe of a %s contact waits for the dispatcher", tenant)
        return
    try:
        enqueue_sync(conn, ledger, tenant, [email])
    except redis.RedisError as exc:
        log.warning("Redis unavailable (%s): an unsubscribe of a %s contact waits for the dispatcher", exc, tenant)
