"""The Gmail, Microsoft Graph and SendGrid backends against their documented requests and answers (respx)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
import respx

from connector.channels.base import MailboxAuthError, MessageRejected, TransientSendError
from connector.channels.gmail import GmailChannel
from connector.channels.graph import GraphChannel
from connector.channels.sendgrid import SendGridChannel
from tests.connector.channels.smtp_servers import message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels"
GMAIL_SEND = "https://gmail.googleapis.com/gmail/v1/users/me/messages/send"
GRAPH_SEND = "https://graph.microsoft.com/v1.0/users/rep@acme.example/sendMail"
SENDGRID_SEND = "https://api.sendgrid.com/v3/mail/send"
TO = ["ada@example.com"]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _message_id(raw: bytes) -> str:
    return next(line.split(b": ", 1)[1].decode() for line in raw.splitlines() if line.startswith(b"Message-ID: "))


# Gmail


@respx.mock
def test_gmail_sends_the_message_as_base64url_raw_and_keeps_its_ids():
    route = respx.post(GMAIL_SEND).respond(200, json=fixture("gmail_messages_send_200.json"))
    raw = message()
    receipt = GmailChannel("ya29.token").send(raw, "rep@acme.example", TO)
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer ya29.token"
    assert base64.urlsafe_b64decode(json.loads(sent.content)["raw"]) == raw
    assert "threadId" not in json.loads(sent.content)
    assert (receipt.provider_id, receipt.thread_id) == ("18e0c3f2a9b4d5e6", "18e0c3f2a9b4d5e6")
    assert receipt.message_id == _message_id(raw)


@respx.mock
def test_gmail_puts_a_follow_up_on_the_thread_it_is_given():
    route = respx.post(GMAIL_SEND).respond(200, json=fixture("gmail_messages_send_200.json"))
    GmailChannel("ya29.token").send(message(), "rep@acme.example", TO, thread_id="18e0c3f2a9b4d5e6")
    assert json.loads(route.calls.last.request.content)["threadId"] == "18e0c3f2a9b4d5e6"


@respx.mock
def test_gmails_403_rate_limit_is_transient_not_an_auth_error():
    respx.post(GMAIL_SEND).respond(403, json=fixture("gmail_error_403_rate_limit.json"))
    with pytest.raises(TransientSendError) as refused:
        GmailChannel("ya29.token").send(message(), "rep@acme.example", TO)
    assert "User-rate limit exceeded" in str(refused.value)


@respx.mock
def test_gmails_401_is_a_mailbox_auth_error_that_never_shows_the_token():
    respx.post(GMAIL_SEND).respond(401, json={"error": {"code": 401, "message": "Invalid Credentials",
                                                        "status": "UNAUTHENTICATED"}})
    with pytest.raises(MailboxAuthError) as refused:
        GmailChannel("ya29.secret-token").send(message(), "rep@acme.example", TO)
    assert refused.value.code == "401" and "ya29.secret-token" not in str(refused.value)


# Microsoft Graph


@respx.mock
def test_graph_posts_the_mime_message_base64_as_text_plain_and_keeps_its_message_id():
    route = respx.post(GRAPH_SEND).respond(202)
    raw = message()
    receipt = GraphChannel("rep@acme.example", "eyJ.token").send(raw, "rep@acme.example", TO)
    sent = route.calls.last.request
    assert sent.headers["Content-Type"] == "text/plain" and sent.headers["Authorization"] == "Bearer eyJ.token"
    assert base64.b64decode(sent.content) == raw
    assert receipt.message_id == _message_id(raw) and receipt.provider_id is None


@respx.mock
def test_graphs_expired_token_is_a_mailbox_auth_error():
    respx.post(GRAPH_SEND).respond(401, json=fixture("graph_error_401.json"))
    with pytest.raises(MailboxAuthError) as refused:
        GraphChannel("rep@acme.example", "eyJ.token").send(message(), "rep@acme.example", TO)
    assert "InvalidAuthenticationToken" in str(refused.value)


@respx.mock
def test_graphs_429_is_transient_with_its_retry_after():
    respx.post(GRAPH_SEND).respond(429, headers={"Retry-After": "17"}, json={"error": {"code": "TooManyRequests",
                                                                                      "message": "throttled"}})
    with pytest.raises(TransientSendError) as refused:
        GraphChannel("rep@acme.example", "eyJ.token").send(message(), "rep@acme.example", TO)
    assert refused.value.retry_after == 17.0


@respx.mock
def test_graph_unreachable_is_transient():
    respx.post(GRAPH_SEND).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(TransientSendError) as refused:
        GraphChannel("rep@acme.example", "eyJ.token").send(message(), "rep@acme.example", TO)
    assert refused.value.code == "network"


# SendGrid


@respx.mock
def test_sendgrid_gets_the_message_as_json_with_the_headers_salesos_relies_on():
    route = respx.post(SENDGRID_SEND).respond(202, headers={"X-Message-Id": "HyTUNGfkQWq9b3MjW1BmZw"})
    raw = message("t:ada@example.com:1")
    receipt = SendGridChannel("SG.key").send(raw, "rep@acme.example", TO)
    body = json.loads(route.calls.last.request.content)
    assert route.calls.last.request.headers["Authorization"] == "Bearer SG.key"
    assert body["personalizations"] == [{"to": [{"email": "ada@example.com", "name": "Ada Lovelace"}]}]
    assert body["from"] == {"email": "rep@acme.example", "name": "Rep"}
    assert body["subject"] and body["content"][0]["type"] == "text/plain"
    assert "Unsubscribe: https://salesos.example.com/u/tok" in body["content"][0]["value"]
    assert body["headers"] == {"List-Unsubscribe": "<https://salesos.example.com/u/tok>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                               "X-SalesOS-Step": "t:ada@example.com:1"}
    assert (receipt.message_id, receipt.provider_id) == (_message_id(raw), "HyTUNGfkQWq9b3MjW1BmZw")


@respx.mock
def test_sendgrid_gets_the_tenant_and_step_its_events_come_back_with():
    route = respx.post(SENDGRID_SEND).respond(202, headers={"X-Message-Id": "HyTUNGfkQWq9b3MjW1BmZw"})
    SendGridChannel("SG.key").send(message("outreach:hubspot-62515:ada@example.com:0"), "rep@acme.example", TO)
    assert json.loads(route.calls.last.request.content)["custom_args"] == {
        "salesos_tenant": "hubspot-62515", "salesos_step": "outreach:hubspot-62515:ada@example.com:0"}


@respx.mock
def test_sendgrid_keeps_the_threading_headers_of_a_follow_up():
    route = respx.post(SENDGRID_SEND).respond(202, headers={"X-Message-Id": "abc"})
    raw = message().replace(b"Message-ID:", b"In-Reply-To: <first@acme.example>\nReferences: <first@acme.example>\n"
                                             b"Message-ID:", 1)
    SendGridChannel("SG.key").send(raw, "rep@acme.example", TO)
    headers = json.loads(route.calls.last.request.content)["headers"]
    assert headers["In-Reply-To"] == headers["References"] == "<first@acme.example>"


@respx.mock
def test_sendgrids_400_refuses_the_message_and_says_why():
    respx.post(SENDGRID_SEND).respond(400, json=fixture("sendgrid_error_400.json"))
    with pytest.raises(MessageRejected) as refused:
        SendGridChannel("SG.key").send(message(), "rep@acme.example", TO)
    assert "content value must be a string" in str(refused.value)


@pytest.mark.parametrize(("status", "error"), [(401, MailboxAuthError), (403, MailboxAuthError),
                                               (429, TransientSendError), (500, TransientSendError),
                                               (503, TransientSendError), (400, MessageRejected)])
@respx.mock
def test_each_sendgrid_status_means_what_the_caller_must_do(status, error):
    respx.post(SENDGRID_SEND).respond(status, json={"errors": [{"message": "x"}]})
    with pytest.raises(error) as refused:
        SendGridChannel("SG.key").send(message(), "rep@acme.example", TO)
    assert type(refused.value) is error and refused.value.code == str(status)
