"""The enrichment waterfall's decisions: which company still needs which field, and whom to ask next.

Clay-style: per field, providers are asked in a configured order, and asking
stops at the first value with enough confidence. Only companies that could
still qualify are enriched (a company that misses the threshold even if every
unknown field matched is not worth a paid call), and each provider is asked
about a company at most once per run. The calls themselves are made by
`connector.prospecting`; this module only decides.
"""

from __future__ import annotations

from collections import defaultdict

from agents.lead_source import exclusion, score_fit
from agents.market import MarketDefinition
from agents.models import Company

# Each fit field and the factor that judges it.
_FACTORS = {"industry": "industry", "employee_count": "employees", "annual_revenue": "revenue",
            "country": "location", "tech_stack": "tech_stack"}


def fields_to_fill(market: MarketDefinition) -> list[str]:
    """The firmographic fields the market's fit actually judges (weight above 0, or required)."""
    weights = market.weights.fit
    fields = ["industry", "employee_count"]
    if market.annual_revenue is not None and weights.revenue:
        fields.append("annual_revenue")
    if market.location and weights.location:
        fields.append("country")
    if market.tech_stack_using and (weights.tech_stack or market.require_tech_stack):
        fields.append("tech_stack")
    return fields


def missing(company: Company, fields: list[str], min_confidence: float) -> list[str]:
    """Fields with no value, or only one less confident than `min_confidence`."""
    gaps = []
    for field in fields:
        value = getattr(company, field)
        source = company.provenance.get(field)
        if value in (None, "", []) or (source is not None and source.confidence < min_confidence):
            gaps.append(field)
    return gaps


def worth_enriching(company: Company, market: MarketDefinition, gaps: list[str]) -> bool:
    """Whether the company could still qualify if every field in `gaps` matched; excluded ones never."""
    if not gaps:
        return False
    hoped = company.model_copy(update={"tech_stack": market.tech_stack_using}) if "tech_stack" in gaps else company
    if exclusion(hoped, market):
        return False
    fit = score_fit(company, market)
    weights = market.weights.fit
    unearned = sum(getattr(weights, _FACTORS[field]) - fit.breakdown[_FACTORS[field]].points for field in gaps)
    return fit.score + unearned / weights.total() >= round(market.quality_threshold, 4)


def next_round(companies: list[Company], market: MarketDefinition, order: dict[str, list[str]],
               tried: dict[str, set[str]], available: set[str], min_confidence: float) -> dict[str, list[str]]:
    """Provider -> the domains to ask it about now: for each gap, the first provider in the field's order that
    has a key and was not asked about that company yet."""
    fields = fields_to_fill(market)
    asks: dict[str, list[str]] = defaultdict(list)
    for company in companies:
        gaps = missing(company, fields, min_confidence)
        if not worth_enriching(company, market, gaps):
            continue
        done = tried.get(company.domain, set())
        wanted = []
        for field in gaps:
            provider = next((p for p in order.get(field, ()) if p in available and p not in done), None)
            if provider and provider not in wanted:
                wanted.append(provider)
        if wanted:
            asks[wanted[0]].append(company.domain)  # one provider per round: its answer may fill the other gaps
    return dict(asks)
