"""API keys: who may call SalesOS's JSON API (for one tenant) and its operator views (for none).

A key is `salesos_<id>_<secret>`: 16 hex characters of public id, then 256
random bits. It is shown once when created; the state database keeps only
its SHA-256 (a random key of that strength needs no slow hash) beside the id,
so a lookup is by id and the check one constant-time digest comparison.

Scopes:
- `tenant`: acts for exactly one tenant, `local` (the embedded CRM) or an
  installed HubSpot portal or Salesforce org, on `/api/*`; uninstalling the
  tenant revokes it (and a key whose tenant is gone by any other way is
  refused too);
- `operator`: sees across tenants (the detailed `/readyz`, the `/rq`
  dashboard) and acts for none.

Revoked keys stay listed with their revocation time, so an admin can tell
which key a log line or a leak was about.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Row, select

from connector.store import Store, open_store
from connector.store.schema import api_keys, tenants

Scope = Literal["tenant", "operator"]
_FORMAT = re.compile(r"salesos_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")
_NO_DIGEST = hashlib.sha256(b"no such key").hexdigest()  # compared against when the id is unknown
_LISTED = (api_keys.c.id, api_keys.c.scope, api_keys.c.tenant, api_keys.c.label, api_keys.c.created_at,
           api_keys.c.revoked_at)


class ApiKey(BaseModel):
    """A key as listed and as authenticated: never its secret nor its digest."""

    id: str
    scope: Scope
    tenant: str | None = None
    label: str | None = None
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class ApiKeys:
    """The keys table in the state database (`settings.database_url`)."""

    def __init__(self, target: Store | Path | str) -> None:
        self._store = open_store(target)

    def create(self, scope: Scope, tenant: str | None = None, label: str | None = None) -> tuple[ApiKey, str]:
        """A new key; returns its record and the key itself, which nothing stores. LookupError: no such tenant."""
        record = ApiKey(id=secrets.token_hex(8), scope=scope, tenant=tenant if scope == "tenant" else None,
                        label=label, created_at=dt.datetime.now(dt.UTC))
        key = f"salesos_{record.id}_{secrets.token_urlsafe(32)}"
        with self._store.write() as conn:  # the tenant's record held meanwhile: an uninstall revokes this key too
            if scope == "tenant" and not _installed(conn, tenant, hold=True):
                raise LookupError(f"{tenant!r} is not `local` or an installed tenant; "
                                  f"`python -m connector tenants list` shows those that are")
            conn.execute(api_keys.insert().values(id=record.id, scope=scope, tenant=record.tenant, label=label,
                                                  digest=_digest(key), created_at=record.created_at.isoformat()))
        return record, key

    def authenticate(self, presented: str) -> ApiKey | None:
        """The live key `presented` is, or None: malformed, unknown, wrong, revoked, or its tenant uninstalled."""
        match = _FORMAT.fullmatch(presented)
        with self._store.read() as conn:
            row = conn.execute(select(*_LISTED, api_keys.c.digest).where(
                api_keys.c.id == match.group(1), api_keys.c.revoked_at.is_(None))).first() if match else None
            expected = row.digest if row else _NO_DIGEST
            if not hmac.compare_digest(_digest(presented), expected) or row is None:
                return None
            key = _record(row)
            if key.scope == "tenant" and not _installed(conn, key.tenant):
                return None
        return key

    def revoke(self, key_id: str, scope: Scope) -> bool:
        """True when a live key of that scope was revoked."""
        with self._store.write() as conn:
            return conn.execute(api_keys.update().where(
                api_keys.c.id == key_id, api_keys.c.scope == scope, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=dt.datetime.now(dt.UTC).isoformat())).rowcount > 0

    def all(self, scope: Scope, tenant: str | None = None) -> list[ApiKey]:
        query = select(*_LISTED).where(api_keys.c.scope == scope).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self._store.read() as conn:
            return [_record(row) for row in conn.execute(query)]


def _installed(conn: Connection, tenant: str | None, hold: bool = False) -> bool:
    """`local` always is; any other tenant while its record is in the tenants table (`hold`: locked until the
    transaction ends, so a removal waits for it)."""
    if tenant == "local":
        return True
    query = select(tenants.c.id).where(tenants.c.id == tenant)
    return conn.execute(query.with_for_update() if hold else query).first() is not None


def revoke_tenant_keys(conn: Connection, tenant: str) -> int:
    """Revoke every key of a tenant being uninstalled (`TenantStore.remove`, inside its write), so a re-install
    revives none."""
    return conn.execute(api_keys.update().where(api_keys.c.tenant == tenant, api_keys.c.revoked_at.is_(None))
                        .values(revoked_at=dt.datetime.now(dt.UTC).isoformat())).rowcount


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _record(row: Row) -> ApiKey:
    return ApiKey(id=row.id, scope=row.scope, tenant=row.tenant, label=row.label, created_at=row.created_at,
                  revoked_at=row.revoked_at)
