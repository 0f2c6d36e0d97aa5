"""What a provider call can end in, besides an answer.

Callers catch `ProviderCallError` to carry on without the provider (the run
summary names it and what it missed); the subclasses say why, so the summary
and `health` can tell a missing key from an outage from a spent budget.
"""

from __future__ import annotations


class ProviderCallError(Exception):
    """A call to `provider` gave no usable answer. `reason` is safe to show a tenant (no key, no URL query)."""

    kind = "failed"

    def __init__(self, provider: str, endpoint: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{provider} {endpoint}: {reason}")
        self.provider, self.endpoint, self.reason, self.status = provider, endpoint, reason, status


class NotConfigured(ProviderCallError):
    """The tenant has no key for this provider: it is skipped, not failed."""

    kind = "skipped"


class CapReached(ProviderCallError):
    """A cost cap (per run or per month) is reached: the paid call was not made."""

    kind = "capped"


class CircuitOpen(ProviderCallError):
    """The provider failed too often lately for this tenant: not called until its cool-down ends."""

    kind = "unavailable"


class ProviderUnavailable(ProviderCallError):
    """Timeouts, network errors, 5xx or rate limits outlasted the retries; worth trying again later."""

    kind = "unavailable"

    def __init__(self, provider: str, endpoint: str, reason: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(provider, endpoint, reason, status)
        self.retry_after = retry_after


class AuthRefused(ProviderCallError):
    """The key was refused (401, or a 403 the provider uses for keys): retrying cannot help."""

    kind = "refused"


class QuotaExhausted(ProviderCallError):
    """The account's own quota (monthly credits, plan limit) is spent: nothing more until it renews."""

    kind = "quota"


class RequestRefused(ProviderCallError):
    """The provider refused the request itself (400, 422): a bug or bad data, not an outage."""

    kind = "refused"
