"""Knowing the bundled fictional sample by its content, when its marks are gone.

Every row of `data/` says it is sample data, but a copy can lose that: a
`sed` over the JSON Lines, a spreadsheet that drops the CSV's `Sample`
column. Its company domains stay: they are made up by
`scripts/make_sample_data.py`. A file naming at least SAMPLE_MIN_DOMAINS
distinct company domains, at least SAMPLE_SHARE of them the bundled sample's,
is sample data. A real company may own a domain the generator made up, so a
few such rows among real ones, or a file too small to judge, is never refused.
A tenant's files are judged together as well: a copy split into files too
small to judge on their own is still known.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from agents.domains import registered_domain
from connector.providers.csv_columns import csv_columns
from connector.settings import SAMPLE_DATA

SAMPLE_MIN_DOMAINS = 10
SAMPLE_SHARE = 0.5


@lru_cache(maxsize=1)
def sample_domains() -> frozenset[str]:
    """The registered domains of the bundled sample's companies (none when it is not installed)."""
    return frozenset(domain for path in SAMPLE_DATA if path.is_file() for domain in company_domains(path))


def looks_like_sample(domains: set[str]) -> bool:
    """Whether a file naming these company domains is mostly the bundled sample's made-up companies."""
    known = domains & sample_domains()
    return len(domains) >= SAMPLE_MIN_DOMAINS and len(known) >= SAMPLE_SHARE * len(domains)


def judged_as_sample(domains_by_file: dict[str, set[str]]) -> list[str]:
    """Which files, named with the company domains each names, are sample data: each mostly the sample's on its
    own, and, when all of them together are, each whose domains are mostly the sample's however few."""
    known = sample_domains()
    together = looks_like_sample(set().union(*domains_by_file.values()))
    return [name for name, domains in domains_by_file.items() if looks_like_sample(domains)
            or (together and domains and len(domains & known) >= SAMPLE_SHARE * len(domains))]


def company_domains(path: Path) -> set[str]:
    """Every registered domain the file names: companies' own, and the companies of its people and signals.
    Rows it cannot read are skipped (the provider quarantines them)."""
    domains = set()
    for value in (_csv_values(path) if path.suffix.lower() == ".csv" else _jsonl_values(path)):
        try:
            domains.add(registered_domain(value))
        except ValueError:
            continue
    return domains


def _jsonl_values(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                value = row.get("domain") if row.get("type") == "company" else row.get("company_domain")
                if isinstance(value, str):
                    yield value


def _csv_values(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        column = csv_columns(reader.fieldnames or []).get("domain")  # the column the reader reads
        if column is not None:
            yield from (row.get(column) or "" for row in reader)
