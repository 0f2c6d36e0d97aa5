"""The mailboxes a tenant sends from, and which CRM owner sends from which.

Each email goes from the mailbox of the contact's CRM owner: an admin adds the
tenant's mailboxes (an address, a backend and its non-secret settings, a
warm-up start and optional caps) and maps owner ids onto them; the owner id
"*" is the tenant's default, for an owner without a mailbox of their own.
A mailbox's secret (SMTP password, OAuth grant, SendGrid API key) is
kept in the vault as `mailbox:<address>`, never in these tables and never in
a log line; `channel()` opens it only to build the backend that sends. The
OAuth mailboxes (gmail, graph, smtp with auth xoauth2) get an access token
refreshed through `connector.mailbox_tokens` wherever theirs is used.

A paused mailbox (its credential refused, a bounce storm, an admin's call)
keeps its owners: `for_owner` still returns it, with `paused_reason` set, so
the outreach job parks the step and says why instead of silently switching
to another sender.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from pathlib import Path
from typing import Literal, TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from agents.validation import quote
from connector.channels.base import EmailChannel, MailboxAuthError
from connector.inbound.base import ImapConfig
from connector.store import Store, open_store
from connector.store.schema import mailbox_owners, mailboxes

if TYPE_CHECKING:  # the vault (and cryptography) loads only where a secret is read
    from connector.mailbox_tokens import MailboxTokens
    from connector.vault import Vault

Backend = Literal["smtp", "gmail", "graph", "sendgrid", "sink"]
DEFAULT_OWNER = "*"
SECRET_PREFIX = "mailbox:"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_LOOPBACK = "127.0.0.1"


class MailboxError(ValueError):
    """A mailbox or an owner mapping cannot be stored as asked."""


def secret_name(address: str) -> str:
    return SECRET_PREFIX + address.lower()


def normal_address(value: str) -> str:
    """A sending address, checked for syntax only (no DNS: an admin may add one before its domain is live)."""
    if not isinstance(value, str) or len(value) > 320:
        raise ValueError("must be an email address of at most 320 characters")
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"{quote(value)} is not a valid email address: {exc}") from None


def _one_line(value: str | None, field: str) -> str | None:
    """A value that ends up in a header or a log line: a line break there would start a header of its own."""
    if value is not None and any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"{field} must be one line without control characters")
    return value


class SmtpSettings(BaseModel):
    """How to reach the mailbox's SMTP server; its password or token is in the vault."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(max_length=253)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = Field(None, max_length=320)
    auth: Literal["password", "xoauth2", "none"] = "password"
    ca_file: str | None = Field(None, max_length=4096)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        host = value.strip().lower().rstrip(".")
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if not _HOSTNAME.match(host):
            raise ValueError(f"{quote(value)} is not a host name or an IP address")
        return host

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        return _one_line(value, "username")

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        return _one_line(value, "ca_file")


