"""Each tenant's Twilio account, its reps' phone numbers, and the URL Twilio calls back on, all in the vault.

The account (SID, Auth Token, the caller id its calls show and texts come
from, or the Messaging Service its texts go through) is one sealed secret,
`twilio:account`, so it changes whole: a half-written account never calls
anyone. The Auth Token is also the key Twilio signs its webhooks with
(`connector.twilio_signature`), so rotating it in Twilio's console means
setting it here again at once.

A rep's phone is what click-to-call rings first. CRMs do not reliably hold
it (a HubSpot owner has no phone field; a Salesforce User's Phone is often a
desk line or empty), so the admin sets it per CRM owner id with
`python -m connector twilio rep-phone` (`twilio_rep:<owner id>`). It is
personal data rather than a secret, but the vault is where a tenant's
settings that must go with the tenant already live, and uninstalling the
tenant deletes it with the rest.

Twilio's callbacks come to `/webhooks/twilio/<token>/status` and
`/webhooks/twilio/<token>/sms`. The token is random and the tenant's own
(`connector.tenant_credentials.UrlTokens`): it says whose account signed the
request before a byte of the body is read, and a guessed tenant id is worth
nothing. It is made when the account is first set and kept across `set`s.
"""

from __future__ import annotations

import json
import re

import httpx
from pydantic import BaseModel, SecretStr, ValidationError, field_validator, model_validator
from sqlalchemy import select

from agents.validation import quote
from connector.channels.phone_numbers import InvalidPhoneNumber, to_e164
from connector.channels.twilio import TwilioClient
from connector.store import Store
from connector.store.schema import twilio_tokens
from connector.tenant_credentials import UrlKind, UrlTokens, digest
from connector.vault import Vault

ACCOUNT = "twilio:account"
REP_PREFIX = "twilio_rep:"
WEBHOOK = UrlKind("twilio:webhook_token", twilio_tokens, "/webhooks/twilio")
_OWNER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,80}$")


class TwilioAccountError(ValueError):
    """An account or rep phone SalesOS will not store; the message names the field (never the token)."""


