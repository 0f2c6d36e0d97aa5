"""`twilio set|show|remove|rep-phone`: a tenant's Twilio account and its reps' phones, stored in the vault.

The Auth Token is read from stdin (`-`) or a hidden prompt, never from an
argument (shell history, `ps`), and never printed back: `show` says only
that there is one and when it was set.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from connector.channels.phone_numbers import InvalidPhoneNumber
from connector.provider_key_commands import _check_tenant, _refuse, _tenant_vault
from connector.settings import load_settings
from connector.twilio_account import (ACCOUNT, TwilioAccountError, get_account, parse_account, remove_account,
                                      remove_rep_phone, rep_phones, set_account, set_rep_phone, webhook_token,
                                      webhook_urls)

twilio_app = typer.Typer(no_args_is_help=True, help="A tenant's Twilio account (click-to-call and SMS), encrypted.")

TenantId = Annotated[str, typer.Argument(help="`local` or an installed tenant, e.g. hubspot-62515")]
MAX_TOKEN = 200


@twilio_app.command("set")
def twilio_set(
    tenant: TenantId,
    account_sid: Annotated[str, typer.Option("--account-sid", help="AC... from Twilio's console")],
    caller_id: Annotated[Optional[str], typer.Option("--caller-id", help="E.164 number calls show (and texts "
                                                                          "come from without a service)")] = None,
    messaging_service: Annotated[Optional[str], typer.Option("--messaging-service",
                                                             help="MG...: texts go through it")] = None,
    source: Annotated[Optional[str], typer.Argument(help="- reads the Auth Token from stdin; without it, a hidden "
                                                         "prompt asks for it", show_default=False)] = None,
) -> None:
    """Store TENANT's Twilio account, encrypted, and print the URLs Twilio must call back on."""
    if source not in (None, "-"):
        raise _refuse("the Auth Token is never an argument (it would stay in the shell's history and in `ps`): "
                      "pass - and pipe it in, or nothing, to be asked for it")
    vault = _tenant_vault(tenant)
    if source == "-":
        token = sys.stdin.read(MAX_TOKEN + 3).removesuffix("\n").removesuffix("\r")
    else:
        token = typer.prompt("Twilio Auth Token", hide_input=True, err=True)
    try:
        account = parse_account(account_sid=account_sid, auth_token=token, caller_id=caller_id,
                                messaging_service_sid=messaging_service)
        with vault.store.write():  # never stored for a tenant uninstalled meanwhile
            _check_tenant(vault, tenant)
            url_token = set_account(vault, tenant, account)
    except TwilioAccountError as exc:
        raise _refuse(str(exc)) from None
    urls = webhook_urls(load_settings().salesos_public_url, url_token)
    typer.echo(f"Twilio account of {tenant} stored encrypted; its phone steps use it from now on.\n"
               f"In Twilio's console, set \"A message comes in\" (on the number or Messaging Service) to "
               f"POST {urls['sms']}\nand turn on Advanced Opt-Out (it answers STOP; SalesOS records it). "
               f"Status callbacks go to {urls['status']} (SalesOS passes it with each text and call).")


@twilio_app.command("show")
def twilio_show(tenant: TenantId) -> None:
    """Print, as JSON, TENANT's account (never the Auth Token), its callback URLs and its reps' phones."""
    vault = _tenant_vault(tenant)
    account = get_account(vault, tenant)
    token = webhook_token(vault, tenant)
    shown = {"configured": account is not None,
             "rep_phones": rep_phones(vault, tenant)}
    if account is not None:
        shown.update(account_sid=account.account_sid, auth_token="set",
                     auth_token_updated_at=vault.written(tenant, ACCOUNT).get(ACCOUNT),
                     caller_id=account.caller_id, messaging_service_sid=account.messaging_service_sid)
    if token is not None:
        shown["webhook_urls"] = webhook_urls(load_settings().salesos_public_url, token)
    sys.stdout.write(json.dumps(shown, indent=2) + "\n")


@twilio_app.command("remove")
def twilio_remove(tenant: TenantId) -> None:
    """Delete TENANT's Twilio account: phone steps become call tasks, and Twilio's callbacks are refused."""
    if not remove_account(_tenant_vault(tenant), tenant):
        typer.echo(f"{tenant} has no Twilio account", err=True)
        raise typer.Exit(1)
    typer.echo(f"Twilio account of {tenant} removed; its phone steps become call tasks from now on")


@twilio_app.command("rep-phone")
def twilio_rep_phone(
    tenant: TenantId,
    owner: Annotated[str, typer.Argument(help="the rep's CRM owner id (HubSpot owner id, Salesforce User id)")],
    phone: Annotated[Optional[str], typer.Argument(help="the phone click-to-call rings first, with +country code",
                                                   show_default=False)] = None,
    remove: Annotated[bool, typer.Option("--remove", help="forget the rep's phone")] = False,
) -> None:
    """Set (or --remove) the phone click-to-call rings for the contacts OWNER owns."""
    vault = _tenant_vault(tenant)
    try:
        if remove:
            if not remove_rep_phone(vault, tenant, owner):
                typer.echo(f"{tenant} has no phone for owner {owner}", err=True)
                raise typer.Exit(1)
            typer.echo(f"phone of owner {owner} removed; their phone steps become call tasks")
            return
        if phone is None:
            raise _refuse("give the rep's phone (with +country code), or --remove")
        number = set_rep_phone(vault, tenant, owner, phone)
    except (TwilioAccountError, InvalidPhoneNumber) as exc:
        raise _refuse(str(exc)) from None
    typer.echo(f"click-to-call rings {number} for the contacts owner {owner} owns")


@twilio_app.command("consent")
def twilio_consent(
    tenant: TenantId,
    phone: Annotated[str, typer.Argument(help="the contact's mobile, with +country code")],
    source: Annotated[str, typer.Option(help="how they agreed: form, rep or import")] = "form",
    email: Annotated[Optional[str], typer.Option(help="the contact's email, to find them in the CRM")] = None,
) -> None:
    """Record that the contact at PHONE agreed to texts (SMS steps go only to such contacts; a STOP revokes it)."""
    from connector.channels.phone_numbers import to_e164
    from connector.sms_consent import ConsentError, SmsConsent

    _tenant_vault(tenant)  # an installed tenant (or local)
    try:
        number = to_e164(phone, field="phone")
        SmsConsent(load_settings().database_url).grant(tenant, number, source=source, email=email)
    except (InvalidPhoneNumber, ConsentError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"SMS consent of {number} recorded for {tenant} ({source})")
