"""Meeting invites parse back, with icalendar, into the properties calendar clients act on."""

from __future__ import annotations

import datetime as dt
import email
from email import policy

import pytest
from icalendar import Calendar

from agents.meetings import Meeting, rescheduled
from connector.channels.ics import cancel, invite, invite_email

STAMP = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
MEET = "https://meet.google.com/wix-pvpt-njj"  # the video entry point of google_calendar_conference_data.json


def meeting(**changes) -> Meeting:
    return Meeting(**{
        "key": "meeting:t1:jane@acme.io:r1", "subject": "Acme x SalesOS: pipeline review",
        "start": dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC), "end": dt.datetime(2026, 12, 8, 10, 30, tzinfo=dt.UTC),
        "organizer_email": "sam@seller.io", "organizer_name": "Sam Seller", "attendee_email": "jane@acme.io",
        "attendee_name": "Jane Doe", "description": "A short look at how you book meetings today.",
        "video_url": MEET, "timezone": "Europe/London", **changes})


def event_of(raw: bytes):
    calendar = Calendar.from_ical(raw)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_an_invite_is_a_request_with_every_property_a_client_needs():
    calendar, event = event_of(invite(meeting(), stamp=STAMP))
    assert (str(calendar["VERSION"]), str(calendar["METHOD"])) == ("2.0", "REQUEST")
    assert str(calendar["PRODID"]).startswith("-//SalesOS")
    assert str(event["UID"]) == meeting().uid
    assert event.decoded("DTSTAMP") == STAMP
    assert event.decoded("DTSTART") == dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
    assert event.decoded("DTEND") == dt.datetime(2026, 12, 8, 10, 30, tzinfo=dt.UTC)
    assert str(event["SUMMARY"]) == "Acme x SalesOS: pipeline review"
    assert MEET in str(event["DESCRIPTION"]) and str(event["LOCATION"]) == MEET
    assert (int(event["SEQUENCE"]), str(event["STATUS"])) == (0, "CONFIRMED")
    organizer, attendee = event["ORGANIZER"], event["ATTENDEE"]
    assert (str(organizer), organizer.params["CN"]) == ("mailto:sam@seller.io", "Sam Seller")
    assert str(attendee) == "mailto:jane@acme.io"
    assert {name: attendee.params[name] for name in ("CN", "RSVP", "PARTSTAT", "ROLE")} == {
        "CN": "Jane Doe", "RSVP": "TRUE", "PARTSTAT": "NEEDS-ACTION", "ROLE": "REQ-PARTICIPANT"}


def test_a_meeting_keeps_its_uid_and_a_new_time_raises_the_sequence():
    first = event_of(invite(meeting(), stamp=STAMP))[1]
    again = event_of(invite(meeting(), stamp=STAMP))[1]
    moved = event_of(invite(rescheduled(meeting(), dt.datetime(2026, 12, 9, 15, 0, tzinfo=dt.UTC),
                                        dt.datetime(2026, 12, 9, 15, 30, tzinfo=dt.UTC)), stamp=STAMP))[1]
    assert str(first["UID"]) == str(again["UID"]) == str(moved["UID"])
    assert (int(first["SEQUENCE"]), int(moved["SEQUENCE"])) == (0, 1)
    assert moved.decoded("DTSTART") == dt.datetime(2026, 12, 9, 15, 0, tzinfo=dt.UTC)


def test_different_meetings_get_different_uids():
    assert meeting().uid != meeting(key="meeting:t1:jane@acme.io:r2").uid


def test_a_cancellation_names_the_same_uid_with_method_cancel():
    calendar, event = event_of(cancel(meeting(sequence=1), stamp=STAMP))
    assert (str(calendar["METHOD"]), str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCEL", "CANCELLED", 1)
    assert str(event["UID"]) == meeting().uid


def test_the_calendar_text_has_crlf_line_ends_and_folded_lines():
    raw = invite(meeting(description="Long agenda " * 30, attendee_name="Zoë Ångström"), stamp=STAMP)
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # a folded continuation
    assert event_of(raw)[1]["ATTENDEE"].params["CN"] == "Zoë Ångström"


def test_a_meeting_without_video_has_no_link_or_location():
    event = event_of(invite(meeting(video_url=None), stamp=STAMP))[1]
    assert "LOCATION" not in event and "URL" not in event
    assert "Join" not in str(event["DESCRIPTION"])


def test_the_invite_email_is_text_plus_a_calendar_request_part():
    message = invite_email(meeting(), "sam@seller.io", sender_name="Sam Seller", stamp=STAMP)
    parsed = email.message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    text, calendar = parsed.get_payload()
    assert text.get_content_type() == "text/plain"
    assert "Tue 8 Dec 2026, 10:00 (London time)" in text.get_content() and MEET in text.get_content()
    assert calendar.get_content_type() == "text/calendar"
    assert (calendar.get_param("method"), calendar.get_content_charset()) == ("REQUEST", "utf-8")
    assert str(event_of(calendar.get_content().encode())[1]["UID"]) == meeting().uid
    assert parsed["To"] == "Jane Doe <jane@acme.io>"
    assert parsed["Subject"] == "Invitation: Acme x SalesOS: pipeline review"


def test_a_cancellation_email_carries_method_cancel():
    message = invite_email(meeting(sequence=1), "sam@seller.io", method="CANCEL", stamp=STAMP)
    calendar = message.get_payload()[1]
    assert calendar.get_param("method") == "CANCEL"
    assert str(Calendar.from_ical(calendar.get_content())["METHOD"]) == "CANCEL"


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="method: 'PUBLISH'"):
        invite_email(meeting(), "sam@seller.io", method="PUBLISH")