class TwilioAccount(BaseModel):
    account_sid: str
    auth_token: SecretStr
    caller_id: str | None = None  # E.164: what calls show, and what texts come from without a Messaging Service
    messaging_service_sid: str | None = None  # MG...: texts go through it (and its Advanced Opt-Out) when set

    @field_validator("account_sid")
    @classmethod
    def _sid(cls, value: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("a Twilio account SID is AC followed by 32 hexadecimal digits")
        return value

    @field_validator("auth_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token or len(token) > 200 or not all("!" <= char <= "~" for char in token):
            raise ValueError("an Auth Token is one word of printable ASCII (32 characters in Twilio's console)")
        return value

    @field_validator("caller_id")
    @classmethod
    def _caller(cls, value: str | None) -> str | None:
        try:
            return None if value is None else to_e164(value, field="caller_id")
        except InvalidPhoneNumber as exc:
            raise ValueError(exc.rule) from None

    @field_validator("messaging_service_sid")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"MG[0-9a-fA-F]{32}", value):
            raise ValueError("a Messaging Service SID is MG followed by 32 hexadecimal digits")
        return value

    @model_validator(mode="after")
    def _a_sender(self) -> TwilioAccount:
        if self.caller_id is None and self.messaging_service_sid is None:
            raise ValueError("caller_id or messaging_service_sid: give at least one (calls and texts need a sender)")
        return self

    def sender(self) -> dict[str, str]:
        """The keyword `TwilioClient.send_sms` takes for this account's sender: the service when there is one."""
        if self.messaging_service_sid:
            return {"messaging_service_sid": self.messaging_service_sid}
        return {"from_": self.caller_id}


def set_account(vault: Vault, tenant: str, account: TwilioAccount) -> str:
    """Store the tenant's account (replacing any) and make its webhook token if it has none; returns the token."""
    payload = account.model_dump(mode="json")
    payload["auth_token"] = account.auth_token.get_secret_value()
    with vault.store.write():
        vault.put(tenant, ACCOUNT, json.dumps(payload))
        return UrlTokens(vault, WEBHOOK).ensure(tenant)


def get_account(vault: Vault, tenant: str) -> TwilioAccount | None:
    stored = vault.get(tenant, ACCOUNT)
    return None if stored is None else TwilioAccount.model_validate_json(stored)


def remove_account(vault: Vault, tenant: str) -> bool:
    """Forget the account and its webhook token (Twilio's callbacks are refused from now on); rep phones stay."""
    with vault.store.write():
        removed = vault.delete(tenant, ACCOUNT)
        vault.delete(tenant, WEBHOOK.name)
        UrlTokens(vault, WEBHOOK).forget(tenant)
    return removed


def webhook_token(vault: Vault, tenant: str) -> str | None:
    return vault.get(tenant, WEBHOOK.name)


def webhook_urls(public_url: str, token: str) -> dict[str, str]:
    """The URLs Twilio calls: `status` goes in each request's StatusCallback, `sms` on the number or Messaging
    Service as "A message comes in"."""
    base = f"{public_url.rstrip('/')}{WEBHOOK.path}/{token}"
    return {"status": f"{base}/status", "sms": f"{base}/sms"}


def tenant_for_webhook(store: Store, token: str | None) -> str | None:
    """The tenant whose Twilio callback URL carries `token` (one indexed query, no vault key); None if nobody's."""
    if not token or len(token) > 100:
        return None
    with store.read() as conn:
        return conn.execute(select(twilio_tokens.c.tenant).where(twilio_tokens.c.digest == digest(token))).scalar()


def twilio_for(tenant: str, vault: Vault | None, *, http: httpx.Client | None = None,
               base_url: str | None = None) -> TwilioClient | None:
    """The tenant's Twilio client, or None when it has no account (the phone step becomes a call task).
    `vault` None: no vault is configured, so no tenant has an account."""
    account = get_account(vault, tenant) if vault is not None else None
    if account is None:
        return None
    options = {"base_url": base_url} if base_url else {}
    return TwilioClient(account.account_sid, account.auth_token.get_secret_value(), http=http, **options)


def check_owner(owner: str) -> str:
    if not _OWNER_ID.match(owner or ""):
        raise TwilioAccountError(f"owner: a CRM owner or user id, 1 to 80 letters, digits or _.@- (got {quote(owner)})")
    return owner


def set_rep_phone(vault: Vault, tenant: str, owner: str, phone: str) -> str:
    """Store the phone click-to-call rings for the contacts `owner` owns; returns it in E.164."""
    number = to_e164(phone, field="phone")
    vault.put(tenant, REP_PREFIX + check_owner(owner), number)
    return number


def rep_phone(vault: Vault | None, tenant: str, owner: str | None) -> str | None:
    """The phone of the rep who owns the contact, None when unknown (the step becomes a call task)."""
    if vault is None or not owner or not _OWNER_ID.match(owner):
        return None
    return vault.get(tenant, REP_PREFIX + owner)


def rep_phones(vault: Vault, tenant: str) -> dict[str, str]:
    return {name.removeprefix(REP_PREFIX): vault.get(tenant, name) for name in vault.written(tenant, REP_PREFIX)}


def remove_rep_phone(vault: Vault, tenant: str, owner: str) -> bool:
    return vault.delete(tenant, REP_PREFIX + check_owner(owner))


def parse_account(**fields) -> TwilioAccount:
    """A TwilioAccount, or a TwilioAccountError naming each field that breaks its rule (never quoting the token)."""
    try:
        return TwilioAccount(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc'])) or 'account'}: "
                             f"{error['msg'].removeprefix('Value error, ')}" for error in exc.errors())
        raise TwilioAccountError(problems) from None
    except ValueError as exc:
        raise TwilioAccountError(str(exc)) from None
