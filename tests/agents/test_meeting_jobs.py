"""Booking a meeting: on the owner's calendar with its video link, in the CRM, as an ICS invite from the owner's
mailbox; the sequence stops (local sink, local CRM, Google Calendar through respx)."""

import datetime as dt
import json
from email import message_from_bytes
from pathlib import Path

import pytest
import respx
from icalendar import Calendar

from agents.meeting_jobs import book_meeting_job
from connector import runtime
from connector.mailboxes import Mailbox
from connector.vault import new_key
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.agents.test_outreach_sending import owned_by

START = "2026-11-10T15:00:00+00:00"
EVENTS = "https://www.googleapis.com/calendar/v3/calendars/rep%40example.com/events"
CONFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "providers" /
                         "google_calendar_conference_data.json").read_text())


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    runtime.settings.cache_clear()
    LocalCRM(tmp_path / "crm.sqlite3").upsert_contacts([ContactWrite(
        email="jane@acme.io", name="Jane Roe", timezone="America/New_York", fields={"sequence_state": "active"})])
    yield tmp_path
    runtime.settings.cache_clear()


def test_a_booked_meeting_is_an_invite_a_crm_meeting_and_the_end_of_the_sequence(home):
    counts = book_meeting_job({"tenant": "local", "email": "jane@acme.io", "start": START})
    assert counts == {"meetings_booked": 1, "invites_sent": 1, "calendar_events": 0}
    [eml] = (home / "outbox").glob("*.eml")
    [part] = [p for p in message_from_bytes(eml.read_bytes()).walk() if p.get_content_type() == "text/calendar"]
    event = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
    assert (str(Calendar.from_ical(part.get_payload(decode=True))["METHOD"]), int(event["SEQUENCE"])) == ("REQUEST", 0)
    crm = LocalCRM(home / "crm.sqlite3")
    [meeting] = crm.get_meetings("jane@acme.io")
    assert meeting.start == dt.datetime.fromisoformat(START)
    assert crm.get_contacts(["jane@acme.io"])[0].fields["sequence_state"] == "meeting_booked"
    with runtime.ledger().sending("local", ["jane@acme.io"]) as allowed:
        assert allowed == set()


def test_booking_twice_makes_one_meeting_with_one_uid(home):
    book_meeting_job({"tenant": "local", "email": "jane@acme.io", "start": START})
    book_meeting_job({"tenant": "local", "email": "jane@acme.io", "start": START})
    uids = {Calendar.from_ical(p.get_payload(decode=True)).walk("VEVENT")[0]["UID"]
            for eml in (home / "outbox").glob("*.eml") for p in message_from_bytes(eml.read_bytes()).walk()
            if p.get_content_type() == "text/calendar"}
    assert len(LocalCRM(home / "crm.sqlite3").get_meetings("jane@acme.io")) == 1 and len(uids) == 1


def test_an_owner_with_a_gmail_mailbox_gets_a_calendar_event_with_its_meet_link(home, monkeypatch):
    runtime.mailboxes().add(Mailbox(tenant="local", address="rep@example.com", backend="gmail"), "ya29.token")
    runtime.mailboxes().map_owner("local", "owner-7", "rep@example.com")
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    with respx.mock(assert_all_called=False) as router:
        created = router.post(url__startswith=EVENTS).respond(200, json={"id": "e1", **CONFERENCE})
        router.post("https://gmail.googleapis.com/gmail/v1/users/me/messages/send").respond(
            200, json={"id": "m1", "threadId": "t1"})
        counts = book_meeting_job({"tenant": "local", "email": "jane@acme.io", "start": START})
    assert counts["calendar_events"] == 1 and created.calls.last.request.headers["Authorization"] == "Bearer ya29.token"
    [meeting] = LocalCRM(home / "crm.sqlite3").get_meetings("jane@acme.io")
    assert meeting.video_url and meeting.video_url.startswith("https://meet.google.com/")
