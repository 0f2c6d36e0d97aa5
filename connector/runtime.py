"""Builds the I/O objects a stage job needs, from the worker's settings.

Kept apart from the jobs so the jobs read as decisions plus writes, and so a
later tenant-aware version only changes this file.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from rq import get_current_job

from agents.validation import quote
from connector.channels.email import Sender
from connector.ledger import Ledger
from connector.mailboxes import Mailbox, Mailboxes
from connector.providers.offline import load_cached
from connector.settings import Settings, load_settings
from crm_adapters.base import CRMAdapter
from crm_adapters.local import LocalCRM


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


def now() -> dt.datetime:
    """SalesOS's clock, in UTC (tests set their own)."""
    return dt.datetime.now(dt.UTC)


class UnknownTenant(LookupError):
    pass


def crm_for(tenant: str, redis_url: str | None = None) -> CRMAdapter:
    """The local CRM, or the adapter of an installed HubSpot portal or Salesforce org.

    Tenant adapters share Redis (`redis_url`, default REDIS_URL) for the daily
    API budget and token-refresh lock, so every worker counts against one budget.
    """
    if tenant == "local":
        return _local_crm(settings().crm_path)
    return _tenant_crm(tenant, redis_url or settings().redis_url)


def installed(tenant: str) -> bool:
    """Whether `tenant` is the local CRM or an installed tenant now (a worker's cached adapter outlives an
    uninstall)."""
    if tenant == "local":
        return True
    from connector.tenants import open_tenant_records

    return open_tenant_records(settings()).get(tenant) is not None  # only the record: no vault, nothing to decrypt


@lru_cache(maxsize=4)
def _local_crm(path: Path) -> LocalCRM:
    return LocalCRM(path)


@lru_cache(maxsize=16)
def _tenant_crm(tenant_id: str, redis_url: str | None) -> CRMAdapter:
    from connector.redis_conn import connect

    if redis_url is None:
        raise RuntimeError("REDIS_URL is not set; tenant adapters need the Redis the workers share")
    return tenant_crm(tenant_id, connect(redis_url))


def tenant_crm(tenant_id: str, conn) -> CRMAdapter:
    """A new adapter on the tenant's CRM (workers keep one per tenant, through `crm_for`)."""
    from connector.run_waits import note_crm_wait
    from crm_adapters.calls import Budget, CallPolicy
    from crm_adapters.errors import GrantRevoked
    from crm_adapters.guard import RepEditGuard
    s = settings()
    store = tenant_store()
    tenant = store.get(tenant_id)
    if tenant is None:
        raise UnknownTenant(f"tenant {tenant_id!r} is not installed; `python -m connector tenants list` shows those that are")
    if tenant.status == "needs_reinstall":
        raise GrantRevoked(f"tenant {tenant_id} needs re-installing: {tenant.status_reason}")
    tokens = tokens_for(tenant_id, conn)
    index = record_index(tenant_id)
    if tenant.crm == "hubspot":
        from crm_adapters.hubspot import HubSpotCRM

        policy = CallPolicy(budget=Budget(conn, tenant_id, s.hubspot_daily_api_limit, s.crm_api_share),
                            on_wait=note_crm_wait)
        inner: CRMAdapter = HubSpotCRM(tokens, index, host=s.hubspot_api_base_url, policy=policy)
    else:
        from crm_adapters.salesforce import SalesforceCRM

        allowance = s.salesforce_daily_api_limit or 15_000  # corrected from Sforce-Limit-Info on the first call
        policy = CallPolicy(budget=Budget(conn, tenant_id, allowance, s.crm_api_share), on_wait=note_crm_wait)
        inner = SalesforceCRM(tokens, index, instance_url=lambda: store.get(tenant_id).instance_url or "",
                              version=s.salesforce_api_version, policy=policy)
    return RepEditGuard(inner, index)


@lru_cache(maxsize=16)
def record_index(tenant_id: str):
    """What SalesOS knows of the records it wrote into the tenant's CRM (ids, write stamps)."""
    from crm_adapters.record_index import RecordIndex

    return RecordIndex(settings().database_url, tenant_id)


