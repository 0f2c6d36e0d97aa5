"""What provider calls cost, per tenant, run and provider, and the caps that stop paid calls.

Two Redis hashes a call is counted in: the run's (`...:run:<run id>`, kept as
long as the run's own records) and the tenant's month (`...:month:<YYYY-MM>`,
UTC, kept 400 days). Per provider: `calls` (requests answered), `cached`
(answers from the cache, no request), `credits`, dollars, and `capped` (paid
calls a cap stopped). Dollars are kept in millionths, as integers, so totals
never drift.

A paid call (an endpoint with credits) asks `check` first. It is refused
(`CapReached`, naming the cap and the amounts) when the run's or the
tenant's month's spending, plus the calls in flight, plus this call's price
would pass a cap; a cap of 0 allows no paid call. Otherwise `check` holds
the call's price, atomically (one Lua script), so workers checking at the
same moment cannot all pass: the cap can be overshot only by what a call
costs beyond its one-unit price (a call charged per record, like a bulk
match, is priced when its answer says how many records it found). The
answer's `charge` settles the hold with the real cost; a call that ends
without an answer `release`s it. A worker killed mid-call leaves its hold
counted: a cap errs towards stopping early. Free calls are never checked and
always counted. A paid provider without a price (`<NAME>_DOLLARS_PER_CREDIT`
unset and none in its spec) costs $0 a call: only a cap of 0 stops it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import redis

from connector.providers.http.errors import CapReached
from connector.queues import RUN_TTL

MONTH_TTL = 400 * 24 * 3600
FIELDS = ("calls", "cached", "credits", "dollars", "capped")

# KEYS: run hash, month hash. ARGV: price, run cap, month cap (micro-dollars), run ttl, month ttl, capped field.
# Returns {0} when held, else {1 (run) or 2 (month), micro-dollars already used}.
_CHECK = """
local price = tonumber(ARGV[1])
for index, key in ipairs(KEYS) do
  local used = tonumber(redis.call('HGET', key, '_spent') or '0') + tonumber(redis.call('HGET', key, '_held') or '0')
  if used + price > tonumber(ARGV[index + 1]) then
    redis.call('HINCRBY', KEYS[1], ARGV[6], 1)
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    return {index, used}
  end
end
for index, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, '_held', price)
  redis.call('EXPIRE', key, ARGV[index + 3])
end
return {0, 0}
"""


class CostLedger:
    """The client's `CostMeter` for one tenant's run, with its caps in dollars (0: no paid calls).

    One ledger per run (any number of workers may hold one for the same run);
    `clock` picks the month.
    """

    def __init__(self, conn: redis.Redis, tenant: str, run_id: str, *, run_cap: float, monthly_cap: float,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._conn, self.tenant, self.run_id = conn, tenant, run_id
        self.run_cap, self.monthly_cap = run_cap, monthly_cap
        self._clock = clock
        self._check = conn.register_script(_CHECK)

    def check(self, provider: str, endpoint: str, dollars: float) -> None:
        """Hold `dollars` for a paid call, or raise CapReached when it would pass the run's or the month's cap."""
        month = _month(self._clock())
        keys = [run_key(self.tenant, self.run_id), month_key(self.tenant, month)]
        if not self.run_cap or not self.monthly_cap:
            self._conn.hincrby(keys[0], f"{provider}:capped", 1)
            self._conn.expire(keys[0], RUN_TTL)
            which = "run cost cap" if not self.run_cap else "monthly cost cap"
            raise CapReached(provider, endpoint, f"paid calls are off: the {which} is $0")
        cap, used = self._check(keys=keys, args=[_micros(dollars), _micros(self.run_cap), _micros(self.monthly_cap),
                                                 RUN_TTL, MONTH_TTL, f"{provider}:capped"])
        if cap:
            name = "run cost cap" if cap == 1 else f"monthly cost cap ({month})"
            limit = self.run_cap if cap == 1 else self.monthly_cap
            raise CapReached(provider, endpoint, f"the {name} of ${limit:,.2f} is reached: ${used / 1e6:,.2f} spent "
                                                 f"or in flight, and the next call costs ${dollars:,.2f}")

    def charge(self, provider: str, endpoint: str, credits: float, dollars: float, cached: bool,
               held: float = 0.0) -> None:
        """Count an answer (from the cache, or a request with its cost), settling what `check` held for it."""
        pipe = self._conn.pipeline(transaction=True)
        for key, ttl in self._keys():
            pipe.hincrby(key, f"{provider}:{'cached' if cached else 'calls'}", 1)
            if credits:
                pipe.hincrbyfloat(key, f"{provider}:credits", credits)
            if dollars:
                pipe.hincrby(key, f"{provider}:dollars", _micros(dollars))
                pipe.hincrby(key, "_spent", _micros(dollars))
            if held:
                pipe.hincrby(key, "_held", -_micros(held))
            pipe.expire(key, ttl)
        pipe.execute()

    def release(self, provider: str, endpoint: str, held: float) -> None:
        """A checked call ended without an answer: what it held no longer counts against the caps."""
        if held:
            pipe = self._conn.pipeline(transaction=True)
            for key, _ in self._keys():
                pipe.hincrby(key, "_held", -_micros(held))
            pipe.execute()

    def _keys(self) -> list[tuple[str, int]]:
        month = _month(self._clock())
        return [(run_key(self.tenant, self.run_id), RUN_TTL), (month_key(self.tenant, month), MONTH_TTL)]


def run_key(tenant: str, run_id: str) -> str:
    return f"salesos:costs:{tenant}:run:{run_id}"


def month_key(tenant: str, month: str) -> str:
    return f"salesos:costs:{tenant}:month:{month}"


def run_costs(conn: redis.Redis, tenant: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Per provider, what the run's calls cost: {calls, cached, credits, dollars, capped}."""
    return _read(conn, run_key(tenant, run_id))


def month_costs(conn: redis.Redis, tenant: str, month: str | None = None, *,
                now: dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per provider, the tenant's calls in `month` ('YYYY-MM', UTC; default: the month of `now`)."""
    return _read(conn, month_key(tenant, month or _month(now or dt.datetime.now(dt.UTC))))


def _read(conn: redis.Redis, key: str) -> dict[str, dict[str, Any]]:
    costs: dict[str, dict[str, Any]] = {}
    for name, value in conn.hgetall(key).items():
        provider, _, field = name.decode().partition(":")
        if field not in FIELDS:
            continue  # the totals the caps read (_spent, _held)
        row = costs.setdefault(provider, {"calls": 0, "cached": 0, "credits": 0.0, "dollars": 0.0, "capped": 0})
        row[field] = round(int(value) / 1e6, 6) if field == "dollars" else float(value) if field == "credits" \
            else int(value)
    return dict(sorted(costs.items()))


def _month(now: dt.datetime) -> str:
    return f"{now.astimezone(dt.UTC):%Y-%m}"


def _micros(dollars: float) -> int:
    return round(dollars * 1_000_000)
