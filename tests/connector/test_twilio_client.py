"""The Twilio client against Twilio's documented answers (respx for the HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs
from xml.etree import ElementTree

import httpx
import pytest
import respx

from connector.channels.base import MailboxAuthError, RecipientRejected, TransientSendError
from connector.channels.phone_numbers import InvalidPhoneNumber
from connector.channels.twilio import (CallReceipt, InvalidNumber, RecipientOptedOut, SmsReceipt, TwilioAuthError,
                                       TwilioClient, TwilioError, TwilioRateLimited, TwilioUnavailable, dial_twiml)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
SID = "AC" + "a" * 32
TOKEN = "secret-auth-token"
BASE = f"https://api.twilio.com/2010-04-01/Accounts/{SID}"
SERVICE = "MG" + "a" * 32


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def error(code: int, status: int) -> dict:
    """Twilio's documented error envelope (twilio_error_400.json) with another code and status."""
    return {**fixture("twilio_error_400"), "code": code, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def client():
    twilio = TwilioClient(SID, TOKEN)
    yield twilio
    twilio.close()


def form(request: httpx.Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request.content.decode()).items()}


def test_an_sms_is_posted_as_a_form_with_basic_auth_and_its_receipt_read(router, client):
    route = router.post(f"{BASE}/Messages.json").respond(201, json=fixture("twilio_message_create_201"))
    receipt = client.send_sms("(415) 555-2671", "Hi Ada. Reply STOP to opt out", from_="+1 415 555 2345",
                              status_callback="https://salesos.example.com/webhooks/twilio/t/status", region="US")
    assert receipt == SmsReceipt(sid="SM" + "a" * 32, status="sent")
    request = route.calls.last.request
    assert request.headers["Authorization"] == httpx.BasicAuth(SID, TOKEN)._auth_header
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"To": "+14155552671", "From": "+14155552345", "Body": "Hi Ada. Reply STOP to opt out",
                             "StatusCallback": "https://salesos.example.com/webhooks/twilio/t/status"}


def test_an_sms_can_go_through_a_messaging_service(router, client):
    route = router.post(f"{BASE}/Messages.json").respond(201, json=fixture("twilio_message_create_201"))
    client.send_sms("+14155552671", "Hi", messaging_service_sid=SERVICE)
    assert form(route.calls.last.request) == {"To": "+14155552671", "Body": "Hi", "MessagingServiceSid": SERVICE}


@pytest.mark.parametrize("senders", [{}, {"from_": "+14155552345", "messaging_service_sid": SERVICE}])
def test_an_sms_needs_exactly_one_sender(client, senders):
    with pytest.raises(ValueError, match="from_ / messaging_service_sid"):
        client.send_sms("+14155552671", "Hi", **senders)


def test_an_sms_body_over_twilios_limit_is_refused_before_sending(router, client):
    with pytest.raises(ValueError, match="body: 1 to 1600"):
        client.send_sms("+14155552671", "x" * 1601, from_="+14155552345")
    assert not router.calls


def test_a_number_that_cannot_be_parsed_is_refused_naming_its_field(router, client):
    with pytest.raises(InvalidPhoneNumber, match="^to: 'call me maybe' is not a phone number"):
        client.send_sms("call me maybe", "Hi", from_="+14155552345", region="US")
    assert not router.calls


def test_a_national_number_is_read_in_the_contacts_country(router, client):
    route = router.post(f"{BASE}/Messages.json").respond(201, json=fixture("twilio_message_create_201"))
    client.send_sms("030 901820", "Hallo", from_="+14155552345", region="DE")
    assert form(route.calls.last.request)["To"] == "+4930901820"


def test_click_to_call_rings_the_rep_and_dials_the_prospect_when_they_answer(router, client):
    route = router.post(f"{BASE}/Calls.json").respond(201, json=fixture("twilio_call_create_201"))
    receipt = client.click_to_call("(415) 555-0123", "+44 20 7946 0958", caller_id="+1 415 555 0100", region="US",
                                   status_callback="https://salesos.example.com/webhooks/twilio/t/status")
    assert receipt == CallReceipt(sid="CA" + "a" * 32, status="queued")
    sent = form(route.calls.last.request)
    assert (sent["To"], sent["From"]) == ("+14155550123", "+14155550100")
    dial = ElementTree.fromstring(sent["Twiml"]).find("Dial")
    assert (dial.get("callerId"), dial.text) == ("+14155550100", "+442079460958")
    assert sent["StatusCallbackEvent"] == "completed"


