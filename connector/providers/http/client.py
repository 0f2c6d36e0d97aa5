"""One client for every provider spec: auth, retries, statuses, cache, costs, circuit breaker.

A call is answered from the tenant's cache when it can be (free, no request);
otherwise a paid call first asks the cost meter (a cap stops it before it is
made) and the breaker (a provider failing lately is not called). Rate limits
and server errors are retried with exponential backoff and full jitter,
honouring `Retry-After` up to the spec's longest wait: a provider that asks
for longer is given up on for now (`ProviderUnavailable.retry_after`), so a
slow provider never stalls a run. Statuses the spec gives a meaning (PDL's
404 "no match", Hunter's 202 "ask again" and 403 "slow down") are read as it
says. Error reasons quote the provider's message, never the key or the URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json as jsonlib
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote as urlquote

import httpx

from agents.validation import clip
from connector.providers.http.errors import (
    AuthRefused, CircuitOpen, NotConfigured, ProviderUnavailable, QuotaExhausted, RequestRefused,
)
from crm_adapters.calls import retry_after_seconds
from connector.providers.http.spec import DataKind, Endpoint, ProviderSpec, dig


@dataclass
class Reply:
    """An answer: the parsed body, whether it came from the cache, and what the provider said of its limits."""

    status: int
    body: Any
    fetched_at: dt.datetime
    cached: bool = False
    no_match: bool = False
    rate_left: dict[str, str] = field(default_factory=dict)


class ResponseCache(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes, kind: DataKind) -> None: ...


class CostMeter(Protocol):
    def check(self, provider: str, endpoint: str, dollars: float) -> None:
        """Raise CapReached when a paid call priced `dollars` would pass a cap; else hold that much for it."""

    def charge(self, provider: str, endpoint: str, credits: float, dollars: float, cached: bool,
               held: float = 0.0) -> None:
        """Count an answer; `held` is what `check` held for it, now settled."""

    def release(self, provider: str, endpoint: str, held: float) -> None:
        """A checked call ended without an answer: free what `check` held."""


class Breaker(Protocol):
    def allow(self, provider: str) -> bool: ...
    def succeeded(self, provider: str) -> None: ...
    def failed(self, provider: str) -> None: ...


class CallStats(Protocol):
    def record(self, provider: str, ok: bool) -> None: ...


class _Nothing:
    """No cache, no meter, no breaker, no stats: a client used outside a worker (a one-off command)."""

    def get(self, key: str) -> None:
        return None

    def put(self, key: str, value: bytes, kind: DataKind) -> None:
        pass

    def check(self, provider: str, endpoint: str, dollars: float) -> None:
        pass

    def charge(self, provider: str, endpoint: str, credits: float, dollars: float, cached: bool,
               held: float = 0.0) -> None:
        pass

    def release(self, provider: str, endpoint: str, held: float) -> None:
        pass

    def allow(self, provider: str) -> bool:
        return True

    def succeeded(self, provider: str) -> None:
        pass

    def failed(self, provider: str) -> None:
        pass

    def record(self, provider: str, ok: bool) -> None:
        pass


NOTHING = _Nothing()


class ProviderClient:
    """Calls one provider for one tenant. Built per run by `connector.providers.registry`."""

    def __init__(self, spec: ProviderSpec, key: str | None, *, tenant: str = "local",
                 http: httpx.Client | None = None, cache: ResponseCache = NOTHING, meter: CostMeter = NOTHING,
                 breaker: Breaker = NOTHING, stats: CallStats = NOTHING,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.spec, self.tenant = spec, tenant
        self._key = key
        self._http = http or httpx.Client(timeout=spec.timeout_seconds, follow_redirects=False)
        self._cache, self._meter, self._breaker, self._stats = cache, meter, breaker, stats
        self._sleep, self._jitter, self._clock = sleep, jitter, clock

    @property
    def configured(self) -> bool:
        return self.spec.auth.kind == "none" or bool(self._key)

    def call(self, endpoint: str, *, params: dict[str, Any] | None = None, json: Any = None,
             path: dict[str, str] | None = None) -> Reply:
        """One answer for one request; raises a `ProviderCallError` subclass when there is none."""
        spec = self.spec.endpoint(endpoint)
        if not self.configured:
            raise NotConfigured(self.spec.name, endpoint, "no API key")
        url = self._url(spec, path or {})
        key = self._cache_key(endpoint, url, params, json)
        if spec.cache:
            hit = self._cache.get(key)
            if hit is not None:
                stored = jsonlib.loads(hit)
                self._meter.charge(self.spec.name, endpoint, 0, 0, cached=True)
                return Reply(status=stored["status"], body=stored["body"], cached=True, no_match=stored["no_match"],
                             fetched_at=dt.datetime.fromisoformat(stored["fetched_at"]))
        held = spec.cost.credits * self.spec.dollars_per_credit  # one unit's price, held until the answer's cost
        if spec.cost.credits:
            self._meter.check(self.spec.name, endpoint, held)
        try:
            if not self._breaker.allow(self.spec.name):
                raise CircuitOpen(self.spec.name, endpoint, "failing lately: not called until it has cooled down")
            reply = self._send(endpoint, spec, url, params, json)
        except BaseException:
            if spec.cost.credits:
                self._meter.release(self.spec.name, endpoint, held)
            raise
        result = reply.status not in self.spec.statuses.answers  # Hunter's 222 (try later) and 451: free, not kept
        credits = _credits(spec, reply) if result else 0.0
        self._meter.charge(self.spec.name, endpoint, credits, credits * self.spec.dollars_per_credit, cached=False,
                           held=held)
        if spec.cache and result and (200 <= reply.status < 300 or reply.no_match):
            self._cache.put(key, jsonlib.dumps({"status": reply.status, "body": reply.body, "no_match": reply.no_match,
                                                "fetched_at": reply.fetched_at.isoformat()}).encode(), spec.cache)
        return reply

    def pages(self, endpoint: str, *, params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
              path: dict[str, str] | None = None, max_pages: int | None = None,
              max_items: int | None = None) -> Iterator[Reply]:
        """Every page of a paginated endpoint, to the end (or `max_pages`), as its spec says pages follow.

        `max_items` stops after that many items and asks the last page for no more than remain (where the
        size is a parameter), so a provider that charges per record returned is not paid for extra ones.
        """
        pagination = self.spec.endpoint(endpoint).pagination
        if pagination is None:
            raise ValueError(f"{self.spec.name} {endpoint} is not paginated")
        limit = min(max_pages or pagination.max_pages, pagination.max_pages)
        position: Any = 1 if pagination.kind == "page" else 0 if pagination.kind == "offset" else None
        read = 0
        for number in range(1, limit + 1):
            extra = {} if position is None else {pagination.param: position}
            size = pagination.size if max_items is None else min(pagination.size, max_items - read)
            if size <= 0:
                return
            if pagination.size_param:
                extra[pagination.size_param] = size
            if pagination.location == "json":
                reply = self.call(endpoint, params=params, json={**(json or {}), **extra}, path=path)
            else:
                reply = self.call(endpoint, params={**(params or {}), **extra}, json=json, path=path)
            yield reply
            items = dig(reply.body, pagination.items) or []
            read += len(items)
            matched = dig(reply.body, pagination.total) if pagination.total else None
            if not items or reply.no_match or isinstance(matched, int) and read >= matched:
                return
            if pagination.kind == "page":
                total = dig(reply.body, pagination.total_pages)
                if isinstance(total, int) and number >= total:
                    return
                count = dig(reply.body, pagination.total_items) if pagination.total_items else None
                if isinstance(count, int) and number * pagination.size >= count:
                    return
                position += 1
            elif pagination.kind == "offset":
                if len(items) < size:
                    return
                position += len(items)
            else:
                position = (dig(items[-1], pagination.cursor_from_last_item) if pagination.cursor_from_last_item
                            else dig(reply.body, pagination.cursor))
                if not position:
                    return

    # --- one request, retried -------------------------------------------------

    def _send(self, name: str, spec: Endpoint, url: str, params: dict | None, body: Any) -> Reply:
        statuses, retry = self.spec.statuses, self.spec.retry
        polls, reason, retry_after = 0, "no answer", None
        attempt = 0
        while attempt < retry.attempts:
            try:
                response = _bounded(self._http, spec.method, url, timeout=self.spec.timeout_seconds,
                                    **self._request(spec, params, body))
            except AnswerTooLarge:
                self._stats.record(self.spec.name, False)
                raise RequestRefused(self.spec.name, name, f"an answer over {MAX_ANSWER_BYTES // 1_000_000} MB") \
                    from None
            except httpx.TimeoutException:
                reason, retry_after = f"no answer within {self.spec.timeout_seconds:g} s", None
            except httpx.TransportError as exc:
                reason, retry_after = f"cannot connect ({type(exc).__name__})", None
            else:
                status = response.status_code
                if status in statuses.poll and polls < retry.poll_attempts:
                    polls += 1
                    self._sleep(retry.poll_seconds)
                    continue
                if 200 <= status < 300 and status not in statuses.poll or status in statuses.no_match \
                        or status in statuses.answers:
                    self._breaker.succeeded(self.spec.name)
                    self._stats.record(self.spec.name, True)
                    return Reply(status=status, body=_json(response), fetched_at=self._clock(),
                                 no_match=status in statuses.no_match, rate_left=self._rate_left(response))
                reason = f"HTTP {status}: {_message(response, self._key)}"
                meaning = _meaning(self.spec, status, response)
                if meaning == "quota_exhausted":
                    self._failed()
                    raise QuotaExhausted(self.spec.name, name, f"quota spent ({reason})", status)
                if meaning == "auth":
                    self._stats.record(self.spec.name, False)
                    raise AuthRefused(self.spec.name, name, f"the API key was refused ({reason})", status)
                if status in statuses.poll:
                    reason = f"still in progress after {polls} polls"
                    break
                if meaning == "refused":
                    self._stats.record(self.spec.name, False)
                    raise RequestRefused(self.spec.name, name, reason, status)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
                if retry_after is not None and retry_after > retry.max_seconds:
                    break  # it asks for longer than a job may wait: give up for now, say when to come back
            attempt += 1
            if attempt < retry.attempts:
                self._sleep(retry_after if retry_after is not None else self._backoff(attempt))
        self._failed()
        raise ProviderUnavailable(self.spec.name, name, reason, retry_after=retry_after)

    def _failed(self) -> None:
        self._breaker.failed(self.spec.name)
        self._stats.record(self.spec.name, False)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to the exponential bound, so many workers do not retry in step."""
        retry = self.spec.retry
        return self._jitter() * min(retry.max_seconds, retry.base_seconds * 2 ** (attempt - 1))

    def _request(self, spec: Endpoint, params: dict | None, body: Any) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        query = dict(params or {}) if spec.params_in == "query" else {}
        json_body = body if body is not None else (dict(params or {}) if spec.params_in == "json" else None)
        auth = self.spec.auth
        if auth.kind == "header":
            headers[auth.name] = f"{auth.prefix}{self._key}"
        elif auth.kind == "query":
            query[auth.name] = self._key
        return {"params": _query(query), "json": json_body, "headers": headers}

    def _url(self, spec: Endpoint, path: dict[str, str]) -> str:
        values = {name: urlquote(str(value), safe="") for name, value in path.items()}
        return self.spec.base_url + spec.path.format(**values)

    def _cache_key(self, endpoint: str, url: str, params: dict | None, body: Any) -> str:
        """The tenant is part of the key: one tenant's answers are never served to another."""
        text = jsonlib.dumps([self.tenant, self.spec.name, endpoint, url, params or {}, body], sort_keys=True,
                             default=str)
        return f"{self.tenant}:{self.spec.name}:{endpoint}:{hashlib.sha256(text.encode()).hexdigest()}"

    def _rate_left(self, response: httpx.Response) -> dict[str, str]:
        return {name: response.headers[name] for name in self.spec.rate_limit_headers if name in response.headers}


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Lists become repeated keys (Apollo's `organization_locations[]=...`), booleans lower case."""
    pairs = []
    for name, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


def _credits(spec: Endpoint, reply: Reply) -> float:
    cost = spec.cost
    if not cost.credits or reply.no_match or not 200 <= reply.status < 300:
        return 0.0
    for path, values in cost.free_when.items():
        if str(dig(reply.body, path)) in values:
            return 0.0
    if cost.per == "record":
        found = dig(reply.body, cost.records)
        # A list may hold a null for each miss (Apollo's bulk_match keeps matches aligned with the request).
        count = (sum(item not in (None, "", {}) for item in found) if isinstance(found, list)
                 else int(found not in (None, "", {})))
        return cost.credits * math.ceil(count / cost.group)
    return cost.credits


def _meaning(spec: ProviderSpec, status: int, response: httpx.Response) -> str:
    """What a failed answer means: its error code when the spec gives that code a meaning, else its status."""
    statuses = spec.statuses
    if statuses.error_code:
        code = dig(_json(response), statuses.error_code)
        if isinstance(code, str) and code in statuses.codes:
            return statuses.codes[code]
    for meaning in ("quota_exhausted", "auth", "rate_limited", "retry"):
        if status in getattr(statuses, meaning):
            return meaning
    return "refused"


MAX_ANSWER_BYTES = 20_000_000  # a provider's answer is read at most this far: a bigger one is refused


class AnswerTooLarge(Exception):
    pass


def _bounded(http: httpx.Client, method: str, url: str, **options: Any) -> httpx.Response:
    """The answer, read to at most MAX_ANSWER_BYTES (a provider is a third party: its answers are bounded too)."""
    with http.stream(method, url, **options) as streamed:
        body = bytearray()
        for chunk in streamed.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise AnswerTooLarge
    return httpx.Response(streamed.status_code, headers=streamed.headers, content=bytes(body),
                          request=streamed.request)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past Python's limit: the text, for the mapper to refuse
        return response.text


def _message(response: httpx.Response, key: str | None) -> str:
    """The provider's own words for an error (each nests them differently), clipped; never the request URL, and
    never the key, which some providers quote back ("invalid api_key ...")."""
    body = _json(response)
    text = None
    if isinstance(body, list) and body and isinstance(body[0], dict) and body[0].get("message"):
        text = str(body[0]["message"])  # Crunchbase: [{"code": ..., "message": ...}]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text = str(errors[0].get("details") or errors[0].get("message") or errors[0])
        for name in ("message", "error", "error_message", "detail"):
            if text is None and isinstance(body.get(name), (str, dict)):
                value = body[name]
                text = str(value.get("message", value) if isinstance(value, dict) else value)
    if text is None:
        text = str(body) if body else response.reason_phrase or "no message"
    return clip(text.replace(key, "[key]") if key else text)


