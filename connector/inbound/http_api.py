"""The HTTP edge the Gmail and Graph readers share: a bearer token per request, bounded reads, errors mapped once.

Every answer is streamed and abandoned at its size bound, so a message over
the bound is never held whole (nor is a listing gone wrong). Statuses become
the inbound errors: 401/403 `InboundAuthError`, 429 and 5xx
`TransientInboundError` (with Retry-After), a timeout or dropped connection
transient too, 404/410 `Expired` for the reader to start over from, anything
else `InboundError` with the status.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from connector.inbound.base import InboundAuthError, InboundError, TransientInboundError
from crm_adapters.calls import retry_after

LISTING_MAX_BYTES = 4 * 1024 * 1024  # a page of ids and dates; far more is a provider gone wrong
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Expired(Exception):
    """404 or 410: the sync position (history id, delta token) is too old or unknown, and the reader starts over."""


class TooLarge(Exception):
    """The answer grew past its bound and was abandoned unread."""


class ApiSession:
    """GETs against one provider's API with the mailbox's access token."""

    def __init__(self, service: str, access_token: Callable[[], str], client: httpx.Client | None = None) -> None:
        self.service = service
        self._token = access_token
        self._owned = client is None
        self._client = client or httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def get_json(self, url: str, params: dict | None = None, headers: dict | None = None) -> dict:
        try:
            body = self.get_bytes(url, LISTING_MAX_BYTES, params=params, headers=headers)
        except TooLarge as exc:
            raise InboundError(f"{self.service}: an answer of {_path(url)} exceeded {LISTING_MAX_BYTES} bytes") from exc
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise InboundError(f"{self.service}: {_path(url)} answered with malformed JSON") from exc
        if not isinstance(parsed, dict):
            raise InboundError(f"{self.service}: {_path(url)} answered with JSON that is not an object")
        return parsed

    def get_bytes(self, url: str, limit: int, *, params: dict | None = None, headers: dict | None = None) -> bytes:
        """The body, read in pieces; raises TooLarge the moment it passes `limit` bytes."""
        request_headers = {"Authorization": f"Bearer {self._token()}", **(headers or {})}
        try:
            with self._client.stream("GET", url, params=params, headers=request_headers) as response:
                self._check(response, url)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise TooLarge(declared)
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > limit:
                        raise TooLarge(len(body))
                return bytes(body)
        except httpx.TimeoutException as exc:
            raise TransientInboundError(f"{self.service}: no answer from {_path(url)} in time") from exc
        except httpx.TransportError as exc:
            raise TransientInboundError(f"{self.service}: cannot reach {_path(url)} ({type(exc).__name__})") from exc

    def _check(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        if status < 300:
            return
        where = f"{self.service}: {_path(url)} answered {status}"
        if status in (401, 403):
            raise InboundAuthError(f"{where}: the mailbox's access was refused or revoked")
        if status in (404, 410):
            raise Expired(where)
        if status == 429 or status >= 500:
            raise TransientInboundError(where, retry_after=retry_after(dict(response.headers)))
        raise InboundError(where)


def _path(url: str) -> str:
    """The URL without its query (a delta token is a credential of sorts), for error messages."""
    return httpx.URL(url).copy_with(query=None).path
