"""Greenhouse job boards: a company's open jobs as hiring signals.

`company.job_board` names the board ("greenhouse:<token>"); a company
without one, or with a Lever board, has no Greenhouse signals. One call
lists every open job with `content=true`, which adds the departments (and
the descriptions, which are not read). A job is dated by its first
publication when the board gives it, else by its last update; an unknown
board (404) has no signals, it is not an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agents.models import CompanyRecord, JobPosting, Signal
from connector.providers.http.client import ProviderClient
from connector.providers.mapping import text
from connector.providers.signal_fields import board_token, iso_date, link, report_skipped

SOURCE = "greenhouse"


def signals_for(client: ProviderClient, company: CompanyRecord, as_of: dt.date) -> list[Signal]:
    """The board's open jobs (what is open now: `as_of` does not filter, the intent window does)."""
    token = board_token(company, "greenhouse")
    if token is None:
        return []
    reply = client.call("jobs", params={"content": "true"}, path={"token": token})
    return [] if reply.no_match else postings(reply.body, company.domain)


def postings(body: Any, domain: str) -> list[Signal]:
    """A `{jobs: [...]}` answer as job postings; a job without a date is left out (and reported)."""
    jobs = body.get("jobs") if isinstance(body, dict) else None
    jobs = jobs if isinstance(jobs, list) else []
    signals: list[Signal] = [posting for job in jobs if (posting := _posting(job, domain))]
    report_skipped(SOURCE, domain, len(jobs) - len(signals), len(jobs), "no first_published or updated_at date")
    return signals


def _posting(job: Any, domain: str) -> JobPosting | None:
    if not isinstance(job, dict):
        return None
    date = iso_date(job.get("first_published")) or iso_date(job.get("updated_at"))
    if date is None:
        return None
    departments = job.get("departments")
    first = departments[0] if isinstance(departments, list) and departments else None
    department = text(first.get("name")) if isinstance(first, dict) else ""
    return JobPosting(kind="job_posting", company_domain=domain, date=date, title=text(job.get("title")),
                      department=department or None, url=link(job.get("absolute_url")), source=SOURCE)
