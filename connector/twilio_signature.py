"""Twilio's `X-Twilio-Signature`: whether a webhook request came from Twilio for this account.

Twilio signs the full URL it requested (scheme, host, port, path, query) and,
for a form POST, every posted parameter appended as name + value in name
order (a repeated name's values in value order), with HMAC-SHA1 keyed by the
account's Auth Token, Base64-encoded. Some of Twilio's own validators add or
drop a default port (:443, :80) before signing, so both spellings are
accepted. The URL must be the public one Twilio called: behind a proxy the
Host header and scheme are rewritten, so the caller rebuilds it from
SALESOS_PUBLIC_URL, never from the request.

Only the signature is compared, in constant time; nothing here logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

Params = Mapping[str, str] | Iterable[tuple[str, str]]
_DEFAULT_PORTS = {"https": 443, "http": 80}


def signature(url: str, params: Params, auth_token: str) -> str:
    """The signature Twilio sends for a form POST of `params` to `url`."""
    pairs = params.items() if isinstance(params, Mapping) else params
    payload = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_signature(url: str, params: Params, signature_header: str | None, auth_token: str) -> bool:
    """Whether `signature_header` signs this form POST with `auth_token`, the URL with or without its default port."""
    if not signature_header or not auth_token:
        return False
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    given = signature_header.encode("utf-8", "replace")
    matches = [hmac.compare_digest(signature(candidate, pairs, auth_token).encode("ascii"), given)
               for candidate in _port_spellings(url)]
    return any(matches)  # every spelling is computed: the time taken does not say which one matched


def valid_json_signature(url: str, body: bytes, signature_header: str | None, auth_token: str) -> bool:
    """For a JSON body Twilio signs the URL alone, which carries `bodySHA256=<hex sha256 of the body>`: both must
    hold."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    claimed = query.get("bodySHA256", "")
    body_ok = hmac.compare_digest(claimed.encode("ascii", "replace"), hashlib.sha256(body).hexdigest().encode())
    return valid_signature(url, [], signature_header, auth_token) and body_ok


def _port_spellings(url: str) -> list[str]:
    """`url` as given, and with its default port added or dropped (a URL that is no http(s) URL: as given)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None or not parts.hostname:
        return [url]
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if port == default:
        bare = host.rsplit(":", 1)[0]
        return [url, urlunsplit(parts._replace(netloc=userinfo + bare))]
    if port is None:
        return [url, urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}"))]
    return [url]
