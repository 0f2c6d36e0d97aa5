"""Provider calls that answered or failed, per provider, in hourly Redis buckets kept two days.

The client records each request it settles (an answer, or a failure after its
retries); `health` reads the last day's `success_rates`, the seed's "API
success rate > 95%" on real calls. Calls a breaker or cap stopped were never
made and are not counted. One hash per UTC hour, so a reader sums at most a
few dozen small hashes and old hours expire on their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import redis
from pydantic import BaseModel

KEEP = 48 * 3600


class SuccessRate(BaseModel):
    ok: int
    failed: int

    @property
    def calls(self) -> int:
        return self.ok + self.failed

    @property
    def rate(self) -> float:
        return self.ok / self.calls if self.calls else 1.0


class RedisCallStats:
    """The client's `CallStats`."""

    def __init__(self, conn: redis.Redis, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._conn, self._clock = conn, clock

    def record(self, provider: str, ok: bool) -> None:
        key = bucket_key(self._clock())
        pipe = self._conn.pipeline(transaction=True)
        pipe.hincrby(key, f"{provider}:{'ok' if ok else 'failed'}", 1)
        pipe.expire(key, KEEP)
        pipe.execute()


def bucket_key(when: dt.datetime) -> str:
    return f"salesos:provider_calls:{when.astimezone(dt.UTC):%Y%m%d%H}"


def success_rates(conn: redis.Redis, hours: int = 24, *, now: dt.datetime | None = None) -> dict[str, SuccessRate]:
    """Per provider called in the last `hours` hours (this one included), its answered and failed calls."""
    now = now or dt.datetime.now(dt.UTC)
    pipe = conn.pipeline(transaction=False)
    for back in range(hours):
        pipe.hgetall(bucket_key(now - dt.timedelta(hours=back)))
    counts: dict[str, dict[str, int]] = {}
    for bucket in pipe.execute():
        for name, value in bucket.items():
            provider, _, outcome = name.decode().partition(":")
            row = counts.setdefault(provider, {"ok": 0, "failed": 0})
            if outcome in row:
                row[outcome] += int(value)
    return {provider: SuccessRate(ok=row["ok"], failed=row["failed"]) for provider, row in sorted(counts.items())}
