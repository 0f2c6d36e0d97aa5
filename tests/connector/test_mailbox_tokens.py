"""OAuth mailboxes' access tokens: refreshed five minutes before they expire, once across workers, never leaked."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import threading
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from connector.channels.base import MailboxAuthError
from connector.mailbox_tokens import (GOOGLE_TOKEN_URL, MailboxRefused, MailboxTokens, MailboxTokenUnavailable,
                                      OAuthGrant, oauth_secret, parse_secret)
from connector.mailboxes import Mailbox, secret_name
from connector.settings import Settings
from connector.vault import Vault, new_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mailbox_oauth"
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
T = "hubspot-62515"
DIRECTORY = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"
MS_TOKEN_URL = f"https://login.microsoftonline.com/{DIRECTORY}/oauth2/v2.0/token"
OLD_ACCESS, OLD_REFRESH = "old-access-5e1d0c", "old-refresh-9a7b3f"
GOOGLE_SECRET, MICROSOFT_SECRET = "google-client-secret-41c2", "microsoft-client-secret-d83e"
GMAIL = Mailbox(tenant=T, address="rep@acme.example", backend="gmail")
GRAPH = Mailbox(tenant=T, address="rep@contoso.example", backend="graph")


def body(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path, google_client_id="google-client", google_client_secret=GOOGLE_SECRET,
                    microsoft_client_id="microsoft-client", microsoft_client_secret=MICROSOFT_SECRET)


@pytest.fixture
def vault(tmp_path):
    return Vault(f"sqlite:///{tmp_path / 'salesos.sqlite3'}", new_key())


def store_grant(vault: Vault, mailbox: Mailbox, expires_in: dt.timedelta | None, **fields) -> None:
    provider = "google" if mailbox.backend == "gmail" else "microsoft"
    grant = OAuthGrant(provider=provider, directory=DIRECTORY if provider == "microsoft" else None,
                       refresh_token=OLD_REFRESH, access_token=OLD_ACCESS,
                       expires_at=NOW + expires_in if expires_in is not None else None, **fields)
    vault.put(T, secret_name(mailbox.address), grant.stored())


def stored(vault: Vault, mailbox: Mailbox) -> OAuthGrant:
    return parse_secret(vault.get(T, secret_name(mailbox.address)))


def tokens(vault: Vault, settings: Settings) -> MailboxTokens:
    return MailboxTokens(vault, settings, clock=lambda: NOW)


@pytest.mark.parametrize("left", [dt.timedelta(minutes=-1), dt.timedelta(minutes=4)], ids=["expired", "4-min-left"])
@respx.mock
def test_a_google_token_expired_or_expiring_within_five_minutes_is_refreshed_and_stored(vault, settings, left):
    store_grant(vault, GMAIL, left)
    route = respx.post(GOOGLE_TOKEN_URL).respond(200, json=body("google_refresh_response.json"))
    token = tokens(vault, settings).access_token(GMAIL)
    assert token == body("google_refresh_response.json")["access_token"]
    assert form(route.calls.last.request) == {"grant_type": "refresh_token", "client_id": "google-client",
                                              "client_secret": GOOGLE_SECRET, "refresh_token": OLD_REFRESH}
    grant = stored(vault, GMAIL)
    assert grant.access_token.get_secret_value() == token and grant.expires_at == NOW + dt.timedelta(seconds=3599)
    assert grant.refresh_token.get_secret_value() == OLD_REFRESH  # Google does not rotate it


@respx.mock
def test_a_token_with_more_than_five_minutes_left_is_used_without_calling_the_provider(vault, settings):
    store_grant(vault, GMAIL, dt.timedelta(minutes=6))
    route = respx.post(GOOGLE_TOKEN_URL)
    assert tokens(vault, settings).access_token(GMAIL) == OLD_ACCESS
    assert not route.called


@respx.mock
def test_a_microsoft_refresh_asks_the_directory_for_the_graph_scopes_and_stores_the_rotated_refresh_token(
        vault, settings):
    store_grant(vault, GRAPH, dt.timedelta(minutes=-1))
    route = respx.post(MS_TOKEN_URL).respond(200, json=body("microsoft_refresh_response.json"))
    token = tokens(vault, settings).access_token(GRAPH)
    sent = form(route.calls.last.request)
    assert sent["client_id"] == "microsoft-client" and sent["refresh_token"] == OLD_REFRESH
    assert sent["scope"].split() == ["offline_access", "https://graph.microsoft.com/Mail.Send",
                                     "https://graph.microsoft.com/Mail.Read",
                                     "https://graph.microsoft.com/Calendars.ReadWrite"]
    grant = stored(vault, GRAPH)
    assert grant.access_token.get_secret_value() == token == body("microsoft_refresh_response.json")["access_token"]
    assert grant.refresh_token.get_secret_value() == body("microsoft_refresh_response.json")["refresh_token"]


@pytest.mark.parametrize("mailbox, url, error", [(GMAIL, GOOGLE_TOKEN_URL, "google_error_invalid_grant.json"),
                                                 (GRAPH, MS_TOKEN_URL, "microsoft_error_invalid_grant.json")],
                         ids=["google", "microsoft"])
@respx.mock
def test_a_refused_refresh_token_is_a_mailbox_auth_error_and_no_worker_calls_again(vault, settings, mailbox, url,
                                                                                   error):
    store_grant(vault, mailbox, dt.timedelta(minutes=-1))
    route = respx.post(url).respond(400, json=body(error))
    with pytest.raises(MailboxAuthError, match="reconnect the mailbox") as refused:
        tokens(vault, settings).access_token(mailbox)
    assert isinstance(refused.value, MailboxRefused) and "invalid_grant" in str(refused.value)
    with pytest.raises(MailboxRefused, match="reconnect the mailbox"):
        tokens(vault, settings).access_token(mailbox)  # another worker, later: fails fast
    assert route.call_count == 1


@respx.mock
def test_a_bare_access_token_of_old_is_used_as_it_is(vault, settings):
    vault.put(T, secret_name(GMAIL.address), "ya29.legacy-bare-token")
    route = respx.post(GOOGLE_TOKEN_URL)
    assert tokens(vault, settings).access_token(GMAIL) == "ya29.legacy-bare-token"
    assert not route.called


@respx.mock
def test_an_unreachable_token_endpoint_is_transient_and_leaves_the_grant_as_it_was(vault, settings):
    store_grant(vault, GRAPH, dt.timedelta(minutes=-1))
    respx.post(MS_TOKEN_URL).respond(503)
    with pytest.raises(MailboxTokenUnavailable) as unavailable:
        tokens(vault, settings).access_token(GRAPH)
    assert not isinstance(unavailable.value, MailboxAuthError)  # the sender must not pause the mailbox for this
    assert stored(vault, GRAPH).refresh_token.get_secret_value() == OLD_REFRESH and not stored(vault, GRAPH).refused


def test_without_the_oauth_app_the_error_names_the_settings_to_set(vault, tmp_path):
    store_grant(vault, GMAIL, dt.timedelta(minutes=-1))
    with pytest.raises(MailboxAuthError, match="GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set"):
        tokens(vault, Settings(salesos_home=tmp_path)).access_token(GMAIL)


@pytest.mark.parametrize("directory", ["../common", "evil.example/x?", "a b", ""])
def test_a_microsoft_directory_that_is_no_tenant_id_is_refused_naming_the_field(directory):
    with pytest.raises(ValueError, match="directory"):
        oauth_secret("microsoft", OLD_REFRESH, directory=directory)


def test_two_workers_refreshing_at_once_make_one_call_and_keep_the_rotated_refresh_token(state_url, settings):
    vault = Vault(state_url, new_key())
    store_grant(vault, GRAPH, dt.timedelta(minutes=-1))
    both_read_stale = threading.Barrier(2, timeout=10)
    refreshing, overlapped = threading.Event(), threading.Event()
    reads, real_get = itertools.count(), vault.get

    def get(tenant: str, name: str) -> str | None:
        value = real_get(tenant, name)
        if next(reads) < 2:  # each worker's first read, outside the lock: both see the expired token
            both_read_stale.wait()
        elif refreshing.is_set():  # a read under the lock while the other worker's refresh is under way
            overlapped.set()
        return value

    vault.get = get
    rotations = itertools.count(1)

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        n = next(rotations)
        refreshing.set()
        overlapped.wait(0.5)  # give the other worker the time to get past the lock, which it must not
        refreshing.clear()
        return httpx.Response(200, json={"access_token": f"access-{n}", "refresh_token": f"rotated-{n}",
                                         "expires_in": 3599, "token_type": "Bearer"})

    got: list[str] = []
    with respx.mock:
        route = respx.post(MS_TOKEN_URL).mock(side_effect=token_endpoint)
        workers = [threading.Thread(target=lambda: got.append(tokens(vault, settings).access_token(GRAPH)))
                   for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=20)
    assert not overlapped.is_set() and route.call_count == 1 and got == ["access-1", "access-1"]
    assert stored(vault, GRAPH).refresh_token.get_secret_value() == "rotated-1"


@respx.mock
def test_no_token_or_client_secret_reaches_a_log_line_a_repr_or_an_error(vault, settings, caplog):
    caplog.set_level(logging.DEBUG)
    store_grant(vault, GRAPH, dt.timedelta(minutes=-1))
    respx.post(MS_TOKEN_URL).mock(side_effect=[httpx.Response(200, json=body("microsoft_refresh_response.json")),
                                               httpx.Response(400, json=body("microsoft_error_invalid_grant.json"))])
    source = tokens(vault, settings)
    fresh = source.access_token(GRAPH)
    store_grant(vault, GRAPH, dt.timedelta(minutes=-1))
    with pytest.raises(MailboxRefused) as refused:
        source.access_token(GRAPH)
    shown = " ".join([caplog.text, repr(source), repr(stored(vault, GRAPH)), str(stored(vault, GRAPH)),
                      str(refused.value), repr(refused.value)])
    rotated = body("microsoft_refresh_response.json")["refresh_token"]
    for secret in (fresh, rotated, OLD_ACCESS, OLD_REFRESH, MICROSOFT_SECRET):
        assert secret not in shown
    assert "access token refreshed (refresh token rotated)" in caplog.text
