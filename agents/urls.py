"""Links SalesOS shows a rep or writes into a CRM: http(s) URLs with a host, nothing else.

A data file or a CRM field can hold `javascript:`, `data:` or `vbscript:` URLs;
rendered as a link, one click runs it. Browsers ignore a URL's leading spaces,
its case and any tab or newline inside it (`java\\tscript:` is `javascript:`), so
the check refuses whitespace and control characters anywhere instead of trying
to read the URL the way each browser would.
"""

from __future__ import annotations

from urllib.parse import urlsplit

HTTP_SCHEMES = frozenset({"http", "https"})
RULE = "must be an http(s) URL with a host, like https://example.com/page"


def is_http_url(value: object) -> bool:
    if not isinstance(value, str) or any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # a malformed IPv6 host or port
        return False
    return parts.scheme.lower() in HTTP_SCHEMES and value[len(parts.scheme):].startswith("://") and bool(host)


def http_url_or_none(value: str | None) -> str | None:
    """A validator: a blank link is no link; any other must be an http(s) URL."""
    if value is None or value == "":
        return None
    if not is_http_url(value):
        raise ValueError(RULE)
    return value
