"""`mailbox ...`: add, list, map, remove, pause and resume a tenant's sending mailboxes (`connector.mailboxes`).

A mailbox's secret (SMTP password, OAuth refresh token, SendGrid API key) is
read from stdin (`--secret -`) or a hidden prompt, never from an argument
(shell history, `ps`), and never printed back: `list` says only whether a
mailbox has one and since when. An OAuth mailbox's refresh token is stored
as a grant (`connector.mailbox_tokens`) with the OAuth app it came from.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from agents.validation import describe
from connector.inbound.base import ImapConfig
from connector.mailboxes import DEFAULT_OWNER, Mailbox, MailboxError, Mailboxes, SmtpSettings, secret_name
from connector.provider_key_commands import _check_tenant, _refuse, _tenant_vault
from connector.settings import load_settings

mailbox_app = typer.Typer(no_args_is_help=True, help="Sending mailboxes (SMTP, Gmail, Microsoft 365, SendGrid, the "
                                                     "local sink) and which CRM owner sends from which.")

TenantId = Annotated[str, typer.Argument(help="`local` or an installed tenant, e.g. hubspot-62515")]
Address = Annotated[str, typer.Argument(help="the mailbox's email address")]
MAX_SECRET = 8192


def _registry(tenant: str) -> Mailboxes:
    vault = _tenant_vault(tenant)
    return Mailboxes(vault.store, vault)


def _secret_from_stdin() -> str:
    return sys.stdin.read(MAX_SECRET + 3).strip()


@mailbox_app.command("add")
def mailbox_add(
    tenant: TenantId,
    address: Address,
    backend: Annotated[str, typer.Option(help="smtp, gmail, graph, sendgrid or sink")] = "smtp",
    name: Annotated[str, typer.Option(help="display name in From")] = "",
    host: Annotated[Optional[str], typer.Option(help="SMTP host, e.g. smtp.gmail.com, smtp.office365.com")] = None,
    port: Annotated[int, typer.Option(help="SMTP port (587 STARTTLS, 465 implicit TLS)")] = 587,
    security: Annotated[str, typer.Option(help="starttls, ssl or none")] = "starttls",
    username: Annotated[Optional[str], typer.Option(help="SMTP user name (default: the address)")] = None,
    auth: Annotated[str, typer.Option(help="SMTP auth: password, xoauth2 (OAuth access token) or none")] = "password",
    ca_file: Annotated[Optional[str], typer.Option(help="CA bundle to verify the SMTP server with (default: "
                                                        "the system's)")] = None,
    warmup_start: Annotated[Optional[str], typer.Option(help="first sending day, YYYY-MM-DD (default today)")] = None,
    daily_cap: Annotated[Optional[int], typer.Option(help="override the daily send cap")] = None,
    hourly_cap: Annotated[Optional[int], typer.Option(help="override the hourly send cap")] = None,
    imap_host: Annotated[Optional[str], typer.Option(help="IMAP host replies are read from (an smtp mailbox; gmail "
                                                          "and graph mailboxes are read through their API)")] = None,
    imap_port: Annotated[Optional[int], typer.Option(help="IMAP port (default 993)")] = None,
    secret: Annotated[Optional[str], typer.Option(help="- reads the secret from stdin; without it, a hidden prompt "
                                                       "asks for it when the mailbox needs one (gmail, graph and "
                                                       "xoauth2: the OAuth refresh token)",
                                                  show_default=False)] = None,
    oauth_tenant: Annotated[Optional[str], typer.Option(help="Microsoft: the directory (tenant) id or domain the "
                                                             "mailbox signed in through, or organizations")] = None,
    oauth_provider: Annotated[Optional[str], typer.Option(help="google or microsoft: whose OAuth app an xoauth2 "
                                                               "smtp mailbox was connected through (default: from "
                                                               "the host)")] = None,
) -> None:
    """Add (or replace) TENANT's mailbox ADDRESS; its secret is stored encrypted in the vault."""
    if secret not in (None, "-"):
        raise _refuse("the secret is never an argument (it would stay in the shell's history and in `ps`): pass "
                      "--secret - and pipe it in, or leave it out to be asked for it")
    try:
        smtp = None
        if backend == "smtp" or (backend == "sink" and host):
            smtp = SmtpSettings(host=host or "", port=port, security=security, ca_file=ca_file,
                                username=username or (address if auth != "none" else None), auth=auth)
        imap = ImapConfig(host=imap_host, port=imap_port, username=username or address,
                          ca_file=ca_file) if imap_host else None
        mailbox = Mailbox(tenant=tenant, address=address, display_name=name, backend=backend, smtp=smtp, imap=imap,
                          warmup_start=warmup_start or dt.date.today(), daily_cap=daily_cap, hourly_cap=hourly_cap)
    except ValidationError as exc:
        raise _refuse("; ".join(describe(exc, "mailbox"))) from None
    provider = _oauth_provider(mailbox, oauth_provider, oauth_tenant)
    registry = _registry(tenant)
    value = None
    what = "OAuth refresh token" if provider else "secret"
    if mailbox.needs_secret:
        if secret == "-":
            value = _secret_from_stdin()
        elif not registry.has_secret(mailbox) or typer.confirm(f"Replace the stored {what}?", err=True,
                                                               default=False):
            value = typer.prompt(f"{what} of {mailbox.address} ({backend})", hide_input=True, err=True)
    if provider and value is not None:
        from connector.mailbox_tokens import oauth_secret

        try:
            value = oauth_secret(provider, value, directory=oauth_tenant)
        except ValueError as exc:
            raise _refuse(f"the OAuth grant: {exc}") from None
    try:
        with registry.store.write():
            _check_tenant(registry._vault, tenant)
            registry.add(mailbox, value)
    except MailboxError as exc:
        raise _refuse(str(exc)) from None
    typer.echo(f"mailbox {mailbox.address} ({backend}) of {tenant} stored" +
               ("; its secret is encrypted in the vault" if mailbox.needs_secret else ""))


