"""Local email steps: valid RFC 5322 files with one-click unsubscribe."""

import datetime as dt
from email import message_from_bytes
from email.policy import default

from connector.channels.email import EmailDraft, Sender, render, write_eml

SENDER = Sender(name="SalesOS Demo", email="demo@salesos.invalid", postal_address="1 Sample Street, Springfield")
SENT = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)


def draft(**overrides):
    fields = dict(
        key="outreach:local:jane@acme.io:0", to_name="Jane Doe", to_email="jane@acme.io", title="VP Sales",
        company_name="Acme", message_type="problem_aware", hooks=["you are hiring a VP of Sales (posted 2 October)"],
        unsubscribe_url="http://127.0.0.1:5000/unsubscribe/tok",
    )
    return EmailDraft(**(fields | overrides))


def parsed(message):
    return message_from_bytes(message.as_bytes(), policy=default)


def test_the_message_has_the_headers_of_a_real_email():
    message = parsed(render(draft(), SENDER, SENT).message)
    assert message["From"] == "SalesOS Demo <demo@salesos.invalid>"
    assert message["To"] == "Jane Doe <jane@acme.io>"
    assert message["Subject"] == "Finding the right accounts at Acme"
    assert message["Date"] == "Mon, 02 Nov 2026 14:00:00 +0000"
    assert message["Message-ID"].endswith("@salesos.invalid>")


def test_one_click_unsubscribe_headers_are_present():
    message = parsed(render(draft(), SENDER, SENT).message)
    assert message["List-Unsubscribe"] == "<http://127.0.0.1:5000/unsubscribe/tok>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_body_is_personalised_and_carries_the_postal_address():
    body = parsed(render(draft(), SENDER, SENT).message).get_body().get_content()
    assert body.startswith("Hi Jane,")
    assert "I noticed you are hiring a VP of Sales (posted 2 October)." in body
    assert "1 Sample Street, Springfield" in body
    assert "http://127.0.0.1:5000/unsubscribe/tok" in body


def test_an_unknown_message_type_falls_back_to_the_generic_template():
    message = parsed(render(draft(message_type="a_type_added_later"), SENDER, SENT).message)
    assert message["Subject"] == "Following up, Jane"


def test_the_same_step_always_writes_the_same_file(tmp_path):
    first = write_eml(tmp_path, "k", render(draft(), SENDER, SENT).message.as_bytes())
    second = write_eml(tmp_path, "k", render(draft(), SENDER, SENT).message.as_bytes())
    assert first == second
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_non_ascii_names_and_subjects_are_encoded():
    rendered = render(draft(to_name="Zoë Müller", company_name="Größe"), SENDER, SENT)
    message = parsed(rendered.message)
    assert message["To"].addresses[0].display_name == "Zoë Müller"
    assert message["Subject"] == rendered.subject == "Finding the right accounts at Größe"
    assert message.get_body().get_content().startswith("Hi Zoë,")
