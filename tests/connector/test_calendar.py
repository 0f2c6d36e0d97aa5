"""Google Calendar and Microsoft Graph clients against their documented answers (respx for the HTTP)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
import respx

from agents.meetings import Interval
from connector.calendar.base import (
    Attendee,
    Calendar,
    CalendarAuthError,
    CalendarRejected,
    CalendarTransient,
    EventRequest,
)
from connector.calendar.google import GoogleCalendar, event_id
from connector.calendar.graph import GraphCalendar, transaction_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
GOOGLE, GRAPH = "https://www.googleapis.com", "https://graph.microsoft.com/v1.0"
MON, SAT = dt.datetime(2026, 12, 7, tzinfo=dt.UTC), dt.datetime(2026, 12, 12, tzinfo=dt.UTC)
OWNER = "sam@seller.io"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def request(**changes) -> EventRequest:
    return EventRequest(**{"key": "meeting:t1:jane@acme.io:r1", "subject": "Acme x SalesOS",
                           "description": "Intro", "start": utc(2026, 12, 8, 10), "end": utc(2026, 12, 8, 10, 30),
                           **changes})


@pytest.fixture(scope="module")
def http():
    with httpx.Client() as shared:
        yield shared


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def google(http) -> GoogleCalendar:
    return GoogleCalendar(lambda: "ya29.token", client=http)


@pytest.fixture
def graph(http) -> GraphCalendar:
    return GraphCalendar(lambda: "eyJ.token", client=http)


def sent(route) -> dict:
    return json.loads(route.calls.last.request.content)


def test_both_clients_are_calendars(google, graph):
    calendars: list[Calendar] = [google, graph]
    assert all(callable(c.free_busy) and callable(c.create_event) for c in calendars)


# --- Google -------------------------------------------------------------------------


def test_google_free_busy_asks_for_the_window_in_utc_and_returns_the_busy_intervals(google, router):
    route = router.post(f"{GOOGLE}/calendar/v3/freeBusy").respond(200, json=fixture("google_calendar_freebusy"))
    busy = google.free_busy(OWNER, MON, SAT)
    assert busy == [Interval(start=utc(2026, 12, 7, 9), end=utc(2026, 12, 7, 10)),
                    Interval(start=utc(2026, 12, 8, 13, 30), end=utc(2026, 12, 8, 15))]
    assert sent(route) == {"timeMin": "2026-12-07T00:00:00Z", "timeMax": "2026-12-12T00:00:00Z", "timeZone": "UTC",
                           "items": [{"id": OWNER}]}
    assert route.calls.last.request.headers["Authorization"] == "Bearer ya29.token"


def test_google_free_busy_for_a_calendar_it_cannot_see_is_rejected_by_name(google, router):
    router.post(f"{GOOGLE}/calendar/v3/freeBusy").respond(200, json={
        "kind": "calendar#freeBusy", "calendars": {OWNER: {"errors": [{"domain": "global", "reason": "notFound"}],
                                                           "busy": []}}})
    with pytest.raises(CalendarRejected, match="sam@seller.io.*notFound"):
        google.free_busy(OWNER, MON, SAT)


def test_google_event_is_inserted_with_a_meet_request_and_returns_the_video_link(google, router):
    answer = {"id": event_id("meeting:t1:jane@acme.io:r1"), "htmlLink": "https://www.google.com/calendar/event?eid=x",
              **fixture("google_calendar_conference_data")}
    route = router.post(f"{GOOGLE}/calendar/v3/calendars/sam%40seller.io/events").respond(200, json=answer)
    created = google.create_event(OWNER, request())
    assert (created.event_id, created.video_url) == (answer["id"], "https://meet.google.com/wix-pvpt-njj")
    params = route.calls.last.request.url.params
    assert (params["conferenceDataVersion"], params["sendUpdates"]) == ("1", "none")
    body = sent(route)
    assert body["conferenceData"] == {"createRequest": {"requestId": event_id("meeting:t1:jane@acme.io:r1"),
                                                        "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    assert body["start"] == {"dateTime": "2026-12-08T10:00:00Z", "timeZone": "UTC"}
    assert body["id"] == event_id("meeting:t1:jane@acme.io:r1") and body["attendees"] == []


def test_google_event_ids_are_stable_base32hex(google):
    key = "meeting:t1:Jane@Acme.io:r1"
    assert event_id(key) == event_id(key) != event_id("meeting:t1:jane@acme.io:r2")
    assert set(event_id(key)) <= set("0123456789abcdefghijklmnopqrstuv") and 5 <= len(event_id(key)) <= 1024


def test_a_retried_google_insert_reads_back_the_event_the_first_one_made(google, router):
    eid = event_id("meeting:t1:jane@acme.io:r1")
    router.post(f"{GOOGLE}/calendar/v3/calendars/sam%40seller.io/events").respond(409, json={
        "error": {"code": 409, "message": "The requested identifier already exists.",
                  "errors": [{"domain": "global", "reason": "duplicate"}]}})
    read = router.get(f"{GOOGLE}/calendar/v3/calendars/sam%40seller.io/events/{eid}").respond(
        200, json={"id": eid, **fixture("google_calendar_conference_data")})
    created = google.create_event(OWNER, request())
    assert (created.event_id, created.video_url) == (eid, "https://meet.google.com/wix-pvpt-njj")
    assert read.call_count == 1


def test_a_google_event_without_video_sends_no_conference_request(google, router):
    route = router.post(f"{GOOGLE}/calendar/v3/calendars/sam%40seller.io/events").respond(200, json={"id": "e1"})
    created = google.create_event(OWNER, request(video=False, attendees=[Attendee(email="jane@acme.io")]))
    assert "conferenceData" not in sent(route) and created.video_url is None
    assert sent(route)["attendees"] == [{"email": "jane@acme.io"}]


@pytest.mark.parametrize("status, body, error", [
    (401, {"error": {"code": 401, "message": "Invalid Credentials", "errors": [{"reason": "authError"}]}},
     CalendarAuthError),
    (403, {"error": {"code": 403, "message": "Insufficient Permission",
                     "errors": [{"reason": "insufficientPermissions"}]}}, CalendarAuthError),
    (403, {"error": {"code": 403, "message": "Rate Limit Exceeded", "errors": [{"reason": "rateLimitExceeded"}]}},
     CalendarTransient),
    (429, {"error": {"code": 429, "message": "Too Many Requests"}}, CalendarTransient),
    (503, {"error": {"code": 503, "message": "Backend Error"}}, CalendarTransient),
    (400, {"error": {"code": 400, "message": "Invalid resource id value.", "errors": [{"reason": "invalid"}]}},
     CalendarRejected),
])
def test_google_errors_say_what_to_do(google, router, status, body, error):
    router.post(f"{GOOGLE}/calendar/v3/freeBusy").respond(status, json=body)
    with pytest.raises(error) as raised:
        google.free_busy(OWNER, MON, SAT)
    assert raised.value.status == status and body["error"]["message"] in str(raised.value)
    assert "ya29" not in str(raised.value)


def test_a_timeout_is_transient(google, router):
    router.post(f"{GOOGLE}/calendar/v3/freeBusy").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CalendarTransient, match="timed out"):
        google.free_busy(OWNER, MON, SAT)


def test_an_oversized_answer_is_refused_unread(google, router):
    router.post(f"{GOOGLE}/calendar/v3/freeBusy").respond(200, content=b"{" + b" " * 2_100_000 + b"}")
    with pytest.raises(CalendarRejected, match="larger than"):
        google.free_busy(OWNER, MON, SAT)


def test_a_naive_time_is_refused_by_name(google):
    with pytest.raises(ValueError, match="start: needs a time zone"):
        google.free_busy(OWNER, dt.datetime(2026, 12, 7), SAT)


# --- Microsoft Graph ----------------------------------------------------------------


def test_graph_free_busy_counts_busy_tentative_and_away_but_not_working_elsewhere(graph, router):
    route = router.post(f"{GRAPH}/users/sam@seller.io/calendar/getSchedule").respond(
        200, json=fixture("graph_get_schedule"))
    busy = graph.free_busy(OWNER, MON, SAT)
    assert busy == [Interval(start=utc(2026, 12, 7, 9), end=utc(2026, 12, 7, 10)),
                    Interval(start=utc(2026, 12, 7, 12), end=utc(2026, 12, 7, 13)),
                    Interval(start=utc(2026, 12, 9), end=utc(2026, 12, 10))]
    assert route.calls.last.request.headers["Prefer"] == 'outlook.timezone="UTC"'
    assert sent(route) == {"schedules": [OWNER], "availabilityViewInterval": 15,
                           "startTime": {"dateTime": "2026-12-07T00:00:00", "timeZone": "UTC"},
                           "endTime": {"dateTime": "2026-12-12T00:00:00", "timeZone": "UTC"}}


def test_graph_free_busy_for_an_unknown_mailbox_is_rejected(graph, router):
    router.post(f"{GRAPH}/users/sam@seller.io/calendar/getSchedule").respond(200, json={"value": [
        {"scheduleId": OWNER, "error": {"message": "The specified mailbox could not be found",
                                        "responseCode": "ErrorMailRecipientNotFound"}}]})
    with pytest.raises(CalendarRejected, match="ErrorMailRecipientNotFound"):
        graph.free_busy(OWNER, MON, SAT)


def test_graph_event_gets_a_teams_link_when_the_calendar_allows_it(graph, router):
    router.get(f"{GRAPH}/users/sam@seller.io/calendar").respond(200, json={
        "allowedOnlineMeetingProviders": ["teamsForBusiness"], "defaultOnlineMeetingProvider": "teamsForBusiness"})
    answer = fixture("graph_event_created")
    route = router.post(f"{GRAPH}/users/sam@seller.io/events").respond(201, json=answer)
    created = graph.create_event(OWNER, request())
    assert created.event_id == answer["id"]
    assert created.video_url == answer["onlineMeeting"]["joinUrl"]
    body = sent(route)
    assert (body["isOnlineMeeting"], body["onlineMeetingProvider"]) == (True, "teamsForBusiness")
    assert body["transactionId"] == transaction_id("meeting:t1:jane@acme.io:r1")
    assert body["start"] == {"dateTime": "2026-12-08T10:00:00", "timeZone": "UTC"} and body["attendees"] == []


def test_graph_event_is_made_without_video_when_the_calendar_offers_no_teams(graph, router):
    router.get(f"{GRAPH}/users/sam@seller.io/calendar").respond(200, json={
        "allowedOnlineMeetingProviders": [], "defaultOnlineMeetingProvider": "unknown"})
    route = router.post(f"{GRAPH}/users/sam@seller.io/events").respond(201, json={"id": "AAMk1", "webLink": "x"})
    created = graph.create_event(OWNER, request())
    assert "isOnlineMeeting" not in sent(route) and created.video_url is None


def test_graph_reads_the_allowed_providers_once_per_calendar(graph, router):
    providers = router.get(f"{GRAPH}/users/sam@seller.io/calendar").respond(200, json={
        "allowedOnlineMeetingProviders": ["teamsForBusiness"]})
    router.post(f"{GRAPH}/users/sam@seller.io/events").respond(201, json=fixture("graph_event_created"))
    graph.create_event(OWNER, request())
    graph.create_event(OWNER, request(key="meeting:t1:joe@acme.io:r1"))
    assert providers.call_count == 1


@pytest.mark.parametrize("status, body, error", [
    (401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}},
     CalendarAuthError),
    (403, {"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}, CalendarAuthError),
    (429, {"error": {"code": "ApplicationThrottled", "message": "Too many requests"}}, CalendarTransient),
    (400, {"error": {"code": "ErrorInvalidRequest", "message": "Bad request."}}, CalendarRejected),
])
def test_graph_errors_say_what_to_do(graph, router, status, body, error):
    router.post(f"{GRAPH}/users/sam@seller.io/calendar/getSchedule").respond(
        status, json=body, headers={"Retry-After": "7"})
    with pytest.raises(error) as raised:
        graph.free_busy(OWNER, MON, SAT)
    assert body["error"]["message"] in str(raised.value)
    if error is CalendarTransient:
        assert raised.value.retry_after == 7.0
