"""Every CRM API call goes through here: counted, budgeted, retried with backoff.

Adapters translate their client's exceptions into `crm_adapters.errors`; this
module decides what to do about them, the same way for every CRM:
`Retry-After` when the CRM says how long to wait, exponential backoff with
full jitter otherwise, one token refresh after an auth failure, and a daily
budget checked before each call so SalesOS stops at its share of the tenant's
allowance instead of starving the customer's other integrations.
"""

from __future__ import annotations

import email.utils

import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import redis

from crm_adapters.errors import AuthExpired, BudgetExhausted, CRMError, RateLimited, Retryable

log = logging.getLogger(__name__)
T = TypeVar("T")


class TokenSource(Protocol):
    """Where an adapter gets its access token (see `connector.oauth.tokens`)."""

    def access_token(self) -> str: ...

    def refresh_after_failure(self, rejected: str) -> str: ...


class StaticToken:
    """A token that cannot be refreshed: private-app tokens in tests and benches."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_failure(self, rejected: str) -> str:
        from crm_adapters.errors import GrantRevoked

        raise GrantRevoked("the access token was rejected and cannot be refreshed")


class Budget:
    """SalesOS's share of a tenant's daily API allowance, counted in Redis so every worker shares it.

    The day is the UTC day, as HubSpot's and Salesforce's daily limits are.
    `allowance` may be corrected later from what the CRM reports
    (Salesforce's `Sforce-Limit-Info`).
    """

    def __init__(self, conn: redis.Redis, tenant: str, allowance: int, share: float,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._conn, self.tenant, self.allowance, self.share, self._clock = conn, tenant, allowance, share, clock

    @property
    def limit(self) -> int:
        return int(self.allowance * self.share)

    def spend(self, calls: int = 1) -> int:
        """Count `calls` more, or raise BudgetExhausted without counting them."""
        key = f"salesos:api-budget:{self.tenant}:{self._clock().date().isoformat()}"
        used = self._conn.incrby(key, calls)
        if used == calls:
            self._conn.expire(key, 2 * 24 * 3600)
        if used > self.limit:
            self._conn.decrby(key, calls)
            raise BudgetExhausted(
                f"SalesOS stopped at its {self.share:.0%} share of {self.tenant}'s daily API allowance "
                f"({self.limit:,} of {self.allowance:,} calls); the rest is left for your other integrations. "
                f"It resumes after 00:00 UTC, or raise CRM_API_SHARE."
            )
        return used

    def used(self) -> int:
        value = self._conn.get(f"salesos:api-budget:{self.tenant}:{self._clock().date().isoformat()}")
        return int(value or 0)


@dataclass
class CallPolicy:
    """How hard to try. `sleep` and `jitter` are injectable so tests never wait or guess; `on_wait(what, seconds)`
    hears of each wait before it starts, so whoever waits on this call can be told why."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    budget: Budget | None = None
    sleep: Callable[[float], None] = time.sleep
    on_wait: Callable[[str, float], None] | None = None
    jitter: Callable[[], float] = random.random
    calls: int = 0
    waits: list[float] = field(default_factory=list)

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to base × 2^attempt, capped."""
        return self.jitter() * min(self.max_delay, self.base_delay * 2 ** attempt)


def call(policy: CallPolicy, tokens: TokenSource, request: Callable[[str], T],
         classify: Callable[[Exception], CRMError | None], what: str) -> T:
    """Run `request(access_token)` until it succeeds or fails for good.

    `classify` maps the client's exception to a CRMError (None: not ours, re-raise).
    A daily rate limit is not waited out: it is raised for the job to report.
    Every request SalesOS sends may be repeated, creates included: what it
    creates carries its own key, which the CRM finds instead of duplicating it
    (`fields.ENGAGEMENT_KEY`), so a 5xx or a dropped answer is retried.
    """
    refreshed = False
    attempt = 0
    while True:
        token = tokens.access_token()
        if policy.budget is not None:
            policy.budget.spend()
        policy.calls += 1
        try:
            return request(token)
        except Exception as exc:  # noqa: BLE001 - every client raises its own types; classify sorts them
            error = classify(exc)
            if error is None:
                raise
        if isinstance(error, AuthExpired) and not refreshed:
            log.info("%s: access token refused; refreshing once", what)
            tokens.refresh_after_failure(token)
            refreshed = True
            continue
        daily = isinstance(error, RateLimited) and error.daily
        if isinstance(error, Retryable) and not daily and attempt + 1 < policy.max_attempts:
            wait = error.retry_after if error.retry_after is not None else policy.backoff(attempt)
            wait = min(wait, policy.max_delay)
            log.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", what, error, wait, attempt + 2,
                        policy.max_attempts)
            if policy.on_wait is not None:
                policy.on_wait(f"{what}: {error}; retrying in {wait:.0f} s (attempt {attempt + 2} of "
                               f"{policy.max_attempts})", wait)
            policy.waits.append(wait)
            policy.sleep(wait)
            attempt += 1
            continue
        raise error


def retry_after(headers: dict[str, str] | None) -> float | None:
    """Seconds from a `Retry-After` header among `headers` (any case), None without one."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            return retry_after_seconds(value)
    return None


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """A Retry-After value, seconds or an HTTP date, as seconds from `now`; None when absent or unreadable. The
    one reading of it for every client SalesOS has (CRMs, providers, mail, Twilio, calendars)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())
