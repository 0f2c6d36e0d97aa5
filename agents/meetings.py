"""Meetings: which times to propose to an interested prospect, and the meeting once one is booked.

Pure decisions over pydantic models. The owner's busy times come from their
calendar (`connector.calendar`); the slots proposed sit inside the owner's
working hours on the owner's business days and, where the two days overlap,
inside the prospect's business hours too. A prospect eight or more hours away
often shares no hour with the owner: then the owner's hours nearest to the
prospect's are offered, so nobody is asked to meet at 3 a.m. Slots are spread
over different days, so one bad day does not sink the whole proposal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from agents.sequences import next_business_day

_STEP = dt.timedelta(minutes=15)  # candidate starts fall on the quarter hour


class Interval(BaseModel):
    """A span of time, half open: [start, end)."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Interval:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end.isoformat()} is not after start {self.start.isoformat()}")
        return self

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


class Slot(Interval):
    """A proposed meeting time; `start` and `end` are in UTC."""


class Meeting(BaseModel):
    """A booked meeting: what the invite, the calendar event and the CRM record are made from.

    `key` is stable for the meeting's life (e.g. `meeting:<tenant>:<contact email>:<reply id>`): it names the
    invite's UID, the calendar event and the CRM record, so a retried job finds what an earlier run made.
    `sequence` counts the changes attendees were told of (iCalendar SEQUENCE): `rescheduled` raises it.
    """

    key: str = Field(min_length=1, max_length=500)
    subject: str = Field(min_length=1, max_length=255)
    start: AwareDatetime
    end: AwareDatetime
    organizer_email: str = Field(min_length=3, max_length=320)
    organizer_name: str = ""
    attendee_email: str = Field(min_length=3, max_length=320)
    attendee_name: str = ""
    description: str = Field(default="", max_length=8000)
    video_url: str | None = None
    location: str | None = None
    timezone: str = Field(default="UTC", description="IANA zone the invite shows the times in (TZID)")
    sequence: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _valid(self) -> Meeting:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end.isoformat()} is not after start {self.start.isoformat()}")
        _zone("timezone", self.timezone)
        for name in ("organizer_email", "attendee_email"):
            if "@" not in getattr(self, name):
                raise ValueError(f"{name}: {getattr(self, name)!r} is not an email address")
        return self

    @field_validator("video_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError(f"video_url: {value[:60]!r} is not an http(s) link")
        return value

    @property
    def uid(self) -> str:
        return meeting_uid(self.key)


def meeting_uid(key: str) -> str:
    """The iCalendar UID of the meeting with this key: stable across retries and reschedules, opaque outside."""
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@salesos"


def rescheduled(meeting: Meeting, start: dt.datetime, end: dt.datetime) -> Meeting:
    """The same meeting (same key, same UID) at a new time; SEQUENCE goes up by one so calendars take the change."""
    return Meeting.model_validate({**meeting.model_dump(), "start": start, "end": end,
                                   "sequence": meeting.sequence + 1})


def propose_slots(
    busy: list[Interval],
    *,
    owner_zone: str,
    prospect_zone: str,
    now: dt.datetime,
    country: str | None = None,
    prospect_country: str | None = None,
    working_hours: tuple[int, int] = (9, 17),
    prospect_hours: tuple[int, int] | None = None,
    duration: dt.timedelta = dt.timedelta(minutes=30),
    buffer: dt.timedelta = dt.timedelta(minutes=15),
    notice: dt.timedelta = dt.timedelta(hours=2),
    days_ahead: int = 5,
    count: int = 3,
) -> list[Slot]:
    """Up to `count` free slots over the owner's next `days_ahead` business days, one a day where possible.

    A slot lies inside the owner's `working_hours` (local, in `owner_zone`), on a business day for the owner
    (`country`'s holidays) and for the prospect (`prospect_country`), starts at least `notice` after `now`, and
    keeps `buffer` clear of every busy interval on both sides. Each day offers its earliest slot inside the
    prospect's business hours (`prospect_hours`, by default the same as `working_hours`); a day with none offers
    the slot nearest to them. Days with a slot both sides can make come first; then, if days run short, the
    next best times on days already used. Returned in time order, in UTC.
    """
    owner, prospect = _zone("owner_zone", owner_zone), _zone("prospect_zone", prospect_zone)
    _check_hours("working_hours", working_hours)
    prospect_hours = prospect_hours or working_hours
    _check_hours("prospect_hours", prospect_hours)
    if now.tzinfo is None:
        raise ValueError("now: needs a time zone")
    if duration <= dt.timedelta(0) or buffer < dt.timedelta(0) or days_ahead < 1 or count < 1:
        raise ValueError("duration must be positive, buffer not negative, days_ahead and count at least 1")
    earliest = now + notice
    blocked = sorted(busy, key=lambda interval: interval.start)

    by_day: list[list[tuple[dt.timedelta, Slot]]] = []  # per business day: (distance from prospect hours, slot)
    day = now.astimezone(owner).date()
    for _ in range(days_ahead):
        day = next_business_day(day, country)
        free = []
        for start in _starts(day, owner, working_hours, duration):
            slot = Slot(start=start, end=start + duration)
            if slot.start < earliest or not _business_day(slot.start.astimezone(prospect).date(), prospect_country):
                continue
            guarded = Interval(start=slot.start - buffer, end=slot.end + buffer)
            if any(guarded.overlaps(interval) for interval in blocked):
                continue
            free.append((_distance(slot, prospect, prospect_hours), slot))
        if free:
            by_day.append(sorted(free, key=lambda pair: (pair[0], pair[1].start)))
        day += dt.timedelta(days=1)

    firsts = sorted((options[0] for options in by_day), key=lambda pair: (pair[0] > dt.timedelta(0), pair[1].start))
    chosen = [slot for _, slot in firsts[:count]]
    if len(chosen) < count:  # fewer free days than slots wanted: more times on the days there are
        rest = sorted((pair for options in by_day for pair in options[1:]), key=lambda pair: (pair[0], pair[1].start))
        for _, slot in rest:
            if len(chosen) == count:
                break
            if all(abs(slot.start - other.start) >= duration + buffer for other in chosen):
                chosen.append(slot)
    return sorted(chosen, key=lambda slot: slot.start)


def format_slot(slot: Slot, zone: str) -> str:
    """`Tue 8 Dec, 10:00 (London time)`: the slot's start as the reader's clock shows it."""
    local = slot.start.astimezone(_zone("zone", zone))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} ({zone_label(zone)} time)"


