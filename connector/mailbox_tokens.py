"""Access tokens of OAuth mailboxes (Gmail, Microsoft 365, SMTP/IMAP with XOAUTH2), refreshed before they expire.

An access token lives about an hour, so a mailbox keeps its refresh token
instead: its vault secret (`mailbox:<address>`, one per mailbox) is a small
JSON document, `OAuthGrant`, with the refresh token, the current access token
and its expiry, and which OAuth app it belongs to (Google, or Microsoft and
the directory the user signed in to). A bare access token (what SalesOS
stored before) is still accepted and used as it is until the provider
refuses it.

`MailboxTokens.access_token(mailbox)` returns the stored token while it has
more than REFRESH_MARGIN left, and otherwise refreshes it at the provider's
token endpoint. Microsoft rotates the refresh token on every refresh, so two
workers refreshing at once must not let the slower one overwrite the newer
token with the one it replaced: the refresh runs under a lock on the
secret's row (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the database's
write lock) and reads the vault again once it holds it, so a waiter finds
the token its predecessor stored and uses it instead of refreshing again.
The vault's key rotation swaps rows only if unchanged, so it loses nothing either.

A refresh token the provider refuses (`invalid_grant`: revoked, expired,
the password changed) is marked refused in the document, so every worker
fails fast (`MailboxRefused`, a `MailboxAuthError`) without calling the
provider again until an admin stores a new one (`mailbox add`); the caller
pauses the mailbox with the reason "reconnect the mailbox".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from typing import Literal, TYPE_CHECKING

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from sqlalchemy import select

from connector.channels.base import MailboxAuthError, TransientSendError
from connector.oauth.endpoint import InvalidGrant, post_form
from connector.oauth.responses import parse
from connector.store.schema import secrets
from crm_adapters.errors import RateLimited, RequestRejected, Transient

if TYPE_CHECKING:
    from connector.mailboxes import Mailbox
    from connector.settings import Settings
    from connector.vault import Vault

log = logging.getLogger(__name__)

Provider = Literal["google", "microsoft"]
REFRESH_MARGIN = dt.timedelta(minutes=5)  # a batch that starts with the token must finish before it expires
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{directory}/oauth2/v2.0/token"
RECONNECT = "reconnect the mailbox"
# What each kind of mailbox asks Microsoft for: a token is for one resource, Graph or Exchange Online's SMTP/IMAP.
GRAPH_SCOPE = ("offline_access https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Mail.Read "
               "https://graph.microsoft.com/Calendars.ReadWrite")
OUTLOOK_SCOPE = "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft"}
_DIRECTORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")  # a GUID, a domain, or common/...
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$")  # RFC 6749 §3.3 scope-tokens


class MailboxRefused(MailboxAuthError):
    """The provider refused the mailbox's refresh token: an admin must reconnect the mailbox."""


class MailboxTokenUnavailable(TransientSendError):
    """The token endpoint could not be reached or answered 429/5xx: nothing is wrong with the mailbox, try later."""


class OAuthGrant(BaseModel):
    """A mailbox's vault secret: what refreshes its access token. Tokens are SecretStr: a repr shows none.

    It has no `v` key: the vault tells its own sealed envelopes by one (`connector.vault.sealed_envelope`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["oauth"] = "oauth"
    provider: Provider
    directory: str | None = Field(None, max_length=253)  # Microsoft's tenant: a GUID, a domain or "organizations"
    scope: str | None = Field(None, max_length=2000)  # Microsoft: what the refresh asks for (default: by backend)
    refresh_token: SecretStr = Field(min_length=1, max_length=4096)
    access_token: SecretStr | None = Field(None, max_length=4096)
    expires_at: dt.datetime | None = None
    refused: str | None = Field(None, max_length=500)  # why the provider refused the refresh token, if it did

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str | None) -> str | None:
        if value is not None and not _DIRECTORY.match(value):
            raise ValueError("must be a Microsoft directory (tenant) id: a GUID, a domain, or organizations")
        return value

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        if value is not None and not _SCOPE.match(value):
            raise ValueError("must be scopes separated by single spaces")
        return value

    @field_validator("refresh_token", "access_token")
    @classmethod
    def _one_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (value.get_secret_value() != value.get_secret_value().strip()
                                  or any(ord(char) < 33 or ord(char) == 127 for char in value.get_secret_value())):
            raise ValueError("must be one token without spaces or control characters")
        return value

    @model_validator(mode="after")
    def _directory_for_microsoft(self) -> OAuthGrant:
        if self.provider == "microsoft" and self.directory is None:
            raise ValueError("a Microsoft grant needs its directory (tenant) id, or organizations")
        if self.provider == "google" and self.directory is not None:
            raise ValueError("a Google grant has no directory")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at must carry a time zone")
        return self

    def stored(self) -> str:
        """The document as the vault keeps it: one line of JSON."""
        data = self.model_dump(mode="json", exclude_none=True)
        for name in ("refresh_token", "access_token"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value.get_secret_value()
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


class _TokenAnswer(BaseModel):
    """The token endpoint's 2xx body (Google and Microsoft alike); Google keeps the refresh token, Microsoft
    sends a new one."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    access_token: SecretStr = Field(min_length=1, max_length=8192)
    refresh_token: SecretStr | None = Field(None, max_length=8192)
    expires_in: int = Field(gt=0, le=86_400)
    token_type: str | None = None


