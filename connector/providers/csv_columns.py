"""Which column of a CSV export holds which field: one rule for the reader and the sample check.

Headers are matched by the spellings seen in CRM and data-vendor exports,
ignoring case and surrounding spaces. A file with two spellings of one field
(a `Domain` and a `Website` column) is read from the one listed first, by
everyone who reads it: the sample check judges the very column a run reads.
"""

from __future__ import annotations

CSV_HEADERS = {  # by field, the spellings it is known by, the one read first
    "name": ("name", "company", "company name", "account name", "organization", "organisation"),
    "domain": ("domain", "website", "company domain", "url", "web site", "company website"),
    "industry": ("industry", "sector", "vertical"),
    "employee_count": ("employees", "employee count", "employee_count", "headcount", "company size",
                       "number of employees", "# employees"),
    "annual_revenue": ("revenue", "annual revenue", "annual_revenue", "arr", "revenue (usd)"),
    "country": ("country", "hq country", "billing country", "country/region"),
    "confidence": ("confidence",),
    "sample": ("sample",),
}


def csv_columns(headers: list[str]) -> dict[str, str]:
    """The header each field is read from, for the fields the file has: its first spelling present.

    Two headers of one spelling ("Domain" and "domain ") resolve to the last, as `csv.DictReader` keeps the
    last column of a repeated name."""
    by_spelling = {header.strip().lower(): header for header in headers}
    columns = {}
    for field, spellings in CSV_HEADERS.items():
        header = next((by_spelling[spelling] for spelling in spellings if spelling in by_spelling), None)
        if header is not None:
            columns[field] = header
    return columns
