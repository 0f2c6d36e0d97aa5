"""A circuit breaker per provider and tenant, in Redis, shared by every worker.

Closed, a provider is called. After `threshold` failures in a row (the
client's failure paths: outages and spent quotas, `ProviderUnavailable` and
`QuotaExhausted`; a refused request is the caller's fault, not the
provider's) it opens: nobody calls it for a cool-down of `cooldown` seconds.
Then it is half-open: exactly one call (the trial) goes; its success closes
the breaker, its failure opens it again for twice as long, up to
`max_cooldown`. A trial that never reports back (its worker died, or the
provider refused the request) frees the trial after `trial_seconds`.

Per tenant, because a tenant's key or quota can fail while another's works.
The state is one hash a Lua script reads and writes, so workers on any
machine agree; `clock` (seconds) is passed in so tests move time by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

IDLE_TTL = 24 * 3600  # a breaker nobody touched for a day is forgotten (closed)

# State: failures (in a row), opened_until and cooldown (while open or half-open), trial_until (a trial is out).
# KEYS: the hash. ARGV: now, then per script below.
_ALLOW = """
local now = tonumber(ARGV[1])
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'opened_until') or '0')
if opened_until == 0 then return 1 end
if now < opened_until then return 0 end
if now < tonumber(redis.call('HGET', KEYS[1], 'trial_until') or '0') then return 0 end
redis.call('HSET', KEYS[1], 'trial_until', now + tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# ARGV: now, threshold, cooldown, max cooldown, idle ttl. Returns the seconds it is now open for (0: still closed).
_FAILED = """
local now = tonumber(ARGV[1])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'opened_until') or '0')
local wait = 0
if opened_until > 0 and now >= opened_until then
  wait = math.min(tonumber(redis.call('HGET', KEYS[1], 'cooldown')) * 2, tonumber(ARGV[4]))
elseif opened_until == 0 and failures >= tonumber(ARGV[2]) then
  wait = tonumber(ARGV[3])
end
if wait > 0 then
  redis.call('HSET', KEYS[1], 'opened_until', now + wait, 'cooldown', wait, 'trial_until', 0)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return wait
"""


class RedisBreaker:
    """The client's `Breaker` for one tenant."""

    def __init__(self, conn: redis.Redis, tenant: str, *, threshold: int = 5, cooldown: float = 60,
                 max_cooldown: float = 900, trial_seconds: float = 60,
                 clock: Callable[[], float] = time.time) -> None:
        self._conn, self.tenant = conn, tenant
        self.threshold, self.cooldown, self.max_cooldown, self.trial_seconds = threshold, cooldown, max_cooldown, \
            trial_seconds
        self._clock = clock
        self._allow, self._failed = conn.register_script(_ALLOW), conn.register_script(_FAILED)

    def allow(self, provider: str) -> bool:
        """Closed: yes. Open: no. Half-open: yes to the first caller (the trial), no to the others."""
        return bool(self._allow(keys=[self._key(provider)], args=[self._clock(), self.trial_seconds, IDLE_TTL]))

    def succeeded(self, provider: str) -> None:
        self._conn.delete(self._key(provider))

    def failed(self, provider: str) -> None:
        self._failed(keys=[self._key(provider)],
                     args=[self._clock(), self.threshold, self.cooldown, self.max_cooldown, IDLE_TTL])

    def _key(self, provider: str) -> str:
        return f"salesos:breaker:{self.tenant}:{provider}"
