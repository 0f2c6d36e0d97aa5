"""What the provider tests share: documented payloads, a client on the real spec, a meter that records charges."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx

from connector.providers.http.client import ProviderClient
from connector.providers.http.spec import load_spec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
ANSWERED_AT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class RecordingMeter:
    """The cost meter's side of the client: every charge, in order (no cap)."""

    def __init__(self) -> None:
        self.charges: list[tuple[str, float, float, bool]] = []

    def check(self, provider: str, endpoint: str, dollars: float) -> None:
        pass

    def charge(self, provider: str, endpoint: str, credits: float, dollars: float, cached: bool,
               held: float = 0.0) -> None:
        self.charges.append((endpoint, credits, dollars, cached))

    def release(self, provider: str, endpoint: str, held: float) -> None:
        pass

    @property
    def credits(self) -> list[float]:
        return [credits for _, credits, _, _ in self.charges]

    def credits_of(self, endpoint: str) -> float:
        return sum(credits for name, credits, _, _ in self.charges if name == endpoint)


def client(provider: str, meter: RecordingMeter | None = None, key: str | None = "test-key") -> ProviderClient:
    """A client on the provider's real spec (its own base URL, no environment overrides), answering at a fixed
    time, never sleeping: retries and polls run at once."""
    return ProviderClient(load_spec(provider, environ={}), key, http=httpx.Client(), meter=meter or RecordingMeter(),
                          sleep=lambda seconds: None, jitter=lambda: 0.0, clock=lambda: ANSWERED_AT)


def sent_json(route) -> list[dict[str, Any]]:
    """The JSON bodies a respx route received, in order."""
    return [json.loads(call.request.content) for call in route.calls]
