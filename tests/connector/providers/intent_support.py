"""What the intent providers' tests share: the documented payloads, a real client, a company."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx

from agents.market import IntentCaps
from agents.models import CompanyRecord
from connector.providers.http.client import ProviderClient
from connector.providers.http.spec import load_spec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"
CAPS = IntentCaps()
FETCHED_AT = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def documented(name: str):
    """A provider's documented payload, as stored in tests/fixtures/providers (its .src.txt names the doc)."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


class Sleeps(list):
    """Records the waits the client asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(name: str, key: str | None = None, sleeps: Sleeps | None = None) -> ProviderClient:
    """The real client on the real spec (no base URL override), with waits recorded, not slept."""
    return ProviderClient(load_spec(name, environ={}), key, tenant="t1", http=httpx.Client(),
                          sleep=sleeps if sleeps is not None else Sleeps(), jitter=lambda: 0.5,
                          clock=lambda: FETCHED_AT)


def company(job_board: str | None = None, name: str = "Acme", domain: str = "acme.io") -> CompanyRecord:
    return CompanyRecord(name=name, domain=domain, job_board=job_board, source="test")


def rules(result) -> dict[str, float]:
    """An intent result's rules and the points each counted."""
    return {point.rule: point.points for point in result.points}
