"""Send caps per mailbox and per recipient domain, the warm-up ramp, and when a refused send may try again.

Mailbox providers judge a sender by its volume and its pattern: a new inbox
that sends 40 cold emails on its first day, or any inbox that sends 40 in
one hour, lands in spam (providers.md, "Send caps and warm-up": 30-50 a day
per inbox including warm-up traffic). So each mailbox has

- a daily cap (40) and an hourly cap (12), so a day's sends spread out;
- a warm-up ramp: a mailbox whose warm-up started on day D may send 5 on D
  and 5 more on each business day (Monday to Friday) after it, up to the
  daily cap (40 on its eighth business day);
- a per-recipient-domain daily cap (5). It is per *tenant* by default,
  counted across all the tenant's mailboxes: the prospect company's mail
  filter sees every one of the tenant's mailboxes (usually one sending
  domain), and a cap per mailbox would let ten mailboxes send fifty emails
  to one company in a day. `domain_cap_scope="mailbox"` counts per mailbox.

A mailbox's "day" is the calendar day in the mailbox's own zone (its
setting; UTC by default), since that is the day its provider counts. Its
"hour" is the UTC clock hour: the same as the local hour everywhere but in
half-hour zones, and never ambiguous when clocks go back.

A refused send is never dropped: `decide` says when it may try again, in
the prospect's zone and window (`agents.send_windows`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.send_windows import SendWindow, next_window_start, window_open, zone_of

Reason = Literal["hourly_cap", "daily_cap", "domain_cap", "window"]
Scope = Literal["tenant", "mailbox"]


class ThrottlePolicy(BaseModel):
    """The caps; connector.settings builds it from SALESOS_* variables with these defaults."""

    model_config = ConfigDict(frozen=True)

    mailbox_daily_cap: int = Field(default=40, ge=0, description="emails per mailbox per mailbox-local day")
    mailbox_hourly_cap: int = Field(default=12, ge=0, description="emails per mailbox per clock hour")
    domain_daily_cap: int = Field(default=5, ge=0, description="emails per recipient domain per day")
    domain_cap_scope: Scope = Field(default="tenant", description="who the domain cap counts: the tenant's "
                                                                   "mailboxes together, or each mailbox")
    warmup_start: int = Field(default=5, ge=0, description="a new mailbox's cap on its first warm-up day")
    warmup_step: int = Field(default=5, ge=0, description="added each business day of warm-up")


class Mailbox(BaseModel):
    """What the caps need to know about a sending mailbox."""

    model_config = ConfigDict(frozen=True)

    zone: str = Field(default="UTC", description="IANA zone whose calendar day the daily caps count")
    warmup_started: dt.date | None = Field(default=None, description="unset: warmed up, the full daily cap")

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        zone_of(zone, "UTC")
        return zone


class Caps(BaseModel):
    """The caps in force for one mailbox on one day (what connector.send_budget enforces atomically)."""

    model_config = ConfigDict(frozen=True)

    hourly: int = Field(ge=0)
    daily: int = Field(ge=0)
    domain_daily: int = Field(ge=0)
    domain_scope: Scope = "tenant"
    mailbox_zone: str = "UTC"


class Prospect(BaseModel):
    """Where the recipient is, for their window: their zone, country (public holidays) and the window."""

    model_config = ConfigDict(frozen=True)

    zone: str = Field(description="IANA zone; `Prospect.of` falls back to the tenant's default")
    country: str | None = Field(default=None, description="ISO 3166 alpha-2, for public holidays")
    window: SendWindow = SendWindow()

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        zone_of(zone, "UTC")  # raises, naming the rule, for a name that is not an IANA zone
        return zone

    @classmethod
    def of(cls, zone: str | None, country: str | None, window: SendWindow, default_zone: str) -> Prospect:
        """A prospect whose zone is unknown is written to in the tenant's default zone."""
        return cls(zone=zone or default_zone, country=country, window=window)

    @property
    def tz(self) -> dt.tzinfo:
        return zone_named(self.zone)