def known_companies(tenant: str) -> set[str]:
    """The domains of the companies SalesOS already wrote into the tenant's CRM: the local CRM's accounts, or
    what a CRM tenant's record index knows (no API call)."""
    if tenant == "local":
        return {account.domain for account in crm_for(tenant).get_accounts()}
    return set(record_index(tenant).children("company", None))


def complete_action(conn, tenant_id: str, callback_id: str, outputs: dict[str, str]) -> None:
    """Tell HubSpot a workflow action SalesOS held (BLOCK) is done, within the tenant's API budget."""
    from crm_adapters.calls import Budget, CallPolicy
    from crm_adapters.hubspot_callbacks import complete_callback

    s = settings()
    policy = CallPolicy(budget=Budget(conn, tenant_id, s.hubspot_daily_api_limit, s.crm_api_share))
    complete_callback(tokens_for(tenant_id, conn), callback_id, outputs, host=s.hubspot_api_base_url, policy=policy)


def tokens_for(tenant_id: str, conn):
    """The tenant's token source; `conn` holds the refresh lock every worker shares."""
    import httpx

    from connector.oauth.tokens import TenantTokens

    return TenantTokens(tenant_id, tenant_store(), conn, settings(), httpx.Client(timeout=20))


def tenant_store():
    from connector.tenants import open_tenant_store

    return open_tenant_store(settings())


@lru_cache(maxsize=4)
def _ledger(database_url: str) -> Ledger:
    return Ledger(database_url)


def ledger() -> Ledger:
    return _ledger(settings().database_url)


@lru_cache(maxsize=4)
def _tenant_markets(database_url: str):
    from connector.tenant_markets import TenantMarkets

    return TenantMarkets(database_url)


def tenant_markets():
    """Each tenant's market, kept open for the worker's life like the ledger."""
    return _tenant_markets(settings().database_url)


@lru_cache(maxsize=4)
def _deal_events(database_url: str):
    from connector.deal_events import DealEvents

    return DealEvents(database_url)


def deal_events():
    return _deal_events(settings().database_url)


@lru_cache(maxsize=4)
def _data_sources(database_url: str):
    from connector.data_sources import TenantDataSources

    return TenantDataSources(database_url)


def data_sources():
    """Each CRM tenant's data source, kept open for the worker's life like the ledger."""
    return _data_sources(settings().database_url)


def data_files(tenant: str) -> list[str]:
    """The files a run of `tenant` reads now: none for a CRM tenant with provider keys and no files (its run
    searches the providers); raises `data_sources.NoData` when it has neither files it may read nor keys."""
    from connector.data_sources import files_for

    source = None if tenant == "local" else data_sources().get(tenant)
    searches = tenant != "local" and source is None and bool(provider_keys(tenant))
    return [str(path.resolve()) for path in files_for(tenant, settings().salesos_data_files, source, searches)]


def provider_keys(tenant: str) -> dict[str, str]:
    """The data-provider keys a run of `tenant` calls with, by provider: its own, never another tenant's, and
    for the local CRM also `<NAME>_API_KEY` from the environment (`connector.providers.keys`). The local demo
    without SALESOS_VAULT_KEYS has only the environment's."""
    from connector.providers.keys import provider_keys as keys_of
    from connector.tenants import vault_keys
    from connector.vault import Vault

    s = settings()
    if tenant == "local" and vault_keys(s) is None:
        return keys_of(tenant, None, os.environ)
    return keys_of(tenant, Vault(s.database_url, vault_keys(s)), os.environ)


def dataset(paths: list[str]):
    return load_cached([Path(path) for path in paths])


def sender(mailbox: Mailbox | None = None) -> Sender:
    """Who an email is from: the sending mailbox's person, with the sender's postal address every email carries."""
    s = settings()
    if mailbox is None:
        return Sender(name=s.salesos_sender_name, email=s.salesos_sender_email, postal_address=s.salesos_postal_address)
    return Sender(name=mailbox.display_name or s.salesos_sender_name, email=mailbox.address,
                  postal_address=s.salesos_postal_address)


def market_of(tenant: str):
    """The tenant's market (its templates and review tiers), None when it has none."""
    found = tenant_markets().get(tenant)
    return found[0] if found else None


