"""Microsoft Graph calendars: free/busy (`calendar/getSchedule`) and events with a Teams link (`POST /events`).

Times are asked for and sent in UTC (`Prefer: outlook.timezone="UTC"`, `timeZone: "UTC"`). A Teams link is asked
for only when the calendar allows `teamsForBusiness` (its `allowedOnlineMeetingProviders`); otherwise the event
is made without video. Graph sends invitations to every attendee of an event it creates, so the attendee list is
the caller's choice: left empty, the event only blocks the owner's time and SalesOS's own invite
(`connector.channels.ics`) is the one the prospect gets. `transactionId`, made from the meeting's key, is Graph's
guard against a retried POST creating the event twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import ValidationError

from agents.meetings import Interval
from connector.calendar.base import CalendarRejected, CreatedEvent, EventRequest, JsonClient, TokenGetter, utc

BASE_URL = "https://graph.microsoft.com/v1.0"
TEAMS = "teamsForBusiness"
_BUSY = {"busy", "oof", "tentative"}  # free and workingElsewhere leave the time open
_UTC = {"Prefer": 'outlook.timezone="UTC"'}
_FRACTION = re.compile(r"(\.\d{1,6})\d*$")  # Graph writes 7 fractional digits; Python reads up to 6


def transaction_id(key: str) -> str:
    return hashlib.sha256(f"event:{key}".encode()).hexdigest()[:32]


class GraphCalendar(JsonClient):
    """`Calendar` on a Microsoft 365 mailbox; `calendar_id` is the owner's address (or user id)."""

    provider = "Microsoft Graph"

    def __init__(self, token: TokenGetter, *, base_url: str = BASE_URL, client: httpx.Client | None = None) -> None:
        super().__init__(token, base_url, client)
        self._providers: dict[str, list[str]] = {}

    def free_busy(self, calendar_id: str, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        body = {"schedules": [calendar_id], "startTime": _graph_time(utc(start, "start")),
                "endTime": _graph_time(utc(end, "end")), "availabilityViewInterval": 15}
        _, answer = self.request("POST", f"/users/{_user(calendar_id)}/calendar/getSchedule", json=body,
                                 headers=_UTC)
        schedules = [s for s in answer.get("value") or [] if isinstance(s, dict)]
        schedule = next((s for s in schedules if str(s.get("scheduleId", "")).lower() == calendar_id.lower()),
                        schedules[0] if len(schedules) == 1 else None)
        if schedule is None:
            raise CalendarRejected(f"{self.provider} getSchedule: no schedule for {calendar_id!r}")
        if isinstance(schedule.get("error"), dict):
            raise CalendarRejected(f"{self.provider} getSchedule: {calendar_id!r}: "
                                   f"{schedule['error'].get('responseCode') or schedule['error'].get('message')}")
        busy = []
        for item in schedule.get("scheduleItems") or []:
            if str(item.get("status", "")).lower() not in _BUSY:
                continue
            try:
                busy.append(Interval(start=_parse(item["start"]), end=_parse(item["end"])))
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                raise CalendarRejected(f"{self.provider} getSchedule: a schedule item is malformed: {exc}") from None
        return busy

    def online_meeting_providers(self, calendar_id: str) -> list[str]:
        """The calendar's `allowedOnlineMeetingProviders`, read once per client."""
        if calendar_id not in self._providers:
            _, answer = self.request("GET", f"/users/{_user(calendar_id)}/calendar",
                                     params={"$select": "allowedOnlineMeetingProviders"})
            allowed = answer.get("allowedOnlineMeetingProviders") or []
            self._providers[calendar_id] = [str(p) for p in allowed] if isinstance(allowed, list) else []
        return self._providers[calendar_id]

    def create_event(self, calendar_id: str, event: EventRequest) -> CreatedEvent:
        """Create the event, with a Teams meeting when asked for and the calendar allows one."""
        body: dict[str, Any] = {
            "subject": event.subject, "body": {"contentType": "text", "content": event.description},
            "start": _graph_time(utc(event.start, "start")), "end": _graph_time(utc(event.end, "end")),
            "attendees": [{"emailAddress": {"address": a.email, **({"name": a.name} if a.name else {})},
                           "type": "required"} for a in event.attendees],
            "transactionId": transaction_id(event.key),
        }
        if event.video and TEAMS in self.online_meeting_providers(calendar_id):
            body |= {"isOnlineMeeting": True, "onlineMeetingProvider": TEAMS}
        _, answer = self.request("POST", f"/users/{_user(calendar_id)}/events", json=body, headers=_UTC)
        if not isinstance(answer.get("id"), str):
            raise CalendarRejected(f"{self.provider} create event: the answer has no event id")
        join = (answer.get("onlineMeeting") or {}).get("joinUrl")
        return CreatedEvent(event_id=answer["id"], html_link=answer.get("webLink"),
                            video_url=join if isinstance(join, str) and join.startswith("https://") else None)

    def is_auth_error(self, body: Any) -> bool:
        error = body.get("error") if isinstance(body, dict) else None
        return isinstance(error, dict) and error.get("code") in ("ErrorAccessDenied", "Authorization_RequestDenied",
                                                                 "AccessDenied")


def _user(calendar_id: str) -> str:
    return quote(calendar_id, safe="@")


def _graph_time(value: dt.datetime) -> dict[str, str]:
    return {"dateTime": value.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


def _parse(value: dict) -> dt.datetime:
    """A Graph dateTimeTimeZone as an aware datetime (UTC, as asked; a named IANA zone is honoured too)."""
    naive = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", value["dateTime"]))
    zone = value.get("timeZone") or "UTC"
    try:
        tz = dt.UTC if zone.upper() in ("UTC", "ETC/UTC") else ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timeZone {zone!r} is not UTC or an IANA zone") from None
    return naive.replace(tzinfo=tz).astimezone(dt.UTC)
