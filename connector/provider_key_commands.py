"""`tenants provider-key ...`: set, list and remove a tenant's data-provider keys (`connector.providers.keys`).

A key is read from stdin (`-`) or a hidden prompt, never from an argument
(shell history, `ps`), and is never printed back: `list` says only whether
each provider has one, where from, and since when.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from agents.validation import quote
from connector.data_sources import LOCAL
from connector.providers.keys import MAX_LENGTH, ProviderKeyError, check_name, env_variable, key_statuses, remove_key
from connector.providers.keys import set_key
from connector.settings import load_settings
from connector.tenants import held, vault_keys
from connector.vault import Vault, VaultError

err = Console(stderr=True, soft_wrap=True)
provider_key_app = typer.Typer(no_args_is_help=True,
                               help="Data-provider API keys (Apollo, PDL, Hunter, ...), stored encrypted per tenant.")

TenantId = Annotated[str, typer.Argument(help="`local` or an installed tenant, e.g. hubspot-62515")]
Provider = Annotated[str, typer.Argument(help="the provider, e.g. apollo (`list` shows them all)")]


def _refuse(message: str) -> typer.Exit:
    err.print(f"[red]Refused:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _tenant_vault(tenant: str) -> Vault:
    """The vault, once it is known to open and `tenant` to be `local` or installed (exit code 2 otherwise)."""
    settings = load_settings()
    try:
        vault = Vault(settings.database_url, vault_keys(settings))
    except VaultError as exc:
        err.print(f"[red]Vault:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    _check_tenant(vault, tenant)
    return vault


def _check_tenant(vault: Vault, tenant: str) -> None:
    """Refuses a tenant that is not `local` or installed; inside a write, its record is held until the write ends."""
    with vault.store.write() as conn:
        installed = tenant == LOCAL or held(conn, tenant)
    if not installed:
        raise _refuse(f"{quote(tenant)} is not `local` or an installed tenant; `python -m connector tenants list` shows "
                      "those that are")


def _key_from_stdin() -> str:
    """What is piped in, its final line ending dropped (a second line is refused as whitespace), read no further
    than a key may be long."""
    key = sys.stdin.read(MAX_LENGTH + 3)
    return key.removesuffix("\n").removesuffix("\r")


@provider_key_app.command("set")
def provider_key_set(
    tenant: TenantId,
    provider: Provider,
    source: Annotated[Optional[str], typer.Argument(help="- reads the key from stdin; without it, a hidden prompt "
                                                         "asks for it", show_default=False)] = None,
) -> None:
    """Store TENANT's key for PROVIDER, encrypted; its runs call PROVIDER with it from now on."""
    if source not in (None, "-"):
        # never echoed: what was typed there may well be the key itself
        raise _refuse("the key is never an argument (it would stay in the shell's history and in `ps`): pass - "
                      "and pipe it in, or nothing, to be asked for it")
    try:
        check_name(provider)
    except ProviderKeyError as exc:
        raise _refuse(str(exc)) from None
    vault = _tenant_vault(tenant)
    key = _key_from_stdin() if source == "-" else typer.prompt(f"{provider} API key", hide_input=True, err=True)
    try:
        with vault.store.write():  # never stored for a tenant uninstalled meanwhile: a re-install would find it
            _check_tenant(vault, tenant)
            set_key(vault, tenant, provider, key)
    except ProviderKeyError as exc:
        raise _refuse(str(exc)) from None
    typer.echo(f"{provider} key of {tenant} stored encrypted; its runs use it from now on")


@provider_key_app.command("list")
def provider_key_list(tenant: TenantId) -> None:
    """Print, as JSON, each known provider with whether TENANT has a key for it, where from and since when; never
    a key."""
    statuses = key_statuses(tenant, _tenant_vault(tenant), os.environ)
    sys.stdout.write(json.dumps([status.model_dump() for status in statuses], indent=2) + "\n")


@provider_key_app.command("remove")
def provider_key_remove(tenant: TenantId, provider: Provider) -> None:
    """Delete TENANT's stored key for PROVIDER; its runs go without PROVIDER from now on."""
    try:
        removed = remove_key(_tenant_vault(tenant), tenant, provider)
    except ProviderKeyError as exc:
        raise _refuse(str(exc)) from None
    if not removed:
        err.print(f"{tenant} has no stored {provider} key", highlight=False)
        raise typer.Exit(1)
    variable = env_variable(provider)
    fallback = tenant == LOCAL and os.environ.get(variable, "").strip()
    typer.echo(f"{provider} key of {tenant} removed" + (f"; {variable} from the environment applies again" if fallback
                                                        else f"; its runs go without {provider} from now on"))