def link_signer():
    """Signs tracked links: SALESOS_TRACKING_SECRETS, else the vault's key; None (links left as written) with
    neither, as in the local demo without SALESOS_VAULT_KEYS."""
    from connector.tenants import vault_keys
    from connector.tracking_links import LinkSigner, TrackingKeys
    from connector.vault import Vault

    s = settings()
    configured = s.salesos_tracking_secrets.get_secret_value() if s.salesos_tracking_secrets else None
    keys = vault_keys(s)
    if configured is None and keys is None:
        return None
    return LinkSigner(s.salesos_public_url, TrackingKeys(Vault(s.database_url, keys) if keys else None,
                                                         configured).keys())


def call_links(tenant: str):
    """For one batch: a function (owner id, email, phone, country) -> click-to-call link or None. None instead of
    the function when the tenant has no Twilio account with a caller id (the call tasks say to dial). The account,
    the signer and each owner's phone are read once per batch, not once per step."""
    from connector.channels.phone_numbers import InvalidPhoneNumber, to_e164
    from connector.tenants import vault_keys
    from connector.twilio_account import get_account, rep_phone
    from connector.vault import Vault

    keys = vault_keys(settings())
    if not keys:
        return None
    vault = Vault(settings().database_url, keys)
    account, signer = get_account(vault, tenant), link_signer()
    if account is None or not account.caller_id or signer is None:
        return None
    phones: dict[str, str | None] = {}

    def link(owner_id: str | None, email: str, phone: str | None, country: str | None) -> str | None:
        if not (owner_id and phone):
            return None
        if owner_id not in phones:
            phones[owner_id] = rep_phone(vault, tenant, owner_id)
        if phones[owner_id] is None:
            return None
        try:
            number = to_e164(phone, field="phone", region=country)  # a number Twilio can dial, or no link
        except InvalidPhoneNumber:
            return None
        return signer.call_url(tenant, owner_id, email, number, now())

    return link


def calendar_for(mailbox: Mailbox | None):
    """The owner's calendar, reached with their mailbox's token (a Gmail mailbox: Google Calendar; a Microsoft 365
    one: Graph); None for any other mailbox (the meeting is still logged in the CRM and sent as an invite)."""
    if mailbox is None or mailbox.backend not in ("gmail", "graph"):
        return None
    from connector.calendar.google import GoogleCalendar
    from connector.calendar.graph import GraphCalendar

    token = _calendar_token(mailboxes(), mailbox)
    return GoogleCalendar(token) if mailbox.backend == "gmail" else GraphCalendar(token)


def _calendar_token(registry: Mailboxes, mailbox: Mailbox):
    """The calendar's token getter: the mailbox's refreshed token, its failures told as calendar errors (a refused
    grant: reconnect; the token endpoint down: try again later), which the meeting jobs already handle."""
    from connector.calendar.base import CalendarAuthError, CalendarTransient
    from connector.channels.base import MailboxAuthError, TransientSendError

    def token() -> str:
        try:
            return registry.secret(mailbox)
        except TransientSendError as exc:
            raise CalendarTransient(str(exc), retry_after=exc.retry_after) from None
        except MailboxAuthError as exc:
            raise CalendarAuthError(str(exc)) from None

    return token


def consent_policy():
    from connector.consent_policy_file import load_consent_policy

    return load_consent_policy(settings().salesos_consent_policy)


def mailbox_for(tenant: str, owner_id: str | None) -> Mailbox | None:
    """The mailbox a contact's email goes from: the one an admin mapped to its CRM owner (or the tenant's default,
    owner "*"); for the local CRM with none, the local SMTP sink. None: nothing sends for this owner, so the rep
    gets the draft as a task."""
    found = mailboxes().for_owner(tenant, owner_id)
    if found is None and tenant == "local":
        s = settings()  # the demo's own constant: .invalid is reserved, so it skips the address check a real one gets
        return Mailbox.model_construct(tenant="local", address=s.salesos_sender_email,
                                       display_name=s.salesos_sender_name, backend="sink", smtp=None,
                                       warmup_start=None, daily_cap=None, hourly_cap=None, paused_reason=None,
                                       paused_at=None)
    return found


def mailboxes() -> Mailboxes:
    from connector.tenants import vault_keys
    from connector.vault import Vault

    s = settings()
    keys = vault_keys(s)
    if not keys:
        return Mailboxes(s.database_url, None)
    from connector.mailbox_tokens import MailboxTokens

    vault = Vault(s.database_url, keys)
    return Mailboxes(s.database_url, vault, tokens=MailboxTokens(vault, s))