def oauth_secret(provider: Provider, refresh_token: str, *, directory: str | None = None,
                 scope: str | None = None) -> str:
    """The vault secret of a newly connected OAuth mailbox; ValueError names the field and the rule."""
    try:
        grant = OAuthGrant(provider=provider, refresh_token=refresh_token.strip(), directory=directory, scope=scope)
    except ValidationError as exc:
        raise ValueError(_problems(exc)) from None
    return grant.stored()


def parse_secret(text: str) -> OAuthGrant | None:
    """The grant a mailbox's secret holds, or None for a bare token (a password, API key or access token)."""
    if not text.startswith("{"):
        return None
    try:
        return OAuthGrant.model_validate_json(text)
    except ValidationError as exc:
        raise MailboxAuthError(f"the mailbox's stored OAuth grant is unusable ({_problems(exc)}); store it again "
                               f"with `python -m connector mailbox add`", code="secret") from None


def provider_for(mailbox: Mailbox) -> Provider | None:
    """Whose OAuth app a mailbox's token comes from, when its backend says (an smtp one: its grant says)."""
    return {"gmail": "google", "graph": "microsoft"}.get(mailbox.backend)


def default_scope(mailbox: Mailbox) -> str:
    """What a Microsoft refresh asks for: Graph for a graph mailbox, Exchange Online SMTP/IMAP for an smtp one."""
    return GRAPH_SCOPE if mailbox.backend == "graph" else OUTLOOK_SCOPE


