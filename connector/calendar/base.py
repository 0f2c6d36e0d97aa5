"""What every calendar client offers (`Calendar`), what it returns, and how it fails.

Errors say what the caller must do: `CalendarAuthError` stop using this calendar until the owner reconnects it,
`CalendarTransient` try again later, `CalendarRejected` this request can never succeed as it is. Every answer is
bounded in size and time, and an answer that does not have the documented shape is a `CalendarRejected`, never a
guess.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field

from agents.meetings import Interval
from crm_adapters.calls import retry_after_seconds

MAX_ANSWER_BYTES = 2_000_000  # a week of free/busy or one event is a few kilobytes
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class CalendarError(Exception):
    """A calendar call gave no usable answer; the subclass says what to do about it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CalendarAuthError(CalendarError):
    """The access token was refused or lacks the calendar scope: the owner must reconnect the calendar."""


class CalendarTransient(CalendarError):
    """Rate limited, a 5xx, a timeout or a dropped connection: the same request may work later."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class CalendarRejected(CalendarError):
    """The request was refused for good (a calendar that does not exist, a malformed event)."""


class Attendee(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = ""


class EventRequest(BaseModel):
    """An event to put on the owner's calendar. `key` is the meeting's stable key: the provider's own
    idempotency handle is made from it, so a retried create finds the first event instead of adding a second."""

    key: str = Field(min_length=1, max_length=500)
    subject: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=8000)
    start: dt.datetime
    end: dt.datetime
    attendees: list[Attendee] = Field(default_factory=list, max_length=50)
    video: bool = True


class CreatedEvent(BaseModel):
    """The event the calendar holds: its id, and the video link when the calendar made one."""

    event_id: str
    video_url: str | None = None
    html_link: str | None = None


class Calendar(Protocol):
    """One owner's calendar, on any provider."""

    def free_busy(self, calendar_id: str, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """The owner's busy intervals between `start` and `end`, in UTC."""
        ...

    def create_event(self, calendar_id: str, event: EventRequest) -> CreatedEvent:
        """Put `event` on the calendar (once per `event.key`) and return it with its video link, if any."""
        ...


TokenGetter = Callable[[], str]


class JsonClient:
    """The shared HTTP edge: bearer token, bounded answers, status codes sorted into the error hierarchy."""

    provider = "calendar"

    def __init__(self, token: TokenGetter, base_url: str, client: httpx.Client | None = None) -> None:
        self._token, self._base = token, base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self._owns_client = client is None

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 201)) -> tuple[int, dict]:
        """(status, JSON object) for an answer with a status in `ok`; every other answer raises a CalendarError."""
        what = f"{self.provider} {method} {path.split('?')[0]}"
        try:
            with self._client.stream(method, self._base + path, json=json, params=params,
                                     headers={"Authorization": f"Bearer {self._token()}", **(headers or {})}) as answer:
                body = _bounded(answer, what)
        except httpx.TimeoutException as exc:
            raise CalendarTransient(f"{what}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise CalendarTransient(f"{what}: could not be reached ({type(exc).__name__})") from None
        status = answer.status_code
        parsed = _json(body)
        if status in ok:
            if not isinstance(parsed, dict):
                raise CalendarRejected(f"{what}: answered {status} without a JSON object", status=status)
            return status, parsed
        message = self.error_message(parsed) or f"HTTP {status}"
        if status == 401 or (status == 403 and self.is_auth_error(parsed)):
            raise CalendarAuthError(f"{what}: the access token was refused: {message}", status=status)
        if status == 429 or status >= 500 or (status == 403 and self.is_rate_limit(parsed)):
            raise CalendarTransient(f"{what}: answered {status}: {message}", status=status,
                                    retry_after=retry_after_seconds(answer.headers.get("Retry-After")))
        raise CalendarRejected(f"{what}: answered {status}: {message}", status=status)

    def error_message(self, body: Any) -> str:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "")[:300]
        return ""

    def is_auth_error(self, body: Any) -> bool:
        return False

    def is_rate_limit(self, body: Any) -> bool:
        return False


def utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name}: needs a time zone")
    return value.astimezone(dt.UTC)


def _bounded(answer: httpx.Response, what: str) -> bytes:
    chunks, size = [], 0
    for chunk in answer.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise CalendarRejected(f"{what}: answer larger than {MAX_ANSWER_BYTES:,} bytes", status=answer.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


