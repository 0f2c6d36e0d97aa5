"""The providers' side of a run's stages (connector/prospecting.py), against the local providers and a real Redis."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from agents.lead_source import merge_records
from agents.market import MarketDefinition
from connector import prospecting
from connector.providers.registry import RunProviders
from connector.settings import Settings
from tests.fakes.provider_server import ProviderServer

MARKET = {"name": "SaaS", "industry": "B2B SaaS", "related_industries": ["Software", "SaaS"],
          "company_size": "10-500 employees", "annual_revenue": "$1M-$50M", "location": ["US", "UK", "Canada"],
          "quality_threshold": 0.5, "buying_team_roles": ["VP Sales", "Head of Sales", "CEO", "CRO"],
          "contacts_per_company": 2}
ORDER = Settings().salesos_waterfall


@pytest.fixture(scope="module")
def server():
    local = ProviderServer()
    yield local
    local.stop()


@pytest.fixture
def providers(server, conn, tmp_path, monkeypatch):
    server.fake.clear()
    server.fake.calls.clear()
    for name, value in server.environ().items():
        monkeypatch.setenv(name, value)
    keys = {name: key for name, key in server.fake.keys.items()}
    with httpx.Client() as http:
        yield RunProviders("local", "run-1", keys, conn, Settings(salesos_home=tmp_path), http)


def market(**overrides) -> MarketDefinition:
    return MarketDefinition.model_validate(MARKET | overrides)


def searched(server, provider: str) -> int:
    return sum(calls for (name, endpoint), calls in server.fake.calls.items()
               if name == provider and "search" in endpoint and "people" not in endpoint)


def test_a_dearer_source_is_not_searched_once_the_monthly_target_qualifies(server, providers):
    records = prospecting.source(providers, market(monthly_target=5), [], 10, ORDER, 0.8, prospecting.Misses("source"))
    assert len({record.domain for record in records}) >= 5
    assert searched(server, "apollo") > 0 and searched(server, "pdl") == searched(server, "crunchbase") == 0


def test_the_next_source_is_searched_while_the_target_is_not_met(server, providers):
    prospecting.source(providers, market(monthly_target=10_000), [], 20, ORDER, 0.8, prospecting.Misses("source"))
    assert searched(server, "apollo") > 0 and searched(server, "pdl") > 0


def test_a_provider_asked_about_a_company_once_is_not_asked_again_in_the_same_run(server, providers):
    misses, tried = prospecting.Misses("source"), {}
    records = prospecting.search_companies(providers, "apollo", market(), 10, misses)
    prospecting.fill_firmographics(providers, records, market(), ORDER, 0.99, misses, tried=tried)
    asked = dict(server.fake.calls)
    prospecting.fill_firmographics(providers, records, market(), ORDER, 0.99, misses, tried=tried)
    assert dict(server.fake.calls) == asked and tried


def test_a_provider_that_is_down_is_noted_with_the_companies_it_missed_and_the_others_still_answer(server, providers):
    server.fake.outage("newsapi")
    misses = prospecting.Misses("enrich")
    companies, _ = merge_records(prospecting.search_companies(providers, "apollo", market(), 3, misses))
    found = prospecting.intent_signals(providers, companies, dt.date(2026, 11, 2), misses)
    [miss] = misses.counts()
    assert (miss["provider"], miss["kind"], miss["missed"]) == ("newsapi", "unavailable", 3)
    assert set(misses.resumable()) == {"newsapi"}
    assert any(signal.source == "wayback" for signals in found.values() for signal in signals)


def test_only_the_people_ranking_keeps_are_revealed(server, providers):
    misses = prospecting.Misses("contacts")
    domains = [r.domain for r in prospecting.search_companies(providers, "apollo", market(), 10, misses)]
    people = prospecting.search_people(providers, domains, market(), misses)
    revealed = prospecting.reveal_team(providers, people, market(), misses)
    found = {domain: [p for p in revealed[domain] if p.source == "apollo"] for domain in revealed}
    assert all(sum(1 for p in group if p.email) <= 2 for group in found.values())  # contacts_per_company
    assert any(len(group) > 2 for group in found.values())  # so some were left unrevealed
