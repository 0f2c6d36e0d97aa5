"""Random values that tie a callback to the browser that started it (RFC 6749 state, RFC 7636 PKCE).

`state` stops another site from completing an install in the admin's browser
with its own code; the PKCE verifier makes an intercepted code useless to
anyone who does not also hold the verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_verifier() -> str:
    """43-128 characters from the unreserved set: 64 random bytes give 86."""
    return secrets.token_urlsafe(64)


def challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def same(expected: str | None, received: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    return bool(expected) and bool(received) and hmac.compare_digest(expected, received)
