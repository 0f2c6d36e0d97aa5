"""Every table of SalesOS's own state, one `MetaData` for both engines.

Portable types only: text for times (ISO 8601 in UTC, which sorts as it reads)
and for email addresses, which are stored in lower case (SQLite's NOCASE has
no PostgreSQL twin, so case is folded on the way in, never by a collation).
Alembic's migrations (`connector/store/migrations`) build exactly these tables;
a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, CheckConstraint, Column, Index, Integer, LargeBinary, MetaData, Table, Text,
                        UniqueConstraint, text)

metadata = MetaData()


def _text(name: str, nullable: bool = False, **kwargs) -> Column:
    return Column(name, Text, nullable=nullable, **kwargs)


# The send ledger (`connector.ledger`): one row per side effect, leased while it happens.
effects = Table(
    "effects", metadata,
    _text("key", primary_key=True),
    _text("status"),
    _text("claimed_at"),
    _text("done_at", nullable=True),
    _text("owner", nullable=True),
    Column("expires_at", BigInteger, nullable=True),  # microseconds since the epoch: when the lease lapses
    CheckConstraint("status IN ('claimed', 'done')", name="effects_status"),
)
Index("effects_claimed", effects.c.expires_at, sqlite_where=text("status = 'claimed'"),
      postgresql_where=text("status = 'claimed'"))

unsubscribe_tokens = Table(
    "unsubscribe_tokens", metadata,
    _text("token", primary_key=True),
    _text("tenant"),
    _text("email"),
    _text("created_at"),
    UniqueConstraint("tenant", "email", name="unsubscribe_tokens_tenant_email"),
)

holds = Table(
    "holds", metadata,
    _text("tenant", primary_key=True),
    _text("email", primary_key=True),
    _text("reason"),
    _text("at"),
)

parked = Table(
    "parked", metadata,
    _text("key", primary_key=True),
    _text("tenant"),
    _text("email"),
    _text("item"),
)

sequence_versions = Table(
    "sequence_versions", metadata,
    _text("tenant", primary_key=True),
    _text("email", primary_key=True),
    Column("version", Integer, nullable=False),
)

unsubscribes = Table(
    "unsubscribes", metadata,
    _text("tenant", primary_key=True),
    _text("email", primary_key=True),
    _text("at"),
    _text("synced_at", nullable=True),
    _text("queued_at", nullable=True),
    _text("abandoned_at", nullable=True),
    _text("note", nullable=True),
)
_WAITING = "synced_at IS NULL AND abandoned_at IS NULL"
Index("unsubscribes_waiting", unsubscribes.c.at, sqlite_where=text(_WAITING), postgresql_where=text(_WAITING))

# A rep's changes applied per (tenant, record, property), newest wins (`connector.change_order`).
applied_changes = Table(
    "applied_changes", metadata,
    _text("tenant", primary_key=True),
    _text("record", primary_key=True),  # lower case
    _text("property", primary_key=True),
    Column("occurred_at", BigInteger, nullable=False),  # microseconds since the epoch
)

# Installations (`connector.tenants`) and their secrets (`connector.vault`).
tenants = Table(
    "tenants", metadata,
    _text("id", primary_key=True),
    _text("crm"),
    _text("external_id"),
    _text("instance_url", nullable=True),
    _text("auth"),
    _text("status"),
    _text("status_reason", nullable=True),
    _text("installed_at"),
    UniqueConstraint("crm", "external_id", name="tenants_crm_external_id"),
)

secrets = Table(
    "secrets", metadata,
    _text("tenant", primary_key=True),
    _text("name", primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    _text("updated_at"),
)

vault_state = Table(
    "vault_state", metadata,
    _text("name", primary_key=True),
    _text("value"),
)

# Digests of the per-tenant tokens in Salesforce outbound-message and HubSpot workflow-action URLs.
outbound_tokens = Table(
    "outbound_tokens", metadata,
    _text("tenant", primary_key=True),
    _text("digest", unique=True),
)
workflow_tokens = Table(
    "workflow_tokens", metadata,
    _text("tenant", primary_key=True),
    _text("digest", unique=True),
)

api_keys = Table(
    "api_keys", metadata,
    _text("id", primary_key=True),
    _text("scope"),
    _text("tenant", nullable=True),
    _text("label", nullable=True),
    _text("digest"),
    _text("created_at"),
    _text("revoked_at", nullable=True),
)

tenant_markets = Table(
    "tenant_markets", metadata,
    _text("tenant", primary_key=True),
    _text("market"),  # the market definition as JSON
    _text("origin"),
    _text("updated_at"),
)

tenant_data_sources = Table(
    "tenant_data_sources", metadata,
    _text("tenant", primary_key=True),
    _text("source"),
    _text("updated_at"),
)

deal_events = Table(
    "deal_events", metadata,
    _text("identity", primary_key=True),
    _text("tenant"),
    _text("deal_id"),
    _text("stage", nullable=True),
    _text("occurred_at"),
    _text("change_source", nullable=True),
)

# Which CRM record SalesOS wrote for which of its keys, and what it last wrote there (`crm_adapters.record_index`).
crm_records = Table(
    "crm_records", metadata,
    _text("tenant", primary_key=True),
    _text("kind", primary_key=True),
    _text("key", primary_key=True),
    _text("crm_id"),
    _text("parent", nullable=True),
)
Index("crm_records_by_id", crm_records.c.tenant, crm_records.c.kind, crm_records.c.crm_id)
Index("crm_records_by_parent", crm_records.c.tenant, crm_records.c.kind, crm_records.c.parent)

crm_stamps = Table(
    "crm_stamps", metadata,
    _text("tenant", primary_key=True),
    _text("kind", primary_key=True),
    _text("key", primary_key=True),
    _text("field", primary_key=True),
    _text("value_hash"),
    _text("written_at"),
)


# Sending mailboxes and which CRM owner sends from which (`connector.mailboxes`). Never a secret here: a mailbox's
# password, token or API key is in the vault, as `mailbox:<address>`.
mailboxes = Table(
    "mailboxes", metadata,
    _text("tenant", primary_key=True),
    _text("address", primary_key=True),  # lower case
    _text("display_name"),
    _text("backend"),
    _text("settings"),  # JSON of the backend's non-secret settings (host, port, security, username, ...)
    _text("warmup_start", nullable=True),  # ISO date
    Column("daily_cap", Integer, nullable=True),
    Column("hourly_cap", Integer, nullable=True),
    _text("paused_reason", nullable=True),
    _text("paused_at", nullable=True),
    _text("created_at"),
    CheckConstraint("backend IN ('smtp', 'gmail', 'graph', 'sendgrid', 'sink')", name="mailboxes_backend"),
)
mailbox_owners = Table(
    "mailbox_owners", metadata,
    _text("tenant", primary_key=True),
    _text("owner_id", primary_key=True),  # the CRM owner's id; "*" is the tenant's default
    _text("address"),  # lower case
)


# Engagement (`connector.engagement_log`) and suppressions (`connector.ledger`): what contacts did with what was
# sent (clicks, opens, replies, meetings, bounces, complaints), each kept once by its dedupe key, and the addresses
# no message may go to any more because they bounced or complained.
engagement_events = Table(
    "engagement_events", metadata,
    _text("dedupe_key", primary_key=True),
    _text("tenant"),
    _text("email"),  # lower case
    _text("step_key", nullable=True),
    _text("kind"),
    _text("at"),
    Column("reliable", Integer, nullable=False),  # 0 for opens: privacy proxies and scanners open everything
    Column("negative", Integer, nullable=False),  # 1 for a reply that refuses: engagement, not interest
    _text("detail", nullable=True),
    CheckConstraint("kind IN ('click', 'open', 'reply', 'meeting', 'bounce', 'complaint')", name="engagement_kind"),
)
Index("engagement_events_contact", engagement_events.c.tenant, engagement_events.c.email, engagement_events.c.at)

suppressions = Table(
    "suppressions", metadata,
    _text("tenant", primary_key=True),
    _text("email", primary_key=True),  # lower case
    _text("reason"),
    _text("at"),
)


# Inbound mail (`connector.inbound`): how far each mailbox has been read (a reader's own cursor: an IMAP
# "uidvalidity:uid", a Gmail historyId, a Graph delta link), and the digests of the per-tenant tokens in
# SendGrid Inbound Parse URLs (`webhooks.inbound_parse`).
inbound_cursors = Table(
    "inbound_cursors", metadata,
    _text("tenant", primary_key=True),
    _text("mailbox", primary_key=True),  # lower case
    _text("cursor"),
    _text("updated_at"),
)
inbound_parse_tokens = Table(
    "inbound_parse_tokens", metadata,
    _text("tenant", primary_key=True),
    _text("digest", unique=True),
)


# Phone and SMS through Twilio (`connector.sms_consent`, `connector.twilio_messages`, `connector.twilio_account`).
# Who agreed to be texted, how, and whether they took it back; phones in E.164.
sms_consent = Table(
    "sms_consent", metadata,
    _text("tenant", primary_key=True),
    _text("phone", primary_key=True),
    _text("email", nullable=True),  # lower case
    _text("granted_at", nullable=True),  # none: a number that said STOP without ever having agreed
    _text("source", nullable=True),  # how consent was recorded: form, rep, import
    _text("revoked_at", nullable=True),
    _text("revoked_source", nullable=True),  # sms_stop, twilio_opt_out, rep, import, form
)

# Each text and call SalesOS started, with the furthest status Twilio reported (`rank` orders them).
twilio_messages = Table(
    "twilio_messages", metadata,
    _text("tenant", primary_key=True),
    _text("sid", primary_key=True),
    _text("kind"),  # sms or call
    _text("phone", nullable=True),
    _text("status"),
    Column("rank", Integer, nullable=False),
    _text("error_code", nullable=True),
    _text("updated_at"),
)

# Digests of the per-tenant tokens in Twilio's callback URLs, `/webhooks/twilio/<token>/...`.
twilio_tokens = Table(
    "twilio_tokens", metadata,
    _text("tenant", primary_key=True),
    _text("digest", unique=True),
)
