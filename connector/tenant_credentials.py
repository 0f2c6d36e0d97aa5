"""Each tenant's credentials for SalesOS's inbound doors: its URL tokens and its Flow secret.

- A Salesforce org's Outbound Message URL, `/webhooks/salesforce/outbound/<token>`:
  an Outbound Message carries no signature and an org id is no secret, so the
  token is the message's only credential.
- A HubSpot portal's "Send a webhook" URLs,
  `/webhooks/hubspot/workflow/<portal>/<token>/<action>`: HubSpot signs every
  portal's request with SalesOS's one app secret, so only the token tells a
  portal's workflow from one pointed at another portal's URL.
- A Salesforce org's Flow secret, the HMAC key its Flow callouts are signed with.
- A tenant's SendGrid Inbound Parse URL, `/webhooks/sendgrid/inbound/<token>`:
  SendGrid does not sign Inbound Parse posts, so the token is their only
  credential. Made when an admin first asks for it (not every tenant reads
  replies through SendGrid).

Each is random and the tenant's own. A URL token is made when its tenant is
registered, a Flow secret when an admin first asks for it; registering again
(a re-install, a token refresh) keeps them, since a new one would break what
the admin configured in the CRM. Showing one again never changes it; only an
admin replaces one (`--rotate`), and the old one is refused at once. Removing
the tenant deletes them, so a tenant added again gets new ones.

The vault holds each, encrypted, and is the source of truth. A URL token also
has a SHA-256 digest in an index the endpoint reads, so it finds the tenant
with one query and no vault key before it reads a request's body. The vault
and the index are written in one transaction of the state store, and showing
a token writes its digest again, so the index never refuses the URL that was
printed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Table

from agents.validation import quote
from connector.store.schema import inbound_parse_tokens, outbound_tokens, workflow_tokens
from connector.vault import Vault


@dataclass(frozen=True)
class UrlKind:
    name: str  # the vault secret's name
    table: Table  # the digest index
    path: str  # the route the token extends


OUTBOUND = UrlKind("outbound_token", outbound_tokens, "/webhooks/salesforce/outbound")
WORKFLOW = UrlKind("workflow_token", workflow_tokens, "/webhooks/hubspot/workflow")
INBOUND_PARSE = UrlKind("inbound_parse_token", inbound_parse_tokens, "/webhooks/sendgrid/inbound")
FLOW_SECRET = "flow_secret"


def outbound_url(public_url: str, token: str) -> str:
    """The URL an admin pastes into the org's SalesOS Outbound Messages."""
    return f"{public_url.rstrip('/')}{OUTBOUND.path}/{token}"


def workflow_url(public_url: str, portal: str, token: str, action: str) -> str:
    """The URL of one SalesOS action, for a "Send a webhook" action of the portal's workflows."""
    return f"{public_url.rstrip('/')}{WORKFLOW.path}/{portal}/{token}/{action}"


def inbound_parse_url(public_url: str, token: str) -> str:
    """The Destination URL an admin enters in SendGrid's Inbound Parse settings (with "Send Raw" on)."""
    return f"{public_url.rstrip('/')}{INBOUND_PARSE.path}/{token}"


def unreachable(public_url: str) -> str | None:
    """Why a CRM cannot call URLs built on `public_url`, or None: HubSpot calls only https, and neither CRM calls
    from inside the network SalesOS runs in, so a loopback, private or link-local address, or a name only an
    intranet resolves, is no place to send them (the default, `http://127.0.0.1:5000`, is for the local demo)."""
    parts = urlsplit(public_url)
    if parts.scheme.lower() == "https" and not _internal_host(parts.hostname or ""):
        return None
    return (f"SALESOS_PUBLIC_URL is {quote(public_url)}, which Salesforce and HubSpot cannot call: set it to the "
            "public https address SalesOS is served at (e.g. https://salesos.example.com), restart SalesOS and "
            "show the URL again")


# Names no public DNS answers for the internet: special-use (RFC 6761, 6762, 8375, 2606) and ICANN's `.internal`.
_INTRANET_SUFFIXES = ("localhost", "local", "internal", "home.arpa", "lan", "test", "invalid", "example")


_NUMBER = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")  # a part of an IPv4 address in any form inet_aton reads


def _internal_host(host: str) -> bool:
    """Whether `host` (no DNS lookup) is an address or name only this machine or its network can reach."""
    host = host.lower().rstrip(".")
    address = _address(host)
    if address is not None:
        return not address.is_global
    return "." not in host or any(host == suffix or host.endswith(f".{suffix}") for suffix in _INTRANET_SUFFIXES)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells, including the other IPv4 forms HTTP clients accept (`10.1`, `167772161`,
    octal `0177.0.0.1`, hex `0x7f.0.0.1`)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not host or not all(_NUMBER.match(label) for label in host.split(".")):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def digest(token: str) -> str:
    """A token is 192 random bits, so a plain SHA-256 cannot be reversed by guessing."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class TenantSecret:
    """One random secret per tenant, in the vault."""

    def __init__(self, vault: Vault, name: str, size: int = 32) -> None:
        self._vault, self.name, self._size = vault, name, size
        self._store = vault.store

    def ensure(self, tenant_id: str) -> str:
        """The tenant's secret, made on first use and never replaced here."""
        with self._store.write():
            secret = self._vault.get(tenant_id, self.name)
            if secret is None:
                secret = secrets.token_urlsafe(self._size)
                if not self._vault.put_new(tenant_id, self.name, secret):  # another one was made first: it stands
                    secret = self._vault.get(tenant_id, self.name)
            self._written(tenant_id, secret)
        return secret

    def rotate(self, tenant_id: str) -> str:
        """A new secret for the tenant; the old one is refused from the moment this returns."""
        secret = secrets.token_urlsafe(self._size)
        with self._store.write():
            self._vault.put(tenant_id, self.name, secret)
            self._written(tenant_id, secret)
        return secret

    def current(self, tenant_id: str) -> str | None:
        return self._vault.get(tenant_id, self.name)

    def current_evenly(self, tenant_id: str) -> str | None:
        """`current`, at the cost of opening a secret whether the tenant has one or not (`Vault.get_evenly`)."""
        return self._vault.get_evenly(tenant_id, self.name)

    def _written(self, tenant_id: str, secret: str) -> None:
        """What else must change in the same transaction (nothing, for a secret no index refers to)."""


class UrlTokens(TenantSecret):
    """The tokens of one kind of URL, each tenant's indexed by its digest."""

    def __init__(self, vault: Vault, kind: UrlKind) -> None:
        super().__init__(vault, kind.name, size=24)
        self._table = kind.table

    def forget(self, tenant_id: str) -> None:
        with self._store.write() as conn:
            conn.execute(self._table.delete().where(self._table.c.tenant == tenant_id))

    def _written(self, tenant_id: str, secret: str) -> None:
        """The index follows the vault, whatever it held before (a token an older SalesOS never indexed)."""
        statement = self._store.insert(self._table).values(tenant=tenant_id, digest=digest(secret))
        with self._store.write() as conn:
            conn.execute(statement.on_conflict_do_update(index_elements=[self._table.c.tenant],
                                                         set_={"digest": statement.excluded.digest}))