def proposal_text(slots: list[Slot], prospect_zone: str) -> str:
    """The times to offer, one per line, in the prospect's zone, for the reply that proposes them."""
    if not slots:
        return ""
    minutes = int((slots[0].end - slots[0].start).total_seconds() // 60)
    lines = [f"Would one of these times work for a {minutes}-minute call?", ""]
    lines += [f"- {format_slot(slot, prospect_zone)}" for slot in slots]
    return "\n".join(lines)


def zone_label(zone: str) -> str:
    """The city of an IANA zone as people say it: `America/New_York` is `New York`; `UTC` stays `UTC`."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


# --- internals ----------------------------------------------------------------


def _zone(name: str, zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name}: {zone!r} is not an IANA time zone") from None


def _check_hours(name: str, hours: tuple[int, int]) -> None:
    start, end = hours
    if not 0 <= start < end <= 24:
        raise ValueError(f"{name}: {hours!r} must be (start, end) hours with 0 <= start < end <= 24")


def _business_day(day: dt.date, country: str | None) -> bool:
    return next_business_day(day, country) == day


def _starts(day: dt.date, zone: ZoneInfo, hours: tuple[int, int], duration: dt.timedelta) -> list[dt.datetime]:
    """Quarter-hour starts on `day` whose meeting ends by the end of the working day, in UTC.

    Wall-clock times are built in the zone and converted, so a working day keeps its local hours across a DST
    change; a wall time a spring-forward skips is left out.
    """
    opens = dt.datetime.combine(day, dt.time(hours[0]), tzinfo=zone)
    closes = dt.datetime.combine(day, dt.time(0), tzinfo=zone) + dt.timedelta(hours=hours[1])
    starts, local = [], opens
    while local + duration <= closes:
        instant = local.astimezone(dt.UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):  # exists on this day
            starts.append(instant)
        local += _STEP
    return starts


def _distance(slot: Slot, zone: ZoneInfo, hours: tuple[int, int]) -> dt.timedelta:
    """How far the slot lies outside the reader's business hours on the reader's day; zero inside them."""
    start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
    day = start.date()
    opens = dt.datetime.combine(day, dt.time(0), tzinfo=zone) + dt.timedelta(hours=hours[0])
    closes = dt.datetime.combine(day, dt.time(0), tzinfo=zone) + dt.timedelta(hours=hours[1])
    return max(opens - start, end - closes, dt.timedelta(0))
