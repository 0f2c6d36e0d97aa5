"""What an admin must still do, tenant by tenant, each with the command that does it.

An upgrade leaves steps that nothing can take for the admin (pasting a URL into
a Salesforce org, choosing a tenant's data, vouching for old ciphertexts), and
a revoked grant or a refused scope leaves others later. Until each is done,
something fails closed: `python -m connector health` lists them so they are
found before a customer finds them.

Health may run in an on-call engineer's shell, without the vault key and
without the right to write SalesOS's files, and must stay fast. So everything
here reads the state database through one read-only snapshot
(`connector.read_only_state`: the stores create files and upgrade the schema,
so they are not used). Each query reads `connector.store.schema`'s tables and
names the module that owns its table, and the tests fill the database through
those stores. Only one check decrypts, whether stored secrets are bound to their
rows, since a Fernet ciphertext shows nothing of its plaintext: it runs when
SALESOS_VAULT_KEYS is set; without it, the binding `rotate-keys` records
tells whether anything is left to bind, and else the check says it was skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections import defaultdict
from pathlib import Path
from typing import Literal

from cryptography.fernet import InvalidToken
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from agents.validation import clip
from connector import ledger
from connector.read_only_state import StateSnapshot, StateUnreadable
from connector.settings import Settings
from connector.store.migrate import HEAD
from connector.store.schema import metadata, secrets, tenant_data_sources, tenants, unsubscribes, vault_state
from connector.tenant_credentials import OUTBOUND, WORKFLOW
from connector.vault import VaultError, parse_keys, sealed_envelope

UNSYNCED_AFTER = dt.timedelta(hours=1)
CLI = "python -m connector"

Kind = Literal["reinstall", "outbound_url", "workflow_url", "data_source", "vault_unbound", "vault_unreadable", "vault_unchecked",
               "unsynced_unsubscribes", "file_modes", "state_unreadable", "state_schema"]


class AdminAction(BaseModel):
    tenant: str | None = Field(description="the tenant it concerns; None for the whole deployment")
    kind: Kind
    status: Literal["warning", "unknown"] = Field(description="unknown: it could not be checked, and says why")
    message: str = Field(description="what is wrong, and what fails until it is done")
    run: str | None = Field(default=None, description="what to run (or do) to fix it")


def admin_actions(settings: Settings, state: StateSnapshot | None, now: dt.datetime) -> list[AdminAction]:
    """Every open step, tenants' first (by tenant id), then the deployment's. `state`: a `read_only` snapshot of
    the state database, None when there is none yet. Raises StateUnreadable when it cannot be read
    (`state_unreadable`)."""
    actions: list[AdminAction] = []
    if state is not None:
        actions += schema_actions(state)
        if _holds_salesos_tables(state):
            keys = settings.salesos_vault_keys.get_secret_value() if settings.salesos_vault_keys else None
            actions += tenant_actions(state, settings.salesos_public_url)
            actions += vault_actions(state, keys)
            actions += unsubscribe_actions(state, now)
    actions += file_mode_actions(settings.home)
    return sorted(actions, key=lambda action: (action.tenant is None, action.tenant or ""))


def state_unreadable(settings: Settings, error: StateUnreadable) -> AdminAction:
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        run = (f"make {error.where} a SalesOS state database readable by this user (or point SALESOS_HOME at the "
               f"right one)")
    else:
        run = ("check SALESOS_DATABASE_URL (host, database, user, password) and that the server accepts this "
               "host's connections")
    return AdminAction(tenant=None, kind="state_unreadable", status="unknown",
                       message=f"{error}; nothing in it was checked", run=run)


# --- the schema -----------------------------------------------------------------------------------


def schema_actions(state: StateSnapshot) -> list[AdminAction]:
    """A database without SalesOS's tables, or whose schema migrations have not brought to this release's.

    Health never migrates: the first SalesOS process that opens the store does, or `db upgrade`. A database from
    before migrations (revision None) is read as it is, table by table."""
    upgrade = f"{CLI} db upgrade (any SalesOS command that uses the database does it too)"
    if not _holds_salesos_tables(state):
        return [AdminAction(tenant=None, kind="state_schema", status="unknown",
                            message=f"{state.where} holds no SalesOS tables: nothing in it was checked",
                            run=f"{upgrade}; or point SALESOS_DATABASE_URL at the right database")]
    if state.revision is None or state.revision == HEAD:
        return []
    if state.revision > HEAD:  # revisions are numbered 0001, 0002, ...
        return [AdminAction(tenant=None, kind="state_schema", status="unknown",
                            message=f"the state database's schema is at revision {clip(state.revision)}, newer than "
                                    f"this SalesOS knows ({HEAD}): what it reads may be incomplete",
                            run="run health with the SalesOS release the other processes run")]
    return [AdminAction(tenant=None, kind="state_schema", status="unknown",
                        message=f"the state database's schema is at revision {clip(state.revision)}, this SalesOS's "
                                f"is {HEAD}: what it added is not checked",
                        run=upgrade)]


def _holds_salesos_tables(state: StateSnapshot) -> bool:
    return any(state.has(table) for table in metadata.sorted_tables)


# --- installed tenants --------------------------------------------------------------------------


def tenant_actions(state: StateSnapshot, public_url: str) -> list[AdminAction]:
    """Re-installs, tenants without a working URL for their CRM to call (a Salesforce org's Outbound Messages,
    a HubSpot portal's "Send a webhook" actions), CRM tenants without data (neither files nor provider keys)."""
    installed = state.rows(select(tenants.c.id, tenants.c.crm, tenants.c.external_id, tenants.c.instance_url,
                                  tenants.c.auth, tenants.c.status, tenants.c.status_reason)
                           .order_by(tenants.c.id))  # connector/tenants.py
    indexed, stored = {}, {}
    for kind in (OUTBOUND, WORKFLOW):  # connector/tenant_credentials.py: the vault holds a token, the index finds it
        indexed[kind.name] = {tenant for (tenant,) in state.rows(select(kind.table.c.tenant))}
        stored[kind.name] = {tenant for (tenant,) in state.rows(select(secrets.c.tenant)
                                                                 .where(secrets.c.name == kind.name))}
    with_data = {tenant for (tenant,) in state.rows(select(tenant_data_sources.c.tenant))}  # data_sources.py
    with_data |= {tenant for (tenant,) in state.rows(select(secrets.c.tenant).where(
        func.substr(secrets.c.name, 1, 9) == "provider:"))}  # connector/providers/keys.py
    actions = []
    for tenant, crm, external_id, instance_url, auth, status, reason in installed:
        if status == "needs_reinstall":
            actions.append(AdminAction(
                tenant=tenant, kind="reinstall", status="warning",
                message=f"needs re-installing ({clip(reason or 'no reason recorded')}): its jobs stop until then",
                run=_reinstall(crm, external_id, instance_url, auth, public_url)))
        url_kind = OUTBOUND if crm == "salesforce" else WORKFLOW
        if tenant not in indexed[url_kind.name]:
            made = tenant in stored[url_kind.name]
            actions.append(_outbound_url(tenant, made) if url_kind is OUTBOUND else _workflow_url(tenant, made))
        if tenant not in with_data:
            actions.append(AdminAction(
                tenant=tenant, kind="data_source", status="warning",
                message="has no data source (no data files, no provider keys): every run of it stops at once (the "
                        "bundled sample is fictional, for the local CRM only)",
                run=f"{CLI} tenants data-files {tenant} FILE..., or {CLI} tenants provider-key set {tenant} NAME -"))
    return actions


def _reinstall(crm: str, external_id: str, instance_url: str | None, auth: str, public_url: str) -> str:
    if auth == "oauth":
        who = "portal" if crm == "hubspot" else "org"
        return f"an admin of the {who} opens {public_url.rstrip('/')}/oauth/{crm}/install"
    if crm == "hubspot":
        return f"{CLI} tenants add hubspot --portal-id {external_id} --access-token - (a valid private-app token)"
    return (f"{CLI} tenants add salesforce --org-id {external_id} --instance-url {instance_url or 'URL'} "
            f"--access-token - (a valid token)")


def _workflow_url(tenant: str, already_made: bool) -> AdminAction:
    refused = ("every \"Send a webhook\" workflow action of the portal that calls SalesOS is refused (HubSpot "
               "retries one for 3 days)")
    if already_made:
        return AdminAction(
            tenant=tenant, kind="workflow_url", status="warning",
            message=f"its \"Send a webhook\" URLs are not indexed yet: {refused}",
            run=f"{CLI} tenants workflow-url {tenant} (it makes the URLs the portal has work; nothing changes in "
                f"HubSpot)")
    return AdminAction(
        tenant=tenant, kind="workflow_url", status="warning",
        message=f"has no \"Send a webhook\" URLs of its own (an older SalesOS made them from the app secret, and "
                f"those are refused now): {refused}",
        run=f"{CLI} tenants workflow-url {tenant}, and put the URLs it prints into the portal's \"Send a "
            f"webhook\" actions that call SalesOS")


def _outbound_url(tenant: str, already_made: bool) -> AdminAction:
    refused = "every Outbound Message of the org is refused, and Salesforce drops each after retrying for 24 h"
    if already_made:
        return AdminAction(
            tenant=tenant, kind="outbound_url", status="warning",
            message=f"its Outbound Message URL was made by an older SalesOS and is not indexed yet: {refused}",
            run=f"{CLI} tenants outbound-url {tenant} (it makes the URL the org has work; nothing changes in the org)")
    return AdminAction(
        tenant=tenant, kind="outbound_url", status="warning",
        message=f"has no Outbound Message URL: {refused}",
        run=f"{CLI} tenants outbound-url {tenant}, and paste the URL it prints into the org's SalesOS Outbound "
            f"Messages (`{CLI} manifests --tenant {tenant} --integration-user USERNAME` writes them with it)")


# --- the vault ------------------------------------------------------------------------------------


def vault_actions(state: StateSnapshot, keys: str | None) -> list[AdminAction]:
    """Secrets no job can use: stored unbound by an older SalesOS, opened by no key, or moved to another row.

    The vault records when the one-time binding of an older SalesOS's secrets was done, and reading that needs
    no key: once it is recorded nothing is left to bind, so without SALESOS_VAULT_KEYS there is nothing to say.
    Otherwise only decrypting tells, and without the key the check says it was skipped.
    """
    rows = state.rows(select(secrets.c.tenant, secrets.c.name, secrets.c.ciphertext)
                      .order_by(secrets.c.tenant, secrets.c.name))  # connector/vault.py
    if not rows:
        return []
    bound_on = _legacy_bound_on(state)
    if not keys:
        if bound_on:
            return []
        return [AdminAction(
            tenant=None, kind="vault_unchecked", status="unknown",
            message=f"{len(rows)} stored secret(s) not checked for ciphertexts an older SalesOS left unbound, and "
                    "binding them is not recorded as done: SALESOS_VAULT_KEYS is not set here (health never needs "
                    "it; with it, this is checked)",
            run=f"after upgrading from an older SalesOS: {CLI} rotate-keys --bind-legacy")]
    try:
        fernet = parse_keys(keys)
    except VaultError as exc:
        return [AdminAction(tenant=None, kind="vault_unchecked", status="unknown", message=f"stored secrets not "
                            f"checked: {exc}")]
    unbound, unopened, moved = defaultdict(list), defaultdict(list), defaultdict(list)
    for tenant, name, ciphertext in rows:
        try:
            sealed_for = _sealed_for(fernet.decrypt(ciphertext))
        except InvalidToken:
            unopened[tenant].append(name)
            continue
        if sealed_for is None:
            unbound[tenant].append(name)
        elif sealed_for != (tenant, name):
            moved[tenant].append(name)
    actions = []
    for tenant, names in unbound.items():
        if bound_on is None:
            actions.append(AdminAction(
                tenant=tenant, kind="vault_unbound", status="warning",
                message=f"{_names(names)} stored by an older SalesOS, not bound to the tenant: its CRM jobs (and "
                        "the webhooks that read its secrets) fail until bound",
                run=f"{CLI} rotate-keys --bind-legacy"))
        else:
            actions.append(AdminAction(
                tenant=tenant, kind="vault_unreadable", status="warning",
                message=f"{_names(names)} not bound to the tenant, but the legacy secrets were bound on "
                        f"{bound_on[:10]}: written since, not by SalesOS (copied from an old backup?), so refused",
                run=_register_again(tenant)))
    for tenant, names in unopened.items():
        actions.append(AdminAction(
            tenant=tenant, kind="vault_unreadable", status="warning",
            message=f"{_names(names)} opened by no key in SALESOS_VAULT_KEYS: its CRM jobs fail",
            run=f"put the key they were encrypted with back into SALESOS_VAULT_KEYS (after the newest), then "
                f"{CLI} rotate-keys"))
    for tenant, names in moved.items():
        actions.append(AdminAction(
            tenant=tenant, kind="vault_unreadable", status="warning",
            message=f"{_names(names)} encrypted for another tenant or secret and copied into this row: refused",
            run=_register_again(tenant)))
    return actions


def _legacy_bound_on(state: StateSnapshot) -> str | None:
    """When `rotate-keys` closed the binding of legacy secrets (connector/vault.py's vault_state), if it has."""
    row = next(iter(state.rows(select(vault_state.c.value).where(vault_state.c.name == "legacy_bound_at"))), None)
    return row[0] if row else None


def _register_again(tenant: str) -> str:
    """Registering stores the tenant's tokens anew; a refused secret it does not replace needs the tenant removed."""
    return (f"register {tenant} again (its OAuth install, or `{CLI} tenants add`); if that is refused too, "
            f"`{CLI} tenants remove {tenant}` first")


def _sealed_for(plaintext: bytes) -> tuple[str, str] | None:
    """The (tenant, name) a secret was sealed for, None for a bare secret stored before sealing."""
    envelope = sealed_envelope(plaintext)
    return (str(envelope.get("tenant")), str(envelope.get("name"))) if envelope else None


def _names(names: list[str]) -> str:
    return f"{'secret' if len(names) == 1 else 'secrets'} {', '.join(names)} {'was' if len(names) == 1 else 'were'}"


# --- unsubscribes -------------------------------------------------------------------------------


def unsubscribe_backlog(state: StateSnapshot) -> list[tuple[str, int, int, str | None, str | None]] | None:
    """connector/ledger.py's `unsubscribe_backlog`, or none without a ledger. None from a ledger an older SalesOS
    made, still without the columns it needs (the first process of this release to open the store adds them)."""
    if not state.has(unsubscribes):
        return []
    if not state.has(unsubscribes, "synced_at", "abandoned_at", "note"):
        return None
    return ledger.unsubscribe_backlog(state.conn)


def unsubscribe_actions(state: StateSnapshot, now: dt.datetime) -> list[AdminAction]:
    """Tenants whose oldest unsubscribe waiting for its CRM write is over UNSYNCED_AFTER old, with the last error."""
    backlog = unsubscribe_backlog(state)
    if backlog is None:
        if not state.rows(select(unsubscribes.c.tenant).limit(1)):
            return []
        return [AdminAction(  # the columns are added when a dispatcher or worker first opens the ledger
            tenant=None, kind="unsynced_unsubscribes", status="unknown",
            message="the send ledger was made by an older SalesOS: whether its unsubscribes reached the CRMs is "
                    "known once this release's dispatcher has opened it",
            run=f"start `{CLI} dispatch`: it queues the CRM write of every unsubscribe that has not landed")]
    actions = []
    for tenant, waiting, _, note, oldest in backlog:
        waited = now - dt.datetime.fromisoformat(oldest) if waiting else dt.timedelta(0)
        if waited <= UNSYNCED_AFTER:
            continue
        actions.append(AdminAction(
            tenant=tenant, kind="unsynced_unsubscribes", status="warning",
            message=f"{waiting} unsubscribe(s) not in the CRM, the oldest for {_age(waited)}: SalesOS sends them "
                    f"nothing, but the CRM still shows them subscribed; last error: "
                    f"{clip(note, 300) if note else 'none recorded'}",
            run=_unsynced_remedy(note or "")))
    return actions


def _unsynced_remedy(error: str) -> str:
    if "communication_preferences.write" in error:
        return ("re-install the HubSpot app in the portal (or give the private app's token the "
                "communication_preferences.write scope); the dispatcher retries every 30 minutes")
    if "needs re-installing" in error:
        return "re-install the tenant (see its re-install step); the dispatcher retries every 30 minutes"
    if not error:
        return (f"keep `{CLI} dispatch` and a worker on the engagement queue running: the dispatcher queues the "
                "CRM write of every unsubscribe that has not landed")
    return "fix the cause the error names; the dispatcher retries every 30 minutes"


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} h"


# --- files ----------------------------------------------------------------------------------------


def file_mode_actions(home: Path) -> list[AdminAction]:
    """SALESOS_HOME must be its owner's alone; an older SalesOS created files readable by others.

    Stops at the first such file: one is enough to say what to run. Entries this user cannot read are skipped.
    """
    found = _first_shared(home)
    if found is None:
        return []
    return [AdminAction(
        tenant=None, kind="file_modes", status="warning",
        message=f"{found} (and perhaps more) can be read by others: SALESOS_HOME holds people's emails, unsubscribe "
                "tokens and encrypted CRM tokens, and files an older SalesOS made keep their modes",
        run=f"chmod -R go= {home}")]


def _first_shared(path: Path) -> Path | None:
    try:
        if stat.S_IMODE(path.lstat().st_mode) & 0o077:
            return path
        entries = list(os.scandir(path))
    except OSError:
        return None
    for entry in entries:
        try:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                found = _first_shared(Path(entry.path))
            else:
                found = Path(entry.path) if stat.S_IMODE(entry.stat().st_mode) & 0o077 else None
        except OSError:
            continue
        if found is not None:
            return found
    return None

