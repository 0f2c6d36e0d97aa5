"""Lead Source: merge what every source says, drop exclusions, score fit.

Fit follows DESIGN.md: each factor contributes its weight when it matches
(growth signals and pain points their weight times the share matched), the
sum is divided by the total weight (1.0 with the defaults), and the score is
rounded to 4 places once, so the number a rep sees is the number compared
with the threshold: a fit equal to the threshold qualifies.
"""

from __future__ import annotations

from collections import defaultdict

from agents.domains import registered_domain
from agents.market import MarketDefinition, Range
from agents.models import Company, CompanyRecord, Drop, FitFactor, FitResult, ScoredCompany, SourcingResult
from agents.text import company_name, phrase, phrases

_SCALARS = ("name", "industry", "employee_count", "annual_revenue", "country", "founded", "funding_stage")
_LISTS = ("tech_stack", "growth_signals", "pain_signals")


def merge_records(records: list[CompanyRecord]) -> tuple[list[Company], int]:
    """One Company per registered domain; per field, the most confident source that has a value wins."""
    groups: dict[str, list[CompanyRecord]] = defaultdict(list)
    for record in records:
        groups[record.domain].append(record)
    companies = [_merge(domain, group) for domain, group in sorted(groups.items())]
    return companies, len(records) - len(companies)


def _merge(domain: str, group: list[CompanyRecord]) -> Company:
    ranked = sorted(group, key=lambda record: -record.confidence)  # stable: ties keep the first seen
    values = {}
    for field in _SCALARS:
        values[field] = next((getattr(r, field) for r in ranked if getattr(r, field) not in (None, "")), None)
    for field in _LISTS:
        seen: dict[str, str] = {}
        for record in ranked:
            for item in getattr(record, field):
                seen.setdefault(item.casefold(), item)
        values[field] = list(seen.values())
    return Company(
        domain=domain, **values,
        sources=sorted({record.source for record in group}),
        confidence=ranked[0].confidence,
    )


def exclusion(company: Company, market: MarketDefinition) -> str | None:
    """Why the market excludes this company, or None."""
    if company.industry and phrase(company.industry) in phrases(market.exclude.industries):
        return f"excluded industry {company.industry!r}"
    for entry in market.exclude.companies:
        if _is_domain(entry) and _domain_or_none(entry) == company.domain:
            return f"excluded company {entry!r}"
        if company_name(entry) == company_name(company.name):
            return f"excluded company {entry!r}"
    if market.require_tech_stack and not _tech_matches(company, market):
        return f"uses none of {', '.join(market.tech_stack_using)} (required)"
    return None


def _is_domain(entry: str) -> bool:
    return "." in entry and " " not in entry.strip()


def _domain_or_none(entry: str) -> str | None:
    try:
        return registered_domain(entry)
    except ValueError:
        return None


def score_fit(company: Company, market: MarketDefinition) -> FitResult:
    weights = market.weights.fit
    breakdown = {
        "industry": _industry(company, market),
        "employees": _in_range(weights.employees, company.employee_count, market.company_size, "employees"),
        "revenue": _revenue(company, market),
        "location": _location(company, market),
        "growth_signals": _share(weights.growth_signals, company.growth_signals, market.growth_signals,
                                 "growth signals"),
        "pain_points": _share(weights.pain_points, company.pain_signals, market.pain_points, "pain points"),
        "tech_stack": _share(weights.tech_stack, company.tech_stack, market.tech_stack_using, "tools"),
    }
    score = round(sum(factor.points for factor in breakdown.values()) / weights.total(), 4)
    return FitResult(score=score, breakdown=breakdown, qualified=score >= round(market.quality_threshold, 4))


