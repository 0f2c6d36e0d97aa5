"""SMS consent and Twilio statuses in the state store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import respx

from connector.channels.phone_numbers import InvalidPhoneNumber
from connector.channels.sms import NoSmsConsent, send_consented_sms
from connector.channels.twilio import RecipientOptedOut, TwilioClient
from connector.sms_consent import ConsentError, SmsConsent
from connector.twilio_messages import TwilioMessages

ADA = "+14155552671"
SID = "AC" + "a" * 32
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"


@pytest.fixture
def sqlite_url(tmp_path):
    """For what does not depend on the engine: each state_url test runs the migrations twice."""
    return f"sqlite:///{tmp_path / 'state.sqlite3'}"


@pytest.fixture
def consent(state_url):
    return SmsConsent(state_url)


@pytest.fixture
def sqlite_consent(sqlite_url):
    """For the rules over the same statements: the statements themselves run on both engines above and below."""
    return SmsConsent(sqlite_url)


def test_a_number_without_consent_on_record_may_not_be_texted(consent):
    assert not consent.has_consent("t", ADA)


def test_a_granted_consent_allows_texting_that_number_for_that_tenant_only(consent):
    consent.grant("t", "+1 (415) 555-2671", source="form", email="Ada@Example.com")
    assert consent.has_consent("t", ADA)
    assert not consent.has_consent("other", ADA)


def test_a_revoke_takes_effect_at_once(consent):
    consent.grant("t", ADA, source="rep")
    assert consent.revoke("t", ADA, "sms_stop")
    assert not consent.has_consent("t", ADA)


def test_a_second_stop_changes_nothing(sqlite_consent):
    sqlite_consent.grant("t", ADA, source="form")
    sqlite_consent.revoke("t", ADA, "sms_stop")
    assert not sqlite_consent.revoke("t", ADA, "sms_stop")


def test_a_stop_without_consent_on_file_is_recorded_so_an_import_cannot_grant_it_later(consent):
    assert consent.revoke("t", ADA, "sms_stop")
    with pytest.raises(ConsentError, match="^source: the contact revoked"):
        consent.grant("t", ADA, source="import")
    assert not consent.has_consent("t", ADA)


def test_a_rep_cannot_undo_a_contacts_stop(sqlite_consent):
    sqlite_consent.grant("t", ADA, source="form")
    sqlite_consent.revoke("t", ADA, "sms_stop")
    with pytest.raises(ConsentError):
        sqlite_consent.grant("t", ADA, source="rep")


def test_a_new_form_consent_lifts_a_stop(sqlite_consent):
    sqlite_consent.revoke("t", ADA, "sms_stop")
    sqlite_consent.grant("t", ADA, source="form")
    assert sqlite_consent.has_consent("t", ADA)


def test_a_rep_may_grant_again_after_a_rep_revoked(sqlite_consent):
    sqlite_consent.grant("t", ADA, source="rep")
    sqlite_consent.revoke("t", ADA, "rep")
    sqlite_consent.grant("t", ADA, source="rep")
    assert sqlite_consent.has_consent("t", ADA)


def test_start_restores_consent_given_before_the_stop(consent):
    consent.grant("t", ADA, source="form")
    consent.revoke("t", ADA, "sms_stop")
    assert consent.resubscribe("t", ADA)
    assert consent.has_consent("t", ADA)


def test_start_from_a_number_that_never_agreed_grants_nothing(sqlite_consent):
    sqlite_consent.revoke("t", ADA, "sms_stop")
    assert not sqlite_consent.resubscribe("t", ADA)
    assert not sqlite_consent.has_consent("t", ADA)


def test_an_unknown_source_is_refused_naming_the_field(sqlite_consent):
    with pytest.raises(ConsentError, match="^source: one of form, rep, import"):
        sqlite_consent.grant("t", ADA, source="guess")


def test_a_phone_that_is_no_number_is_refused_naming_the_field(sqlite_consent):
    with pytest.raises(InvalidPhoneNumber, match="^phone:"):
        sqlite_consent.grant("t", "not a phone", source="form")


def test_consented_answers_a_batch_in_one_call(consent):
    consent.grant("t", ADA, source="form")
    consent.grant("t", "+14155550000", source="form")
    consent.revoke("t", "+14155550000", "rep")
    assert consent.consented("t", [ADA, "+14155550000", "+14155550001"]) == {ADA}


def test_concurrent_grants_and_stops_leave_the_stop_in_force(consent):
    """Every grant is a rep's and every revoke a STOP: whatever the order, the STOP must stand at the end."""
    consent.grant("t", ADA, source="rep")
    errors = []

    def grant():
        for _ in range(5):
            try:
                consent.grant("t", ADA, source="rep")
            except ConsentError:
                pass
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=grant) for _ in range(2)]
    for thread in threads:
        thread.start()
    consent.revoke("t", ADA, "sms_stop")
    for thread in threads:
        thread.join()
    assert errors == [] and not consent.has_consent("t", ADA)


