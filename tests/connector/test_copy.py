"""The bundled copy: every message type renders as a clean, short email or task text for any contact."""

import datetime as dt
import re
from email import message_from_bytes
from email.policy import default

import pytest

from agents.models import ObjectionAngle
from agents.sequences import MESSAGE_TYPES
from connector.channels.email import (
    Draft, EmailDraft, Sender, first_email_type, footer, message_id, render, render_task_copy,
)

SENDER = Sender(name="SalesOS Demo", email="demo@salesos.invalid",
                postal_address="SalesOS Demo, 1 Sample Street, Springfield, USA")
SENT = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)
HOOKS = ["you are hiring a VP of Sales (posted 3 October on Greenhouse)", "you raised a Series B in September",
         "your pricing page changed last month"]
CONTACTS = {
    "with hooks, Inc.": dict(to_name="Jane Doe", title="VP Sales", company_name="Acme, Inc.", hooks=HOOKS),
    "no hooks, Ltd.": dict(to_name="Ravi Patel", title="", company_name="Northgrid Data Ltd.", hooks=[]),
    "non-ASCII": dict(to_name="Zoë Müller-Lüdenscheidt", title="Leiterin Vertrieb", company_name="Größe GmbH",
                      hooks=HOOKS[1:2]),
    "no name, long company": dict(to_name="", title="CRO", hooks=[HOOKS[0]],
                                  company_name="International Business Development Holdings Corp."),
}
OBJECTIONS = [ObjectionAngle(objection="Too expensive", angle="ROI on sales productivity: hours back per rep"),
              ObjectionAngle(objection="We already use HubSpot", angle="Works inside HubSpot; nothing to migrate")]


def email_draft(contact: str, message_type: str, **extra) -> EmailDraft:
    return EmailDraft(key=f"k:{contact}:{message_type}", to_email="p@acme.io", message_type=message_type,
                      unsubscribe_url="https://salesos.example/unsubscribe/tok", objections=OBJECTIONS,
                      **(CONTACTS[contact] | extra))


def words(text: str) -> int:
    return len(re.findall(r"\w+(?:['’-]\w+)*", text))


def assert_clean(text: str) -> None:
    assert "{{" not in text and "{%" not in text and "}}" not in text, text
    assert not re.search(r"(?<!\.)\.\.(?!\.)", text), text  # no "Inc.." (an ellipsis would be allowed)
    assert " ," not in text and "  " not in text and "()" not in text, text
    assert "\n\n\n" not in text, text


@pytest.mark.parametrize("contact", CONTACTS)
@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_every_email_type_is_clean_short_and_signed_once(message_type, contact):
    rendered = render(email_draft(contact, message_type), SENDER, SENT)
    body, sign_off = rendered.body.split("\n-- \n")
    assert_clean(rendered.body)
    assert rendered.subject and len(rendered.subject) < 80 and "\n" not in rendered.subject
    assert words(body) <= 120, body
    assert rendered.body.count(SENDER.name) == 1  # the signature block's name line, nothing else
    assert sign_off.splitlines() == ["SalesOS Demo", "1 Sample Street, Springfield, USA",
                                     "Unsubscribe: https://salesos.example/unsubscribe/tok"]
    assert body.count("?") == 1, body  # one ask


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_each_message_type_has_its_own_copy(message_type):
    others = [render(email_draft("with hooks, Inc.", other), SENDER, SENT) for other in MESSAGE_TYPES
              if other != message_type]
    mine = render(email_draft("with hooks, Inc.", message_type), SENDER, SENT)
    assert mine.subject not in {other.subject for other in others}
    assert "Following up" not in mine.body  # the generic fallback is not used by any sequence type


def test_the_first_hook_reads_as_a_sentence_in_the_email():
    body = render(email_draft("with hooks, Inc.", "problem_aware"), SENDER, SENT).body
    assert "I noticed you are hiring a VP of Sales (posted 3 October on Greenhouse)." in body


def test_a_company_name_ending_in_a_full_stop_gets_no_second_one_and_stays_as_written_mid_sentence():
    body = render(email_draft("with hooks, Inc.", "problem_aware"), SENDER, SENT).body
    assert "for Acme, Inc. be useful?" in body
    body = render(email_draft("no hooks, Ltd.", "win_back"), SENDER, SENT).body
    assert "at Northgrid Data Ltd., reply" in body


