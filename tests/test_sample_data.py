"""The bundled sample market is what the committed generator makes, and it is messy on purpose."""

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from connector.providers.offline import OfflineProvider
from scripts.make_sample_data import generate

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def sample():
    return OfflineProvider([DATA / "sample_market.jsonl", DATA / "target_accounts.csv"]).load()


def test_the_committed_files_are_exactly_what_the_generator_makes(tmp_path):
    jsonl, csv = generate(out_dir=tmp_path)
    assert jsonl.read_bytes() == (DATA / "sample_market.jsonl").read_bytes()
    assert csv.read_bytes() == (DATA / "target_accounts.csv").read_bytes()


def test_the_generator_is_deterministic_for_other_sizes_too(tmp_path):
    first, _ = generate(companies=50, out_dir=tmp_path / "a", seed=3, as_of=dt.date(2026, 1, 5))
    second, _ = generate(companies=50, out_dir=tmp_path / "b", seed=3, as_of=dt.date(2026, 1, 5))
    assert first.read_bytes() == second.read_bytes()


def test_the_sample_has_at_least_2000_companies_with_people_and_signals(sample):
    counts = sample.counts()
    assert len({c.domain for c in sample.companies}) >= 2000
    assert counts["people"] >= 8000 and counts["signals"] >= 3000


def test_the_sample_has_signals_of_every_kind(sample):
    domains = {c.domain for c in sample.companies}
    kinds = Counter(s.kind for signals in sample.signals_for(domains).values() for s in signals)
    assert set(kinds) == {"job_posting", "funding", "news", "website_change", "review", "conference"}


def test_some_companies_come_from_two_sources_with_different_spellings(sample):
    by_domain = {}
    for company in sample.companies:
        by_domain.setdefault(company.domain, []).append(company)
    twice = [records for records in by_domain.values() if len({r.source for r in records}) > 1]
    assert len(twice) > 100
    assert any(len({r.name for r in records}) > 1 for records in twice)


def test_the_sample_has_excluded_industries_and_missing_fields(sample):
    industries = Counter(c.industry for c in sample.companies)
    assert industries["Finance"] and industries["Healthcare"] and industries["Insurance"]
    assert industries[None] > 0
    assert any(c.annual_revenue is None for c in sample.companies)


def test_the_malformed_rows_are_quarantined_not_lost(sample):
    assert len(sample.quarantined) >= 8
    assert {q.file.rsplit("/", 1)[1] for q in sample.quarantined} == {"sample_market.jsonl", "target_accounts.csv"}
