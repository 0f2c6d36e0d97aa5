"""HubSpot request signatures (v1, v2, v3): pure functions, no Flask.

HubSpot signs every request with the app's client secret:
- v3 (`X-HubSpot-Signature-v3`, on every request to an OAuth app):
  base64(HMAC-SHA256(secret, method + URI + body + timestamp)), the timestamp
  (`X-HubSpot-Request-Timestamp`, epoch milliseconds) no older than 5 minutes;
  the URI with the docs' listed percent-escapes decoded.
- v2 (`X-HubSpot-Signature`, version v2: workflow webhooks, custom actions):
  hex(SHA-256(secret + method + URI + body)), the URI exactly as sent.
- v1 (`X-HubSpot-Signature`, version v1: app webhooks, kept for compatibility):
  hex(SHA-256(secret + body)).

v1 and v2 carry no timestamp, so a captured request verifies forever, and
HubSpot sends them beside v3 only for backward compatibility. So v3 is
required wherever HubSpot sends it (app webhooks, custom workflow actions): a
request without it is refused even with a valid v1/v2, and a failing v3 is
final. v2 is accepted only where HubSpot documents nothing newer (the "Send a
webhook" workflow action, `allow_v2`); v1, which covers the body but not the
URL, nowhere. Comparisons are constant-time (`hmac.compare_digest`).

The URI is the one HubSpot called, i.e. the externally visible one: behind a
TLS-terminating proxy Flask sees `http://10.0.0.5:8000/...`, HubSpot signed
`https://salesos.example.com/...`. `public_uri` builds it from
SALESOS_PUBLIC_URL (scheme, host and any path prefix) plus the request's path
and raw query, the same base the manifests give HubSpot as the target URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from agents.validation import quote

_EPOCH_MS = re.compile(r"[0-9]{1,15}")  # ASCII digits only: str.isdigit() also takes "²"
MAX_AGE_MS = 5 * 60 * 1000  # HubSpot: "Reject the request if the timestamp is older than 5 minutes"

# The docs' table of escapes to decode in the v3 URI (and only these; "?" of the query stays as it is).
_V3_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
              "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


class BadSignature(ValueError):
    """The request is not provably from HubSpot; the message says why (never the expected value)."""


def v3_uri(uri: str) -> str:
    """The URI as v3 signs it: the listed escapes decoded, in either letter case, everything else untouched."""
    if "%" not in uri:
        return uri
    out, i = [], 0
    while i < len(uri):
        escape = uri[i:i + 3].upper()
        if uri[i] == "%" and escape in _V3_DECODE:
            out.append(_V3_DECODE[escape])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def v3_signature(secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    message = method.encode() + v3_uri(uri).encode() + _bytes(body) + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def v2_signature(secret: str, method: str, uri: str, body: bytes | str) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + _bytes(body)).hexdigest()


def v1_signature(secret: str, body: bytes | str) -> str:
    """Accepted nowhere (see above); kept with the docs' test vectors, and to build the v1 requests tests refuse."""
    return hashlib.sha256(secret.encode() + _bytes(body)).hexdigest()


def check_v3(secret: str, method: str, uri: str, body: bytes, signature: str, timestamp: str | None,
             now_ms: int | None = None) -> None:
    """Raise BadSignature unless the v3 signature matches and the timestamp is within 5 minutes of now."""
    if not timestamp or not _EPOCH_MS.fullmatch(timestamp):
        raise BadSignature("X-HubSpot-Request-Timestamp is missing or not epoch milliseconds")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now - int(timestamp)) > MAX_AGE_MS:
        raise BadSignature("X-HubSpot-Request-Timestamp is more than 5 minutes from now (stale or replayed)")
    if not _same(signature, v3_signature(secret, method, uri, body, timestamp)):
        raise BadSignature("X-HubSpot-Signature-v3 does not match the request")


def check_v2(secret: str, version: str | None, method: str, uri: str, body: bytes, signature: str) -> None:
    """v2 as `X-HubSpot-Signature-Version` says (v1 when it says nothing, as in HubSpot's oldest requests)."""
    version = (version or "v1").lower()
    if version == "v1":
        raise BadSignature("a v1 signature covers the body only, not the URL: sign with v2 or v3")
    if version != "v2":
        raise BadSignature(f"X-HubSpot-Signature-Version {quote(version)} is not v2")
    if not _same(signature, v2_signature(secret, method, uri, body)):
        raise BadSignature("X-HubSpot-Signature (v2) does not match the request")


def check_request(secret: str, headers, method: str, uri: str, body: bytes, allow_v2: bool = False,
                  now_ms: int | None = None) -> str:
    """Verify a HubSpot request from its headers; returns the version checked, raises BadSignature.

    v3 when present (a failing v3 is final: no downgrade to the replayable v2); without v3, v2 only where
    `allow_v2` says HubSpot sends nothing newer.
    """
    v3 = headers.get("X-HubSpot-Signature-v3")
    if v3:
        check_v3(secret, method, uri, body, v3, headers.get("X-HubSpot-Request-Timestamp"), now_ms)
        return "v3"
    if not allow_v2:
        raise BadSignature("no X-HubSpot-Signature-v3 header: HubSpot signs these requests with v3, the only "
                           "version accepted here")
    legacy = headers.get("X-HubSpot-Signature")
    if not legacy:
        raise BadSignature("no X-HubSpot-Signature-v3 or X-HubSpot-Signature header")
    check_v2(secret, headers.get("X-HubSpot-Signature-Version"), method, uri, body, legacy)
    return "v2"


def public_uri(base: str, path: str, query: bytes | str) -> str:
    """The URI HubSpot called: the public base (SALESOS_PUBLIC_URL), the app's path, the raw query."""
    query = query.decode("latin-1") if isinstance(query, bytes) else query
    return base.rstrip("/") + path + (f"?{query}" if query else "")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body
