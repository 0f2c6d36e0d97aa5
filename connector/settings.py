"""Configuration from the environment (and a `.env` file beside the project).

Every knob has a default that works on a laptop with nothing configured.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.engagement import EngagementConfig
from agents.send_windows import Days, SendWindow, zone_of
from agents.throttle import Scope, ThrottlePolicy
from agents.validation import quote
from connector.private_files import private_dir
from connector.providers.http.spec import DataKind

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DATABASE_SCHEMES = ("postgresql+psycopg://", "postgresql://", "sqlite:///")
SAMPLE_DATA = (PROJECT_ROOT / "data" / "sample_market.jsonl", PROJECT_ROOT / "data" / "target_accounts.csv")


_THROTTLE = ThrottlePolicy.model_fields  # its defaults are the settings' defaults: one place to change them


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    salesos_home: Path = Field(default=Path("var"), description="where local state lives")
    salesos_database_url: SecretStr | None = Field(
        default=None, description="SalesOS's state: postgresql+psycopg://... in production; unset: SQLite in SALESOS_HOME")
    redis_url: str | None = Field(default=None, description="unset: start an embedded Redis")
    salesos_batch_size: int = Field(default=250, ge=1, le=5000, description="records per job")
    salesos_send_hour: int = Field(default=9, ge=0, le=23, description="local hour of each touch")
    salesos_overdue_grace: dt.timedelta = Field(
        default=dt.timedelta(hours=6), ge=dt.timedelta(0),
        description="a step overdue by more than this (seconds, or ISO 8601 like PT6H) moves to the contact's next "
                    "send window instead of running late")
    # Throttles and send windows (agents/send_windows.py, agents/throttle.py, connector/send_budget.py)
    salesos_send_window: str = Field(default="08-17", description="local hours START-END a prospect is written in")
    salesos_send_days: Days = Field(default="business", description="business (no weekends or public holidays), "
                                                                    "weekdays, or every")
    salesos_default_timezone: str = Field(default="UTC", description="IANA zone of prospects whose zone is unknown")
    salesos_mailbox_timezone: str = Field(default="UTC", description="IANA zone whose day a mailbox's caps count")
    salesos_mailbox_daily_cap: int = Field(default=_THROTTLE["mailbox_daily_cap"].default,
        ge=0, description="emails per mailbox per day")
    salesos_mailbox_hourly_cap: int = Field(default=_THROTTLE["mailbox_hourly_cap"].default,
        ge=0, description="emails per mailbox per clock hour")
    salesos_domain_daily_cap: int = Field(default=_THROTTLE["domain_daily_cap"].default,
        ge=0, description="emails per recipient domain per day")
    salesos_domain_cap_scope: Scope = Field(default=_THROTTLE["domain_cap_scope"].default,
        description="the domain cap counts the tenant's mailboxes together, or each mailbox")
    salesos_warmup_start: int = Field(default=_THROTTLE["warmup_start"].default,
        ge=0, description="a warming mailbox's cap on its first day")
    salesos_warmup_step: int = Field(default=_THROTTLE["warmup_step"].default,
        ge=0, description="added each business day of warm-up")
    salesos_sender_name: str = "SalesOS Demo"
    salesos_sender_email: str = "demo@salesos.invalid"
    salesos_postal_address: str = "SalesOS Demo, 1 Sample Street, Springfield, USA"
    salesos_public_url: str = Field(default="http://127.0.0.1:5000", description="base of unsubscribe links")
    salesos_smtp_sink: str | None = Field(
        default=None, pattern=r"^127\.0\.0\.1:[0-9]{1,5}$",
        description="127.0.0.1:PORT of the local SMTP sink the embedded default sends into (`connector run` starts "
                    "one and sets it for its workers); unset: each worker starts its own, into the same outbox")
    salesos_data_files: list[Path] = Field(default_factory=lambda: list(SAMPLE_DATA))
    salesos_job_timeout: int = Field(default=600, ge=10)
    salesos_job_retry_minutes: list[Annotated[float, Field(ge=0, le=1440)]] = Field(
        default_factory=lambda: [1, 5, 15, 60, 240], max_length=10,
        description="JSON minutes a failed job waits before each retry (each up to a fifth longer; 0: at once); "
                    "[]: no retry")
    salesos_vault_keys: SecretStr | None = Field(default=None, description="Fernet keys, newest first")
    salesos_session_secret: SecretStr | None = Field(default=None, description="signs the admin's browser session")
    salesos_cache_ttls: dict[DataKind, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description='JSON seconds per kind of provider data over the defaults, {"jobs": 3600}')
    salesos_waterfall: dict[str, list[str]] = Field(
        default_factory=lambda: {"industry": ["apollo", "pdl"], "employee_count": ["apollo", "pdl"],
                                 "annual_revenue": ["pdl", "apollo"], "country": ["apollo", "pdl"],
                                 "tech_stack": ["apollo", "pdl"]},
        description="JSON: per firmographic field, the providers asked in order until one is confident enough")
    salesos_waterfall_confidence: float = Field(default=0.8, ge=0, le=1, description="confident enough to stop asking")
    salesos_dns_server: str | None = Field(default=None, pattern=r"^[0-9a-fA-F.:]+:[0-9]{1,5}$",
                                           description="ADDRESS:PORT of the DNS server email checks ask; unset: the system's")
    salesos_provider_waits: list[float] = Field(
        default_factory=lambda: [60, 300, 900], max_length=10,
        description="JSON seconds companies wait, attempt by attempt, for a provider that is down before going on without it")
    salesos_job_board_discovery: bool = Field(default=True, description="look for a company's job board on its website")
    salesos_run_cost_cap: float = Field(default=300, ge=0, description="dollars of paid provider calls per run; 0: none")
    salesos_monthly_cost_cap: float = Field(default=1000, ge=0, description="dollars per tenant and month; 0: none")
    # Reading replies (connector.inbound, webhooks.inbound_parse)
    salesos_inbound_max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024, le=50 * 1024 * 1024,
                                           description="a received message larger than this is skipped, never loaded")
    salesos_inbound_poll_limit: int = Field(default=100, ge=1, le=1000, description="messages read per mailbox poll")
    salesos_inbound_poll_seconds: int = Field(default=120, ge=10, le=86400,
                                              description="how often each tenant's mailboxes are read for replies")
    salesos_inbound_lookback_days: int = Field(default=2, ge=0, le=30,
                                               description="days of mail read when a mailbox has no usable cursor")

    # Engagement and consent (issue 12): tracked links, SendGrid's event webhook, the score, the country policy.
    salesos_tracking_secrets: SecretStr | None = Field(
        default=None, description="keys signing tracked links, newest first, comma-separated; unset: one in the vault")
    sendgrid_event_public_keys: str | None = Field(
        default=None, description="SendGrid's Signed Event Webhook verification key(s), base64, comma-separated; "
                                  "unset: /webhooks/sendgrid/events refuses everything")
    sendgrid_event_max_age: int = Field(default=600, ge=30, le=86400,
                                        description="seconds a signed SendGrid event batch stays acceptable")
    salesos_engagement: EngagementConfig = Field(default_factory=EngagementConfig,
                                                 description="JSON: engagement weights, open cap, half-life, hot score")
    salesos_consent_policy: Path | None = Field(
        default=None, description="a YAML country policy replacing agents/consent_policy.yaml")

    hubspot_client_id: str | None = None
    hubspot_client_secret: SecretStr | None = None
    hubspot_app_id: str | None = Field(default=None, description="SalesOS's HubSpot app id: its own writes' webhooks are ignored")
    hubspot_api_base_url: str = Field(default="https://api.hubapi.com", description="HubSpot API host")
    hubspot_authorize_url: str = "https://app.hubspot.com/oauth/authorize"
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_login_url: str = Field(default="https://login.salesforce.com", description="test.salesforce.com for sandboxes")
    salesforce_api_version: str = "59.0"
    # The OAuth apps Gmail and Microsoft 365 mailboxes were connected through: their tokens are refreshed with these.
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    microsoft_client_id: str | None = None
    microsoft_client_secret: SecretStr | None = None

    crm_api_share: float = Field(default=0.5, gt=0, le=1, description="share of the daily API allowance SalesOS may use")
    hubspot_daily_api_limit: int = Field(default=250_000, ge=1, description="the portal's daily allowance (Free/Starter)")
    salesforce_daily_api_limit: int | None = Field(default=None, ge=1, description="unset: read from Sforce-Limit-Info")

    @field_validator("salesos_overdue_grace", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A plain number is seconds (pydantic reads only durations like PT6H or 6:00:00 from text)."""
        try:
            return dt.timedelta(seconds=float(value)) if isinstance(value, str) else value
        except (ValueError, OverflowError):  # not a number, or no number of seconds: pydantic says which rule
            return value

    @field_validator("salesos_send_window")
    @classmethod
    def _send_window(cls, value: str) -> str:
        try:
            SendWindow.parse(value)
        except ValueError as exc:  # pydantic's own errors carry its docs link: the rule is enough here
            raise ValueError(f"SALESOS_SEND_WINDOW: {exc}") from None
        return value

    @field_validator("salesos_default_timezone", "salesos_mailbox_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone_of(value, "UTC")
        return value

    @property
    def send_window(self) -> SendWindow:
        return SendWindow.parse(self.salesos_send_window, self.salesos_send_days)

    @property
    def throttle_policy(self) -> ThrottlePolicy:
        return ThrottlePolicy(
            mailbox_daily_cap=self.salesos_mailbox_daily_cap, mailbox_hourly_cap=self.salesos_mailbox_hourly_cap,
            domain_daily_cap=self.salesos_domain_daily_cap, domain_cap_scope=self.salesos_domain_cap_scope,
            warmup_start=self.salesos_warmup_start, warmup_step=self.salesos_warmup_step)

    @field_validator("salesos_public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        """Links in emails and the URLs CRMs call are built on it: a typo must fail at start, not in a link."""
        try:
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a bad port or bracketed host
            valid = False
        if not valid or parts.query or parts.fragment or any(char.isspace() for char in value):
            raise ValueError(f"SALESOS_PUBLIC_URL must be an http(s) URL with a host and no query or fragment, "
                             f"like https://salesos.example.com (got {quote(value)})")
        return value

    @field_validator("salesos_database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A URL may carry a password: the error names the rule, never the value."""
        if value is not None and not value.get_secret_value().startswith(_DATABASE_SCHEMES):
            raise ValueError("SALESOS_DATABASE_URL must start with postgresql+psycopg:// or sqlite:/// "
                             "(like postgresql+psycopg://salesos:PASSWORD@db.internal:5432/salesos)")
        return value

    @cached_property
    def home(self) -> Path:
        return private_dir(self.salesos_home.expanduser().resolve())

    @property
    def crm_path(self) -> Path:
        return self.home / "crm.sqlite3"

    @property
    def state_path(self) -> Path:
        """The SQLite file that holds SalesOS's own state when SALESOS_DATABASE_URL is unset."""
        return self.home / "salesos.sqlite3"

    @property
    def database_url(self) -> str:
        """SalesOS's own state (`connector.store`): tenants, vault, ledger, indexes; the CRM holds the rest."""
        if self.salesos_database_url is not None:
            return self.salesos_database_url.get_secret_value()
        return f"sqlite:///{self.state_path}"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"


def load_settings() -> Settings:
    return Settings()
