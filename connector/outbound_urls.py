"""Each Salesforce org's own Outbound Message URL: `/webhooks/salesforce/outbound/<token>`.

An Outbound Message carries no signature and an org id is no secret, so the
random token in the URL is the message's only credential. Every Salesforce
tenant gets one when it is registered, and keeps it when it is registered
again (a re-install, a token refresh): a new token would break the org's
configured Outbound Messages. Only an admin replaces it (`tenants outbound-url
ID --rotate`).

The token is a vault secret, so it can be shown again. A SHA-256 digest of it
finds its tenant without the vault: the endpoint looks up the URL's token and
then checks that the message names that tenant's org, never the other way
round, so an unknown org and a wrong token are refused after the same work.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3

from connector.vault import Vault

OUTBOUND_TOKEN = "outbound_token"  # the vault secret's name
PATH = "/webhooks/salesforce/outbound"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbound_tokens (
    tenant TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE
)
"""


def outbound_url(public_url: str, token: str) -> str:
    """The URL an admin pastes into the org's SalesOS Outbound Messages."""
    return f"{public_url.rstrip('/')}{PATH}/{token}"


class OutboundTokens:
    """The tokens of the tenants' Outbound Message URLs, on the tenant store's connection."""

    def __init__(self, db: sqlite3.Connection, vault: Vault) -> None:
        self._db, self._vault = db, vault
        self._db.execute(_SCHEMA)

    def ensure(self, tenant_id: str) -> str:
        """The tenant's token, made on first use and never replaced here.

        A token kept in the vault but not yet indexed (made before the index
        existed) is indexed as it is, so a URL an org already uses keeps working.
        """
        token = self._vault.put_new(tenant_id, OUTBOUND_TOKEN, _new_token())
        self._db.execute("INSERT INTO outbound_tokens (tenant, digest) VALUES (?, ?) ON CONFLICT (tenant) DO NOTHING",
                         (tenant_id, _digest(token)))
        return token

    def rotate(self, tenant_id: str) -> str:
        """A new token for the tenant; the old URL is refused from now on."""
        token = _new_token()
        self._vault.put(tenant_id, OUTBOUND_TOKEN, token)
        self._db.execute("INSERT INTO outbound_tokens (tenant, digest) VALUES (?, ?) "
                         "ON CONFLICT (tenant) DO UPDATE SET digest = excluded.digest", (tenant_id, _digest(token)))
        return token

    def tenant_of(self, token: str | None) -> str | None:
        """The tenant whose URL carries this token (no vault needed); None for no token or an unknown one."""
        if not token:
            return None
        row = self._db.execute("SELECT tenant FROM outbound_tokens WHERE digest = ?", (_digest(token),)).fetchone()
        return row[0] if row else None

    def forget(self, tenant_id: str) -> None:
        self._db.execute("DELETE FROM outbound_tokens WHERE tenant = ?", (tenant_id,))


def _new_token() -> str:
    return secrets.token_urlsafe(24)


def _digest(token: str) -> str:
    """A token is 192 random bits, so a plain SHA-256 cannot be reversed by guessing."""
    return hashlib.sha256(token.encode()).hexdigest()
