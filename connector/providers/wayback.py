"""Wayback Machine CDX: changes to a company's pricing, demo and features pages as website signals.

For each page kind, one query of the captures under `<domain>/<page>*`
over the 180 days before the as-of date, with adjacent identical captures
collapsed (`collapse=digest`). Per page URL (scheme, `www.` and port aside),
the first capture in the window is the baseline; each later capture whose
digest differs from the one before it is a change, dated by its capture
and linked to it in the archive. Only captures that answered 200 count: a
redirect or an error between two identical pages is not a change.

The CDX server ends a page cut short by its limit with an empty row and
[resume key] (`showResumeKey=true`); the key is passed back until a page
ends without one. A site the archive excludes (403) has no signals.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from agents.models import CompanyRecord, Signal, WebsiteChange
from connector.providers.http.client import ProviderClient
from connector.providers.signal_fields import link

log = logging.getLogger(__name__)

SOURCE = "wayback"
PAGES = ("pricing", "demo", "features")
WINDOW_DAYS = 180
ROWS_PER_CALL = 1000
MAX_CALLS = 20  # per page kind: 20,000 distinct captures in 180 days is a crawler trap, not a pricing page
FIELDS = "timestamp,original,digest,statuscode"


def signals_for(client: ProviderClient, company: CompanyRecord, as_of: dt.date) -> list[Signal]:
    signals: list[Signal] = []
    for page in PAGES:
        signals.extend(changes(captures(client, f"{company.domain}/{page}*", as_of), page, company.domain))
    return signals


def query_params(url: str, as_of: dt.date) -> dict[str, Any]:
    return {
        "url": url, "output": "json", "fl": FIELDS, "collapse": "digest",
        "from": (as_of - dt.timedelta(days=WINDOW_DAYS)).strftime("%Y%m%d"), "to": as_of.strftime("%Y%m%d"),
        "showResumeKey": "true", "limit": ROWS_PER_CALL,
    }


def captures(client: ProviderClient, url: str, as_of: dt.date) -> list[dict[str, str]]:
    """Every capture of the query, following resume keys to the end."""
    params = query_params(url, as_of)
    rows: list[dict[str, str]] = []
    for _ in range(MAX_CALLS):
        reply = client.call("cdx", params=params)
        if reply.no_match:
            return []
        page, key = split_page(reply.body)
        rows.extend(page)
        if not key or key == params.get("resumeKey"):
            return rows
        params = {**params, "resumeKey": key}
    log.warning("wayback: %s still had more after %d calls; its first %d captures are read", url, MAX_CALLS,
                len(rows))
    return rows


def split_page(body: Any) -> tuple[list[dict[str, str]], str | None]:
    """One `output=json` answer: its rows keyed by the header row, and the resume key when one ends it.

    The server prints the key URL-encoded and reads it back as the query decodes it: it is decoded here, so
    that sending it as a parameter (encoded once more) gives the server the key it printed."""
    if not isinstance(body, list) or not body or not isinstance(body[0], list):
        return [], None  # no captures: "[]" or an empty body
    header, rows, key = body[0], body[1:], None
    if len(rows) >= 2 and rows[-2] == [] and isinstance(rows[-1], list) and len(rows[-1]) == 1:
        key, rows = unquote_plus(str(rows[-1][0])), rows[:-2]
    return [dict(zip(header, row)) for row in rows if isinstance(row, list) and len(row) == len(header)], key


def changes(rows: list[dict[str, str]], page: str, domain: str) -> list[Signal]:
    """Each capture whose digest differs from the previous capture of the same page URL."""
    last: dict[str, str] = {}
    found: list[Signal] = []
    for row in sorted(rows, key=lambda row: str(row.get("timestamp", ""))):
        date, digest, original = _date(row.get("timestamp")), row.get("digest"), row.get("original")
        if row.get("statuscode") != "200" or date is None or not digest or not isinstance(original, str):
            continue
        where = page_key(original)
        before, last[where] = last.get(where), digest
        if before is not None and before != digest:
            found.append(WebsiteChange(
                kind="website_change", page=page, company_domain=domain, date=date, source=SOURCE,
                title=f"{page.capitalize()} page changed: {where}",
                url=link(f"https://web.archive.org/web/{row['timestamp']}/{original}")))
    return found


def page_key(original: str) -> str:
    """One name per page however it was captured: 'http://www.acme.com:80/pricing/' is 'acme.com/pricing'."""
    parts = urlsplit(original if "://" in original else f"http://{original}")
    host = (parts.hostname or "").removeprefix("www.")
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{parts.path.rstrip('/')}{query}"


def _date(timestamp: object) -> dt.date | None:
    if not isinstance(timestamp, str) or len(timestamp) < 8 or not timestamp[:8].isdigit():
        return None
    try:
        return dt.datetime.strptime(timestamp[:8], "%Y%m%d").date()
    except ValueError:
        return None
