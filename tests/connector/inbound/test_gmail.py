"""The Gmail reader against the Gmail API's documented shapes (respx; payloads in tests/fixtures/inbound)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from connector.inbound.base import InboundAuthError, InboundError, TransientInboundError
from connector.inbound.gmail import GmailReader

FIXTURES = Path(__file__).parents[2] / "fixtures" / "inbound"
API = "https://gmail.googleapis.com/gmail/v1/users/me"
REPLY = (FIXTURES / "reply.eml").read_bytes()


def payload(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def raw_message(message_id: str) -> dict:
    return {**payload("gmail_message_raw"), "id": message_id}


@pytest.fixture
def api():
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


@pytest.fixture
def reader():
    gmail = GmailReader("t1", "rep@salesos.test", lambda: "ya29.token")
    yield gmail
    gmail.close()


def test_a_first_poll_records_the_current_history_id_and_reads_nothing(api, reader):
    api.get("/profile").respond(json=payload("gmail_profile"))
    messages = api.get(url__startswith=f"{API}/messages")
    assert reader.fetch_new(None, 10) == ([], "4021")
    assert not messages.called


def test_a_later_poll_reads_each_message_added_to_the_inbox_whole(api, reader):
    history = api.get("/history").respond(json=payload("gmail_history_list"))
    api.get(path__regex=r"/messages/(?P<mid>\w+)$").mock(
        side_effect=lambda request, mid: httpx.Response(200, json=raw_message(mid)))
    messages, cursor = reader.fetch_new("4021", 10)
    assert [m.provider_id for m in messages] == ["18c1a1", "18c1b2", "18c1b3"]
    assert messages[0].raw == REPLY and messages[0].source == "gmail" and messages[0].mailbox == "rep@salesos.test"
    assert messages[0].received_at == dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    assert cursor == "4050"
    asked = history.calls.last.request.url.params
    assert (asked["startHistoryId"], asked["historyTypes"], asked["labelId"]) == ("4021", "messageAdded", "INBOX")
    assert history.calls.last.request.headers["Authorization"] == "Bearer ya29.token"


def test_messages_are_asked_for_in_raw_format(api, reader):
    api.get("/history").respond(json=payload("gmail_history_list"))
    get = api.get(path__regex=r"/messages/\w+$").respond(json=raw_message("18c1a1"))
    reader.fetch_new("4021", 1)
    assert get.calls.last.request.url.params["format"] == "raw"


def test_a_poll_over_its_limit_stops_after_a_whole_history_record(api, reader):
    api.get("/history").respond(json=payload("gmail_history_list"))
    api.get(path__regex=r"/messages/(?P<mid>\w+)$").mock(
        side_effect=lambda request, mid: httpx.Response(200, json=raw_message(mid)))
    messages, cursor = reader.fetch_new("4021", 2)
    assert [m.provider_id for m in messages] == ["18c1a1"]
    assert cursor == "4030"  # the next poll starts after the first record and reads the second one whole


def test_an_expired_history_id_falls_back_to_the_last_days_of_the_inbox(api, reader):
    api.get("/history").respond(404, json={"error": {"code": 404, "message": "Requested entity was not found."}})
    api.get("/profile").respond(json=payload("gmail_profile"))
    listing = api.get("/messages").respond(json={"messages": [{"id": "18c1b3", "threadId": "18c1b2"},
                                                              {"id": "18c1a1", "threadId": "18c1a0"}],
                                                 "resultSizeEstimate": 2})
    api.get(path__regex=r"/messages/(?P<mid>\w+)$").mock(
        side_effect=lambda request, mid: httpx.Response(200, json=raw_message(mid)))
    messages, cursor = reader.fetch_new("17", 10)
    assert [m.provider_id for m in messages] == ["18c1a1", "18c1b3"]  # oldest first
    assert cursor == "4021"
    assert listing.calls.last.request.url.params["q"] == "newer_than:2d"


def test_a_message_over_the_size_bound_is_skipped_without_being_read_whole(api, caplog):
    reader = GmailReader("t1", "rep@salesos.test", lambda: "ya29.token", max_bytes=1000)
    api.get("/history").respond(json={"history": [{"id": "5", "messagesAdded": [{"message": {"id": "big"}}]}],
                                      "historyId": "6"})
    chunks_read = []

    def endless():
        for number in range(1000):
            chunks_read.append(number)
            yield b"x" * 1024

    api.get("/messages/big").mock(return_value=httpx.Response(200, content=endless()))
    with caplog.at_level(logging.WARNING):
        messages, cursor = reader.fetch_new("4", 10)
    assert messages == [] and cursor == "6"
    assert "message big skipped" in caplog.text
    assert len(chunks_read) < 100  # of 1000: the bound (base64 of 1000 bytes, plus 64 KB of JSON) stopped it


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_an_auth_error(api, reader, status):
    api.get("/history").respond(status, json={"error": {"code": status}})
    with pytest.raises(InboundAuthError):
        reader.fetch_new("4021", 10)


def test_rate_limiting_is_transient_and_says_when_to_come_back(api, reader):
    api.get("/history").respond(429, headers={"Retry-After": "30"})
    with pytest.raises(TransientInboundError) as raised:
        reader.fetch_new("4021", 10)
    assert raised.value.retry_after == 30


def test_a_server_error_is_transient(api, reader):
    api.get("/history").respond(503)
    with pytest.raises(TransientInboundError):
        reader.fetch_new("4021", 10)


def test_a_timeout_is_transient(api, reader):
    api.get("/history").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientInboundError):
        reader.fetch_new("4021", 10)


def test_a_cursor_that_is_no_history_id_is_an_error_naming_the_cursor(reader):
    with pytest.raises(ValueError, match="cursor"):
        reader.fetch_new("1000:17", 10)


def test_a_mailbox_the_api_does_not_know_is_an_error_not_a_restart(api, reader):
    api.get("/profile").respond(404, json={"error": {"code": 404}})
    with pytest.raises(InboundError, match="no mailbox"):
        reader.fetch_new(None, 10)
