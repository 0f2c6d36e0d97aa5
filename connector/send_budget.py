"""Send caps enforced across every worker on every host: counters in the shared Redis.

Each email first reserves its place: one Lua script reads the mailbox's
hour and day counters and the recipient domain's day counter, and either
refuses (naming the cap) or counts the email in all three, atomically. So
workers reserving at the same moment can never pass a cap together, and a
batch of 50 emails costs one round trip (`reserve_many`), not a SQL
transaction each. The caps themselves (warm-up included) and the retry
time of a refusal are decided in `agents.throttle`; this module only counts.

Keys (`salesos:send:<tenant>:...`) are named by their window: the mailbox's
UTC clock hour (`hour:YYYYMMDDHH`), its local calendar day (`day:YYYY-MM-DD`,
in the mailbox's zone), and the domain's day (per tenant or per mailbox, by
the policy's scope). They expire a little after their window ends, so Redis
holds at most two days of counters. A send that fails before reaching the
mail server `release`s its reservation; one that reached it, even if it
bounced, stays counted (its provider counted it too). A worker killed
between reserving and sending leaves the email counted: caps err towards
sending less.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.throttle import Caps, Decision, Prospect, Usage, retry_at, zone_named

HOUR_TTL = 3600 + 600  # the hour, and ten minutes for clocks that disagree
DAY_TTL = 25 * 3600 + 3600  # the longest local day (clocks going back), and an hour
_REASONS = {1: "daily_cap", 2: "domain_cap", 3: "hourly_cap"}

# KEYS: per item, its hour, day and domain-day counters. ARGV: hour ttl, day ttl, then per item its hourly, daily
# and domain caps. Items are taken in order, each seeing the ones before it. Returns per item 0 (reserved) or the
# cap that refused it: 1 daily, 2 domain, 3 hourly (the day's first: its retry is furthest away).
_RESERVE = """
local hour_ttl, day_ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local results = {}
for item = 0, #KEYS / 3 - 1 do
  local hour, day, domain = KEYS[item * 3 + 1], KEYS[item * 3 + 2], KEYS[item * 3 + 3]
  local hourly, daily, domain_daily = tonumber(ARGV[item * 3 + 3]), tonumber(ARGV[item * 3 + 4]),
    tonumber(ARGV[item * 3 + 5])
  local refused = 0
  if tonumber(redis.call('GET', day) or '0') >= daily then refused = 1
  elseif tonumber(redis.call('GET', domain) or '0') >= domain_daily then refused = 2
  elseif tonumber(redis.call('GET', hour) or '0') >= hourly then refused = 3
  else
    for _, pair in ipairs({{hour, hour_ttl}, {day, day_ttl}, {domain, day_ttl}}) do
      redis.call('INCR', pair[1])
      if redis.call('TTL', pair[1]) < 0 then redis.call('EXPIRE', pair[1], pair[2]) end
    end
  end
  results[item + 1] = refused
end
return results
"""

# KEYS: counters to give one back to. A counter that expired meanwhile (its window is over) is left alone.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


class BudgetError(ValueError):
    """A name that cannot be part of a counter's key; the message names the field and the rule."""


class Reservation(BaseModel):
    """One email's place under the caps; give it back with `SendBudget.release` if the send never happened."""

    model_config = ConfigDict(frozen=True)

    send: Literal[True] = True
    tenant: str
    mailbox: str
    recipient_domain: str
    keys: tuple[str, str, str] = Field(description="the hour, day and domain-day counters it was counted in")


class Refused(Decision):
    """No place under a cap: which one, and when to try again (in the prospect's zone and window)."""

    send: Literal[False] = False
    reason: Literal["hourly_cap", "daily_cap", "domain_cap"]
    retry_at: dt.datetime


