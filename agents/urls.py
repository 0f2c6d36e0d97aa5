"""Links SalesOS shows a rep or writes into a CRM: http(s) URLs with a host, nothing else.

A data file or a CRM field can hold `javascript:`, `data:` or `vbscript:` URLs;
rendered as a link, one click runs it. Browsers ignore a URL's leading spaces,
its case and any tab or newline inside it (`java\\tscript:` is `javascript:`), so
the check refuses whitespace and control characters anywhere instead of trying
to read the URL the way each browser would.

Exports often leave the scheme out (`linkedin.com/in/jane`,
`www.linkedin.com/in/jane`): such a link whose host is a real domain is read
as https, so its row is kept. Any other scheme is judged as written.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from agents.domains import registered_domain

HTTP_SCHEMES = frozenset({"http", "https"})
RULE = "must be an http(s) URL with a host, like https://example.com/page"
_DOTTED_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")  # no scheme, port, user or IPv6 before the path


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


def with_https(value: object) -> object:
    """A scheme-less link whose host is a registrable domain, with `https://` in front; anything else unchanged.

    `in/jane`, `localhost/x` and `//host/x` have no such host, and `mailto:` or `javascript:` have a scheme:
    they are left for `http_url_or_none` to refuse."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    host = re.split(r"[/?#]", text, maxsplit=1)[0]
    if not _DOTTED_HOST.fullmatch(host):
        return value
    try:
        registered_domain(host)
    except ValueError:
        return value
    return f"https://{text}"
