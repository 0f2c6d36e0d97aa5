"""Unsubscribe links: a confirmation page, and RFC 8058 one-click POST."""

from __future__ import annotations

from flask import Blueprint, current_app

from connector.ledger import Ledger
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM

tracking = Blueprint("tracking", __name__)

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
    ledger = Ledger(current_app.config["SALESOS_SETTINGS"].state_path)
    try:
        found = ledger.unsubscribe(token)
    finally:
        ledger.close()
    if found is None:
        return _PAGE.format(title="Unknown link", body="<h1>This link is not valid.</h1>"), 404
    _stop_sequence(*found)
    return _PAGE.format(title="Unsubscribed", body="<h1>You will not get further emails.</h1>")


def _stop_sequence(tenant: str, email: str) -> None:
    """Show the rep, in the CRM, that this contact's sequence is over and why no more touches come."""
    if tenant != "local":
        return  # CRM tenants get this write with their adapters
    crm = LocalCRM(current_app.config["SALESOS_SETTINGS"].crm_path)
    try:
        crm.upsert_contacts([ContactWrite(email=email, fields={"sequence_state": "stopped", "next_touch_at": None})])
    finally:
        crm.close()
