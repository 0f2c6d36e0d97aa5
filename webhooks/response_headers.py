"""Headers every answer of the app carries, set in one place.

- `Cache-Control: no-store` unless a route chose its own caching: answers
  for an API or operator key (a run's status, the queues) and pages with
  tokens in their URLs (unsubscribe, OAuth) must not stay in a browser's or
  a proxy's cache;
- `X-Content-Type-Options: nosniff`: a JSON answer quoting input is never
  read as HTML or script;
- `X-Frame-Options: DENY` and `Content-Security-Policy: frame-ancestors
  'none'` (older and newer browsers): no page, the unsubscribe page with its
  one-click button above all, can be framed by another site.

HubSpot's webhook endpoint answers in front of Flask (`webhooks.hubspot_events`)
and only to HubSpot's servers, with JSON: it does without them.
"""

from __future__ import annotations

from flask import Flask, Response

_ALWAYS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "frame-ancestors 'none'"}


def add_response_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        for name, value in _ALWAYS.items():
            response.headers.setdefault(name, value)
        return response