def test_the_dial_twiml_escapes_what_it_quotes():
    twiml = dial_twiml('+1<Hangup/>', '"><Play>x</Play>')
    dial = ElementTree.fromstring(twiml).find("Dial")
    assert (dial.get("callerId"), dial.text, list(dial)) == ('"><Play>x</Play>', "+1<Hangup/>", [])


@pytest.mark.parametrize(("status", "body", "kind"), [
    (400, "twilio_error_400", InvalidNumber),
    (400, error(21614, 400), InvalidNumber),
    (400, error(21610, 400), RecipientOptedOut),
    (401, error(20003, 401), TwilioAuthError),
    (429, error(20429, 429), TwilioRateLimited),
    (503, None, TwilioUnavailable),
    (400, error(21606, 400), TwilioError),
])
def test_each_refusal_raises_the_error_its_status_and_code_call_for(router, client, status, body, kind):
    payload = fixture(body) if isinstance(body, str) else body
    router.post(f"{BASE}/Messages.json").respond(status, json=payload) if payload else \
        router.post(f"{BASE}/Messages.json").respond(status, text="<html>busy</html>")
    with pytest.raises(kind) as raised:
        client.send_sms("+14155552671", "Hi", from_="+14155552345")
    assert type(raised.value) is kind
    assert raised.value.status == status


def test_errors_key_on_the_code_never_on_the_message_text(router, client):
    router.post(f"{BASE}/Messages.json").respond(400, json={**fixture("twilio_error_400"), "message": "Anything"})
    with pytest.raises(InvalidNumber) as raised:
        client.send_sms("+14155552671", "Hi", from_="+14155552345")
    assert raised.value.code == "21211"


def test_a_rate_limit_carries_twilios_retry_after(router, client):
    router.post(f"{BASE}/Messages.json").respond(429, json=error(20429, 429), headers={"Retry-After": "7"})
    with pytest.raises(TwilioRateLimited) as raised:
        client.send_sms("+14155552671", "Hi", from_="+14155552345")
    assert raised.value.retry_after == 7


def test_errors_extend_the_channel_errors_a_send_loop_already_handles():
    assert issubclass(TwilioRateLimited, TransientSendError) and issubclass(TwilioUnavailable, TransientSendError)
    assert issubclass(InvalidNumber, RecipientRejected) and issubclass(RecipientOptedOut, RecipientRejected)
    assert issubclass(TwilioAuthError, MailboxAuthError)


def test_no_connection_means_nothing_was_sent(router, client):
    router.post(f"{BASE}/Messages.json").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TwilioUnavailable) as raised:
        client.send_sms("+14155552671", "Hi", from_="+14155552345")
    assert raised.value.maybe_sent is False


def test_a_timeout_after_sending_may_have_sent(router, client):
    router.post(f"{BASE}/Messages.json").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TwilioUnavailable) as raised:
        client.send_sms("+14155552671", "Hi", from_="+14155552345")
    assert raised.value.maybe_sent is True


def test_an_oversized_answer_is_not_read_whole(router, client):
    router.post(f"{BASE}/Messages.json").respond(201, content=b"x" * (65 * 1024))
    with pytest.raises(TwilioUnavailable):
        client.send_sms("+14155552671", "Hi", from_="+14155552345")


def test_an_error_never_quotes_the_number_or_the_text(router, client):
    router.post(f"{BASE}/Messages.json").respond(400, json=fixture("twilio_error_400"))
    with pytest.raises(TwilioError) as raised:
        client.send_sms("+14155552671", "secret offer", from_="+14155552345")
    assert "4155552671" not in str(raised.value) and "secret offer" not in str(raised.value)


def test_the_client_never_shows_its_token():
    assert TOKEN not in repr(TwilioClient(SID, TOKEN))


def test_an_account_sid_of_the_wrong_form_is_refused():
    with pytest.raises(ValueError, match="account_sid"):
        TwilioClient("SK123", TOKEN)