def test_a_follow_up_threads_under_the_first_emails_subject():
    first = render(email_draft("with hooks, Inc.", "problem_aware"), SENDER, SENT)
    follow_up = render(email_draft("with hooks, Inc.", "scarcity", first_email_type="problem_aware"), SENDER, SENT)
    assert follow_up.subject == f"Re: {first.subject}"


def test_the_first_email_of_a_sequence_is_not_a_reply_and_later_emails_name_it():
    steps = [{"channel": channel, "message_type": kind} for channel, kind in (
        ("linkedin", "problem_aware"), ("email", "value_add"), ("phone", "direct_pitch"), ("email", "win_back"))]
    assert [first_email_type(steps, index) for index in range(4)] == [None, None, None, "value_add"]


def test_a_follow_ups_message_id_is_its_own_and_stable():
    assert message_id("k1", SENDER) == message_id("k1", SENDER) != message_id("k2", SENDER)


def test_the_footer_keeps_an_address_that_does_not_start_with_the_name():
    text = footer(Sender(name="Dana Reyes", email="d@x.io", postal_address="Acme Ltd., 2 High St, Leeds"), "u")
    assert text == "-- \nDana Reyes\nAcme Ltd., 2 High St, Leeds\nUnsubscribe: u\n"


def test_the_subject_of_a_non_ascii_company_is_encoded_and_reads_back():
    rendered = render(email_draft("non-ASCII", "value_first"), SENDER, SENT)
    message = message_from_bytes(rendered.message.as_bytes(), policy=default)
    assert message["Subject"] == rendered.subject == "Accounts like Größe GmbH that are buying this quarter"
    assert message.get_body().get_content().startswith("Hi Zoë,")


def task_draft(contact: str, message_type: str = "value_add") -> Draft:
    return Draft(key="k", to_email="p@acme.io", message_type=message_type, objections=OBJECTIONS,
                 **CONTACTS[contact])


@pytest.mark.parametrize("contact", CONTACTS)
def test_the_linkedin_note_fits_linkedins_300_characters_and_opens_with_the_hook(contact):
    note = render_task_copy("linkedin_connection", task_draft(contact))
    assert_clean(note)
    assert len(note) <= 300
    assert note.startswith("Hi ")
    if CONTACTS[contact]["hooks"]:
        assert f"I noticed {CONTACTS[contact]['hooks'][0]}." in note


def test_a_note_too_long_with_its_hook_is_written_without_it():
    hook = "you are hiring a " + "very " * 50 + "senior sales leader"
    note = render_task_copy("linkedin_connection", task_draft("with hooks, Inc.").model_copy(update={"hooks": [hook]}))
    assert len(note) <= 300 and "very" not in note


@pytest.mark.parametrize("contact", CONTACTS)
def test_the_linkedin_message_is_short_with_one_ask(contact):
    message = render_task_copy("linkedin_message", task_draft(contact, "direct_pitch"))
    assert_clean(message)
    assert words(message) <= 120 and message.count("?") == 1


def test_the_call_script_has_an_opener_the_hook_two_questions_the_objections_and_a_voicemail():
    script = render_task_copy("call_script", task_draft("with hooks, Inc.", "direct_pitch"))
    assert_clean(script)
    assert "Opener: " in script
    assert 'Hook: "I saw that you are hiring a VP of Sales (posted 3 October on Greenhouse)."' in script
    assert "1. " in script and "2. " in script and "3. " not in script
    assert '- "Too expensive": ROI on sales productivity: hours back per rep' in script
    assert '- "We already use HubSpot": Works inside HubSpot; nothing to migrate' in script
    assert "Voicemail: " in script


def test_the_call_script_without_hooks_or_objections_still_reads():
    draft = task_draft("no hooks, Ltd.", "final_offer").model_copy(update={"objections": []})
    script = render_task_copy("call_script", draft)
    assert_clean(script)
    assert script.startswith("Last call of the sequence")
    assert "Hook: \"I work with sales leaders at companies like Northgrid Data Ltd." in script
    assert "If they push back" not in script