def source_companies(records: list[CompanyRecord], market: MarketDefinition) -> SourcingResult:
    """The Lead Source stage: merge, exclude, score, threshold, monthly target."""
    companies, merged = merge_records(records)
    excluded, qualified, below = [], [], []
    for company in companies:
        reason = exclusion(company, market)
        if reason:
            excluded.append(Drop(key=company.domain, reason=reason))
            continue
        scored = ScoredCompany(company=company, fit=score_fit(company, market))
        (qualified if scored.fit.qualified else below).append(scored)
    qualified.sort(key=lambda s: (-s.fit.score, s.company.domain))
    target = market.monthly_target or len(qualified)
    return SourcingResult(
        companies_read=len(records), duplicates_merged=merged, excluded=excluded,
        below_threshold=below, over_target=qualified[target:], qualified=qualified[:target],
    )


# --- factors ----------------------------------------------------------------


def _industry(company: Company, market: MarketDefinition) -> FitFactor:
    weights = market.weights.fit
    if not company.industry:
        return FitFactor(weight=weights.industry, points=0, matched=False, detail="industry unknown")
    if phrase(company.industry) == phrase(market.industry):
        return FitFactor(weight=weights.industry, points=weights.industry, matched=True,
                         detail=f"industry is {market.industry!r}")
    if phrase(company.industry) in phrases(market.related_industries):
        return FitFactor(weight=weights.industry, points=weights.related_industry, matched=True,
                         detail=f"related industry {company.industry!r}")
    return FitFactor(weight=weights.industry, points=0, matched=False,
                     detail=f"industry {company.industry!r} is not {market.industry!r}")


def _in_range(weight: float, value: float | None, wanted: Range, unit: str) -> FitFactor:
    if value is None:
        return FitFactor(weight=weight, points=0, matched=False, detail=f"{unit} unknown")
    matched = wanted.contains(value)
    verb = "in" if matched else "outside"
    return FitFactor(weight=weight, points=weight if matched else 0, matched=matched,
                     detail=f"{value:,.0f} {unit} {verb} {_describe(wanted)}")


def _revenue(company: Company, market: MarketDefinition) -> FitFactor:
    weight = market.weights.fit.revenue
    if market.annual_revenue is None:
        return FitFactor(weight=weight, points=weight, matched=True, detail="any revenue")
    if company.annual_revenue is None:
        return FitFactor(weight=weight, points=0, matched=False, detail="revenue unknown")
    matched = market.annual_revenue.contains(company.annual_revenue)
    verb = "in" if matched else "outside"
    return FitFactor(weight=weight, points=weight if matched else 0, matched=matched,
                     detail=f"${_money(company.annual_revenue)} revenue {verb} {_describe(market.annual_revenue, '$')}")


def _location(company: Company, market: MarketDefinition) -> FitFactor:
    weight = market.weights.fit.location
    if not market.location:
        return FitFactor(weight=weight, points=weight, matched=True, detail="any country")
    if not company.country:
        return FitFactor(weight=weight, points=0, matched=False, detail="country unknown")
    matched = company.country in market.location
    verb = "in" if matched else "not in"
    return FitFactor(weight=weight, points=weight if matched else 0, matched=matched,
                     detail=f"{company.country} {verb} {', '.join(market.location)}")


def _share(weight: float, have: list[str], wanted: list[str], what: str) -> FitFactor:
    if not wanted:
        return FitFactor(weight=weight, points=0, matched=0.0, detail=f"the market lists no {what}")
    found = [item for item in wanted if phrase(item) in phrases(have)]
    share = len(found) / len(wanted)
    detail = f"{len(found)} of {len(wanted)} {what}" + (f": {', '.join(found)}" if found else "")
    return FitFactor(weight=weight, points=round(weight * share, 4), matched=round(share, 4), detail=detail)


def _tech_matches(company: Company, market: MarketDefinition) -> bool:
    return bool(phrases(company.tech_stack) & phrases(market.tech_stack_using))


def _describe(wanted: Range, prefix: str = "") -> str:
    def end(value: float) -> str:
        return prefix + (_money(value) if prefix else f"{value:,.0f}")

    if wanted.min is not None and wanted.max is not None:
        return f"{end(wanted.min)}-{end(wanted.max)}"
    if wanted.min is not None:
        return f"{end(wanted.min)}+"
    return f"up to {end(wanted.max)}" if wanted.max is not None else "any"


def _money(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
