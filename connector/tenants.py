"""Installed CRMs: one tenant per HubSpot portal or Salesforce org.

The tenant record (which CRM, which portal or org, its state) is plain data in
the state database; its tokens live only in the vault, encrypted.

Open them in one of two ways: `open_tenant_records` for the records alone (an
endpoint finding whose request it is, with no vault key), `open_tenant_store`
for the records with their secrets. Either is one SQLite connection.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, field_validator

from connector.api_keys import revoke_tenant_keys
from connector.data_sources import forget_data_source
from connector.ledger import reopen_abandoned_unsubscribes
from connector.private_files import connect
from connector.settings import Settings
from connector.tenant_credentials import FLOW_SECRET, OUTBOUND, WORKFLOW, TenantSecret, UrlKind, UrlTokens, digest
from connector.tenant_credentials import index_schema
from connector.tenant_markets import forget_market
from connector.transactions import transaction
from connector.vault import Vault

Crm = Literal["hubspot", "salesforce"]
_ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    crm TEXT NOT NULL,
    external_id TEXT NOT NULL,
    instance_url TEXT,
    auth TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    installed_at TEXT NOT NULL,
    UNIQUE (crm, external_id)
)
"""


class Tenant(BaseModel):
    id: str
    crm: Crm
    external_id: str
    instance_url: str | None = None
    auth: Literal["oauth", "private_app"] = "private_app"
    status: Literal["active", "needs_reinstall"] = "active"
    status_reason: str | None = None
    installed_at: dt.datetime

    @field_validator("instance_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith("https://"):
            raise ValueError(f"{url!r} must be an https:// URL")
        return url.rstrip("/") if url else url


def tenant_id(crm: Crm, external_id: str) -> str:
    return f"{crm}-{external_id}"


def check_external_id(crm: Crm, external_id: str) -> str:
    """A HubSpot portal id is a number; a Salesforce org id is 15 or 18 characters starting 00D."""
    if crm == "hubspot" and not external_id.isdigit():
        raise ValueError(f"portal id {external_id!r} must be a number, e.g. 62515")
    if crm == "salesforce" and not _ORG_ID.match(external_id):
        raise ValueError(f"org id {external_id!r} must be 15 or 18 characters starting with 00D")
    return external_id


class TenantRecords:
    """The tenant records, without their secrets: what needs no vault key."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.execute(_SCHEMA)
        for kind in (OUTBOUND, WORKFLOW):
            self._db.execute(index_schema(kind))

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def get(self, tenant_id: str) -> Tenant | None:
        rows = self._select("WHERE id = ?", (tenant_id,))
        return rows[0] if rows else None

    def find(self, crm: Crm, external_id: str) -> Tenant | None:
        rows = self._select("WHERE crm = ? AND external_id = ?", (crm, external_id))
        return rows[0] if rows else None

    def all(self) -> list[Tenant]:
        return self._select("ORDER BY id", ())

    def by_url_token(self, kind: UrlKind, token: str | None) -> Tenant | None:
        """The tenant whose URL of this kind carries `token`; None for no token or one that is nobody's."""
        if not token:
            return None
        rows = self._select(f"WHERE id = (SELECT tenant FROM {kind.table} WHERE digest = ?)", (digest(token),))
        return rows[0] if rows else None

    def close(self) -> None:
        self._db.close()

    def _select(self, where: str, params: tuple) -> list[Tenant]:
        cursor = self._db.execute(f"SELECT * FROM tenants {where}", params)
        names = [column[0] for column in cursor.description]
        return [Tenant(**dict(zip(names, row))) for row in cursor.fetchall()]


class TenantStore(TenantRecords):
    """The tenant records with their secrets, on the vault's connection (`path` must be the vault's database)."""

    def __init__(self, path: Path, vault: Vault) -> None:
        if not os.path.samefile(vault.connection.execute("PRAGMA database_list").fetchone()[2], path):
            raise ValueError(f"the tenant store at {path} needs a vault on the same database")
        super().__init__(vault.connection)
        self._vault = vault
        self.outbound = UrlTokens(vault, OUTBOUND)
        self.workflow = UrlTokens(vault, WORKFLOW)
        self.flow = TenantSecret(vault, FLOW_SECRET)

    def add(self, tenant: Tenant, secrets: dict[str, str]) -> None:
        """Register or re-register a tenant and store its secrets encrypted.

        A tenant gets its URL token here, once (a Salesforce org its Outbound Message URL, a HubSpot portal its
        "Send a webhook" URL): registering it again keeps the token.
        """
        with transaction(self._db):  # all of it or, if any step fails, what was there before
            for name, value in secrets.items():
                self._vault.put(tenant.id, name, value)
            self._db.execute(
                "INSERT INTO tenants (id, crm, external_id, instance_url, auth, status, status_reason, installed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET instance_url = excluded.instance_url, "
                "auth = excluded.auth, status = excluded.status, status_reason = NULL, "
                "installed_at = excluded.installed_at",
                (tenant.id, tenant.crm, tenant.external_id, tenant.instance_url, tenant.auth, tenant.status,
                 tenant.status_reason, tenant.installed_at.isoformat()),
            )
            (self.outbound if tenant.crm == "salesforce" else self.workflow).ensure(tenant.id)
            reopen_abandoned_unsubscribes(self._db, tenant.id)  # it has a CRM again to write them into

    def secret(self, tenant_id: str, name: str) -> str | None:
        return self._vault.get(tenant_id, name)

    def mark_needs_reinstall(self, tenant_id: str, reason: str) -> None:
        self._db.execute("UPDATE tenants SET status = 'needs_reinstall', status_reason = ? WHERE id = ?",
                         (reason, tenant_id))

    def remove(self, tenant_id: str) -> bool:
        """Uninstall: the tokens, secrets, URL tokens, data source and market are deleted with the record, and its
        API keys revoked, in one transaction (a failure half-way leaves the tenant whole). An id that is no
        installed tenant removes nothing: `local`, the embedded CRM, is none, and keeps its provider keys."""
        with transaction(self._db):
            if self.get(tenant_id) is None:
                return False
            self._vault.delete_tenant(tenant_id)
            self.outbound.forget(tenant_id)
            self.workflow.forget(tenant_id)
            revoke_tenant_keys(self._db, tenant_id)
            forget_data_source(self._db, tenant_id)
            forget_market(self._db, tenant_id)
            self._db.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
            return True


def vault_keys(settings: Settings) -> str | None:
    """SALESOS_VAULT_KEYS, as `Vault` takes them."""
    return settings.salesos_vault_keys.get_secret_value() if settings.salesos_vault_keys else None


def open_tenant_records(settings: Settings) -> TenantRecords:
    """The tenant records on a connection of their own; close it when done."""
    db = connect(settings.state_path, timeout=30, isolation_level=None)
    db.execute("PRAGMA busy_timeout=30000")
    return TenantRecords(db)


def open_tenant_store(settings: Settings, records: TenantRecords | None = None) -> TenantStore:
    """The tenant store with its vault, on `records`' connection when given (else a new one).

    Raises VaultError when SALESOS_VAULT_KEYS is missing or malformed.
    """
    vault = Vault(settings.state_path, vault_keys(settings), db=records.connection if records else None)
    return TenantStore(settings.state_path, vault)
