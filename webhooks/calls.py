"""Click-to-call: the link in a rep's call task rings the rep's phone through Twilio, then puts them through to
the contact. GET shows a button (link scanners fetch GETs); POST places the call. The signed token is the only
credential, so an unknown, tampered or expired link gets the same 404 as any other."""

from __future__ import annotations

import hashlib
import logging

import redis

from flask import Blueprint, current_app

from connector.channels.twilio import TwilioError
from connector.ledger import Ledger
from connector.runtime import now
from connector.tenants import vault_keys
from connector.twilio_account import get_account, rep_phone, twilio_for, webhook_token, webhook_urls
from connector.vault import Vault, VaultError
from webhooks.engagement import link_signer

calls = Blueprint("calls", __name__)
log = logging.getLogger(__name__)

_PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<body style="font-family:system-ui;max-width:32rem;margin:4rem auto">{body}</body>"""
CALL_COOLDOWN_SECONDS = 60
_NOT_FOUND = _PAGE.format(title="Link not found", body="<h1>This link is not valid.</h1>"), 404


@calls.get("/calls/<token>")
def confirm(token: str):
    if _call(token) is None:
        return _NOT_FOUND
    return _PAGE.format(title="Call", body='<h1>Call this contact?</h1><p>Your phone rings first; answer it and '
                                          'you are put through.</p><form method="post"><button>Call</button></form>')


@calls.post("/calls/<token>")
def place(token: str):
    link = _call(token)
    if link is None:
        return _NOT_FOUND
    settings = current_app.config["SALESOS_SETTINGS"]
    if Ledger(settings.database_url).unsubscribed(link.tenant, [link.email]):
        return _PAGE.format(title="Call", body="<h1>This contact opted out</h1><p>SalesOS places no call.</p>"), 409
    if not _first_click(token):
        return _PAGE.format(title="Call", body="<h1>A call was placed a moment ago</h1><p>Answer your phone; "
                                               "to call again, wait a minute.</p>"), 409
    keys = vault_keys(settings)
    client = None
    try:
        vault = Vault(settings.database_url, keys) if keys else None
        client, account = twilio_for(link.tenant, vault), get_account(vault, link.tenant) if vault else None
        rep = rep_phone(vault, link.tenant, link.owner_id)
        if client is None or account is None or not account.caller_id or rep is None:
            return _PAGE.format(title="Call", body="<h1>Calling is not set up</h1><p>Ask your SalesOS admin to add "
                                                   "the Twilio account, its caller id and your phone.</p>"), 409
        token_ = webhook_token(vault, link.tenant)
        status = webhook_urls(settings.salesos_public_url, token_)["status"] if token_ else None
        client.click_to_call(rep, link.phone, caller_id=account.caller_id, status_callback=status)
    except (TwilioError, VaultError, ValueError) as exc:  # ValueError: a number Twilio cannot dial
        log.error("click-to-call for %s failed: %s", link.tenant, exc)
        return _PAGE.format(title="Call", body="<h1>The call could not be placed</h1><p>Try again in a minute, or "
                                               "dial the number yourself.</p>"), 502
    finally:
        if client is not None:
            client.close()
    return _PAGE.format(title="Calling", body="<h1>Calling you now</h1><p>Answer your phone to be put through.</p>")


def _first_click(token: str) -> bool:
    """One call per link a minute: a double click, or a retried POST, does not ring the rep twice."""
    conn = current_app.extensions.get("salesos_redis")
    if conn is None:
        return True
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    try:
        return bool(conn.set(f"salesos:call:{digest}", 1, nx=True, ex=CALL_COOLDOWN_SECONDS))
    except redis.RedisError:
        return True


def _call(token: str):
    signer = link_signer()
    return signer.read_call(token, now()) if signer else None
