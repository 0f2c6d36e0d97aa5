"""What a tenant is shown of a job that failed: an API run's failures, a HubSpot workflow action's result.

A failure is an exception's text, whatever raised it: an OSError names a file
by its path on the server, a CRM or a library may answer at any length. The
tenant gets each failure with every absolute path cut to its last part (the
file's name) and at most QUOTE_LIMIT characters; the worker's log keeps it whole.
"""

from __future__ import annotations

import re

from agents.validation import clip

_PATH = re.compile(
    r"(?<=['\"])~?/[^'\"\n]+(?=['\"])"  # a quoted path from the root or home, spaces and all ('/srv/my data/x.csv')
    r"|(?<![\w.~:/\\-])~?(?:/[^\s/'\"`,;:()\[\]{}<>|]+)+/?"  # an unquoted one (not a URL's: those follow a host)
    r"|\b[A-Za-z]:\\(?:[^\s\\'\"`,;:()\[\]{}<>|]+\\)*[^\s\\'\"`,;:()\[\]{}<>|]*")  # a Windows one
SCANNED = 4096  # characters of a failure looked at: paths shorten it, the clip does the rest


def for_tenant(failure: str) -> str:
    """`failure` without server paths (each becomes its file name), clipped to QUOTE_LIMIT characters."""
    return clip(_PATH.sub(lambda match: _last_part(match.group()), failure[:SCANNED]))


def _last_part(path: str) -> str:
    parts = [part for part in re.split(r"[/\\]", path) if part]
    return parts[-1] if parts else path
