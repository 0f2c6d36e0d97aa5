"""Reading the fields intent providers give a signal: job boards, dates, links, and what could not be read.

A provider's item without a date cannot be placed in the intent window, so it
is left out, and a warning names the provider, the company and how many; a
link that is not http(s) is dropped from the signal (the signal stays).
"""

from __future__ import annotations

import datetime as dt
import logging

from agents.models import CompanyRecord
from agents.urls import is_http_url

log = logging.getLogger(__name__)


def board_token(company: CompanyRecord, board: str) -> str | None:
    """The company's token on `board` ('greenhouse:acme' -> 'acme' for greenhouse), None on another or none."""
    name, _, token = (company.job_board or "").partition(":")
    return token if name == board and token else None


def iso_date(value: object) -> dt.date | None:
    """The date of an ISO 8601 date or time as written ('2016-01-14T10:55:28-05:00' is 2016-01-14)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return dt.datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def epoch_ms_date(value: object) -> dt.date | None:
    """The UTC date of epoch milliseconds (Lever's createdAt)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).date()
    except (OverflowError, OSError, ValueError):
        return None


def link(value: object) -> str | None:
    return value if is_http_url(value) else None


def report_skipped(provider: str, domain: str, skipped: int, total: int, why: str) -> None:
    if skipped:
        log.warning("%s: %d of %d items for %s left out: %s", provider, skipped, total, domain, why)
