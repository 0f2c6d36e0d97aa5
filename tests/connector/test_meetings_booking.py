"""Booking a meeting end to end: the Google client (respx), the local CRM and the invite, once per key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
import respx
from icalendar import Calendar as ICalendar

from agents.meetings import Meeting
from connector.calendar.base import CalendarAuthError
from connector.calendar.google import GoogleCalendar, event_id
from connector.meetings import book
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM

EVENTS = "https://www.googleapis.com/calendar/v3/calendars/sam%40seller.io/events"
CONFERENCE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "providers" /
                         "google_calendar_conference_data.json").read_text(encoding="utf-8"))
KEY = "meeting:t1:jane@acme.io:r1"


def meeting() -> Meeting:
    return Meeting(key=KEY, subject="Acme x SalesOS", start=dt.datetime(2026, 12, 8, 10, tzinfo=dt.UTC),
                   end=dt.datetime(2026, 12, 8, 10, 30, tzinfo=dt.UTC), organizer_email="sam@seller.io",
                   organizer_name="Sam Seller", attendee_email="jane@acme.io", attendee_name="Jane Doe",
                   timezone="Europe/London")


@pytest.fixture
def crm(tmp_path):
    local = LocalCRM(tmp_path / "crm.sqlite3")
    local.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Doe")])
    yield local
    local.close()


@pytest.fixture
def google():
    with httpx.Client() as http, respx.mock(assert_all_called=False) as router:
        yield GoogleCalendar(lambda: "ya29.token", client=http), router


def test_a_booking_puts_the_calendars_video_link_in_the_crm_meeting_and_the_invite(crm, google):
    calendar, router = google
    created = router.post(EVENTS).respond(200, json={"id": event_id(KEY), **CONFERENCE})
    booking = book(meeting(), crm=crm, calendar=calendar, calendar_id="sam@seller.io", owner_id="u1")
    assert json.loads(created.calls.last.request.content)["attendees"] == []  # SalesOS's invite is the only one
    assert booking.meeting.video_url == "https://meet.google.com/wix-pvpt-njj"
    [stored] = crm.get_meetings("jane@acme.io")
    assert (stored.key, stored.owner_id, stored.video_url) == (KEY, "u1", "https://meet.google.com/wix-pvpt-njj")
    calendar_part = booking.invite.get_payload()[1]
    assert calendar_part.get_param("method") == "REQUEST"
    [event] = ICalendar.from_ical(calendar_part.get_content()).walk("VEVENT")
    assert str(event["UID"]) == meeting().uid and "wix-pvpt-njj" in str(event["DESCRIPTION"])


def test_booking_again_after_a_crash_doubles_nothing(crm, google):
    calendar, router = google
    router.post(EVENTS).mock(side_effect=[httpx.Response(200, json={"id": event_id(KEY), **CONFERENCE}),
                                          httpx.Response(409, json={"error": {"code": 409, "message": "duplicate"}})])
    router.get(f"{EVENTS}/{event_id(KEY)}").respond(200, json={"id": event_id(KEY), **CONFERENCE})
    first = book(meeting(), crm=crm, calendar=calendar, calendar_id="sam@seller.io")
    again = book(meeting(), crm=crm, calendar=calendar, calendar_id="sam@seller.io")
    assert (first.crm.created, again.crm.created, again.crm.unchanged) == (1, 0, 1)
    assert again.event == first.event and len(crm.get_meetings()) == 1


def test_a_refused_calendar_stops_the_booking_before_the_crm(crm, google):
    calendar, router = google
    router.post(EVENTS).respond(401, json={"error": {"code": 401, "message": "Invalid Credentials"}})
    with pytest.raises(CalendarAuthError):
        book(meeting(), crm=crm, calendar=calendar, calendar_id="sam@seller.io")
    assert crm.get_meetings() == []


def test_without_a_calendar_the_meeting_is_logged_and_invited_without_video(crm):
    booking = book(meeting(), crm=crm)
    assert booking.event is None and booking.meeting.video_url is None
    assert [m.key for m in crm.get_meetings()] == [KEY]
