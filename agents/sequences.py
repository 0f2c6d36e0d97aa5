"""Sequence templates per tier, and scheduling them on business days.

The templates are the seed's YAML (which wins over its code): TIER_1 7
touches over 21 days on email, LinkedIn and phone; TIER_2 5 over 18 on email
and LinkedIn; TIER_3 3 over 14 and TIER_4 2 over 30 on email only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from agents.models import Channel, SequenceStep, Tier

PRIMARY, SECONDARY = "primary", "secondary"


@dataclass(frozen=True)
class Touch:
    day: int
    slot: str  # PRIMARY, SECONDARY or a fixed channel
    message_type: str


@dataclass(frozen=True)
class Template:
    channels: tuple[Channel, ...]
    touches: tuple[Touch, ...]


TEMPLATES: dict[Tier, Template] = {
    "TIER_1": Template(("email", "linkedin", "phone"), (
        Touch(0, PRIMARY, "problem_aware"), Touch(2, SECONDARY, "value_add"), Touch(5, PRIMARY, "scarcity"),
        Touch(7, "phone", "direct_pitch"), Touch(10, PRIMARY, "social_proof"), Touch(14, "phone", "final_offer"),
        Touch(21, PRIMARY, "win_back"),
    )),
    "TIER_2": Template(("email", "linkedin"), (
        Touch(0, PRIMARY, "problem_aware"), Touch(3, "linkedin", "value_add"), Touch(6, PRIMARY, "social_proof"),
        Touch(10, "linkedin", "direct_pitch"), Touch(18, PRIMARY, "win_back"),
    )),
    "TIER_3": Template(("email",), (
        Touch(0, "email", "value_first"), Touch(5, "email", "value_add"), Touch(14, "email", "nurture"),
    )),
    "TIER_4": Template(("email",), (Touch(0, "email", "value_first"), Touch(30, "email", "nurture"))),
}

# Every message type a sequence uses, and the copy a rep's task carries: each has its own template
# (connector/channels/templates/), and a market may override any of them (MarketDefinition.templates).
MESSAGE_TYPES: tuple[str, ...] = tuple(dict.fromkeys(
    touch.message_type for template in TEMPLATES.values() for touch in template.touches))
TASK_COPY_KINDS: tuple[str, ...] = ("linkedin_connection", "linkedin_message", "call_script")
COPY_KINDS: tuple[str, ...] = (*MESSAGE_TYPES, "generic", *TASK_COPY_KINDS)


def channels_for(template: Template, primary: Channel) -> list[Channel]:
    """The channel of each touch once the primary channel is chosen."""
    secondary = next(channel for channel in template.channels if channel != primary) if len(
        template.channels) > 1 else primary
    slots = {PRIMARY: primary, SECONDARY: secondary}
    return [slots.get(touch.slot, touch.slot) for touch in template.touches]


def actions_for(channels: list[Channel]) -> list[str]:
    """What each touch does: the first email is cold, the last step is final, the first LinkedIn touch connects."""
    actions, seen = [], set()
    for index, channel in enumerate(channels):
        if channel == "phone":
            actions.append("make_call")
        elif channel == "linkedin":
            actions.append("send_message" if "linkedin" in seen else "send_connection_request")
        elif index == len(channels) - 1 and index > 0:
            actions.append("send_final")
        else:
            actions.append("send_follow_up" if "email" in seen else "send_cold_email")
        seen.add(channel)
    return actions


def next_business_day(day: dt.date, country: str | None) -> dt.date:
    """`day` itself when it is a working day, else the next one (weekends and public holidays skipped)."""
    while day.weekday() >= 5 or day in _holidays(country, day.year):
        day += dt.timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def _holidays(country: str | None, year: int) -> frozenset[dt.date]:
    if not country:
        return frozenset()
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # a country the library does not cover: weekends only
        return frozenset()


def schedule(
    template: Template, primary: Channel, start: dt.date, tz: str, country: str | None, send_hour: int
) -> list[SequenceStep]:
    """Concrete, time-zone-aware times: day N is N calendar days after the start, moved to a business day."""
    zone = ZoneInfo(tz)
    channels = channels_for(template, primary)
    steps = []
    for touch, channel, action in zip(template.touches, channels, actions_for(channels)):
        day = next_business_day(start + dt.timedelta(days=touch.day), country)
        steps.append(SequenceStep(
            day=touch.day, channel=channel, action=action, message_type=touch.message_type,
            scheduled_at=dt.datetime.combine(day, dt.time(send_hour), tzinfo=zone),
        ))
    return steps


def next_send_time(after: dt.datetime, zone: dt.tzinfo, country: str | None, send_hour: int) -> dt.datetime:
    """The contact's next send window after `after`: the send hour of their next business day (today's, when
    it is a business day and that hour is still to come where they are)."""
    local = after.astimezone(zone)
    day = local.date() if local.time() < dt.time(send_hour) else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(next_business_day(day, country), dt.time(send_hour), tzinfo=zone)


def move_overdue(sequence: list[SequenceStep], index: int, now: dt.datetime, grace: dt.timedelta,
                 zone: dt.tzinfo, country: str | None, send_hour: int) -> list[SequenceStep] | None:
    """The sequence with step `index` moved to the contact's next send window when it is overdue by more than
    `grace`, and the steps after it moved with it, as many days apart as planned; None when it is not that late.

    A step that late was not executed on time (no worker ran, for days): sending it now, at whatever hour it
    is where the contact is, and its followers on top of it, is not the sequence anyone planned.
    """
    step = sequence[index]
    if now - step.scheduled_at <= grace:
        return None
    return reschedule(sequence, index, next_send_time(now, zone, country, send_hour), zone, country, send_hour)


def reschedule(sequence: list[SequenceStep], index: int, at: dt.datetime, zone: dt.tzinfo, country: str | None,
               send_hour: int) -> list[SequenceStep]:
    """The sequence with step `index` moved to `at` and the steps after it moved with it: each as many calendar
    days after it as planned, on the next business day at the send hour, and never earlier than planned.

    Used when a step is refused now (a send cap, a closed window) and when it is found overdue: its followers
    keep the spacing the rep's template gave them instead of piling up behind it.
    """
    step, start = sequence[index], at.astimezone(zone)
    moved = [step.model_copy(update={"scheduled_at": start})]
    for later in sequence[index + 1:]:
        day = next_business_day(start.date() + dt.timedelta(days=later.day - step.day), country)
        when = dt.datetime.combine(day, dt.time(send_hour), tzinfo=zone)
        moved.append(later.model_copy(update={"scheduled_at": max(when, later.scheduled_at, key=_utc)}))
    return [*sequence[:index], *moved]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)