# Twilio statuses

def test_a_status_further_along_replaces_the_stored_one(state_url):
    messages = TwilioMessages(state_url)
    messages.record("t", "SM1", "sms", "queued", phone=ADA)
    assert messages.record("t", "SM1", "sms", "delivered")
    assert messages.get("t", "SM1").status == "delivered"
    assert messages.get("t", "SM1").phone == ADA


def test_a_late_or_repeated_callback_changes_nothing(state_url):
    messages = TwilioMessages(state_url)
    messages.record("t", "SM1", "sms", "delivered")
    assert not messages.record("t", "SM1", "sms", "sent")
    assert not messages.record("t", "SM1", "sms", "delivered")
    assert messages.get("t", "SM1").status == "delivered"


def test_a_callback_for_an_unseen_sid_creates_its_row_with_the_error_code(sqlite_url):
    messages = TwilioMessages(sqlite_url)
    assert messages.record("t", "SM2", "sms", "undelivered", error_code="30003")
    assert (messages.get("t", "SM2").status, messages.get("t", "SM2").error_code) == ("undelivered", "30003")


def test_statuses_are_kept_per_tenant(sqlite_url):
    messages = TwilioMessages(sqlite_url)
    messages.record("t", "SM1", "sms", "delivered")
    assert messages.get("other", "SM1") is None


# the send path

@pytest.fixture
def client():
    twilio = TwilioClient(SID, "token")
    yield twilio
    twilio.close()


def test_a_text_without_consent_is_never_sent(sqlite_url, client):
    with respx.mock(assert_all_called=False) as router:
        route = router.post(url__regex=r".*/Messages\.json").respond(201, json={"sid": "SM1", "status": "queued"})
        with pytest.raises(NoSmsConsent):
            send_consented_sms(client, SmsConsent(sqlite_url), TwilioMessages(sqlite_url), "t", ADA, "Hi",
                               from_="+14155552345")
    assert not route.called


def test_a_consented_text_is_sent_and_its_sid_recorded(sqlite_url, client):
    consent = SmsConsent(sqlite_url)
    consent.grant("t", ADA, source="form")
    body = json.loads((FIXTURES / "twilio_message_create_201.json").read_text())
    messages = TwilioMessages(sqlite_url)
    with respx.mock() as router:
        router.post(url__regex=r".*/Messages\.json").respond(201, json=body)
        receipt = send_consented_sms(client, consent, messages, "t", "(415) 555-2671", "Hi", region="US",
                                     from_="+14155552345")
    assert messages.get("t", receipt.sid).phone == ADA


def test_twilios_opt_out_refusal_revokes_consent_here_too(sqlite_url, client):
    consent = SmsConsent(sqlite_url)
    consent.grant("t", ADA, source="form")
    refusal = {**json.loads((FIXTURES / "twilio_error_400.json").read_text()), "code": 21610}
    with respx.mock() as router:
        router.post(url__regex=r".*/Messages\.json").respond(400, json=refusal)
        with pytest.raises(RecipientOptedOut):
            send_consented_sms(client, consent, TwilioMessages(sqlite_url), "t", ADA, "Hi", from_="+14155552345")
    assert not consent.has_consent("t", ADA)