class Mailbox(BaseModel):
    """One sending mailbox of a tenant (never its secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(min_length=1, max_length=200)
    address: str
    display_name: str = Field("", max_length=200)
    backend: Backend
    smtp: SmtpSettings | None = None  # for backend smtp (and optionally sink: its port)
    imap: ImapConfig | None = None  # where replies are read, for an smtp mailbox (gmail and graph read by API)
    warmup_start: dt.date | None = None  # the first day it sent; throttles ramp up from here
    daily_cap: int | None = Field(None, ge=1, le=100_000)  # overrides of the throttle's defaults
    hourly_cap: int | None = Field(None, ge=1, le=10_000)
    paused_reason: str | None = Field(None, max_length=500)
    paused_at: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return normal_address(value)

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return _one_line(value, "display_name") or ""

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return _one_line(value, "tenant") or ""

    @model_validator(mode="after")
    def _settings_fit_backend(self) -> Mailbox:
        if self.backend == "smtp" and self.smtp is None:
            raise ValueError("backend smtp needs smtp settings (host, port, security)")
        if self.backend == "sink" and self.smtp is not None and (self.smtp.host != _LOOPBACK
                                                                 or self.smtp.security != "none"):
            raise ValueError("backend sink is the local sink: host 127.0.0.1, security none")
        if self.backend not in ("smtp", "sink") and self.smtp is not None:
            raise ValueError(f"backend {self.backend} takes no smtp settings")
        if self.backend == "smtp" and self.smtp.auth != "none" and not self.smtp.username:
            raise ValueError(f"smtp auth {self.smtp.auth} needs a username (usually the address)")
        return self

    @property
    def needs_secret(self) -> bool:
        if self.backend == "sink":
            return False
        return self.backend != "smtp" or self.smtp.auth != "none"

    @property
    def paused(self) -> bool:
        return self.paused_reason is not None

    @property
    def uses_oauth(self) -> bool:
        """Its secret is an OAuth grant whose access token is refreshed (or a bare access token of old)."""
        return self.backend in ("gmail", "graph") or (self.backend == "smtp" and self.smtp.auth == "xoauth2")


class Mailboxes:
    """The registry, in the state store; secrets in `vault` (which must share the store's database)."""

    def __init__(self, store_or_url: Store | Path | str, vault: Vault | None, *,
                 tokens: MailboxTokens | None = None) -> None:
        self.store = open_store(store_or_url)
        self._vault = vault
        self._tokens = tokens  # made from the settings on first use when not given

    def add(self, mailbox: Mailbox, secret: str | None = None) -> Mailbox:
        """Store `mailbox` (replacing one of that address, pause included), and its secret when given.

        A mailbox that needs a secret must be given one unless it has one stored already."""
        if secret is not None and not mailbox.needs_secret:
            raise MailboxError(f"a {mailbox.backend} mailbox takes no secret")
        if secret is not None and (not secret.strip() or len(secret) > 8192 or "\n" in secret.strip()):
            raise MailboxError("the secret must be one non-empty line of at most 8192 characters")
        if secret is not None:
            _check_grant(mailbox, secret.strip())
        row = _row(mailbox)
        statement = self.store.insert(mailboxes).values(**row)
        with self.store.write() as conn:
            if mailbox.needs_secret:
                vault = self._need_vault()
                if secret is not None:
                    vault.put(mailbox.tenant, secret_name(mailbox.address), secret.strip())
                elif vault.get(mailbox.tenant, secret_name(mailbox.address)) is None:
                    raise MailboxError(f"mailbox {mailbox.address} ({mailbox.backend}) needs its secret: "
                                       f"{_SECRET_KIND[mailbox.backend]}")
            conn.execute(statement.on_conflict_do_update(
                index_elements=[mailboxes.c.tenant, mailboxes.c.address],
                set_={name: statement.excluded[name] for name in row
                      if name not in ("tenant", "address", "created_at")}))
        return mailbox

    def get(self, tenant: str, address: str) -> Mailbox | None:
        with self.store.read() as conn:
            row = conn.execute(select(mailboxes).where(mailboxes.c.tenant == tenant,
                                                       mailboxes.c.address == _lower(address))).first()
        return _mailbox(row) if row is not None else None

    def list(self, tenant: str) -> list[Mailbox]:
        with self.store.read() as conn:
            rows = conn.execute(select(mailboxes).where(mailboxes.c.tenant == tenant)
                                .order_by(mailboxes.c.address)).all()
        return [_mailbox(row) for row in rows]

    def remove(self, tenant: str, address: str) -> bool:
        """Forget the mailbox, its secret and every owner mapped to it; True when there was one."""
        address = _lower(address)
        with self.store.write() as conn:
            removed = conn.execute(mailboxes.delete().where(mailboxes.c.tenant == tenant,
                                                            mailboxes.c.address == address)).rowcount > 0
            conn.execute(mailbox_owners.delete().where(mailbox_owners.c.tenant == tenant,
                                                       mailbox_owners.c.address == address))
            if self._vault is not None:
                self._vault.delete(tenant, secret_name(address))
        return removed

    def map_owner(self, tenant: str, owner_id: str, address: str) -> None:
        """Send the emails of CRM owner `owner_id` ("*": every owner without a mapping) from `address`."""
        owner_id = _owner(owner_id)
        address = _lower(address)
        statement = self.store.insert(mailbox_owners).values(tenant=tenant, owner_id=owner_id, address=address)
        with self.store.write() as conn:
            known = conn.execute(select(mailboxes.c.address).where(mailboxes.c.tenant == tenant,
                                                                   mailboxes.c.address == address)).first()
            if known is None:
                raise MailboxError(f"{quote(address)} is not a mailbox of tenant {quote(tenant)}; add it first")
            conn.execute(statement.on_conflict_do_update(
                index_elements=[mailbox_owners.c.tenant, mailbox_owners.c.owner_id],
                set_={"address": statement.excluded.address}))

    def unmap_owner(self, tenant: str, owner_id: str) -> bool:
        with self.store.write() as conn:
            return conn.execute(mailbox_owners.delete().where(mailbox_owners.c.tenant == tenant,
                                                              mailbox_owners.c.owner_id == _owner(owner_id))
                                ).rowcount > 0

    def owners(self, tenant: str) -> dict[str, str]:
        """Owner id -> mailbox address, for the tenant."""
        with self.store.read() as conn:
            rows = conn.execute(select(mailbox_owners.c.owner_id, mailbox_owners.c.address)
                                .where(mailbox_owners.c.tenant == tenant).order_by(mailbox_owners.c.owner_id))
            return dict(rows.tuples().all())

    def for_owner(self, tenant: str, owner_id: str | None) -> Mailbox | None:
        """The mailbox owner `owner_id`'s emails go from, else the tenant's default ("*"), else None.

        A paused mailbox is returned as it is (`paused_reason` set): the caller parks the step."""
        wanted = [owner_id, DEFAULT_OWNER] if owner_id not in (None, "", DEFAULT_OWNER) else [DEFAULT_OWNER]
        with self.store.read() as conn:
            rows = dict(conn.execute(select(mailbox_owners.c.owner_id, mailbox_owners.c.address).where(
                mailbox_owners.c.tenant == tenant, mailbox_owners.c.owner_id.in_(wanted))).tuples().all())
            for owner in wanted:
                if owner in rows:
                    row = conn.execute(select(mailboxes).where(mailboxes.c.tenant == tenant,
                                                               mailboxes.c.address == rows[owner])).first()
                    if row is not None:
                        return _mailbox(row)
        return None

    def pause(self, tenant: str, address: str, reason: str) -> bool:
        """Stop sending from the mailbox until `resume`; True when it exists."""
        reason = " ".join(str(reason).split())[:500] or "paused"
        return self._set_pause(tenant, address, reason, dt.datetime.now(dt.UTC).isoformat())

    def resume(self, tenant: str, address: str) -> bool:
        return self._set_pause(tenant, address, None, None)

    def _set_pause(self, tenant: str, address: str, reason: str | None, at: str | None) -> bool:
        with self.store.write() as conn:
            return conn.execute(mailboxes.update().values(paused_reason=reason, paused_at=at).where(
                mailboxes.c.tenant == tenant, mailboxes.c.address == _lower(address))).rowcount > 0

    def has_secret(self, mailbox: Mailbox) -> bool:
        return bool(self._vault and self._vault.written(mailbox.tenant, secret_name(mailbox.address))
                    .get(secret_name(mailbox.address)))

    def channel(self, mailbox: Mailbox, *, sink_port: int | None = None, timeout: float = 30.0) -> EmailChannel:
        """The backend that sends as `mailbox`, with its secret from the vault.

        `sink_port` is where the local sink listens (it picks a free port when started), for a sink mailbox.
        A missing secret is a MailboxAuthError: nothing sends from the mailbox until an admin stores one."""
        if mailbox.backend == "sink":
            from connector.channels.smtp import SmtpChannel

            port = sink_port or (mailbox.smtp.port if mailbox.smtp else None)
            if port is None:
                raise MailboxAuthError(f"mailbox {mailbox.address} is the local sink, and no sink port was given",
                                       code="sink")
            return SmtpChannel(_LOOPBACK, port, security="none", timeout=timeout)
        secret = self.access_token(mailbox) if mailbox.uses_oauth else self._secret(mailbox)
        if mailbox.backend == "smtp":
            from connector.channels.smtp import SmtpChannel

            smtp = mailbox.smtp
            return SmtpChannel(smtp.host, smtp.port, security=smtp.security, username=smtp.username,
                               password=secret if smtp.auth == "password" else None,
                               oauth_token=secret if smtp.auth == "xoauth2" else None,
                               timeout=timeout, ca_file=smtp.ca_file)
        if mailbox.backend == "gmail":
            from connector.channels.gmail import GmailChannel

            return GmailChannel(self.access_token(mailbox), timeout=timeout)
        if mailbox.backend == "graph":
            from connector.channels.graph import GraphChannel

            return GraphChannel(mailbox.address, self.access_token(mailbox), timeout=timeout)
        from connector.channels.sendgrid import SendGridChannel

        return SendGridChannel(secret, timeout=timeout)

    def reader(self, mailbox: Mailbox, *, max_bytes: int, lookback_days: int):
        """The `MailboxReader` of replies to `mailbox`, with its secret from the vault; None when it has no way to
        be read (an smtp mailbox without IMAP settings, the local sink)."""
        from connector.inbound.gmail import GmailReader
        from connector.inbound.graph import GraphReader
        from connector.inbound.imap import ImapReader

        limits = {"max_bytes": max_bytes, "lookback_days": lookback_days}
        if mailbox.backend == "gmail":
            return GmailReader(mailbox.tenant, mailbox.address, lambda: self.access_token(mailbox), **limits)
        if mailbox.backend == "graph":
            return GraphReader(mailbox.tenant, mailbox.address, lambda: self.access_token(mailbox), **limits)
        if mailbox.imap is None:
            return None
        if mailbox.uses_oauth:
            return ImapReader(mailbox.tenant, mailbox.address, mailbox.imap,
                              access_token=lambda: self.access_token(mailbox), **limits)
        return ImapReader(mailbox.tenant, mailbox.address, mailbox.imap, password=self._secret(mailbox), **limits)

    def secret(self, mailbox: Mailbox) -> str | None:
        """The mailbox's secret from the vault: for an OAuth mailbox a valid access token (it also reaches the
        owner's calendar), refreshed when needed."""
        return self.access_token(mailbox) if mailbox.uses_oauth else self._secret(mailbox)

    def access_token(self, mailbox: Mailbox) -> str:
        """A valid access token of an OAuth mailbox (see `connector.mailbox_tokens`).

        A refused refresh token pauses the mailbox ("reconnect the mailbox ...") before the MailboxRefused is
        raised, so the reply reader and the calendar stop as the sender does; other errors propagate as they are."""
        from connector.mailbox_tokens import MailboxRefused

        try:
            return self._token_source().access_token(mailbox)
        except MailboxRefused as exc:
            self.pause(mailbox.tenant, mailbox.address, str(exc))
            raise

    def _token_source(self) -> MailboxTokens:
        if self._tokens is None:
            from connector.mailbox_tokens import MailboxTokens
            from connector.settings import load_settings

            self._tokens = MailboxTokens(self._need_vault(), load_settings())
        return self._tokens

    def _secret(self, mailbox: Mailbox) -> str | None:
        if not mailbox.needs_secret:
            return None
        secret = self._need_vault().get(mailbox.tenant, secret_name(mailbox.address))
        if secret is None:
            raise MailboxAuthError(f"mailbox {mailbox.address} has no stored secret ({_SECRET_KIND[mailbox.backend]})",
                                   code="secret")
        return secret

    def _need_vault(self) -> Vault:
        if self._vault is None:
            raise MailboxError("the vault is needed for mailbox secrets: set SALESOS_VAULT_KEYS")
        return self._vault


_SECRET_KIND = {"smtp": "the SMTP password or OAuth grant", "gmail": "a Google OAuth grant (refresh token)",
                "graph": "a Microsoft OAuth grant (refresh token)", "sendgrid": "a SendGrid API key"}


def _check_grant(mailbox: Mailbox, secret: str) -> None:
    """An OAuth grant must be well formed and fit the mailbox: a Google one for gmail, a Microsoft one for graph."""
    if not secret.startswith("{"):
        return
    from connector.mailbox_tokens import parse_secret, provider_for

    if not mailbox.uses_oauth:
        raise MailboxError(f"a {mailbox.backend} mailbox with auth {mailbox.smtp.auth if mailbox.smtp else 'none'} "
                           f"takes no OAuth grant")
    try:
        grant = parse_secret(secret)
    except MailboxAuthError as exc:
        raise MailboxError(str(exc)) from None
    wanted = provider_for(mailbox)
    if wanted is not None and grant.provider != wanted:
        raise MailboxError(f"a {mailbox.backend} mailbox takes a {wanted} grant, not a {grant.provider} one")


def _lower(address: str) -> str:
    return str(address).strip().lower()


def _owner(owner_id: str) -> str:
    owner_id = str(owner_id).strip()
    if not owner_id or len(owner_id) > 200 or any(ord(char) < 32 or ord(char) == 127 for char in owner_id):
        raise MailboxError("an owner id is 1 to 200 characters on one line (\"*\" is the tenant's default)")
    return owner_id


def _row(mailbox: Mailbox) -> dict:
    return {"tenant": mailbox.tenant, "address": mailbox.address, "display_name": mailbox.display_name,
            "backend": mailbox.backend,
            "settings": json.dumps((mailbox.smtp.model_dump(exclude_none=True) if mailbox.smtp else {})
                                   | ({"imap": mailbox.imap.model_dump(exclude_none=True)} if mailbox.imap else {}),
                                   sort_keys=True),
            "warmup_start": mailbox.warmup_start.isoformat() if mailbox.warmup_start else None,
            "daily_cap": mailbox.daily_cap, "hourly_cap": mailbox.hourly_cap,
            "paused_reason": mailbox.paused_reason, "paused_at": mailbox.paused_at,
            "created_at": dt.datetime.now(dt.UTC).isoformat()}


def _mailbox(row) -> Mailbox:
    settings = json.loads(row.settings or "{}")
    imap = settings.pop("imap", None)
    return Mailbox(tenant=row.tenant, address=row.address, display_name=row.display_name, backend=row.backend,
                   smtp=SmtpSettings(**settings) if settings else None, imap=ImapConfig(**imap) if imap else None,
                   warmup_start=dt.date.fromisoformat(row.warmup_start) if row.warmup_start else None,
                   daily_cap=row.daily_cap, hourly_cap=row.hourly_cap, paused_reason=row.paused_reason,
                   paused_at=row.paused_at)
