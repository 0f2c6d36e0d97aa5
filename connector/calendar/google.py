"""Google Calendar API v3: free/busy (`POST /freeBusy`) and events with a Meet link (`events.insert`).

Events are inserted with `conferenceDataVersion=1` and a `hangoutsMeet` create request, so Google attaches a Meet
link, and with `sendUpdates=none`: SalesOS sends the invitation itself (`connector.channels.ics`), one UID the
prospect's calendar keeps. The event's `id` is chosen by SalesOS from the meeting's key (base32hex: lowercase hex
fits), so a retried insert is refused with 409 and the first event is read back instead of adding a second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from agents.meetings import Interval
from connector.calendar.base import (
    CalendarRejected,
    CalendarTransient,
    CreatedEvent,
    EventRequest,
    JsonClient,
    TokenGetter,
    utc,
)

BASE_URL = "https://www.googleapis.com"
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}
_AUTH_REASONS = {"insufficientPermissions", "authError", "forbidden", "requiredAccessLevel"}
_TRANSIENT_CALENDAR_REASONS = {"backendError", "internalError"}


def event_id(key: str) -> str:
    """The event id for a meeting key: 32 lowercase hex digits, valid base32hex, the same on every retry."""
    return hashlib.sha256(f"event:{key}".encode()).hexdigest()[:32]


class GoogleCalendar(JsonClient):
    """`Calendar` on Google Calendar; `token` returns a current OAuth access token with the calendar scope."""

    provider = "Google Calendar"

    def __init__(self, token: TokenGetter, *, base_url: str = BASE_URL, client: httpx.Client | None = None) -> None:
        super().__init__(token, base_url, client)

    def free_busy(self, calendar_id: str, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        body = {"timeMin": _rfc3339(utc(start, "start")), "timeMax": _rfc3339(utc(end, "end")), "timeZone": "UTC",
                "items": [{"id": calendar_id}]}
        _, answer = self.request("POST", "/calendar/v3/freeBusy", json=body)
        calendar = (answer.get("calendars") or {}).get(calendar_id)
        if not isinstance(calendar, dict):
            raise CalendarRejected(f"{self.provider} freeBusy: no answer for calendar {calendar_id!r}")
        errors = [e for e in calendar.get("errors") or [] if isinstance(e, dict)]
        if errors:
            reasons = ", ".join(str(e.get("reason")) for e in errors)
            error = CalendarTransient if {e.get("reason") for e in errors} & _TRANSIENT_CALENDAR_REASONS \
                else CalendarRejected
            raise error(f"{self.provider} freeBusy: calendar {calendar_id!r}: {reasons}")
        try:
            return [Interval(start=busy["start"], end=busy["end"]) for busy in calendar.get("busy") or []]
        except (KeyError, TypeError, ValidationError) as exc:
            raise CalendarRejected(f"{self.provider} freeBusy: a busy interval is malformed: {exc}") from None

    def create_event(self, calendar_id: str, event: EventRequest) -> CreatedEvent:
        """Insert the event with a Meet link (when `event.video`); a second insert of the same key reads the first."""
        calendar = quote(calendar_id, safe="")
        body: dict[str, Any] = {
            "id": event_id(event.key), "summary": event.subject, "description": event.description,
            "start": {"dateTime": _rfc3339(utc(event.start, "start")), "timeZone": "UTC"},
            "end": {"dateTime": _rfc3339(utc(event.end, "end")), "timeZone": "UTC"},
            "attendees": [{"email": a.email, **({"displayName": a.name} if a.name else {})} for a in event.attendees],
        }
        if event.video:
            body["conferenceData"] = {"createRequest": {"requestId": event_id(event.key),
                                                        "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
        status, answer = self.request(
            "POST", f"/calendar/v3/calendars/{calendar}/events",
            params={"conferenceDataVersion": "1", "sendUpdates": "none"}, json=body, ok=(200, 201, 409))
        if status == 409:  # an earlier attempt made it: read it back
            _, answer = self.request("GET", f"/calendar/v3/calendars/{calendar}/events/{body['id']}",
                                     params={"conferenceDataVersion": "1"})
        return _created(answer, self.provider)

    def error_message(self, body: Any) -> str:
        message = super().error_message(body)
        reasons = _reasons(body)
        return f"{message} ({', '.join(sorted(reasons))})" if reasons else message

    def is_auth_error(self, body: Any) -> bool:
        error = body.get("error") if isinstance(body, dict) else None
        return bool(_reasons(body) & _AUTH_REASONS) or (isinstance(error, dict)
                                                         and error.get("status") == "PERMISSION_DENIED")

    def is_rate_limit(self, body: Any) -> bool:
        return bool(_reasons(body) & _RATE_REASONS)


def video_link(event: dict) -> str | None:
    """The `video` entry point's URI of an event's conferenceData (a Meet link), or None when there is none yet."""
    for entry in ((event.get("conferenceData") or {}).get("entryPoints") or []):
        if isinstance(entry, dict) and entry.get("entryPointType") == "video" and \
                str(entry.get("uri", "")).startswith("https://"):
            return entry["uri"]
    return None


def _created(answer: dict, provider: str) -> CreatedEvent:
    if not isinstance(answer.get("id"), str):
        raise CalendarRejected(f"{provider} events.insert: the answer has no event id")
    return CreatedEvent(event_id=answer["id"], video_url=video_link(answer), html_link=answer.get("htmlLink"))


def _reasons(body: Any) -> set[str]:
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("errors") if isinstance(error, dict) else None
    return {str(e.get("reason")) for e in details or [] if isinstance(e, dict) and e.get("reason")}


def _rfc3339(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
