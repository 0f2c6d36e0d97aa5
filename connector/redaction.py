"""Tokens carried in URLs never reach a log line.

Some of SalesOS's URLs are credentials: a Salesforce org's Outbound Message
URL (`/webhooks/salesforce/outbound/<token>`), a HubSpot portal's "Send a
webhook" URL (`/webhooks/hubspot/workflow/<portal>/<token>/<action>`), an
unsubscribe link (`/unsubscribe/<token>`), and the `code` and `state` an OAuth
callback receives. Servers log request lines (werkzeug's dev server, gunicorn's
access log, Referer headers included), Flask logs the path of a request that
failed, and SalesOS's own messages name paths. `RedactTokens` rewrites every
record those loggers emit, tracebacks included, before any handler formats
it; `configure_logging` installs it where SalesOS's processes log: the CLI
(`serve`, `worker`, every command) and `wsgi.py` under gunicorn.

The patterns accept what a server would route to the same place (repeated
slashes, `%2F` for a slash, any letter case), so a request spelled oddly is
redacted too.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_SLASH = r"(?:/|%2f)+"
_SEGMENT = r"(?:(?!%2f)[^/?#\s\"'<>])+"
_PATTERNS = [
    re.compile(rf"({_SLASH}webhooks{_SLASH}salesforce{_SLASH}outbound{_SLASH}){_SEGMENT}", re.IGNORECASE),
    re.compile(rf"({_SLASH}webhooks{_SLASH}hubspot{_SLASH}workflow{_SLASH}{_SEGMENT}{_SLASH}){_SEGMENT}",
               re.IGNORECASE),
    re.compile(rf"({_SLASH}unsubscribe{_SLASH}){_SEGMENT}", re.IGNORECASE),
    re.compile(r"([?&](?:code|state)=)[^&#\s\"'<>]+", re.IGNORECASE),  # an OAuth callback's query
]
_CLUES = ("outbound", "workflow", "unsubscribe", "code=", "state=")  # no clue, no regex: most lines have none

# Loggers that do not hand their records to the root logger's handlers, so they get the filter themselves.
_OWN_HANDLERS = ("gunicorn.error", "gunicorn.access")
_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def redact(text: str) -> str:
    """`text` with the token of every secret-bearing URL in it replaced by REDACTED."""
    lowered = text.lower()
    if not any(clue in lowered for clue in _CLUES):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites a record's message and traceback with `redact`; never drops a record."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler would print the raw message and arguments
            message = f"{record.msg} % {record.args!r}"
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)  # formatters reuse exc_text
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure_logging(level: int | str = logging.WARNING) -> None:
    """Log to stderr (unless the root logger already has handlers) at `level`, every handler redacting.

    Idempotent. Loggers such as werkzeug's then log through the root's handlers instead of adding their
    own; gunicorn's keep their handlers, and get the filter on the logger itself, which gunicorn's
    reconfiguration (it replaces handlers) leaves in place.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for handler in root.handlers:
        _add_filter(handler)
    for name in _OWN_HANDLERS:
        _add_filter(logging.getLogger(name))


def _add_filter(target: logging.Filterer) -> None:
    if not any(isinstance(existing, RedactTokens) for existing in target.filters):
        target.addFilter(RedactTokens())
