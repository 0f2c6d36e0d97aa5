"""Provider answers cached in Redis, each for as long as its kind of data stays true.

Firmographics change over weeks, job postings and news daily: the endpoint's
spec names its kind (`cache:` in the provider's YAML), `SALESOS_CACHE_TTLS`
overrides the defaults below. A re-run of a market within those times pays
nothing for what it already asked. Keys come from `ProviderClient._cache_key`
and start with the tenant, so one tenant's answers are never another's.
A kind set to 0 seconds is not cached at all.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from connector.providers.http.spec import DataKind

PREFIX = "salesos:provider_cache:"
DAY = 24 * 3600
DEFAULT_TTLS: dict[DataKind, int] = {
    "firmographics": 21 * DAY, "people": 14 * DAY, "emails": 30 * DAY, "verification": 30 * DAY,
    "funding": 7 * DAY, "website": 7 * DAY, "search": 7 * DAY, "jobs": DAY, "news": DAY,
}


class RedisResponseCache:
    """The client's `ResponseCache` on Redis. `ttls` (seconds per kind) override the defaults kind by kind."""

    def __init__(self, conn: redis.Redis, ttls: Mapping[DataKind, int] | None = None) -> None:
        self._conn = conn
        self.ttls: dict[DataKind, int] = {**DEFAULT_TTLS, **(ttls or {})}

    def get(self, key: str) -> bytes | None:
        return self._conn.get(PREFIX + key)

    def put(self, key: str, value: bytes, kind: DataKind) -> None:
        seconds = self.ttls[kind]
        if seconds > 0:
            self._conn.set(PREFIX + key, value, ex=seconds)
