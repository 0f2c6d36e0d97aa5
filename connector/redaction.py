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

Redaction follows how servers route, not how a request is spelled. Each run
of the text that could be a URL is cut into path segments at `/` and `%2F`;
every segment is percent-decoded (repeatedly) and lower-cased, `.` and empty
segments are dropped, and `..` is resolved. Wherever the decoded segments
read like a secret-bearing route, with or without the dot segments resolved,
the token's segment is replaced in the text as it was logged. So
`/webhooks/salesforce/%6Futbound/<token>` or `/webhooks/x/../salesforce/outbound/<token>`
is logged with its odd spelling, which tells on-call what was sent, and
without its token. An OAuth callback's `code` and `state` are found the same
way among the query's parameters (`&` or `;` separated, names decoded).
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from urllib.parse import unquote, unquote_plus

REDACTED = "[redacted]"

_TOKEN, _ANY = object(), object()
_ROUTES = [  # decoded path segments; _TOKEN is the secret one
    ("webhooks", "salesforce", "outbound", _TOKEN),
    ("webhooks", "hubspot", "workflow", _ANY, _TOKEN),
    ("unsubscribe", _TOKEN),
    ("t", "c", _TOKEN),  # tracked links: their payload names the contact's email (`connector.tracking_links`)
    ("t", "o", _TOKEN),
    ("calls", _TOKEN),  # click-to-call: a bearer credential, and its payload names the contact
    ("webhooks", "sendgrid", "inbound", _TOKEN),  # the only credential of an Inbound Parse post
    ("webhooks", "twilio", _TOKEN),
]
_QUERY_SECRETS = {"code", "state"}  # an OAuth callback's
_CLUE = re.compile(r"outbound|workflow|unsubscribe|/t/|calls|inbound|twilio|code=|state=|%", re.IGNORECASE)  # no clue, no parsing

_URL_LIKE = re.compile(r"[^\s\"'<>]+")
_SEPARATOR = re.compile(r"(/|%(?:25)*2f)", re.IGNORECASE)  # a slash, percent-encoded any number of times
_PARAMETER = re.compile(r"([&;])")

# gunicorn's access-log atoms that hold credentials: the HTTP Basic user name (`curl -u KEY:` sends an API key
# there), and the headers a custom access_log_format could name.
_CREDENTIAL_ATOMS = ("u", "{authorization}i", "{proxy-authorization}i", "{cookie}i", "{set-cookie}o",
                     "{http_authorization}e", "{http_proxy_authorization}e", "{http_cookie}e")

# Loggers that do not hand their records to the root logger's handlers, so they get the filter themselves.
_OWN_HANDLERS = ("gunicorn.error", "gunicorn.access")
_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def redact(text: str) -> str:
    """`text` with the token of every secret-bearing URL in it replaced by REDACTED."""
    if not _CLUE.search(text):  # most lines have none
        return text
    redacted = _URL_LIKE.sub(lambda run: _redact_url(run.group()) if _CLUE.search(run.group()) else run.group(), text)
    return text if redacted == text else redacted


def _redact_url(url: str) -> str:
    """A run of text that may be a URL or a path, with its path and its query redacted (not its fragment)."""
    before_fragment, hash_, fragment = url.partition("#")
    path, mark, query = before_fragment.partition("?")
    return _redact_path(path) + mark + _redact_query(query) + hash_ + fragment


def _redact_path(path: str) -> str:
    pieces = _SEPARATOR.split(path)  # segments at even indices, the separators between them
    segments = [(index, _decoded(pieces[index])) for index in range(0, len(pieces), 2)]
    segments = [(index, name) for index, name in segments if name not in ("", ".")]
    secret = _token_positions(segments) | _token_positions(_resolved(segments))
    if not secret:
        return path
    return "".join(REDACTED if index in secret else piece for index, piece in enumerate(pieces))


def _decoded(text: str, plus_is_space: bool = False) -> str:
    """`text` percent-decoded until it no longer changes (a proxy in front may decode once more than the app),
    lower-cased."""
    decode = unquote_plus if plus_is_space else unquote
    for _ in range(5):
        decoded = decode(text)
        if decoded == text:
            break
        text = decoded
    return text.lower()


def _resolved(segments: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The segments with each `..` removing the one before it, as a server normalising the path would."""
    kept: list[tuple[int, str]] = []
    for index, name in segments:
        if name == "..":
            if kept:
                kept.pop()
        else:
            kept.append((index, name))
    return kept


def _token_positions(segments: list[tuple[int, str]]) -> set[int]:
    """Indices of the segments that hold the token of a secret-bearing route, wherever the route starts."""
    names = [name for _, name in segments]
    found = set()
    for start, name in enumerate(names):
        for route in _ROUTES:
            window = names[start:start + len(route)]
            if name == route[0] and len(window) == len(route) and all(
                    part is _ANY or part is _TOKEN or part == segment for part, segment in zip(route, window)):
                found.add(segments[start + route.index(_TOKEN)][0])
    return found


def _redact_query(query: str) -> str:
    """The query with the values of `code` and `state` redacted, and any secret URL a value carries."""
    pieces = _PARAMETER.split(query)
    for index in range(0, len(pieces), 2):
        name, equals, value = pieces[index].partition("=")
        if equals and _decoded(name, plus_is_space=True).strip() in _QUERY_SECRETS:
            pieces[index] = name + equals + REDACTED
        elif equals:
            pieces[index] = name + equals + _redact_path(value)
    return "".join(pieces)


class RedactTokens(logging.Filter):
    """Rewrites a record's message and traceback with `redact`, and replaces the credentials among gunicorn's
    access-log atoms (the Basic user name first); never drops a record."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "gunicorn.access" and isinstance(record.args, MutableMapping):
            _forget_credentials(record.args)
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


def _forget_credentials(atoms: MutableMapping) -> None:
    """Replace the credential atoms of a gunicorn access-log record (its own, per request) by REDACTED."""
    for name in _CREDENTIAL_ATOMS:
        if atoms.get(name, "-") != "-":
            atoms[name] = REDACTED


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
