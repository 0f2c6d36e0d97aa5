"""What can go wrong talking to a CRM, as one hierarchy callers can act on.

The class says what to do next: retry later (`RateLimited`, `Transient`),
refresh the token once (`AuthExpired`), stop the tenant until an admin
re-installs (`GrantRevoked`), stop for today (`BudgetExhausted`), or give up on
this request and report it (`RequestRejected`).
"""

from __future__ import annotations


class CRMError(RuntimeError):
    """Any failure talking to a CRM.

    `partial` is what a batch write had written before it failed (see `batching.upsert_in_chunks`).
    """

    partial = None


class Retryable(CRMError):
    """Worth trying again after `retry_after` seconds (None: use backoff)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(Retryable):
    """HTTP 429, HubSpot's rate-limit policies, Salesforce's REQUEST_LIMIT_EXCEEDED."""

    def __init__(self, message: str, retry_after: float | None = None, daily: bool = False) -> None:
        super().__init__(message, retry_after)
        self.daily = daily


class Transient(Retryable):
    """5xx, a lock, a dropped connection: the same request may well succeed later."""


class AuthExpired(CRMError):
    """The access token was refused; one refresh and one retry are in order."""


class GrantRevoked(CRMError):
    """The refresh token or private-app token no longer works: the tenant needs re-installing."""


class BudgetExhausted(CRMError):
    """SalesOS reached its share of the tenant's daily API allowance."""


class RequestRejected(CRMError):
    """A 4xx that retrying cannot fix (validation, missing field, permission)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