def _oauth_provider(mailbox: Mailbox, named: str | None, directory: str | None) -> str | None:
    """Whose OAuth app the mailbox's refresh token is for (None: not an OAuth mailbox), checked before asking."""
    from connector.mailbox_tokens import provider_for

    if not mailbox.uses_oauth:
        if named or directory:
            raise _refuse("--oauth-provider and --oauth-tenant are for gmail, graph and xoauth2 smtp mailboxes")
        return None
    if named is not None and named not in ("google", "microsoft"):
        raise _refuse("--oauth-provider must be google or microsoft")
    provider = provider_for(mailbox) or named or _SMTP_HOSTS.get(mailbox.smtp.host)
    if provider is None:
        raise _refuse(f"say whose OAuth app {mailbox.smtp.host}'s token comes from: --oauth-provider google or "
                      f"microsoft")
    if named and named != provider:
        raise _refuse(f"a {mailbox.backend} mailbox's token comes from {provider}, not {named}")
    if provider == "microsoft" and not directory:
        raise _refuse("a Microsoft mailbox needs --oauth-tenant: its directory (tenant) id or domain, as in the "
                      "Entra admin center, or organizations")
    if provider == "google" and directory:
        raise _refuse("--oauth-tenant is for Microsoft mailboxes")
    return provider


_SMTP_HOSTS = {"smtp.gmail.com": "google", "smtp.office365.com": "microsoft"}


@mailbox_app.command("watch")
def mailbox_watch(tenant: TenantId) -> None:
    """Start reading TENANT's mailboxes for replies, every SALESOS_INBOUND_POLL_SECONDS, by the engagement workers
    (needs REDIS_URL, the Redis they share). Each poll arms the next, so this is needed once."""
    from agents.reply_jobs import arm_mailbox_polls
    from connector.redis_conn import connect

    settings = load_settings()
    if not settings.redis_url:
        raise _refuse("REDIS_URL is not set: the polls run on the workers sharing that Redis")
    arm_mailbox_polls(connect(settings.redis_url), tenant, dt.datetime.now(dt.UTC))
    typer.echo(f"{tenant}'s mailboxes are read every {settings.salesos_inbound_poll_seconds} s from now on")


@mailbox_app.command("list")
def mailbox_list(tenant: TenantId) -> None:
    """Print TENANT's mailboxes and owner map as JSON; never a secret."""
    registry = _registry(tenant)
    written = registry._vault.written(tenant, "mailbox:")
    owners = registry.owners(tenant)
    rows = []
    for mailbox in registry.list(tenant):
        row = mailbox.model_dump(mode="json", exclude_none=True)
        row["secret_stored_at"] = written.get(secret_name(mailbox.address))
        row["owners"] = sorted(owner for owner, address in owners.items() if address == mailbox.address)
        rows.append(row)
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")


@mailbox_app.command("map")
def mailbox_map(
    tenant: TenantId,
    owner: Annotated[str, typer.Argument(help=f"the CRM owner id; {DEFAULT_OWNER} for every owner without a mailbox")],
    address: Address,
) -> None:
    """Send the emails of CRM owner OWNER's contacts from ADDRESS."""
    try:
        _registry(tenant).map_owner(tenant, owner, address)
    except MailboxError as exc:
        raise _refuse(str(exc)) from None
    typer.echo(f"owner {owner} of {tenant} sends from {address.lower()}")


@mailbox_app.command("remove")
def mailbox_remove(tenant: TenantId, address: Address) -> None:
    """Delete the mailbox, its secret and its owner mappings."""
    if not _registry(tenant).remove(tenant, address):
        typer.echo(f"{tenant} has no mailbox {address}", err=True)
        raise typer.Exit(1)
    typer.echo(f"mailbox {address.lower()} of {tenant} removed, with its secret and owner mappings")


@mailbox_app.command("pause")
def mailbox_pause(tenant: TenantId, address: Address,
                  reason: Annotated[str, typer.Option(help="why; shown where steps wait")] = "paused by an admin"
                  ) -> None:
    """Stop sending from ADDRESS until `resume` (its steps wait)."""
    if not _registry(tenant).pause(tenant, address, reason):
        typer.echo(f"{tenant} has no mailbox {address}", err=True)
        raise typer.Exit(1)
    typer.echo(f"mailbox {address.lower()} of {tenant} paused")


@mailbox_app.command("resume")
def mailbox_resume(tenant: TenantId, address: Address) -> None:
    """Send from ADDRESS again."""
    if not _registry(tenant).resume(tenant, address):
        typer.echo(f"{tenant} has no mailbox {address}", err=True)
        raise typer.Exit(1)
    typer.echo(f"mailbox {address.lower()} of {tenant} resumed")
