"""Twilio's callbacks: signed per tenant over the public URL; STOP revokes SMS consent at once."""

from __future__ import annotations

import pytest

from connector.settings import Settings
from connector.sms_consent import SmsConsent
from connector.twilio_account import parse_account, set_account
from connector.twilio_messages import TwilioMessages
from connector.twilio_signature import signature
from connector.vault import Vault, new_key
from webhooks.app import create_app
from webhooks.twilio import EMPTY_TWIML, MAX_BODY_BYTES, REFUSED

PUBLIC = "https://salesos.example.com"
AUTH_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
ADA = "+14155552671"
MESSAGE_SID = "SM" + "b" * 32
CALL_SID = "CA" + "c" * 32


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path, salesos_vault_keys=new_key(), salesos_public_url=PUBLIC)


@pytest.fixture
def token(settings):
    vault = Vault(settings.database_url, settings.salesos_vault_keys.get_secret_value())
    account = parse_account(account_sid="AC" + "a" * 32, auth_token=AUTH_TOKEN, caller_id="+14155550100")
    return set_account(vault, "local", account)


@pytest.fixture
def client(settings):
    return create_app(settings=settings).test_client()


def post(client, path, params, *, key=AUTH_TOKEN, signed_url=None, **headers):
    """POST `params` as Twilio does, signed over the public URL (or `signed_url`) with `key`."""
    sig = signature(signed_url or PUBLIC + path, params, key)
    return client.post(path, data=params, headers={"X-Twilio-Signature": sig, **headers},
                       base_url="http://10.0.0.5:8000")  # what a proxy hands the app: not the public URL


def inbound(body, sender=ADA):
    return {"AccountSid": "AC" + "a" * 32, "From": sender, "To": "+14155550100", "Body": body,
            "MessageSid": MESSAGE_SID, "NumMedia": "0"}


@pytest.fixture
def consent(settings):
    store = SmsConsent(settings.database_url)
    store.grant("local", ADA, source="form")
    return store


@pytest.mark.parametrize("body", ["STOP", " unsubscribe "])  # every keyword: tests/agents/test_phone_steps.py
def test_an_opt_out_keyword_revokes_consent_at_once_and_answers_empty_twiml(client, token, consent, body):
    answer = post(client, f"/webhooks/twilio/{token}/sms", inbound(body))
    assert answer.status_code == 200 and answer.get_data(as_text=True) == EMPTY_TWIML
    assert answer.content_type.startswith("text/xml")
    assert not consent.has_consent("local", ADA)


def test_a_text_that_merely_mentions_stop_revokes_nothing(client, token, consent):
    post(client, f"/webhooks/twilio/{token}/sms", inbound("please don't stop texting"))
    assert consent.has_consent("local", ADA)


def test_twilios_opt_out_type_counts_for_a_custom_keyword(client, token, consent):
    post(client, f"/webhooks/twilio/{token}/sms", {**inbound("ARRET"), "OptOutType": "STOP"})
    assert not consent.has_consent("local", ADA)


def test_start_restores_the_consent_a_stop_revoked(client, token, consent):
    post(client, f"/webhooks/twilio/{token}/sms", inbound("STOP"))
    post(client, f"/webhooks/twilio/{token}/sms", inbound("start"))
    assert consent.has_consent("local", ADA)


def test_a_stop_signed_with_another_token_is_refused_and_changes_nothing(client, token, consent):
    answer = post(client, f"/webhooks/twilio/{token}/sms", inbound("STOP"), key="another-token")
    assert answer.status_code == 403 and answer.get_data(as_text=True) == REFUSED
    assert consent.has_consent("local", ADA)


def test_an_unknown_url_token_gets_the_same_answer_as_a_bad_signature(client, token):
    unknown = post(client, "/webhooks/twilio/nobodys-token/sms", inbound("STOP"))
    forged = post(client, f"/webhooks/twilio/{token}/sms", inbound("STOP"), key="guess")
    assert (unknown.status_code, unknown.get_data()) == (forged.status_code, forged.get_data())
    assert (forged.status_code, forged.get_data(as_text=True)) == (403, REFUSED)


def test_the_signature_is_checked_over_the_public_url_not_the_host_the_request_names(client, token, consent):
    path = f"/webhooks/twilio/{token}/sms"
    answer = post(client, path, inbound("STOP"), signed_url="http://10.0.0.5:8000" + path)
    assert answer.status_code == 403 and consent.has_consent("local", ADA)


def test_an_unsigned_request_is_refused(client, token):
    answer = client.post(f"/webhooks/twilio/{token}/sms", data=inbound("STOP"))
    assert answer.status_code == 403


def test_an_oversized_body_is_refused(client, token):
    answer = post(client, f"/webhooks/twilio/{token}/sms", inbound("x" * MAX_BODY_BYTES))
    assert answer.status_code == 413


def test_too_many_fields_are_refused(client, token):
    params = {**inbound("STOP"), **{f"F{index}": "1" for index in range(100)}}
    assert post(client, f"/webhooks/twilio/{token}/sms", params).status_code == 413


def test_a_message_status_callback_records_the_status_once(client, token, settings):
    params = {"MessageSid": MESSAGE_SID, "MessageStatus": "delivered", "AccountSid": "AC" + "a" * 32}
    assert post(client, f"/webhooks/twilio/{token}/status", params).status_code == 204
    late = {**params, "MessageStatus": "sent"}
    assert post(client, f"/webhooks/twilio/{token}/status", late).status_code == 204
    assert TwilioMessages(settings.database_url).get("local", MESSAGE_SID).status == "delivered"


def test_an_undelivered_text_keeps_twilios_error_code(client, token, settings):
    params = {"MessageSid": MESSAGE_SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    post(client, f"/webhooks/twilio/{token}/status", params)
    assert TwilioMessages(settings.database_url).get("local", MESSAGE_SID).error_code == "30003"


def test_a_call_status_callback_is_recorded_as_a_call(client, token, settings):
    post(client, f"/webhooks/twilio/{token}/status", {"CallSid": CALL_SID, "CallStatus": "no-answer"})
    recorded = TwilioMessages(settings.database_url).get("local", CALL_SID)
    assert (recorded.kind, recorded.status) == ("call", "no-answer")


def test_a_forged_status_callback_records_nothing(client, token, settings):
    params = {"MessageSid": MESSAGE_SID, "MessageStatus": "delivered"}
    assert post(client, f"/webhooks/twilio/{token}/status", params, key="guess").status_code == 403
    assert TwilioMessages(settings.database_url).get("local", MESSAGE_SID) is None


def test_a_replayed_start_never_undoes_a_later_stop(settings, token, consent, redis_url):
    client = create_app(redis_url=redis_url, settings=settings).test_client()
    texts = {name: {**inbound(name.rstrip("0123456789")), "MessageSid": "SM" + digit * 32}
             for name, digit in (("STOP1", "1"), ("start", "2"), ("STOP3", "3"))}
    for name in ("STOP1", "start", "STOP3"):
        post(client, f"/webhooks/twilio/{token}/sms", texts[name])
    post(client, f"/webhooks/twilio/{token}/sms", texts["start"])  # captured, and posted again later
    assert not consent.has_consent("local", ADA)
