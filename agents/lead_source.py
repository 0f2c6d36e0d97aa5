"""Lead Source: merge what every source says, drop exclusions, score fit.

Fit follows DESIGN.md: each factor contributes its weight when it matches
(growth signals, pain points and tech stack their weight times the share
matched), the sum is divided by the total weight (1.0 with the defaults), and
the score is rounded to 4 places once, so the number a rep sees is the number
compared with the threshold: a fit equal to the threshold qualifies.
"""

from __future__ import annotations

from collections import defaultdict

from agents.domains import registered_domain
from agents.market import MarketDefinition, Range
from agents.models import (
    Company, CompanyRecord, Drop, FieldSource, FitFactor, FitResult, ScoredCompany, SourcingResult,
)
from agents.text import company_name, phrase, phrases

_SCALARS = ("name", "industry", "employee_count", "annual_revenue", "country", "founded", "funding_stage")
_LISTS = ("tech_stack", "growth_signals", "pain_signals")
# The company field each fit factor judges: its provenance is shown beside the factor.
_FACTOR_FIELDS = {"industry": "industry", "employees": "employee_count", "revenue": "annual_revenue",
                  "location": "country", "growth_signals": "growth_signals", "pain_points": "pain_signals",
                  "tech_stack": "tech_stack"}


# --- merge ------------------------------------------------------------------


def merge_records(records: list[CompanyRecord]) -> tuple[list[Company], int]:
    """One Company per registered domain, ordered by domain; also how many records were folded in."""
    groups: dict[str, list[CompanyRecord]] = defaultdict(list)
    for record in records:
        groups[record.domain].append(record)
    companies = [_merge(domain, group) for domain, group in sorted(groups.items())]
    return companies, len(records) - len(companies)


def _merge(domain: str, group: list[CompanyRecord]) -> Company:
    """Per field, the most confident source that has a value wins; lists are unioned.

    Lists are walked most-confident first, so the best source's spelling is
    the one kept when two sources differ only in case. Each field remembers
    the record its value came from (for a list, the most confident record
    adding to it), so a rep can see whose number it is.
    """
    ranked = sorted(group, key=lambda record: -record.confidence)  # stable: ties keep the first seen
    values: dict[str, object] = {}
    provenance: dict[str, FieldSource] = {}
    for field in _SCALARS:
        winner = next((r for r in ranked if getattr(r, field) not in (None, "")), None)
        values[field] = getattr(winner, field) if winner else None
        if winner:
            provenance[field] = _source_of(winner)
    for field in _LISTS:
        seen: dict[str, str] = {}
        for record in ranked:
            for item in getattr(record, field):
                if item.strip():
                    seen.setdefault(item.strip().casefold(), item.strip())
                    provenance.setdefault(field, _source_of(record))
        values[field] = list(seen.values())
    return Company(
        domain=domain,
        **values,
        sources=sorted({record.source for record in group}),
        confidence=ranked[0].confidence,
        provenance=provenance,
        job_board=next((r.job_board for r in ranked if r.job_board), None),
    )


def _source_of(record: CompanyRecord) -> FieldSource:
    return FieldSource(provider=record.source, fetched_at=record.fetched_at, confidence=record.confidence)


# --- exclusions -------------------------------------------------------------


def exclusion(company: Company, market: MarketDefinition) -> str | None:
    """Why the market excludes this company, in words a rep understands, or None."""
    if company.industry and phrase(company.industry) in phrases(market.exclude.industries):
        return f"excluded industry {company.industry!r}"
    for entry in market.exclude.companies:
        if _is_excluded_company(entry, company):
            return f"excluded company {entry!r}"
    if market.require_tech_stack and not _tech_matches(company, market):
        wanted = ", ".join(market.tech_stack_using)
        if not company.tech_stack:
            return f"tech stack unknown; the market requires one of {wanted}"
        return f"uses none of the required tools ({wanted})"
    return None


def _is_excluded_company(entry: str, company: Company) -> bool:
    """A domain-like entry ('acme.com', a URL) names a registered domain; any entry may name the company."""
    if _looks_like_domain(entry) and _domain_or_none(entry) == company.domain:
        return True
    return company_name(entry) == company_name(company.name)


def _looks_like_domain(entry: str) -> bool:
    return "." in entry and " " not in entry.strip()


def _domain_or_none(entry: str) -> str | None:
    try:
        return registered_domain(entry)
    except ValueError:
        return None


def _tech_matches(company: Company, market: MarketDefinition) -> bool:
    return bool(phrases(company.tech_stack) & phrases(market.tech_stack_using))


# --- fit --------------------------------------------------------------------


