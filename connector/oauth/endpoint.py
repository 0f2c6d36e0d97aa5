"""One form POST to an OAuth endpoint, and what its failure means for the caller.

Network errors, 5xx and 429 are worth retrying (`Transient`, `RateLimited`);
`invalid_grant` means the refresh token or code is dead (`InvalidGrant`, which
the caller turns into a re-install or a "start again" page); any other 4xx is
a configuration problem on SalesOS's side (`RequestRejected`), e.g. a wrong
client secret. Messages carry the CRM's error code and description only, never
the form (it holds the client secret and a token).
"""

from __future__ import annotations

import httpx

from connector.oauth.responses import TokenError, TokenResponseInvalid, parse
from crm_adapters.calls import retry_after
from crm_adapters.errors import RateLimited, RequestRejected, Transient

# Below the refresh lock's timeout, so a hung request cannot outlive the lock it runs under.
REQUEST_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class InvalidGrant(RequestRejected):
    """The refresh token or authorization code is expired, revoked or already used."""


def post_form(http: httpx.Client, url: str, form: dict[str, str], what: str, expect_json: bool = True) -> object:
    """POST `form` to `url` and return the decoded JSON body of a 2xx answer (None if not `expect_json`)."""
    try:
        response = http.post(url, data=form, headers={"Accept": "application/json"}, timeout=REQUEST_TIMEOUT)
    except httpx.TransportError as exc:
        raise Transient(f"{what}: could not reach {_host(url)} ({type(exc).__name__})") from None
    if response.status_code == 429:
        raise RateLimited(f"{what}: rate limited by {_host(url)}", retry_after(dict(response.headers)))
    if response.status_code >= 500:
        raise Transient(f"{what}: {_host(url)} answered HTTP {response.status_code}")
    body = _json(response)
    if response.status_code >= 400:
        error = parse(TokenError, body if isinstance(body, dict) else {}, what)
        if error.invalid_grant:
            raise InvalidGrant(f"{what}: {error.describe()}", response.status_code)
        hint = " (check the client id and secret SalesOS is configured with)" if error.error in (
            "invalid_client", "unauthorized_client") else ""
        raise RequestRejected(f"{what}: HTTP {response.status_code} {error.describe()}{hint}", response.status_code)
    if response.status_code >= 300:
        raise RequestRejected(f"{what}: unexpected HTTP {response.status_code}", response.status_code)
    if body is None and expect_json:
        raise TokenResponseInvalid(f"{what}: HTTP {response.status_code} without a JSON body", response.status_code)
    return body


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _host(url: str) -> str:
    return httpx.URL(url).host