class MailboxTokens:
    """Valid access tokens for a tenant's OAuth mailboxes, from the vault and the providers' token endpoints."""

    def __init__(self, vault: Vault, settings: Settings, http: httpx.Client | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._vault, self._settings, self._clock = vault, settings, clock
        self._http = http  # None: a client per refresh (one an hour per mailbox), so nothing is left open

    def __repr__(self) -> str:
        return "MailboxTokens()"

    def access_token(self, mailbox: Mailbox) -> str:
        """A token with more than REFRESH_MARGIN to live (or a bare legacy one), refreshed first when needed.

        Raises MailboxRefused when the refresh token is refused (now or before), MailboxAuthError when there is
        no secret or SalesOS's OAuth app is not configured, MailboxTokenUnavailable when the provider is down."""
        grant = self._grant(mailbox, self._read(mailbox))
        if isinstance(grant, str):
            return grant
        if self._fresh(grant):
            return grant.access_token.get_secret_value()
        return self._refresh(mailbox)

    def _read(self, mailbox: Mailbox) -> str | None:
        from connector.mailboxes import secret_name

        return self._vault.get(mailbox.tenant, secret_name(mailbox.address))

    def _grant(self, mailbox: Mailbox, text: str | None) -> OAuthGrant | str:
        """The stored grant, or the bare legacy token; raises when there is neither or the grant was refused."""
        if text is None:
            raise MailboxAuthError(f"mailbox {mailbox.address} has no stored OAuth grant: connect it with "
                                   f"`python -m connector mailbox add`", code="secret")
        grant = parse_secret(text)
        if grant is None:
            return text
        if grant.refused:
            raise MailboxRefused(f"{RECONNECT} {mailbox.address}: {grant.refused}", code="invalid_grant")
        return grant

    def _fresh(self, grant: OAuthGrant) -> bool:
        return (grant.access_token is not None and grant.expires_at is not None
                and grant.expires_at - self._clock() > REFRESH_MARGIN)

    def _refresh(self, mailbox: Mailbox) -> str:
        """Refresh under the secret row's lock, unless another worker stored a fresh token while this one waited.

        A refusal is written (and committed) before it is raised, so the other workers stop calling too."""
        from connector.mailboxes import secret_name

        name, store = secret_name(mailbox.address), self._vault.store
        refused: MailboxRefused | None = None
        with store.write() as conn:
            conn.execute(select(secrets.c.name).where(secrets.c.tenant == mailbox.tenant, secrets.c.name == name)
                         .with_for_update())  # PostgreSQL: the row's lock; SQLite's write already holds the file's
            grant = self._grant(mailbox, self._read(mailbox))  # what the worker before us stored
            if isinstance(grant, str):
                return grant
            if self._fresh(grant):
                log.debug("mailbox %s: another worker refreshed its token; using it", mailbox.address)
                return grant.access_token.get_secret_value()
            try:
                answer = self._call(mailbox, grant)
            except InvalidGrant as exc:
                reason = f"{PROVIDER_NAMES[grant.provider]} refused its refresh token ({exc})"
                self._vault.put(mailbox.tenant, name, grant.model_copy(update={"refused": reason[:500]}).stored())
                refused = MailboxRefused(f"{RECONNECT} {mailbox.address}: {reason}", code="invalid_grant")
            else:
                rotated = answer.refresh_token is not None
                renewed = grant.model_copy(update={
                    "access_token": answer.access_token,
                    "refresh_token": answer.refresh_token or grant.refresh_token,
                    "expires_at": self._clock() + dt.timedelta(seconds=answer.expires_in)})
                self._vault.put(mailbox.tenant, name, renewed.stored())
                log.info("mailbox %s: access token refreshed%s", mailbox.address,
                         " (refresh token rotated)" if rotated else "")
                return answer.access_token.get_secret_value()
        log.warning("mailbox %s: %s", mailbox.address, refused)
        raise refused

    def _call(self, mailbox: Mailbox, grant: OAuthGrant) -> _TokenAnswer:
        """POST the refresh; every failure but InvalidGrant becomes a mailbox error saying what to do."""
        client_id, client_secret = self._app(grant.provider)
        form = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
                "refresh_token": grant.refresh_token.get_secret_value()}
        if grant.provider == "google":
            url = GOOGLE_TOKEN_URL
        else:
            url = MICROSOFT_TOKEN_URL.format(directory=grant.directory)
            form["scope"] = grant.scope or default_scope(mailbox)
        what = f"{PROVIDER_NAMES[grant.provider]}'s token endpoint"
        try:
            if self._http is not None:
                return parse(_TokenAnswer, post_form(self._http, url, form, what), what)
            with httpx.Client(follow_redirects=False) as http:
                return parse(_TokenAnswer, post_form(http, url, form, what), what)
        except InvalidGrant:
            raise
        except (RateLimited, Transient) as exc:
            raise MailboxTokenUnavailable(str(exc), code="token_endpoint", retry_after=exc.retry_after) from None
        except RequestRejected as exc:  # a wrong client id or secret, a malformed answer: SalesOS's side
            raise MailboxAuthError(f"mailbox {mailbox.address}: {exc}", code="oauth_app") from None

    def _app(self, provider: Provider) -> tuple[str, str]:
        prefix = provider.upper()
        client_id = getattr(self._settings, f"{provider}_client_id")
        secret = getattr(self._settings, f"{provider}_client_secret")
        if not client_id or secret is None or not secret.get_secret_value():
            raise MailboxAuthError(f"{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET must be set to refresh the "
                                   f"tokens of {PROVIDER_NAMES[provider]} mailboxes", code="oauth_app")
        return client_id, secret.get_secret_value()


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'grant'}: {error['msg']}"
                     for error in exc.errors(include_input=False, include_url=False))