def score_fit(company: Company, market: MarketDefinition) -> FitResult:
    """How well a company matches the market, factor by factor, each with a sentence saying why."""
    weights = market.weights.fit
    breakdown: dict[str, FitFactor] = {
        "industry": _industry(company, market),
        "employees": _in_range(weights.employees, company.employee_count, market.company_size),
        "revenue": _revenue(company, market),
        "location": _location(company, market),
        "growth_signals": _share(weights.growth_signals, company.growth_signals, market.growth_signals,
                                 "growth signals"),
        "pain_points": _share(weights.pain_points, company.pain_signals, market.pain_points, "pain points"),
        "tech_stack": _share(weights.tech_stack, company.tech_stack, market.tech_stack_using, "tools"),
    }
    for factor, field in _FACTOR_FIELDS.items():
        if field in company.provenance:
            breakdown[factor] = breakdown[factor].model_copy(update={"source": company.provenance[field]})
    # min(): rounding each factor's points could otherwise nudge a perfect fit past 1.
    score = min(1.0, round(sum(factor.points for factor in breakdown.values()) / weights.total(), 4))
    return FitResult(score=score, breakdown=breakdown, qualified=score >= round(market.quality_threshold, 4))


def source_companies(records: list[CompanyRecord], market: MarketDefinition,
                     only: set[str] | None = None) -> SourcingResult:
    """The Lead Source stage: merge, exclude, score, threshold, then the monthly target.

    Qualified companies are ranked by fit (best first, then domain) so the
    monthly target keeps the best ones and every run keeps the same ones.
    `only` (registered domains) narrows a run to the companies a rep asked for.
    """
    companies, merged = merge_records(records)
    if only is not None:
        companies = [company for company in companies if company.domain in only]
    excluded, qualified, below = [], [], []
    for company in companies:
        reason = exclusion(company, market)
        if reason:
            excluded.append(Drop(key=company.domain, reason=reason))
            continue
        scored = ScoredCompany(company=company, fit=score_fit(company, market))
        (qualified if scored.fit.qualified else below).append(scored)
    qualified.sort(key=_rank)
    below.sort(key=_rank)
    target = market.monthly_target or len(qualified)
    return SourcingResult(
        companies_read=len(records),
        duplicates_merged=merged,
        excluded=excluded,
        below_threshold=below,
        over_target=qualified[target:],
        qualified=qualified[:target],
    )


def _rank(scored: ScoredCompany) -> tuple[float, str]:
    return -scored.fit.score, scored.company.domain


# --- factors ----------------------------------------------------------------


def _factor(weight: float, points: float, matched: bool | float, detail: str) -> FitFactor:
    return FitFactor(weight=weight, points=round(points, 4), matched=matched, detail=detail)


def _industry(company: Company, market: MarketDefinition) -> FitFactor:
    weights = market.weights.fit
    if not company.industry:
        return _factor(weights.industry, 0, False, "industry unknown")
    if phrase(company.industry) == phrase(market.industry):
        return _factor(weights.industry, weights.industry, True, f"industry is {market.industry!r}")
    if phrase(company.industry) in phrases(market.related_industries):
        return _factor(weights.industry, weights.related_industry, True,
                       f"industry {company.industry!r} is related to {market.industry!r}")
    return _factor(weights.industry, 0, False, f"industry {company.industry!r} is not {market.industry!r}")


def _in_range(weight: float, employees: int | None, wanted: Range) -> FitFactor:
    if employees is None:
        return _factor(weight, 0, False, "employee count unknown")
    matched = wanted.contains(employees)
    verb = "in" if matched else "outside"
    return _factor(weight, weight if matched else 0, matched, f"{employees:,} employees {verb} {_describe(wanted)}")


def _revenue(company: Company, market: MarketDefinition) -> FitFactor:
    weight = market.weights.fit.revenue
    if market.annual_revenue is None:
        return _factor(weight, weight, True, "the market accepts any revenue")
    if company.annual_revenue is None:
        return _factor(weight, 0, False, "revenue unknown")
    matched = market.annual_revenue.contains(company.annual_revenue)
    verb = "in" if matched else "outside"
    return _factor(weight, weight if matched else 0, matched,
                   f"${_money(company.annual_revenue)} revenue {verb} {_describe(market.annual_revenue, '$')}")


def _location(company: Company, market: MarketDefinition) -> FitFactor:
    weight = market.weights.fit.location
    if not market.location:
        return _factor(weight, weight, True, "the market accepts any country")
    if not company.country:
        return _factor(weight, 0, False, "country unknown")
    matched = company.country in market.location
    verb = "in" if matched else "not in"
    return _factor(weight, weight if matched else 0, matched,
                   f"{company.country} {verb} {', '.join(market.location)}")


def _share(weight: float, have: list[str], wanted: list[str], what: str) -> FitFactor:
    """Weight times the share of the market's phrases the company shows."""
    if not wanted:
        return _factor(weight, 0, 0.0, f"the market lists no {what}")
    if not have:
        return _factor(weight, 0, 0.0, f"{what} unknown")
    found = [item for item in wanted if phrase(item) in phrases(have)]
    share = len(found) / len(wanted)
    detail = f"{len(found)} of {len(wanted)} {what}" + (f": {', '.join(found)}" if found else "")
    return _factor(weight, weight * share, round(share, 4), detail)


def _describe(wanted: Range, prefix: str = "") -> str:
    """'10-500', '$1M-$50M', '500+', 'up to 50'."""
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
