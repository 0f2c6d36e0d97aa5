"""Phone-step decisions, SMS bodies and inbound keywords: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from agents.models import Contact, SequenceStep
from agents.phone_steps import OPT_OUT_NOTICE, is_gsm7, phone_step_plan, sms_body, sms_keyword, sms_length

CALL = SequenceStep(day=7, channel="phone", action="make_call", message_type="direct_pitch",
                    scheduled_at=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC))
SMS = CALL.model_copy(update={"action": "send_sms"})
ADA = Contact(name="Ada Lovelace", title="VP Sales", email="ada@example.com", phone="+14155552671",
              company_domain="example.com", email_verified=True, role_relevance=0.9, seniority=8,
              buying_authority=0.8, contact_preference="phone")
NO_PHONE = ADA.model_copy(update={"phone": None})


def plan(step=CALL, contact=ADA, twilio=True, rep="+14155550123", consent=False):
    return phone_step_plan(step, contact, twilio_configured=twilio, rep_phone=rep, sms_consent=consent).plan


def test_a_call_with_twilio_and_the_reps_phone_is_click_to_call():
    assert plan() == "click_to_call"


def test_a_call_without_twilio_is_a_call_task():
    assert plan(twilio=False) == "call_task"


def test_a_call_without_the_reps_phone_is_a_call_task_and_says_how_to_set_it():
    decision = phone_step_plan(CALL, ADA, twilio_configured=True, rep_phone=None, sms_consent=False)
    assert decision.plan == "call_task" and "twilio rep-phone" in decision.reason


def test_a_call_to_a_contact_without_a_phone_is_a_call_task():
    assert plan(contact=NO_PHONE) == "call_task"


def test_an_sms_with_consent_and_twilio_is_sent():
    assert plan(SMS, consent=True) == "sms"


def test_an_sms_without_consent_is_skipped_with_the_reason():
    decision = phone_step_plan(SMS, ADA, twilio_configured=True, rep_phone=None, sms_consent=False)
    assert decision.plan == "skip_sms_no_consent" and "consent" in decision.reason


def test_an_sms_is_never_turned_into_a_call_task():
    assert plan(SMS, twilio=False, consent=True) == "skip_sms_no_consent"


def test_a_short_sms_is_sender_message_and_opt_out_notice_in_one_gsm_segment():
    body = sms_body("Saw you're hiring SDRs - worth a chat?", sender="Sam at Acme")
    assert body == "Sam at Acme: Saw you're hiring SDRs - worth a chat? Reply STOP to opt out"
    assert is_gsm7(body) and sms_length(body) <= 160


def test_curly_quotes_and_dashes_are_made_gsm_so_the_text_stays_one_encoding():
    body = sms_body("It\u2019s \u201cquick\u201d \u2014 promise\u2026", sender="Sam")
    assert is_gsm7(body) and "It's \"quick\" - promise..." in body


def test_a_long_message_is_cut_at_a_word_to_one_segment_keeping_the_notice():
    body = sms_body("word " * 60, sender="Sam at Acme")
    assert sms_length(body) <= 160 and body.endswith("word... " + OPT_OUT_NOTICE)


def test_extension_characters_count_twice_toward_the_segment():
    body = sms_body("price [€] " * 30, sender="Sam")
    assert sms_length(body) <= 160 and body.endswith(OPT_OUT_NOTICE)


def test_a_text_outside_gsm_is_cut_to_one_ucs2_segment_where_it_can_be():
    body = sms_body("こんにちは " * 20, sender="Sam")
    assert not is_gsm7(body) and len(body) <= 70 and body.endswith(OPT_OUT_NOTICE)


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop ", "Stop!", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                                  "OPTOUT", "revoke"])
def test_each_opt_out_keyword_is_a_stop(text):
    assert sms_keyword(text) == "stop"


@pytest.mark.parametrize("text", ["START", "yes", "Unstop"])
def test_each_opt_in_keyword_is_a_start(text):
    assert sms_keyword(text) == "start"


@pytest.mark.parametrize("text", ["stop it please", "", None, "Who is this?"])
def test_anything_but_the_whole_keyword_is_no_keyword(text):
    assert sms_keyword(text) is None


def test_help_is_help():
    assert sms_keyword("help") == "help"


def test_twilios_opt_out_type_wins_over_the_body():
    assert sms_keyword("ARRET", "STOP") == "stop"
