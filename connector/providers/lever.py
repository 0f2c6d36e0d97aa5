"""Lever job sites: a company's published postings as hiring signals.

`company.job_board` names the site ("lever:<site>"). Postings come as a bare
JSON array, paged with skip/limit to the end. A posting is dated by its
creation (epoch milliseconds) and filed under its department, else its team
(Lever's department is the wider group, e.g. "Sales" over the team "SDR",
and the intent rules count a department of "Sales" as a sales role). An
unknown site (404 `{"ok": false, "error": "Document not found"}`) has no
signals, it is not an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agents.models import CompanyRecord, JobPosting, Signal
from connector.providers.http.client import ProviderClient
from connector.providers.mapping import text
from connector.providers.signal_fields import board_token, epoch_ms_date, link, report_skipped

SOURCE = "lever"


def signals_for(client: ProviderClient, company: CompanyRecord, as_of: dt.date) -> list[Signal]:
    """The site's published postings (what is open now: `as_of` does not filter, the intent window does)."""
    site = board_token(company, "lever")
    if site is None:
        return []
    signals: list[Signal] = []
    for reply in client.pages("postings", params={"mode": "json"}, path={"site": site}):
        if reply.no_match:
            return []
        signals.extend(postings(reply.body, company.domain))
    return signals


def postings(body: Any, domain: str) -> list[Signal]:
    """One page of postings; anything but a list (an error object) holds none."""
    items = body if isinstance(body, list) else []
    signals: list[Signal] = [posting for item in items if (posting := _posting(item, domain))]
    report_skipped(SOURCE, domain, len(items) - len(signals), len(items), "no createdAt date")
    return signals


def _posting(item: Any, domain: str) -> JobPosting | None:
    if not isinstance(item, dict):
        return None
    date = epoch_ms_date(item.get("createdAt"))
    if date is None:
        return None
    categories = item.get("categories") if isinstance(item.get("categories"), dict) else {}
    department = text(categories.get("department")) or text(categories.get("team"))
    return JobPosting(kind="job_posting", company_domain=domain, date=date, title=text(item.get("text")),
                      department=department or None, url=link(item.get("hostedUrl")), source=SOURCE)
