"""One run's data providers: a client per provider for the run's tenant, with its keys, cache, costs and breakers.

Which providers serve which part of the funnel is data (`ROLES`); the order
firmographic fields are asked in is configuration (SALESOS_WATERFALL). A
tenant that gave no provider key calls no provider at all, not even the free
public ones (job boards, Wayback): its runs read files only, as before. A
provider without a key is skipped, and the run summary says so.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import httpx
import redis

from connector.providers.http.breaker import RedisBreaker
from connector.providers.http.cache import RedisResponseCache
from connector.providers.http.client import ProviderClient
from connector.providers.http.costs import CostLedger
from connector.providers.http.spec import load_spec
from connector.providers.http.stats import RedisCallStats
from connector.settings import Settings

ROLES: dict[str, tuple[str, ...]] = {
    "sourcing": ("apollo", "pdl", "crunchbase"),
    "firmographics": ("apollo", "pdl"),
    "intent": ("crunchbase", "greenhouse", "lever", "newsapi", "wayback"),
    "people": ("apollo", "hunter"),
    "emails": ("apollo", "hunter"),
    "verifier": ("hunter",),
}


class RunProviders:
    """The providers one run may call. Clients are made once per job; `http` is the worker's connection pool."""

    def __init__(self, tenant: str, run_id: str, keys: dict[str, str], conn: redis.Redis, settings: Settings,
                 http: httpx.Client) -> None:
        self.tenant, self.run_id, self.keys = tenant, run_id, dict(keys)
        self._conn, self._settings = conn, settings
        self._http = http
        self._clients: dict[str, ProviderClient] = {}

    @property
    def active(self) -> bool:
        """Whether this run calls providers at all: the tenant gave at least one key."""
        return bool(self.keys)

    def usable(self, name: str) -> bool:
        return self.active and (name in self.keys or load_spec(name).auth.kind == "none")

    def for_role(self, role: str) -> list[str]:
        """The role's providers this run may call, in the role's order."""
        return [name for name in ROLES[role] if self.usable(name)]

    def skipped(self) -> list[str]:
        """Providers a key would have added to this run (none when the run calls no provider)."""
        every = dict.fromkeys(name for names in ROLES.values() for name in names)
        return [name for name in every if self.active and not self.usable(name)]

    def client(self, name: str) -> ProviderClient:
        if name not in self._clients:
            s = self._settings
            self._clients[name] = ProviderClient(
                load_spec(name), self.keys.get(name), tenant=self.tenant, http=self._http,
                cache=RedisResponseCache(self._conn, s.salesos_cache_ttls),
                meter=CostLedger(self._conn, self.tenant, self.run_id, run_cap=s.salesos_run_cost_cap,
                                 monthly_cap=s.salesos_monthly_cost_cap),
                breaker=RedisBreaker(self._conn, self.tenant), stats=RedisCallStats(self._conn))
        return self._clients[name]

    def module(self, name: str) -> ModuleType:
        """The provider's module (`connector/providers/<name>.py`), imported on first use: a worker whose
        tenants have no provider key never loads them."""
        return importlib.import_module(f"connector.providers.{name}")
