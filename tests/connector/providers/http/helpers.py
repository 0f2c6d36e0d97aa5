"""For the provider client's tests: documented payloads, small specs, a client that never sleeps."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.providers.http.client import ProviderClient
from connector.providers.http.spec import ProviderSpec

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "providers"
KEY = "sk-live-7f3c9a21d4e8b6"  # a made-up key: what must never reach a reason
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
ACME = "https://api.acme.test/v1"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def acme(**fields: Any) -> ProviderSpec:
    """A small provider spec; `fields` replace the defaults (endpoints whole)."""
    data: dict[str, Any] = {
        "name": "acme", "label": "Acme", "docs": "https://docs.acme.test", "base_url": ACME,
        "auth": {"kind": "header", "name": "Authorization", "prefix": "Bearer "}, "dollars_per_credit": 0.1,
        "endpoints": {"lookup": {"path": "/lookup", "cost": {"credits": 1}}},
    }
    return ProviderSpec.model_validate(data | fields)


class Sleeps(list):
    """Records the waits a client asks for, instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(spec: ProviderSpec, sleeps: Sleeps, *, key: str | None = KEY, tenant: str = "t1",
                jitter: Callable[[], float] = lambda: 0.5, clock: Callable[[], dt.datetime] = lambda: NOW,
                **parts: Any) -> ProviderClient:
    return ProviderClient(spec, key, tenant=tenant, sleep=sleeps, jitter=jitter, clock=clock, **parts)
