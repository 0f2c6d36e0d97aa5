"""Send windows: the local hours and days a prospect may be written to.

A cold email that lands at 03:00 or on a Sunday is read, if at all, under a
pile of others; one on a public holiday is read by nobody. A window is an
hour range in the prospect's own time zone (08:00 up to 17:00 by default)
on their business days: weekends and their country's public holidays (the
`holidays` package, as for sequence steps) are skipped. A prospect whose
zone is unknown is written to in the tenant's default zone.

Every comparison is made in UTC: two aware datetimes sharing a tzinfo are
compared by their wall clocks, which is wrong across a DST change.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.sequences import next_business_day

Days = Literal["business", "weekdays", "every"]
_WINDOW_TEXT = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")
_SEARCH_DAYS = 400  # more than any year's run of holidays and weekends


class SendWindow(BaseModel):
    """Local hours [start_hour, end_hour) on `days`: "business" skips weekends and public holidays,
    "weekdays" only weekends, "every" nothing."""

    model_config = ConfigDict(frozen=True)

    start_hour: int = Field(default=8, ge=0, le=23)
    end_hour: int = Field(default=17, ge=1, le=24)
    days: Days = "business"

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        if self.end_hour <= self.start_hour:
            raise ValueError(f"end_hour must be after start_hour (got {self.start_hour}-{self.end_hour}); a window "
                             "that spans midnight is not supported")
        return self

    @classmethod
    def parse(cls, text: str, days: Days = "business") -> SendWindow:
        """'08-17' (the SALESOS_SEND_WINDOW form): from 08:00 up to, not including, 17:00."""
        match = _WINDOW_TEXT.match(text)
        if not match or not 0 <= int(match[1]) < int(match[2]) <= 24:
            raise ValueError(f"a send window is START-END in whole local hours, START before END, from 00 to 24, "
                             f"like 08-17 (got {text!r})")
        return cls(start_hour=int(match[1]), end_hour=int(match[2]), days=days)


def zone_of(zone: str | dt.tzinfo | None, default: str | dt.tzinfo) -> dt.tzinfo:
    """The prospect's zone, or the tenant's default when it is unknown; an unknown IANA name is an error."""
    chosen = zone if zone else default
    if isinstance(chosen, dt.tzinfo):
        return chosen
    try:
        return ZoneInfo(chosen)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"time zone must be an IANA name like Europe/Berlin (got {chosen!r})") from exc


def window_open(now: dt.datetime, zone: dt.tzinfo, country: str | None, window: SendWindow) -> bool:
    """Whether `now` (aware) falls inside the prospect's window on one of their sending days."""
    local = _aware(now).astimezone(zone)
    if not _sending_day(local.date(), country, window):
        return False
    start, end = _bounds(local.date(), zone, window)
    return start <= now.astimezone(dt.UTC) < end


def next_window_start(now: dt.datetime, zone: dt.tzinfo, country: str | None, window: SendWindow) -> dt.datetime:
    """The earliest moment at or after `now` when the prospect's window is open, in their zone: `now` itself
    when it is open already, else the start of the next window (today's, when it is still to come)."""
    now = _aware(now)
    if window_open(now, zone, country, window):
        return now.astimezone(zone)
    day = now.astimezone(zone).date()
    for _ in range(_SEARCH_DAYS):
        day = _next_sending_day(day, country, window)
        start, _end = _bounds(day, zone, window)
        if start >= now.astimezone(dt.UTC):
            return start.astimezone(zone)
        day += dt.timedelta(days=1)
    raise ValueError(f"no sending day within {_SEARCH_DAYS} days of {now.isoformat()}")  # unreachable in practice


def _next_sending_day(day: dt.date, country: str | None, window: SendWindow) -> dt.date:
    if window.days == "business":
        return next_business_day(day, country)
    if window.days == "weekdays":
        return next_business_day(day, None)
    return day


def _sending_day(day: dt.date, country: str | None, window: SendWindow) -> bool:
    return _next_sending_day(day, country, window) == day


def _bounds(day: dt.date, zone: dt.tzinfo, window: SendWindow) -> tuple[dt.datetime, dt.datetime]:
    """The window's start and end on `day`, in UTC (an end hour of 24 is the next midnight)."""
    start = dt.datetime.combine(day, dt.time(window.start_hour), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=window.end_hour // 24), dt.time(window.end_hour % 24),
                              tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware (got {now.isoformat()})")
    return now
