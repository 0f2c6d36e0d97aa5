"""The Graph reader against Microsoft Graph's documented delta shapes (respx; payloads in tests/fixtures/inbound)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from connector.inbound.base import InboundAuthError, InboundError, TransientInboundError
from connector.inbound.graph import GraphReader

FIXTURES = Path(__file__).parents[2] / "fixtures" / "inbound"
USER = "https://graph.microsoft.com/v1.0/users/rep@salesos.test"
DELTA = f"{USER}/mailFolders/inbox/messages/delta"
REPLY = (FIXTURES / "reply.eml").read_bytes()
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
FIRST, LAST = (json.loads((FIXTURES / f"graph_delta_{name}_page.json").read_text()) for name in ("first", "last"))


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        router.get(url__regex=r"/messages/[^/]+/\$value$").respond(content=REPLY,
                                                                   headers={"Content-Type": "text/plain"})
        yield router


@pytest.fixture
def reader():
    graph = GraphReader("t1", "rep@salesos.test", lambda: "eyJ0.token", now=lambda: NOW)
    yield graph
    graph.close()


def delta_round(api):
    api.get(FIRST["@odata.nextLink"]).respond(json=LAST)
    return api.get(url__startswith=DELTA, params={"changeType": "created"}).respond(json=FIRST)


def test_a_first_poll_walks_a_created_only_delta_round_of_the_last_days_and_keeps_its_delta_link(api, reader):
    start = delta_round(api)
    messages, cursor = reader.fetch_new(None, 10)
    assert [m.provider_id for m in messages] == ["AAMkAGI2TG93AAA=", "AAMkAGI2TG94AAA="]  # the removed one skipped
    assert messages[0].raw == REPLY and messages[0].source == "graph"
    assert messages[0].received_at == dt.datetime(2026, 12, 2, 9, 15, tzinfo=dt.UTC)
    assert cursor == LAST["@odata.deltaLink"]
    asked = start.calls.last.request
    assert asked.url.params["$select"] == "id,receivedDateTime"
    assert asked.url.params["$filter"] == "receivedDateTime ge 2026-11-30T12:00:00Z"
    assert asked.headers["Prefer"] == "odata.maxpagesize=10" and asked.headers["Authorization"] == "Bearer eyJ0.token"


def test_a_later_poll_starts_from_the_delta_link(api, reader):
    api.get(LAST["@odata.deltaLink"]).respond(json={**LAST, "@odata.deltaLink": f"{DELTA}?$deltatoken=round2"})
    messages, cursor = reader.fetch_new(LAST["@odata.deltaLink"], 10)
    assert [m.provider_id for m in messages] == ["AAMkAGI2TG94AAA="] and cursor == f"{DELTA}?$deltatoken=round2"


def test_the_mime_comes_from_the_value_endpoint(api, reader):
    delta_round(api)
    reader.fetch_new(None, 10)
    mime = [call.request.url.path for call in api.calls if call.request.url.path.endswith("$value")]
    assert mime[0] == "/v1.0/users/rep@salesos.test/messages/AAMkAGI2TG93AAA=/$value"


def test_a_poll_at_its_limit_keeps_the_next_page_for_the_next_poll(api, reader):
    delta_round(api)
    messages, cursor = reader.fetch_new(None, 1)
    assert len(messages) == 1 and cursor == FIRST["@odata.nextLink"]
    rest, cursor = reader.fetch_new(cursor, 10)
    assert [m.provider_id for m in rest] == ["AAMkAGI2TG94AAA="] and cursor == LAST["@odata.deltaLink"]


def test_an_expired_delta_token_starts_a_round_of_the_last_days_again(api, reader):
    api.get(LAST["@odata.deltaLink"]).respond(410, json={"error": {"code": "SyncStateNotFound"}})
    delta_round(api)
    messages, cursor = reader.fetch_new(LAST["@odata.deltaLink"], 10)
    assert len(messages) == 2 and cursor == LAST["@odata.deltaLink"]


def test_a_message_over_the_size_bound_is_skipped_by_id(api, caplog):
    reader = GraphReader("t1", "rep@salesos.test", lambda: "t", now=lambda: NOW, max_bytes=50)
    delta_round(api)
    with caplog.at_level(logging.WARNING):
        messages, _ = reader.fetch_new(None, 10)
    assert messages == [] and "message AAMkAGI2TG93AAA= skipped" in caplog.text


def test_a_cursor_on_another_host_is_refused_before_the_token_is_sent(api, reader):
    stranger = api.get(url__startswith="https://attacker.example")
    with pytest.raises(ValueError, match="cursor"):
        reader.fetch_new("https://attacker.example/v1.0/users/x/delta?$deltatoken=1", 10)
    assert not stranger.called


def test_a_next_link_to_another_host_is_not_followed(api, reader):
    api.get(url__startswith=DELTA).respond(json={**FIRST, "@odata.nextLink": "https://attacker.example/next"})
    with pytest.raises(InboundError, match="not followed"):
        reader.fetch_new(None, 10)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_an_auth_error(api, reader, status):
    api.get(url__startswith=DELTA).respond(status, json={"error": {"code": "InvalidAuthenticationToken"}})
    with pytest.raises(InboundAuthError):
        reader.fetch_new(None, 10)


def test_throttling_is_transient_and_says_when_to_come_back(api, reader):
    api.get(url__startswith=DELTA).respond(429, headers={"Retry-After": "12"})
    with pytest.raises(TransientInboundError) as raised:
        reader.fetch_new(None, 10)
    assert raised.value.retry_after == 12


def test_a_server_error_is_transient(api, reader):
    api.get(url__startswith=DELTA).mock(return_value=httpx.Response(504))
    with pytest.raises(TransientInboundError):
        reader.fetch_new(None, 10)
