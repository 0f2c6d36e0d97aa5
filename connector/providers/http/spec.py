"""A provider as data, read from `connector/providers/specs/<name>.yaml`.

Like Nango's providers.yaml or an Airbyte manifest: the base URL, how the key
is sent, which statuses mean what, how pages and rate-limit headers read, what
each endpoint costs and how long its answers stay fresh. The provider modules
hold only what the data cannot say (building a query from a market, mapping
an odd response). `<NAME>_API_BASE_URL` points a provider at another server
speaking its API (a local one in tests and the cost bench).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

SPECS = Path(__file__).resolve().parent.parent / "specs"
DataKind = Literal["firmographics", "people", "emails", "verification", "jobs", "news", "website", "funding", "search"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Strict):
    """Where the key goes; `none` for public APIs (job boards, Wayback)."""

    kind: Literal["header", "query", "none"]
    name: str | None = None
    prefix: str = Field(default="", description="e.g. 'Bearer '")


class Statuses(_Strict):
    """Statuses with a provider-specific meaning; everything else follows HTTP."""

    no_match: tuple[int, ...] = Field(default=(), description="an answer meaning 'nothing found' (PDL 404)")
    answers: tuple[int, ...] = Field(default=(), description="returned to the caller as is, neither charged nor "
                                                          "cached (Hunter 222, 451)")
    poll: tuple[int, ...] = Field(default=(), description="ask again with the same request (Hunter 202)")
    rate_limited: tuple[int, ...] = (429,)
    quota_exhausted: tuple[int, ...] = Field(default=(), description="the account's quota is spent (Hunter 429)")
    auth: tuple[int, ...] = (401,)
    retry: tuple[int, ...] = (500, 502, 503, 504)
    error_code: str | None = Field(default=None, description="dotted path to the error code in an error body")
    codes: dict[str, Literal["rate_limited", "quota_exhausted", "auth", "retry", "refused"]] = Field(
        default_factory=dict, description="error codes that decide over the status (NewsAPI's 429 is a rate "
                                          "limit or a spent quota, as its code says)")


class Retry(_Strict):
    attempts: int = Field(default=4, ge=1, le=10)
    base_seconds: float = Field(default=1.0, ge=0)
    max_seconds: float = Field(default=30.0, ge=0, description="longest single wait, Retry-After included")
    poll_attempts: int = Field(default=5, ge=1, le=20)
    poll_seconds: float = Field(default=2.0, ge=0)


class Pagination(_Strict):
    """How an endpoint's pages follow each other: page numbers, offsets, or a cursor from the last answer."""

    kind: Literal["page", "offset", "cursor"]
    param: str = Field(description="the page number, offset or cursor parameter")
    size_param: str | None = None
    size: int = Field(default=100, ge=1)
    items: str = Field(default="", description="dotted path to the page's list ('' for a bare array)")
    total_pages: str | None = Field(default=None, description="dotted path to the page count")
    total_items: str | None = Field(default=None, description="dotted path to the count of all items (pages of "
                                                               "`size`; Apollo, NewsAPI)")
    cursor: str | None = Field(default=None, description="dotted path to the next cursor (kind cursor)")
    cursor_from_last_item: str | None = Field(default=None, description="the last item's field as the cursor")
    total: str | None = Field(default=None, description="dotted path to how many items the query matches: no "
                                                        "call is made past them (a cursor need not say it is the last)")
    max_pages: int = Field(default=500, ge=1)
    location: Literal["query", "json"] = "query"


class Cost(_Strict):
    """What a call is charged in the provider's credits (dollars = credits x the configured price).

    per call: every answered call; per match: only an answer that found
    something; per record: each item at `records` (a list, or one non-empty
    value), counted in groups of `group` (Hunter charges one search per ten
    emails). `free_when` names values at a path that make the call free.
    """

    credits: float = Field(default=0, ge=0)
    per: Literal["call", "match", "record"] = "call"
    records: str | None = None
    group: int = Field(default=1, ge=1)
    free_when: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class Endpoint(_Strict):
    method: Literal["GET", "POST"] = "GET"
    path: str = Field(description="relative to base_url; {name} placeholders are filled and escaped")
    params_in: Literal["query", "json"] = "query"
    cache: DataKind | None = Field(default=None, description="the kind of data: its time-to-live applies")
    cost: Cost = Cost()
    pagination: Pagination | None = None
    batch: int | None = Field(default=None, ge=1, description="most records one call takes (bulk endpoints)")


class ProviderSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    docs: str
    base_url: str
    auth: Auth
    dollars_per_credit: float = Field(default=0, ge=0, description="the configured price of one credit")
    timeout_seconds: float = Field(default=15, gt=0, le=120)
    statuses: Statuses = Statuses()
    retry: Retry = Retry()
    rate_limit_headers: tuple[str, ...] = Field(default=(), description="remaining-calls headers, read into Reply")
    endpoints: dict[str, Endpoint]

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be http(s), got {value[:100]!r}")
        return value.rstrip("/")

    @property
    def env_prefix(self) -> str:
        return self.name.upper()

    @property
    def paid(self) -> bool:
        return any(endpoint.cost.credits for endpoint in self.endpoints.values())

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise KeyError(f"{self.name} has no endpoint {name!r} (known: {', '.join(self.endpoints)})") from None


@lru_cache(maxsize=None)
def _read(name: str) -> dict[str, Any]:
    path = SPECS / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"no provider spec {name!r} (known: {', '.join(known())})")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_spec(name: str, environ: dict[str, str] | None = None) -> ProviderSpec:
    """The provider's spec, with `<NAME>_API_BASE_URL` (another server speaking its API) and
    `<NAME>_DOLLARS_PER_CREDIT` (the tenant's contract price) from the environment over the spec's own."""
    environ = os.environ if environ is None else environ
    data = dict(_read(name))
    override = environ.get(f"{name.upper()}_API_BASE_URL")
    if override:
        data["base_url"] = override
    price = environ.get(f"{name.upper()}_DOLLARS_PER_CREDIT")
    if price:
        data["dollars_per_credit"] = price
    return ProviderSpec.model_validate(data)


def known() -> list[str]:
    return sorted(path.stem for path in SPECS.glob("*.yaml"))


def dig(body: Any, path: str | None) -> Any:
    """The value at a dotted path ('' or None: the body itself); None when any step is missing."""
    if not path:
        return body
    for part in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body
