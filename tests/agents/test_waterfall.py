"""The waterfall asks providers in order, only about companies that could still qualify, once each."""

from __future__ import annotations

import datetime as dt

from agents.market import MarketDefinition
from agents.models import Company, FieldSource
from agents.waterfall import fields_to_fill, missing, next_round, worth_enriching

MARKET = MarketDefinition.model_validate({
    "name": "SaaS", "industry": "B2B SaaS", "company_size": "10-500 employees", "annual_revenue": "$1M-$50M",
    "location": ["US"], "quality_threshold": 0.7, "exclude": {"industries": ["Finance"]},
})
ORDER = {"industry": ["apollo", "pdl"], "employee_count": ["apollo", "pdl"], "annual_revenue": ["pdl", "apollo"],
         "country": ["apollo", "pdl"]}


def _company(domain: str = "acme.com", **fields) -> Company:
    confidence = fields.pop("confidence", 0.9)
    sources = {name: FieldSource(provider="apollo", fetched_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                                 confidence=confidence)
               for name in ("industry", "employee_count", "annual_revenue", "country") if fields.get(name)}
    return Company(domain=domain, name="Acme", provenance=sources, **fields)


def test_the_fields_filled_are_those_the_market_judges():
    assert fields_to_fill(MARKET) == ["industry", "employee_count", "annual_revenue", "country"]
    anywhere = MARKET.model_copy(update={"location": [], "annual_revenue": None})
    assert fields_to_fill(anywhere) == ["industry", "employee_count"]


def test_a_value_below_the_confidence_wanted_counts_as_missing():
    company = _company(industry="B2B SaaS", employee_count=50, confidence=0.5)
    assert missing(company, ["industry", "employee_count", "country"], 0.8) == ["industry", "employee_count", "country"]
    assert missing(company, ["industry", "employee_count"], 0.5) == []


def test_a_company_that_cannot_qualify_even_if_every_gap_matched_is_not_enriched():
    wrong_industry = _company(industry="Retail", employee_count=5000, annual_revenue=9e9)
    assert not worth_enriching(wrong_industry, MARKET, ["country"])
    promising = _company(industry="B2B SaaS", employee_count=50)
    assert worth_enriching(promising, MARKET, ["annual_revenue", "country"])


def test_an_excluded_company_is_never_enriched():
    finance = _company(industry="Finance")
    assert not worth_enriching(finance, MARKET, ["employee_count", "annual_revenue", "country"])


def test_each_company_is_asked_of_the_first_provider_in_its_first_gaps_order():
    revenue_only = _company("a.com", industry="B2B SaaS", employee_count=50, country="US")
    nothing = _company("b.com")
    asks = next_round([revenue_only, nothing], MARKET, ORDER, {}, {"apollo", "pdl"}, 0.8)
    assert asks == {"pdl": ["a.com"], "apollo": ["b.com"]}


def test_a_provider_already_asked_or_without_a_key_is_passed_over():
    nothing = _company("b.com")
    assert next_round([nothing], MARKET, ORDER, {"b.com": {"apollo"}}, {"apollo", "pdl"}, 0.8) == {"pdl": ["b.com"]}
    assert next_round([nothing], MARKET, ORDER, {}, {"pdl"}, 0.8) == {"pdl": ["b.com"]}
    assert next_round([nothing], MARKET, ORDER, {"b.com": {"apollo", "pdl"}}, {"apollo", "pdl"}, 0.8) == {}


def test_a_company_with_every_field_confidently_known_asks_nobody():
    known = _company(industry="B2B SaaS", employee_count=50, annual_revenue=5e6, country="US")
    assert next_round([known], MARKET, ORDER, {}, {"apollo", "pdl"}, 0.8) == {}
