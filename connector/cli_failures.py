"""The failures a command-line user can do something about, and what the command line says about each.

A wrong vault key, an unreachable CRM or Redis, a file that cannot be read:
each is said in one line with what failed, and the command exits 2 (fix the
set-up or the input, then run again) or 1 (an outside service failed; try
again later). A traceback is for a bug, or for `--debug`.
"""

from __future__ import annotations


def expected_failure(exc: BaseException) -> tuple[str, int] | None:
    """The line to print and the exit code for an expected failure; None for anything else (a bug)."""
    import redis

    from connector.markets import MarketError
    from connector.providers.base import ProviderError
    from connector.redis_conn import RedisUnavailable
    from connector.vault import VaultError
    from crm_adapters.errors import CRMError

    if isinstance(exc, VaultError):
        return f"Vault: {exc}", 2
    if isinstance(exc, CRMError):
        return f"CRM: {exc}", 1
    if isinstance(exc, (ProviderError, MarketError, RedisUnavailable)):
        return str(exc), 2
    if isinstance(exc, redis.RedisError):
        return f"Redis: {exc}", 1
    if isinstance(exc, OSError) and exc.strerror:  # a path SalesOS cannot use (SALESOS_HOME, a file named to it)
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror, 2
    return None