class BudgetRequest(BaseModel):
    """One email of a batch: from which mailbox, to which domain, under which caps, to whom."""

    model_config = ConfigDict(frozen=True)

    mailbox: str
    recipient_domain: str
    caps: Caps
    prospect: Prospect

    @field_validator("recipient_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return domain_of(value)


class SendBudget:
    """The caps' counters in one Redis shared by every worker (any number of hosts)."""

    def __init__(self, conn: redis.Redis) -> None:
        self._conn = conn
        self._reserve = conn.register_script(_RESERVE)
        self._release = conn.register_script(_RELEASE)

    def reserve(self, tenant: str, mailbox: str, recipient_domain: str, *, now: dt.datetime, caps: Caps,
                prospect: Prospect) -> Reservation | Refused:
        """Count one email against the caps, or refuse it naming the cap and when to retry."""
        request = BudgetRequest(mailbox=mailbox, recipient_domain=recipient_domain, caps=caps, prospect=prospect)
        return self.reserve_many(tenant, [request], now=now)[0]

    def reserve_many(self, tenant: str, requests: Sequence[BudgetRequest], *,
                     now: dt.datetime) -> list[Reservation | Refused]:
        """`reserve` for a batch, in one round trip: results in the requests' order, each request seeing the
        reservations of those before it (two emails from one mailbox in a batch count twice)."""
        if not requests:
            return []
        keys: list[str] = []
        args: list[int] = [HOUR_TTL, DAY_TTL]
        for request in requests:
            keys.extend(counter_keys(tenant, request.mailbox, request.recipient_domain, now=now, caps=request.caps))
            args.extend((request.caps.hourly, request.caps.daily, request.caps.domain_daily))
        codes = self._reserve(keys=keys, args=args)
        results: list[Reservation | Refused] = []
        for index, (request, code) in enumerate(zip(requests, codes, strict=True)):
            if code:
                reason = _REASONS[int(code)]
                results.append(Refused(reason=reason, retry_at=retry_at(reason, now, request.caps.mailbox_zone,
                                                                        request.prospect)))
            else:
                results.append(Reservation(tenant=tenant, mailbox=request.mailbox,
                                           recipient_domain=request.recipient_domain,
                                           keys=tuple(keys[index * 3:index * 3 + 3])))
        return results

    def release(self, *reservations: Reservation) -> None:
        """Give back the places of sends that failed before reaching the mail server (call once for each)."""
        keys = [key for reservation in reservations for key in reservation.keys]
        if keys:
            self._release(keys=keys)

    def usage(self, tenant: str, mailbox: str, recipient_domain: str, *, now: dt.datetime, caps: Caps) -> Usage:
        """What is counted so far (for reports and `agents.throttle.decide`; reserving does its own check)."""
        values = self._conn.mget(counter_keys(tenant, mailbox, recipient_domain, now=now, caps=caps))
        hour, day, domain = (int(value or 0) for value in values)
        return Usage(hour=hour, day=day, domain_day=domain)


def counter_keys(tenant: str, mailbox: str, recipient_domain: str, *, now: dt.datetime,
                 caps: Caps) -> tuple[str, str, str]:
    """The hour, day and domain-day counters an email from `mailbox` at `now` is counted in."""
    if now.tzinfo is None:
        raise BudgetError(f"now must be timezone-aware (got {now.isoformat()})")
    tenant, mailbox, domain = _part("tenant", tenant), _part("mailbox", mailbox.lower()), domain_of(recipient_domain)
    hour = now.astimezone(dt.UTC).strftime("%Y%m%d%H")
    day = now.astimezone(zone_named(caps.mailbox_zone)).date().isoformat()
    base = f"salesos:send:{tenant}"
    owner = base if caps.domain_scope == "tenant" else f"{base}:mailbox:{mailbox}"
    return (f"{base}:mailbox:{mailbox}:hour:{hour}", f"{base}:mailbox:{mailbox}:day:{day}",
            f"{owner}:domain:{domain}:day:{day}")


def domain_of(recipient: str) -> str:
    """The recipient's domain, lower-cased, from a domain or an email address."""
    domain = recipient.rsplit("@", 1)[-1].strip().rstrip(".").lower()
    return _part("recipient_domain", domain, limit=253)


def _part(field: str, value: str, limit: int = 320) -> str:
    """A name that goes into a key: not empty, bounded, and unable to forge another key's layout."""
    if not value or len(value) > limit or any(char.isspace() or char in ":{}*?[]" for char in value):
        raise BudgetError(f"{field} must be 1 to {limit} characters without spaces or any of :{{}}*?[] "
                          f"(got {value[:80]!r})")
    return value
