"""When a scheduled market's ticks fall due, and what a tick does: pure arithmetic over UTC times.

A market's ticks sit on a fixed grid: a monthly kind on the 1st of each
month, a weekly one on Mondays, at one time of day per tenant (from 04:00
UTC, spread over two hours by the tenant's id, so tenants' runs do not all
start at once). The grid depends only on the schedule and the tenant, so the
same tick always has the same time, and arming it twice is one job.

A tick due at `due` that runs at `now` does each kind that fell due in
[due, now] once, however late it runs (a worker down for a week does not
start a week of runs), then arms the first point after `now`.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from agents.market import MarketSchedule

FIRST_TICK = dt.time(4, 0)
SPREAD_MINUTES = 120


def tick_time(tenant: str) -> dt.time:
    """The tenant's time of day for every tick, in UTC."""
    minutes = int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:4], "big") % SPREAD_MINUTES
    start = dt.datetime.combine(dt.date(2000, 1, 1), FIRST_TICK) + dt.timedelta(minutes=minutes)
    return start.time()


def last_point(cadence: str, tenant: str, at: dt.datetime) -> dt.datetime:
    """The latest point of the cadence's grid at or before `at`."""
    at = at.astimezone(dt.UTC)
    if cadence == "monthly":
        point = _at(tenant, at.date().replace(day=1))
        return point if point <= at else _at(tenant, _month_before(at.date()))
    point = _at(tenant, at.date() - dt.timedelta(days=at.weekday()))
    return point if point <= at else point - dt.timedelta(days=7)


def next_point(cadence: str, tenant: str, after: dt.datetime) -> dt.datetime:
    """The first point of the cadence's grid strictly after `after`."""
    last = last_point(cadence, tenant, after)
    if cadence == "monthly":
        return _at(tenant, _month_after(last.date()))
    return last + dt.timedelta(days=7)


def due_work(schedule: MarketSchedule, tenant: str, due: dt.datetime, now: dt.datetime) -> dict[str, dt.datetime]:
    """The kinds a tick due at `due` does when it runs at `now`: each one with a point in [due, now], with the
    latest such point (which names its run, so two ticks covering one point start one run)."""
    work = {}
    for kind, cadence in schedule.kinds().items():
        point = last_point(cadence, tenant, now)
        if point >= due:
            work[kind] = point
    return work


def next_tick(schedule: MarketSchedule, tenant: str, after: dt.datetime,
              month_full: bool = False) -> dt.datetime | None:
    """When the tick after `after` is due; None for a schedule with nothing in it. With `month_full` (the
    month's target is met), sourcing skips the rest of `after`'s month."""
    points = []
    for kind, cadence in schedule.kinds().items():
        point = next_point(cadence, tenant, after)
        if kind == "source" and month_full:
            while month_of(point) == month_of(after):
                point = next_point(cadence, tenant, point)
        points.append(point)
    return min(points) if points else None


def month_of(at: dt.datetime | dt.date) -> str:
    """The calendar month (UTC) a count of sourced companies belongs to, like "2026-11"."""
    if isinstance(at, dt.datetime):
        at = at.astimezone(dt.UTC)
    return f"{at:%Y-%m}"


def left_this_month(monthly_target: int | None, sourced: int) -> int | None:
    """How many new companies sourcing may still add this month; None: no target, no limit."""
    if monthly_target is None:
        return None
    return max(0, monthly_target - sourced)


def _at(tenant: str, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, tick_time(tenant), dt.UTC)


def _month_before(day: dt.date) -> dt.date:
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
