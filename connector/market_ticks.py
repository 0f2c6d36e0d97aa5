"""A scheduled market's ticks in Redis: arming the next one, re-arming a broken chain, the month's count.

A tenant's market (`connector.tenant_markets`) with a `schedule` has one chain
of ticks: an `agents.market_jobs.market_tick_job` scheduled on the `source`
queue for its due time, which RQ's scheduler (inside `connector worker`)
releases then. Its job id is the tenant plus the due time, so arming a tick
that exists is a no-op, and two chains that reach the same point are one. A
tick arms the next; whatever sets a scheduled market (a `run`, a market
record, `POST /api/markets`) arms its first; and the dispatcher's idle pass
arms the next tick of a scheduled market whose chain broke (its tick failed
for good, or was lost).

ARMED holds each tenant's last armed due time (what `health` shows). A month's
count of a market's sourced companies is a set of domains per tenant, market
and month (`note_sourced`): a retried job adds none twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterable

import redis
from rq.job import Job
from sqlalchemy.exc import SQLAlchemyError

from agents.market import MarketDefinition
from agents.market_schedule import left_this_month, month_of, next_tick
from connector.queues import enqueue_once, job_id

ARMED = "salesos:ticks:armed"
TICK_JOB = "agents.market_jobs.market_tick_job"
TICK_QUEUE = "source"
_WAITING = {b"scheduled", b"queued", b"started", b"deferred"}
SOURCED_TTL = 40 * 24 * 3600  # a month's count outlives its month
REARM_EVERY = 60.0  # seconds between the dispatcher's checks of the chains
log = logging.getLogger(__name__)


def tick_key(tenant: str, due: dt.datetime) -> str:
    return job_id("tick", tenant, f"{due.astimezone(dt.UTC):%Y%m%dT%H%M}")


def run_id(tenant: str, kind: str, point: dt.datetime, part: int = 0) -> str:
    """A scheduled run's id: sortable like `new_run_id`, and the same for every tick covering the point."""
    digest = hashlib.sha256(f"{tenant}|{kind}|{point.isoformat()}|{part}".encode()).hexdigest()[:8]
    return f"{point.astimezone(dt.UTC):%Y%m%dT%H%M%S}-{kind}{part or ''}-{digest}"


def arm(conn: redis.Redis, tenant: str, market: MarketDefinition, now: dt.datetime) -> dt.datetime | None:
    """Schedule the market's next tick after `now` (none for a market without a schedule); returns its time."""
    if market.schedule is None or not market.schedule.kinds():
        return None
    due = next_tick(market.schedule, tenant, now, month_full=month_full(conn, tenant, market, now))
    enqueue_once(conn, TICK_QUEUE, TICK_JOB, {"tenant": tenant, "due": due.isoformat()},
                 job_key=tick_key(tenant, due), at=due)
    conn.hset(ARMED, tenant, due.isoformat())
    return due


def armed(conn: redis.Redis, tenant: str) -> dt.datetime | None:
    """The due time of the tenant's last armed tick."""
    value = conn.hget(ARMED, tenant)
    return dt.datetime.fromisoformat(value.decode()) if value else None


def stopped(conn: redis.Redis, tenant: str, due: dt.datetime) -> None:
    """The chain ended with the tick due at `due` (no market, or no schedule): it is no longer shown as armed."""
    if armed(conn, tenant) == due:
        conn.hdel(ARMED, tenant)


def rearm(conn: redis.Redis, markets: Iterable[tuple[str, MarketDefinition]], now: dt.datetime) -> int:
    """Arm the next tick of every scheduled market that has none waiting; returns how many were armed."""
    count = 0
    for tenant, market in markets:
        due = armed(conn, tenant)
        if due is not None and conn.hget(Job.key_for(tick_key(tenant, due)), "status") in _WAITING:
            continue
        again = arm(conn, tenant, market, now)
        if again:
            log.warning("the ticks of %s's market had stopped (tick due %s); the next is armed for %s", tenant,
                        due.isoformat() if due else "never armed", again.isoformat())
            count += 1
    return count


class Rearming:
    """The dispatcher's idle pass calls this often; it checks the chains at most every REARM_EVERY seconds."""

    def __init__(self, conn: redis.Redis, markets: Callable[[], Iterable[tuple[str, MarketDefinition]]],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.conn, self.markets, self.clock = conn, markets, clock
        self._last: float | None = None

    def __call__(self) -> int:
        if self._last is not None and time.monotonic() - self._last < REARM_EVERY:
            return 0
        self._last = time.monotonic()
        try:
            return rearm(self.conn, self.markets(), self.clock())
        except SQLAlchemyError as exc:  # the dispatcher goes on; the chains are checked again next time
            log.error("the scheduled markets could not be read: %s", exc)
            return 0


# --- the month's count ---------------------------------------------------------------------------------


def _sourced_key(tenant: str, market_name: str, month: str) -> str:
    return f"salesos:sourced:{tenant}:{hashlib.sha256(market_name.encode()).hexdigest()[:16]}:{month}"


def note_sourced(conn: redis.Redis, tenant: str, market_name: str, month: str, domains: list[str]) -> None:
    """Companies a run of the market added to the tenant's CRM in `month` ("2026-11")."""
    if not domains:
        return
    key = _sourced_key(tenant, market_name, month)
    pipe = conn.pipeline()
    pipe.sadd(key, *domains)
    pipe.expire(key, SOURCED_TTL)
    pipe.execute()


def sourced(conn: redis.Redis, tenant: str, market_name: str, month: str) -> int:
    return conn.scard(_sourced_key(tenant, market_name, month))


def left(conn: redis.Redis, tenant: str, market: MarketDefinition, now: dt.datetime) -> int | None:
    """New companies sourcing may still add in `now`'s month; None: the market has no monthly_target."""
    return left_this_month(market.monthly_target, sourced(conn, tenant, market.name, month_of(now)))


def month_full(conn: redis.Redis, tenant: str, market: MarketDefinition, now: dt.datetime) -> bool:
    return left(conn, tenant, market, now) == 0
