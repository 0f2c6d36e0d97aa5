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
import sqlite3
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from connector.private_files import connect

Scope = Literal["tenant", "operator"]
_FORMAT = re.compile(r"salesos_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")
_NO_DIGEST = hashlib.sha256(b"no such key").hexdigest()  # compared against when the id is unknown

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    tenant TEXT,
    label TEXT,
    digest TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


class ApiKey(BaseModel):
    """A key as listed and as authenticated: never its secret nor its digest."""

    id: str
    scope: Scope
    tenant: str | None = None
    label: str | None = None
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class ApiKeys:
    """The keys table in the state database (`settings.state_path`)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)

    def create(self, scope: Scope, tenant: str | None = None, label: str | None = None) -> tuple[ApiKey, str]:
        """A new key; returns its record and the key itself, which nothing stores. LookupError: no such tenant."""
        if scope == "tenant" and not self._installed(tenant):
            raise LookupError(f"{tenant!r} is not `local` or an installed tenant; "
                              f"`python -m connector tenants list` shows those that are")
        record = ApiKey(id=secrets.token_hex(8), scope=scope, tenant=tenant if scope == "tenant" else None,
                        label=label, created_at=dt.datetime.now(dt.UTC))
        key = f"salesos_{record.id}_{secrets.token_urlsafe(32)}"
        self._db.execute("INSERT INTO api_keys (id, scope, tenant, label, digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (record.id, scope, record.tenant, label, _digest(key), record.created_at.isoformat()))
        return record, key

    def authenticate(self, presented: str) -> ApiKey | None:
        """The live key `presented` is, or None: malformed, unknown, wrong, revoked, or its tenant uninstalled."""
        match = _FORMAT.fullmatch(presented)
        row = self._db.execute("SELECT id, scope, tenant, label, created_at, revoked_at, digest FROM api_keys "
                               "WHERE id = ? AND revoked_at IS NULL", (match.group(1),)).fetchone() if match else None
        expected = row[-1] if row else _NO_DIGEST
        if not hmac.compare_digest(_digest(presented), expected) or row is None:
            return None
        key = _record(row)
        if key.scope == "tenant" and not self._installed(key.tenant):
            return None
        return key

    def revoke(self, key_id: str, scope: Scope) -> bool:
        """True when a live key of that scope was revoked."""
        return self._db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND scope = ? AND revoked_at IS NULL",
                                (dt.datetime.now(dt.UTC).isoformat(), key_id, scope)).rowcount > 0

    def all(self, scope: Scope, tenant: str | None = None) -> list[ApiKey]:
        where, params = "WHERE scope = ?", [scope]
        if tenant is not None:
            where, params = where + " AND tenant = ?", params + [tenant]
        rows = self._db.execute(f"SELECT id, scope, tenant, label, created_at, revoked_at FROM api_keys {where} "
                                f"ORDER BY created_at, id", params).fetchall()
        return [_record(row) for row in rows]

    def close(self) -> None:
        self._db.close()

    def _installed(self, tenant: str | None) -> bool:
        """`local` always is; any other tenant while its record is in the tenants table."""
        if tenant == "local":
            return True
        try:
            return self._db.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant,)).fetchone() is not None
        except sqlite3.OperationalError:  # no tenant was ever installed here: the table does not exist yet
            return False


def revoke_tenant_keys(db: sqlite3.Connection, tenant: str) -> int:
    """Revoke every key of a tenant being uninstalled (`TenantStore.remove`), so a re-install revives none."""
    db.execute(_SCHEMA)
    return db.execute("UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND revoked_at IS NULL",
                      (dt.datetime.now(dt.UTC).isoformat(), tenant)).rowcount


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _record(row: tuple) -> ApiKey:
    key_id, scope, tenant, label, created_at, revoked_at = row[:6]
    return ApiKey(id=key_id, scope=scope, tenant=tenant, label=label, created_at=created_at, revoked_at=revoked_at)
