"""OAuth mailboxes end to end: the sender, the reply reader and the calendar get the refreshed token; a refused
grant pauses the mailbox; `mailbox add` stores the refresh token as a grant, taken only from stdin or a prompt."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import respx
from typer.testing import CliRunner

from connector.calendar.base import CalendarAuthError
from connector.channels.base import MailboxAuthError
from connector.cli import app
from connector.inbound.base import ImapConfig
from connector.mailbox_tokens import GOOGLE_TOKEN_URL, MailboxRefused, MailboxTokens, oauth_secret, parse_secret
from connector.mailboxes import Mailbox, MailboxError, Mailboxes, SmtpSettings, secret_name
from connector.runtime import _calendar_token
from connector.settings import Settings
from connector.vault import Vault, new_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mailbox_oauth"
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
T = "hubspot-62515"
DIRECTORY = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"
REFRESH = "1//0g-refresh-token-c41d"
REFRESHED = json.loads((FIXTURES / "google_refresh_response.json").read_text())["access_token"]
GMAIL = Mailbox(tenant=T, address="rep@acme.example", backend="gmail")
XOAUTH2 = Mailbox(tenant=T, address="rep@acme.example", backend="smtp",
                  smtp=SmtpSettings(host="smtp.gmail.com", username="rep@acme.example", auth="xoauth2"),
                  imap=ImapConfig(host="imap.gmail.com", username="rep@acme.example"))


@pytest.fixture
def registry(tmp_path):
    url = f"sqlite:///{tmp_path / 'salesos.sqlite3'}"
    vault = Vault(url, new_key())
    settings = Settings(salesos_home=tmp_path, google_client_id="google-client", google_client_secret="g-secret-1")
    return Mailboxes(url, vault, tokens=MailboxTokens(vault, settings, clock=lambda: NOW))


@respx.mock
def test_the_gmail_sender_reader_and_calendar_all_use_the_token_refreshed_once(registry):
    registry.add(GMAIL, oauth_secret("google", REFRESH))
    refresh = respx.post(GOOGLE_TOKEN_URL).respond(200, json=json.loads(
        (FIXTURES / "google_refresh_response.json").read_text()))
    send = respx.post("https://gmail.googleapis.com/gmail/v1/users/me/messages/send").respond(
        200, json={"id": "m1", "threadId": "t1"})
    profile = respx.get("https://gmail.googleapis.com/gmail/v1/users/me/profile").respond(
        200, json={"historyId": "42"})
    registry.channel(GMAIL).send(b"Message-ID: <a@acme.example>\r\n\r\nhi", GMAIL.address, ["x@y.example"])
    registry.reader(GMAIL, max_bytes=1_000_000, lookback_days=7).fetch_new(None, 10)
    assert _calendar_token(registry, GMAIL)() == REFRESHED
    for route in (send, profile):
        assert route.calls.last.request.headers["Authorization"] == f"Bearer {REFRESHED}"
    assert refresh.call_count == 1


@respx.mock
def test_an_xoauth2_smtp_mailbox_and_its_imap_reader_get_the_refreshed_token(registry):
    registry.add(XOAUTH2, oauth_secret("google", REFRESH))
    respx.post(GOOGLE_TOKEN_URL).respond(200, json=json.loads(
        (FIXTURES / "google_refresh_response.json").read_text()))
    assert registry.channel(XOAUTH2)._token == REFRESHED
    assert registry.reader(XOAUTH2, max_bytes=1_000_000, lookback_days=7)._access_token() == REFRESHED


@respx.mock
def test_a_refused_grant_pauses_the_mailbox_saying_reconnect_it_and_the_calendar_is_told_so(registry):
    registry.add(GMAIL, oauth_secret("google", REFRESH))
    respx.post(GOOGLE_TOKEN_URL).respond(400, json=json.loads(
        (FIXTURES / "google_error_invalid_grant.json").read_text()))
    with pytest.raises(MailboxRefused):
        registry.channel(GMAIL)
    assert registry.get(T, GMAIL.address).paused_reason.startswith("reconnect the mailbox rep@acme.example")
    with pytest.raises(CalendarAuthError, match="reconnect the mailbox"):
        _calendar_token(registry, GMAIL)()


def test_a_grant_of_the_wrong_provider_is_refused_when_the_mailbox_is_added(registry):
    graph = Mailbox(tenant=T, address="rep@contoso.example", backend="graph")
    with pytest.raises(MailboxError, match="a graph mailbox takes a microsoft grant, not a google one"):
        registry.add(graph, oauth_secret("google", REFRESH))


def test_a_password_mailbox_takes_no_grant(registry):
    smtp = XOAUTH2.model_copy(update={"smtp": XOAUTH2.smtp.model_copy(update={"auth": "password"})})
    with pytest.raises(MailboxError, match="takes no OAuth grant"):
        registry.add(smtp, oauth_secret("google", REFRESH))


def test_a_bare_token_of_old_still_reaches_the_gmail_channel(registry):
    registry.add(GMAIL, "ya29.legacy-token")
    with respx.mock:
        send = respx.post("https://gmail.googleapis.com/gmail/v1/users/me/messages/send").respond(
            200, json={"id": "m1", "threadId": "t1"})
        registry.channel(GMAIL).send(b"Message-ID: <a@acme.example>\r\n\r\nhi", GMAIL.address, ["x@y.example"])
    assert send.calls.last.request.headers["Authorization"] == "Bearer ya29.legacy-token"


def test_a_missing_grant_is_a_mailbox_auth_error(registry):
    with pytest.raises(MailboxAuthError, match="no stored OAuth grant"):
        registry.access_token(GMAIL)


# `python -m connector mailbox add`


@pytest.fixture
def home(tmp_path, monkeypatch):
    key = new_key()
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", key)
    return Vault(f"sqlite:///{tmp_path / 'salesos.sqlite3'}", key)


def add(*args: str, stdin: str = "") -> object:
    return CliRunner().invoke(app, ["mailbox", "add", "local", *args], input=stdin)


def test_a_graph_mailbox_stores_the_piped_refresh_token_as_a_microsoft_grant_of_its_directory(home):
    result = add("rep@contoso.example", "--backend", "graph", "--oauth-tenant", DIRECTORY, "--secret", "-",
                 stdin="0.AXEA-refresh-77\n")
    assert result.exit_code == 0, result.output
    grant = parse_secret(home.get("local", secret_name("rep@contoso.example")))
    assert (grant.provider, grant.directory, grant.refresh_token.get_secret_value()) == (
        "microsoft", DIRECTORY, "0.AXEA-refresh-77")
    assert grant.access_token is None and "0.AXEA-refresh-77" not in result.output


def test_an_xoauth2_smtp_mailbox_on_smtp_gmail_com_stores_a_google_grant(home):
    result = add("rep@acme.example", "--host", "smtp.gmail.com", "--auth", "xoauth2", "--secret", "-", stdin=REFRESH)
    assert result.exit_code == 0, result.output
    assert parse_secret(home.get("local", secret_name("rep@acme.example"))).provider == "google"


def test_a_graph_mailbox_without_its_directory_is_refused_before_the_token_is_read(home):
    result = add("rep@contoso.example", "--backend", "graph", stdin="0.AXEA-refresh-77\n")
    assert result.exit_code == 2 and "--oauth-tenant" in result.output and "refresh token of" not in result.output
    assert home.get("local", secret_name("rep@contoso.example")) is None


def test_a_directory_that_is_no_tenant_id_is_refused_naming_the_field(home):
    result = add("rep@contoso.example", "--backend", "graph", "--oauth-tenant", "evil.example/x", "--secret", "-",
                 stdin="0.AXEA-refresh-77\n")
    assert result.exit_code == 2 and "directory" in result.output and "0.AXEA-refresh-77" not in result.output

