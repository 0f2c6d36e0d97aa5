"""The mailbox registry: who sends from which mailbox, with each secret in the vault and nowhere else."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from connector.channels.base import MailboxAuthError
from connector.channels.gmail import GmailChannel
from connector.channels.graph import GraphChannel
from connector.channels.sendgrid import SendGridChannel
from connector.channels.smtp import SmtpChannel
from connector.mailboxes import Mailbox, MailboxError, Mailboxes, SmtpSettings
from connector.store.schema import mailbox_owners, mailboxes
from connector.vault import Vault, new_key

T = "hubspot-62515"
PASSWORD = "s3cret-app-password"


@pytest.fixture
def registry(state_url):
    """On SQLite and PostgreSQL: for what the SQL of the registry decides."""
    return Mailboxes(state_url, Vault(state_url, new_key()))


@pytest.fixture
def local(tmp_path):
    """On SQLite only: for what does not depend on the engine (CI's time is short)."""
    url = f"sqlite:///{tmp_path / 'salesos.sqlite3'}"
    return Mailboxes(url, Vault(url, new_key()))


def _smtp(address="Rep@Acme.example", **changes) -> Mailbox:
    fields = dict(tenant=T, address=address, display_name="Rep One", backend="smtp",
                  smtp=SmtpSettings(host="smtp.gmail.com", port=587, username="rep@acme.example"),
                  warmup_start=dt.date(2026, 3, 1), daily_cap=40)
    return Mailbox(**(fields | changes))


def test_an_added_mailbox_is_listed_with_its_settings_and_its_address_in_lower_case(registry):
    registry.add(_smtp(), PASSWORD)
    [stored] = registry.list(T)
    assert stored.address == "rep@acme.example"
    assert stored.smtp.host == "smtp.gmail.com" and stored.warmup_start == dt.date(2026, 3, 1)
    assert stored.daily_cap == 40 and stored.hourly_cap is None and not stored.paused


def test_the_secret_is_in_the_vault_and_in_no_row_of_the_registry(registry):
    registry.add(_smtp(), PASSWORD)
    registry.map_owner(T, "*", "rep@acme.example")
    with registry.store.read() as conn:
        rows = [*conn.execute(select(mailboxes)).all(), *conn.execute(select(mailbox_owners)).all()]
    assert rows and not any(PASSWORD in str(value) for row in rows for value in row)
    assert registry.has_secret(registry.get(T, "rep@acme.example"))


def test_a_mailbox_that_needs_a_secret_is_refused_without_one(local):
    with pytest.raises(MailboxError, match="needs its secret"):
        local.add(_smtp())
    assert local.list(T) == []


def test_adding_again_without_a_secret_keeps_the_stored_one(registry):
    registry.add(_smtp(), PASSWORD)
    registry.add(_smtp(daily_cap=60))
    channel = registry.channel(registry.get(T, "rep@acme.example"))
    assert channel._password == PASSWORD and registry.get(T, "rep@acme.example").daily_cap == 60


def test_an_owner_sends_from_the_mailbox_mapped_to_them(registry):
    registry.add(_smtp("one@acme.example"), PASSWORD)
    registry.add(_smtp("two@acme.example"), PASSWORD)
    registry.map_owner(T, "owner-1", "one@acme.example")
    registry.map_owner(T, "*", "two@acme.example")
    assert registry.for_owner(T, "owner-1").address == "one@acme.example"


def test_an_owner_without_a_mailbox_and_no_owner_fall_back_to_the_default(registry):
    registry.add(_smtp("two@acme.example"), PASSWORD)
    registry.map_owner(T, "*", "two@acme.example")
    assert registry.for_owner(T, "owner-9").address == "two@acme.example"
    assert registry.for_owner(T, None).address == "two@acme.example"


def test_without_a_mapping_or_default_there_is_no_mailbox(local):
    local.add(_smtp(), PASSWORD)
    assert local.for_owner(T, "owner-1") is None


def test_mappings_are_per_tenant(local):
    local.add(_smtp(), PASSWORD)
    local.map_owner(T, "*", "rep@acme.example")
    assert local.for_owner("salesforce-00D000000000001", "owner-1") is None


def test_an_owner_cannot_be_mapped_to_an_unknown_mailbox(local):
    with pytest.raises(MailboxError, match="add it first"):
        local.map_owner(T, "owner-1", "nobody@acme.example")


def test_a_paused_mailbox_is_still_the_owners_and_says_why_until_resumed(registry):
    registry.add(_smtp(), PASSWORD)
    registry.map_owner(T, "owner-1", "rep@acme.example")
    assert registry.pause(T, "rep@acme.example", "535 credentials refused")
    assert registry.for_owner(T, "owner-1").paused_reason == "535 credentials refused"
    assert registry.resume(T, "rep@acme.example")
    assert not registry.for_owner(T, "owner-1").paused


def test_removing_a_mailbox_forgets_its_owners_and_its_secret(registry):
    registry.add(_smtp(), PASSWORD)
    registry.map_owner(T, "owner-1", "rep@acme.example")
    assert registry.remove(T, "REP@acme.example")
    assert registry.list(T) == [] and registry.owners(T) == {}
    assert registry._vault.get(T, "mailbox:rep@acme.example") is None


def test_each_backend_gets_its_channel_with_the_secret_from_the_vault(local):
    local.add(_smtp("x@acme.example", smtp=SmtpSettings(host="smtp.office365.com", username="x@acme.example",
                                                           auth="xoauth2")), "eyJ0eXAi.token")
    local.add(Mailbox(tenant=T, address="g@acme.example", backend="gmail"), "ya29.gmail")
    local.add(Mailbox(tenant=T, address="m@acme.example", backend="graph"), "eyJ.graph")
    local.add(Mailbox(tenant=T, address="s@acme.example", backend="sendgrid"), "SG.key")
    local.add(Mailbox(tenant=T, address="demo@acme.example", backend="sink"))
    built = {mailbox.address: local.channel(mailbox, sink_port=2525) for mailbox in local.list(T)}
    assert isinstance(built["x@acme.example"], SmtpChannel) and built["x@acme.example"]._token == "eyJ0eXAi.token"
    assert isinstance(built["g@acme.example"], GmailChannel)
    assert isinstance(built["m@acme.example"], GraphChannel)
    assert isinstance(built["s@acme.example"], SendGridChannel)
    assert (built["demo@acme.example"].host, built["demo@acme.example"].port) == ("127.0.0.1", 2525)


def test_a_mailbox_whose_secret_is_gone_cannot_send(local):
    local.add(_smtp(), PASSWORD)
    local._vault.delete(T, "mailbox:rep@acme.example")
    with pytest.raises(MailboxAuthError, match="no stored secret"):
        local.channel(local.get(T, "rep@acme.example"))


@pytest.mark.parametrize(("changes", "field"), [
    ({"address": "not-an-address"}, "address"),
    ({"display_name": "Rep\r\nBcc: everyone@example.com"}, "display_name"),
    ({"smtp": {"host": "smtp..example", "username": "u"}}, "host"),
    ({"smtp": {"host": "smtp.example.com", "port": 70000, "username": "u"}}, "port"),
    ({"smtp": {"host": "smtp.example.com", "security": "tls", "username": "u"}}, "security"),
    ({"smtp": None}, "smtp"),
    ({"daily_cap": 0}, "daily_cap"),
    ({"backend": "pigeon"}, "backend"),
])
def test_a_malformed_mailbox_is_refused_naming_the_field(changes, field):
    with pytest.raises(ValidationError) as refused:
        _smtp(**changes)
    assert field in str(refused.value)


def test_a_secret_is_never_given_to_a_mailbox_that_takes_none(local):
    with pytest.raises(MailboxError, match="takes no secret"):
        local.add(Mailbox(tenant=T, address="demo@acme.example", backend="sink"), "password")
