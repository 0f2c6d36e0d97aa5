"""Who is calling: the API key in a request, checked against `connector.api_keys`.

A key comes as `Authorization: Bearer <key>`, or as the password of HTTP
Basic auth (what a browser sends for the dashboard; the user name is
ignored). Nothing else counts: not the peer address (behind a reverse proxy
on the same host every request comes from loopback), not a header a proxy
could set. Every way of not presenting a valid key of the scope a route
needs gets that route's one 401, byte for byte, so a caller learns nothing
about which keys exist.
"""

from __future__ import annotations

import base64
import binascii

from flask import Response, current_app, jsonify, request

from connector.api_keys import ApiKey, ApiKeys, Scope

API_CHALLENGE = 'Bearer realm="SalesOS API"'
OPERATOR_CHALLENGE = 'Bearer realm="SalesOS operators"'
DASHBOARD_CHALLENGE = 'Basic realm="SalesOS operators", charset="UTF-8"'  # makes a browser ask
_HOW = {
    "tenant": "send an API key as `Authorization: Bearer <key>` (`python -m connector tenants api-key create TENANT`)",
    "operator": "send an operator key as `Authorization: Bearer <key>` or as the HTTP Basic password "
                "(`python -m connector operator-key create`)",
}


def caller(scope: Scope) -> ApiKey | None:
    """The live key of `scope` the request presents, or None."""
    presented = _presented_key()
    if not presented:
        return None
    key = ApiKeys(current_app.config["SALESOS_SETTINGS"].database_url).authenticate(presented)
    return key if key is not None and key.scope == scope else None


def unauthorized(scope: Scope, challenge: str) -> Response:
    response = jsonify(error=f"authentication required: {_HOW[scope]}")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def _presented_key() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None