def channels(tenant: str, by_address: dict[str, Mailbox]) -> ChannelSet:
    """The channels of one batch's mailboxes, opened on first use and closed with the set."""
    s = settings()
    return ChannelSet(by_address, lambda mailbox: _sink_channel(s.outbox, s.salesos_smtp_sink)
                      if mailbox.backend == "sink" else mailboxes().channel(mailbox))


class ChannelSet:
    def __init__(self, by_address: dict[str, Mailbox], make) -> None:
        self._mailboxes, self._make, self._open = by_address, make, {}

    def __call__(self, address: str):
        if address not in self._open:
            self._open[address] = self._make(self._mailboxes[address])
        return self._open[address]

    def __enter__(self) -> ChannelSet:
        return self

    def __exit__(self, *_exc) -> None:
        for address, channel in self._open.items():
            if self._mailboxes[address].backend != "sink":  # the process's sink channel stays open for the next batch
                channel.close()


def send_marks():
    from connector.sending import SendMarks

    job = get_current_job()
    return SendMarks(job.connection, job.worker_name or job.id)


@lru_cache(maxsize=8)
def _sink_channel(outbox: Path, address: str | None):
    """The local SMTP sink's channel: the sink `connector run` started (SALESOS_SMTP_SINK), else one this process
    starts, on loopback, writing into the same outbox."""
    from connector.channels.sink import LocalSink
    from connector.channels.smtp import SmtpChannel

    if address is None:
        sink = LocalSink(outbox).start()  # lives as long as the worker process
        host, port = sink.host, sink.port
    else:
        host, _, port = address.rpartition(":")
    return SmtpChannel(host, int(port), security="none")


def unsubscribe_url(token: str) -> str:
    return f"{settings().salesos_public_url.rstrip('/')}/unsubscribe/{token}"


def links_refusal(tenant: str) -> str | None:
    """Why emails for `tenant` cannot be rendered now, or None.

    A customer's prospects get https unsubscribe links; plain http (the
    loopback default) is for the local demo only.
    """
    url = settings().salesos_public_url
    if tenant == "local" or urlsplit(url).scheme == "https":
        return None
    return (f"SALESOS_PUBLIC_URL is {quote(url)}, not https: emails for {tenant} are not rendered, since their "
            "unsubscribe links must be https. Set it to the https address SalesOS is served at and restart the "
            "workers; the email steps are retried every hour")


def providers(run, conn):
    """The data providers `run` may call: its tenant's keys, with the Redis every worker shares."""
    from connector.providers.registry import RunProviders

    return RunProviders(run.tenant, run.run_id, provider_keys(run.tenant), conn, settings(), _provider_http())


@lru_cache(maxsize=1)
def _provider_http():
    """One connection pool per worker process for every provider call. A provider's base URL is configuration,
    not data, so the environment's proxy applies; no redirect is followed."""
    import httpx

    return httpx.Client(follow_redirects=False)


def board_finder(conn, tenant: str):
    """`find(record) -> "greenhouse:token" | None`: the company's job board, looked for on its website at most
    once a week per tenant (the answer, board or none, is kept for the `website` time-to-live)."""
    from connector.providers.boards import find_board
    from connector.providers.http.cache import DEFAULT_TTLS
    from connector.providers.safe_fetch import SafeFetcher

    if not settings().salesos_job_board_discovery:
        return None
    fetcher = SafeFetcher()
    ttl = settings().salesos_cache_ttls.get("website", DEFAULT_TTLS["website"])

    def find(record) -> str | None:
        key = f"salesos:board:{tenant}:{record.domain}"
        known = conn.get(key)
        if known is not None:
            return known.decode() or None
        search = find_board(record, fetcher)
        board = search.board.ref if search.board else ""
        conn.set(key, board, ex=ttl)
        return board or None

    return find


def dns_resolver():
    """The resolver email verification asks: the system's, or SALESOS_DNS_SERVER's (a local one in tests)."""
    from connector.providers.verification import default_resolver

    resolver = default_resolver()
    if settings().salesos_dns_server:
        address, _, port = settings().salesos_dns_server.rpartition(":")
        resolver.nameservers, resolver.port = [address], int(port)
    return resolver
