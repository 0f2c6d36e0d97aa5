"""What the HTTP email backends (Gmail, Microsoft Graph, SendGrid) share: one httpx client, bearer auth, and
the reading of an HTTP status as a send error.

401 and 403 are the mailbox's credential (revoked, expired, or missing a scope);
429 and 5xx are transient, with the server's Retry-After when it gave one; 400
and the other 4xx refuse this message. A backend refines this where its API
says more (Gmail answers some rate limits with 403).
"""

from __future__ import annotations

import datetime as dt
import json

import httpx

from connector.channels.base import MailboxAuthError, MessageRejected, SendError, TransientSendError
from crm_adapters.calls import retry_after_seconds

DEFAULT_TIMEOUT = 30.0
MAX_ERROR_TEXT = 300  # characters of an API's error message kept in ours


class HttpChannel:
    """An httpx client with the mailbox's bearer token; the token is never in a repr or an error message."""

    name = "HTTP"

    def __init__(self, token: str, *, base_url: str, timeout: float = DEFAULT_TIMEOUT,
                 client: httpx.Client | None = None) -> None:
        if not token or not token.strip():
            raise ValueError(f"{self.name}: the access token is empty")
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token.strip()}"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _post(self, url: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.post(url, headers=self._headers | kwargs.pop("headers", {}), **kwargs)
        except httpx.TransportError as exc:
            raise TransientSendError(f"{self.name} could not be reached: {type(exc).__name__}",
                                     code="network") from None
        if response.is_success:
            return response
        raise self._error(response)

    def _error(self, response: httpx.Response) -> SendError:
        return status_error(self.name, response)


def status_error(name: str, response: httpx.Response) -> SendError:
    status = response.status_code
    said = f"{name} answered {status}: {error_text(response)}"
    if status in (401, 403):
        return MailboxAuthError(said, code=str(status))
    if status == 429 or status >= 500:
        return TransientSendError(said, code=str(status), retry_after=retry_after_seconds(
            response.headers.get("Retry-After")))
    return MessageRejected(said, code=str(status))


def error_text(response: httpx.Response) -> str:
    """The API's own words about the error, briefly (Google and Graph: error.message; SendGrid: errors[].message)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return " ".join(response.text[:MAX_ERROR_TEXT].split()) or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _clip(f"{error.get('code', '')} {error['message']}".strip())
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return _clip("; ".join(str(item.get("message", item)) if isinstance(item, dict) else str(item)
                                   for item in errors[:3]))
    return _clip(json.dumps(body)[:MAX_ERROR_TEXT])


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT - 3] + "..."


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