class Usage(BaseModel):
    """Sends already counted against the caps: this hour and today for the mailbox, today for the domain."""

    hour: int = Field(default=0, ge=0)
    day: int = Field(default=0, ge=0)
    domain_day: int = Field(default=0, ge=0)


class Decision(BaseModel):
    """Send now, or not: why (`reason`) and when to try again (`retry_at`, in the prospect's zone)."""

    send: bool
    reason: Reason | None = None
    retry_at: dt.datetime | None = None


SEND = Decision(send=True)


def daily_cap_for(policy: ThrottlePolicy, warmup_started: dt.date | None, today: dt.date) -> int:
    """The mailbox's daily cap on `today`: the warm-up ramp's value for the business days since its warm-up
    started (the start day counts as day 0, weekends do not count), never more than the daily cap."""
    if warmup_started is None:
        return policy.mailbox_daily_cap
    ramp, day = policy.warmup_start, warmup_started
    while day < today and ramp < policy.mailbox_daily_cap and policy.warmup_step:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            ramp += policy.warmup_step
    return min(ramp, policy.mailbox_daily_cap)


def caps_for(policy: ThrottlePolicy, mailbox: Mailbox, now: dt.datetime) -> Caps:
    """The caps in force at `now` for the mailbox (its warm-up counted in its own calendar day)."""
    today = now.astimezone(zone_named(mailbox.zone)).date()
    daily = daily_cap_for(policy, mailbox.warmup_started, today)
    return Caps(hourly=min(policy.mailbox_hourly_cap, daily), daily=daily, domain_daily=policy.domain_daily_cap,
                domain_scope=policy.domain_cap_scope, mailbox_zone=mailbox.zone)


def window_decision(now: dt.datetime, prospect: Prospect) -> Decision:
    """Send when the prospect's window is open; else wait for its next start."""
    if window_open(now, prospect.tz, prospect.country, prospect.window):
        return SEND
    return Decision(send=False, reason="window", retry_at=retry_at("window", now, "UTC", prospect))


def decide(usage: Usage, policy: ThrottlePolicy, *, now: dt.datetime, mailbox: Mailbox,
           prospect: Prospect) -> Decision:
    """Whether one more email may go now, given what was sent already. The window is checked first; then the
    caps whose retry is furthest away (the day's before the hour's), so a refused step is not retried only to
    be refused again. (connector.send_budget makes the same check and counts the send in one atomic step.)"""
    caps = caps_for(policy, mailbox, now)
    closed = window_decision(now, prospect)
    if not closed.send:
        return closed
    for reason, used, cap in (("daily_cap", usage.day, caps.daily), ("domain_cap", usage.domain_day,
                                                                     caps.domain_daily),
                              ("hourly_cap", usage.hour, caps.hourly)):
        if used >= cap:
            return Decision(send=False, reason=reason, retry_at=retry_at(reason, now, caps.mailbox_zone, prospect))
    return SEND


def retry_at(reason: Reason, now: dt.datetime, mailbox_zone: str, prospect: Prospect) -> dt.datetime:
    """When a send refused for `reason` at `now` may try again, in the prospect's zone: the next clock hour
    (hourly cap), the start of the mailbox's next day (daily and domain caps), or now (a closed window) --
    each moved on to the prospect's next window start when their window is closed then."""
    if reason == "hourly_cap":
        free = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    elif reason in ("daily_cap", "domain_cap"):
        zone = zone_named(mailbox_zone)
        tomorrow = now.astimezone(zone).date() + dt.timedelta(days=1)
        free = dt.datetime.combine(tomorrow, dt.time(0), tzinfo=zone)
    else:
        free = now
    return next_window_start(free, prospect.tz, prospect.country, prospect.window)


def summarise(decisions: Iterable[Decision]) -> dict[str, int]:
    """Refusals counted by reason, for the run summary's "steps_rescheduled" (sends are not counted)."""
    counts = Counter(decision.reason for decision in decisions if not decision.send and decision.reason)
    return dict(sorted(counts.items()))


def zone_named(name: str) -> dt.tzinfo:
    """The IANA zone `name` (ZoneInfo caches them: cheap to call per send)."""
    return zone_of(name, "UTC")
