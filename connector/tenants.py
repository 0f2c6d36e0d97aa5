"""Installed CRMs: one tenant per HubSpot portal or Salesforce org.

The tenant record (which CRM, which portal or org, its state) is plain data in
the state database; its tokens live only in the vault, encrypted.

Open them in one of two ways: `open_tenant_records` for the records alone (an
endpoint finding whose request it is, with no vault key), `open_tenant_store`
for the records with their secrets. Both are on the state store
(`connector.store`), whose nested writes make a tenant's record, secrets and
URL tokens change in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, field_validator
from sqlalchemy import ColumnElement, Connection, select

from connector.api_keys import revoke_tenant_keys
from connector.data_sources import forget_data_source
from connector.ledger import reopen_abandoned_unsubscribes
from connector.settings import Settings
from connector.store import Store, open_store
from connector.store.schema import inbound_cursors, tenants
from connector.tenant_credentials import (
    FLOW_SECRET,
    INBOUND_PARSE,
    OUTBOUND,
    WORKFLOW,
    TenantSecret,
    UrlKind,
    UrlTokens,
    digest,
)
from connector.tenant_markets import forget_market
from connector.vault import Vault

MAX_URL_TOKEN_CHARS = 200  # SalesOS's URL tokens are 43 characters: a longer one is never hashed

Crm = Literal["hubspot", "salesforce"]
_ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")


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

    def __init__(self, target: Store | Path | str) -> None:
        self._store = open_store(target)

    def get(self, tenant_id: str) -> Tenant | None:
        rows = self._select(tenants.c.id == tenant_id)
        return rows[0] if rows else None

    def find(self, crm: Crm, external_id: str) -> Tenant | None:
        rows = self._select((tenants.c.crm == crm) & (tenants.c.external_id == external_id))
        return rows[0] if rows else None

    def all(self) -> list[Tenant]:
        return self._select(None)

    def by_url_token(self, kind: UrlKind, token: str | None) -> Tenant | None:
        """The tenant whose URL of this kind carries `token`; None for no token or one that is nobody's (a token
        longer than any SalesOS makes is nobody's, and is never hashed)."""
        if not token or len(token) > MAX_URL_TOKEN_CHARS:
            return None
        index = kind.table
        rows = self._select(tenants.c.id == select(index.c.tenant).where(index.c.digest == digest(token))
                            .scalar_subquery())
        return rows[0] if rows else None

    def _select(self, where: ColumnElement[bool] | None) -> list[Tenant]:
        query = select(tenants).order_by(tenants.c.id)
        with self._store.read() as conn:
            rows = conn.execute(query if where is None else query.where(where)).mappings().all()
        return [Tenant(**row) for row in rows]


class TenantStore(TenantRecords):
    """The tenant records with their secrets, in the vault's store (`target` must be the vault's database)."""

    def __init__(self, target: Store | Path | str, vault: Vault) -> None:
        super().__init__(target)
        if self._store is not vault.store:
            raise ValueError("the tenant store needs a vault on the same database")  # the URL may hold a password
        self._vault = vault
        self.outbound = UrlTokens(vault, OUTBOUND)
        self.workflow = UrlTokens(vault, WORKFLOW)
        self.inbound_parse = UrlTokens(vault, INBOUND_PARSE)  # made on demand: `tenants inbound-parse-url`
        self.flow = TenantSecret(vault, FLOW_SECRET)

    def add(self, tenant: Tenant, secrets: dict[str, str]) -> None:
        """Register or re-register a tenant and store its secrets encrypted.

        A tenant gets its URL token here, once (a Salesforce org its Outbound Message URL, a HubSpot portal its
        "Send a webhook" URL): registering it again keeps the token.
        """
        statement = self._store.insert(tenants).values(
            id=tenant.id, crm=tenant.crm, external_id=tenant.external_id, instance_url=tenant.instance_url,
            auth=tenant.auth, status=tenant.status, status_reason=tenant.status_reason,
            installed_at=tenant.installed_at.isoformat())
        with self._store.write() as conn:  # all of it or, if any step fails, what was there before
            # The record first: on PostgreSQL its row lock is what a concurrent removal waits for (`remove`).
            conn.execute(statement.on_conflict_do_update(index_elements=[tenants.c.id], set_={
                "instance_url": statement.excluded.instance_url, "auth": statement.excluded.auth,
                "status": statement.excluded.status, "status_reason": None,
                "installed_at": statement.excluded.installed_at}))
            for name, value in secrets.items():
                self._vault.put(tenant.id, name, value)
            (self.outbound if tenant.crm == "salesforce" else self.workflow).ensure(tenant.id)
            reopen_abandoned_unsubscribes(conn, tenant.id)  # it has a CRM again to write them into

    def secret(self, tenant_id: str, name: str) -> str | None:
        return self._vault.get(tenant_id, name)

    def mark_needs_reinstall(self, tenant_id: str, reason: str) -> None:
        with self._store.write() as conn:
            conn.execute(tenants.update().where(tenants.c.id == tenant_id)
                         .values(status="needs_reinstall", status_reason=reason))

    def remove(self, tenant_id: str) -> bool:
        """Uninstall: the tokens, secrets, URL tokens, data source and market are deleted with the record, and its
        API keys revoked, in one transaction (a failure half-way leaves the tenant whole). An id that is no
        installed tenant removes nothing: `local`, the embedded CRM, is none, and keeps its provider keys.

        The record is held first, so a registration of the tenant in progress finishes before anything of it is
        deleted, and is deleted whole."""
        with self._store.write() as conn:
            if not held(conn, tenant_id):
                return False
            self._vault.delete_tenant(tenant_id)
            self.outbound.forget(tenant_id)
            self.workflow.forget(tenant_id)
            self.inbound_parse.forget(tenant_id)
            conn.execute(inbound_cursors.delete().where(inbound_cursors.c.tenant == tenant_id))
            revoke_tenant_keys(conn, tenant_id)
            forget_data_source(conn, tenant_id)
            forget_market(conn, tenant_id)
            conn.execute(tenants.delete().where(tenants.c.id == tenant_id))
            return True


def held(conn: Connection, tenant_id: str) -> bool:
    """Inside a write: whether the tenant is installed, its record then locked until the write ends (a removal or
    a registration of it waits; SQLite's write lock holds everything already)."""
    return conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update()).first() is not None


def vault_keys(settings: Settings) -> str | None:
    """SALESOS_VAULT_KEYS, as `Vault` takes them."""
    return settings.salesos_vault_keys.get_secret_value() if settings.salesos_vault_keys else None


def open_tenant_records(settings: Settings) -> TenantRecords:
    """The tenant records alone: no vault key needed."""
    return TenantRecords(settings.database_url)


def open_tenant_store(settings: Settings) -> TenantStore:
    """The tenant store with its vault.

    Raises VaultError when SALESOS_VAULT_KEYS is missing or malformed.
    """
    vault = Vault(settings.database_url, vault_keys(settings))
    return TenantStore(settings.database_url, vault)
