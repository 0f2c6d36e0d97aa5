"""`tenants api-key ...` and `operator-key ...`: create, list and revoke the keys of `connector.api_keys`.

A new key goes to stdout alone (so `KEY=$(python -m connector ...)` captures
it) and what to do with it to stderr; it is never printed again.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from connector.api_keys import ApiKeys, Scope
from connector.settings import load_settings

err = Console(stderr=True, soft_wrap=True)
api_key_app = typer.Typer(no_args_is_help=True, help="API keys: each calls /api/* for one tenant.")
operator_key_app = typer.Typer(no_args_is_help=True,
                               help="Operator keys: the detailed /readyz?verbose and the /rq dashboard.")

Label = Annotated[Optional[str], typer.Option(help="who or what holds the key, shown by `list`")]


def _keys() -> ApiKeys:
    return ApiKeys(load_settings().database_url)


def _create(scope: Scope, tenant: str | None, label: str | None, use: str) -> None:
    try:
        record, key = _keys().create(scope, tenant, label)
    except LookupError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"Key {record.id} created. {use} Send it as `Authorization: Bearer <key>` (or as the password of "
              f"HTTP Basic auth). It is not shown again: SalesOS keeps only its hash.", highlight=False)
    typer.echo(key)


def _revoke(key_id: str, scope: Scope, what: str) -> None:
    if not _keys().revoke(key_id, scope):
        err.print(f"no live {what} {key_id!r}", highlight=False)
        raise typer.Exit(1)
    typer.echo(f"{what} {key_id} revoked; requests with it are refused from now on")


def _list(scope: Scope, tenant: str | None = None) -> None:
    records = _keys().all(scope, tenant)
    sys.stdout.write(json.dumps([record.model_dump(mode="json") for record in records], indent=2) + "\n")


@api_key_app.command("create")
def api_key_create(tenant: Annotated[str, typer.Argument(help="`local` or an installed tenant, e.g. hubspot-62515")],
                   label: Label = None) -> None:
    """Create an API key acting for TENANT on /api/*; it is printed once."""
    _create("tenant", tenant, label, f"It starts and reads runs of {tenant} only.")


@api_key_app.command("revoke")
def api_key_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (its part after salesos_)")]) -> None:
    """Revoke an API key at once."""
    _revoke(key_id, "tenant", "API key")


@api_key_app.command("list")
def api_key_list(tenant: Annotated[Optional[str], typer.Option(help="only this tenant's keys")] = None) -> None:
    """Print the API keys as JSON: id, tenant, label, created and revoked times, never the key."""
    _list("tenant", tenant)


@operator_key_app.command("create")
def operator_key_create(label: Label = None) -> None:
    """Create an operator key for /readyz?verbose and the /rq dashboard; it is printed once."""
    _create("operator", None, label, "It shows every tenant's queues and starts nothing.")


@operator_key_app.command("revoke")
def operator_key_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (its part after salesos_)")]) -> None:
    """Revoke an operator key at once."""
    _revoke(key_id, "operator", "operator key")


@operator_key_app.command("list")
def operator_key_list() -> None:
    """Print the operator keys as JSON, never the key."""
    _list("operator")
