"""Lead Source: merging sources, exclusions, fit scoring and the monthly target."""

import datetime as dt

import pytest

from agents.lead_source import merge_records, score_fit, source_companies
from agents.market import MarketDefinition
from agents.models import Company, CompanyRecord, FieldSource

FACTORS = {"industry", "employees", "revenue", "location", "growth_signals", "pain_points", "tech_stack"}


def record(domain="acme.com", **fields):
    return CompanyRecord(**({"name": "Acme", "domain": domain} | fields))


def company(**fields):
    """A company that matches every factor of `market()`."""
    perfect = {
        "domain": "acme.com",
        "name": "Acme",
        "industry": "B2B SaaS",
        "employee_count": 150,
        "annual_revenue": 5_000_000,
        "country": "US",
        "growth_signals": ["hiring"],
        "pain_signals": ["manual prospecting"],
        "tech_stack": ["HubSpot"],
    }
    return Company(**(perfect | fields))


def market(**overrides):
    fields = {
        "industry": "B2B SaaS",
        "related_industries": ["Fintech"],
        "company_size": "10-500 employees",
        "annual_revenue": "$1M-$50M",
        "location": ["US"],
        "growth_signals": ["hiring"],
        "pain_points": ["manual prospecting"],
        "tech_stack_using": ["HubSpot"],
    }
    return MarketDefinition(**(fields | overrides))


def fit_record(domain, **fields):
    """A record that fits `market()` perfectly unless told otherwise."""
    perfect = company().model_dump(include={
        "industry", "employee_count", "annual_revenue", "country", "growth_signals", "pain_signals", "tech_stack",
    })
    return record(domain, **({"name": domain.split(".")[0].title()} | perfect | fields))


def factor(name, **fields):
    return score_fit(company(**fields), market()).breakdown[name]


# --- merge ------------------------------------------------------------------


def test_every_spelling_of_one_domain_merges_into_one_company():
    records = [
        record("https://www.Acme.com/about", name="Acme"),
        record("acme.com", name="ACME Inc"),
        record("app.acme.com", name="Acme, Inc."),
        record("ACME.COM", name="acme"),
    ]
    companies, merged = merge_records(records)
    assert [c.domain for c in companies] == ["acme.com"]
    assert merged == 3


def test_merged_companies_are_ordered_by_domain():
    companies, merged = merge_records([record("zeta.io"), record("acme.com"), record("beta.co.uk")])
    assert [c.domain for c in companies] == ["acme.com", "beta.co.uk", "zeta.io"]
    assert merged == 0


def test_the_most_confident_source_wins_each_field():
    companies, _ = merge_records([
        record(name="Acme Old", industry="Software", employee_count=90, source="crawler", confidence=0.4),
        record(name="Acme Corp", industry="B2B SaaS", employee_count=120, source="clearbit", confidence=0.9),
    ])
    assert (companies[0].name, companies[0].industry, companies[0].employee_count) == ("Acme Corp", "B2B SaaS", 120)


def test_a_field_the_best_source_lacks_is_filled_from_a_less_confident_one():
    companies, _ = merge_records([
        record(country="DE", annual_revenue=2_000_000, confidence=0.3),
        record(industry="B2B SaaS", confidence=0.9),
    ])
    assert (companies[0].industry, companies[0].country, companies[0].annual_revenue) == ("B2B SaaS", "DE", 2_000_000)


def test_equally_confident_sources_keep_the_first_value_seen():
    companies, _ = merge_records([record(industry="Fintech"), record(industry="Banking")])
    assert companies[0].industry == "Fintech"


def test_list_fields_are_unioned_in_order_without_case_duplicates():
    companies, _ = merge_records([
        record(tech_stack=["HubSpot", "Slack"], growth_signals=["hiring"], confidence=0.9),
        record(tech_stack=["hubspot", "Salesforce"], growth_signals=["Hiring", "funding"], confidence=0.5),
    ])
    assert companies[0].tech_stack == ["HubSpot", "Slack", "Salesforce"]
    assert companies[0].growth_signals == ["hiring", "funding"]


def test_a_merged_company_lists_its_sources_once_and_keeps_the_best_confidence():
    companies, _ = merge_records([
        record(source="zoominfo", confidence=0.6),
        record(source="apollo", confidence=0.8),
        record(source="zoominfo", confidence=0.7),
    ])
    assert companies[0].sources == ["apollo", "zoominfo"]
    assert companies[0].confidence == 0.8


def test_each_merged_field_keeps_the_provider_fetch_time_and_confidence_it_came_from():
    fetched = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    companies, _ = merge_records([
        record(source="apollo", employee_count=120, confidence=0.9, fetched_at=fetched),
        record(source="pdl", employee_count=90, annual_revenue=4e6, confidence=0.7),
    ])
    provenance = companies[0].provenance
    assert provenance["employee_count"] == FieldSource(provider="apollo", fetched_at=fetched, confidence=0.9)
    assert provenance["annual_revenue"] == FieldSource(provider="pdl", fetched_at=None, confidence=0.7)
    assert "industry" not in provenance


def test_each_fit_factor_shows_where_the_value_it_judged_came_from():
    companies, _ = merge_records([record(source="pdl", industry="B2B SaaS", employee_count=150, confidence=0.8)])
    breakdown = score_fit(companies[0], market()).breakdown
    assert breakdown["employees"].source.provider == "pdl"
    assert breakdown["industry"].source.confidence == 0.8
    assert breakdown["location"].source is None  # country unknown: nothing to attribute


# --- exclusions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("industry", "excluded"),
    [("Finance", "finance"), ("Health & Fitness", "health and fitness"), ("Financial-Services", "Financial services")],
)
def test_a_company_in_an_excluded_industry_is_dropped_with_the_reason(industry, excluded):
    result = source_companies([fit_record("acme.com", industry=industry)],
                              market(exclude={"industries": [excluded]}))
    assert [(drop.key, drop.reason) for drop in result.excluded] == [("acme.com", f"excluded industry {industry!r}")]
    assert result.qualified == []


@pytest.mark.parametrize("entry", ["Acme", "ACME Inc.", "Acme LLC", "acme, ltd", "Acme GmbH", "Acme Corporation"])
def test_a_company_named_in_the_exclusions_is_dropped_whatever_its_legal_suffix(entry):
    result = source_companies([fit_record("acme.com", name="Acme Inc")], market(exclude={"companies": [entry]}))
    assert [drop.reason for drop in result.excluded] == [f"excluded company {entry!r}"]


@pytest.mark.parametrize("entry", ["acme.com", "https://www.Acme.com/pricing", "app.acme.com"])
def test_a_company_excluded_by_domain_or_url_is_dropped(entry):
    result = source_companies([fit_record("acme.com", name="Totally Different")],
                              market(exclude={"companies": [entry]}))
    assert [drop.key for drop in result.excluded] == ["acme.com"]


def test_a_company_whose_name_only_contains_an_excluded_name_is_kept():
    result = source_companies([fit_record("acmelabs.com", name="Acme Labs")], market(exclude={"companies": ["Acme"]}))
    assert result.excluded == []
    assert [s.company.domain for s in result.qualified] == ["acmelabs.com"]


def test_a_required_tech_stack_drops_a_company_using_none_of_the_tools():
    result = source_companies([fit_record("acme.com", tech_stack=["Pipedrive"])],
                              market(tech_stack_using=["HubSpot", "Salesforce"], require_tech_stack=True))
    assert [drop.reason for drop in result.excluded] == ["uses none of the required tools (HubSpot, Salesforce)"]


def test_a_required_tech_stack_keeps_a_company_using_one_of_the_tools():
    result = source_companies([fit_record("acme.com", tech_stack=["salesforce"])],
                              market(tech_stack_using=["HubSpot", "Salesforce"], require_tech_stack=True))
    assert result.excluded == []


# --- fit factors ------------------------------------------------------------


def test_a_company_matching_every_factor_scores_1_and_qualifies():
    fit = score_fit(company(), market())
    assert (fit.score, fit.qualified) == (1.0, True)


def test_the_breakdown_names_every_factor_even_with_zero_weight():
    assert set(score_fit(company(), market()).breakdown) == FACTORS


def test_the_industry_matches_whatever_the_case_and_punctuation():
    industry = factor("industry", industry="b2b-saas")
    assert (industry.points, industry.matched) == (0.25, True)


def test_a_related_industry_earns_0_15():
    industry = factor("industry", industry="FinTech")
    assert (industry.points, industry.matched, industry.detail) == (
        0.15, True, "industry 'FinTech' is related to 'B2B SaaS'")


def test_another_industry_earns_nothing_and_says_why():
    industry = factor("industry", industry="Retail")
    assert (industry.points, industry.matched, industry.detail) == (0, False, "industry 'Retail' is not 'B2B SaaS'")


def test_an_employee_count_inside_the_range_matches():
    employees = factor("employees", employee_count=150)
    assert (employees.points, employees.matched, employees.detail) == (0.20, True, "150 employees in 10-500")


@pytest.mark.parametrize("count", [9, 501])
def test_an_employee_count_outside_the_range_does_not_match(count):
    employees = factor("employees", employee_count=count)
    assert (employees.points, employees.matched, employees.detail) == (0, False, f"{count} employees outside 10-500")


def test_revenue_inside_the_range_matches():
    revenue = factor("revenue", annual_revenue=5_000_000)
    assert (revenue.points, revenue.matched, revenue.detail) == (0.15, True, "$5M revenue in $1M-$50M")


def test_revenue_outside_the_range_does_not_match():
    revenue = factor("revenue", annual_revenue=80_000_000)
    assert (revenue.points, revenue.matched) == (0, False)


def test_revenue_matches_when_the_market_sets_no_revenue_range():
    revenue = score_fit(company(annual_revenue=None), market(annual_revenue=None)).breakdown["revenue"]
    assert (revenue.points, revenue.matched) == (0.15, True)


def test_a_country_in_the_market_matches():
    location = factor("location", country="US")
    assert (location.points, location.matched) == (0.10, True)


def test_a_country_outside_the_market_does_not_match():
    location = factor("location", country="FR")
    assert (location.points, location.matched, location.detail) == (0, False, "FR not in US")


def test_any_country_matches_when_the_market_names_none():
    location = score_fit(company(country="FR"), market(location=[])).breakdown["location"]
    assert (location.points, location.matched) == (0.10, True)


def test_growth_signals_earn_their_weight_times_the_share_matched():
    fit = score_fit(company(growth_signals=["Hiring", "new office"]),
                    market(growth_signals=["hiring", "funding", "expansion"]))
    growth = fit.breakdown["growth_signals"]
    assert (growth.points, growth.matched, growth.detail) == (0.05, 0.3333, "1 of 3 growth signals: hiring")


def test_pain_points_earn_their_weight_times_the_share_matched():
    fit = score_fit(company(pain_signals=["Manual prospecting", "low reply rates"]),
                    market(pain_points=["manual prospecting", "low reply rates"]))
    assert (fit.breakdown["pain_points"].points, fit.breakdown["pain_points"].matched) == (0.15, 1.0)


def test_pain_points_none_matched_earn_nothing():
    pain = factor("pain_points", pain_signals=["churn"])
    assert (pain.points, pain.matched) == (0, 0.0)


def test_an_empty_market_list_earns_nothing_and_says_so():
    growth = score_fit(company(), market(growth_signals=[])).breakdown["growth_signals"]
    assert (growth.points, growth.detail) == (0, "the market lists no growth signals")


@pytest.mark.parametrize(
    ("field", "name", "detail"),
    [
        ("industry", "industry", "industry unknown"),
        ("employee_count", "employees", "employee count unknown"),
        ("annual_revenue", "revenue", "revenue unknown"),
        ("country", "location", "country unknown"),
    ],
)
def test_an_unknown_value_never_matches_and_says_unknown(field, name, detail):
    unknown = factor(name, **{field: None})
    assert (unknown.points, unknown.matched, unknown.detail) == (0, False, detail)


@pytest.mark.parametrize(
    ("field", "name", "detail"),
    [
        ("growth_signals", "growth_signals", "growth signals unknown"),
        ("pain_signals", "pain_points", "pain points unknown"),
        ("tech_stack", "tech_stack", "tools unknown"),
    ],
)
def test_an_unknown_list_never_matches_and_says_unknown(field, name, detail):
    unknown = factor(name, **{field: []})
    assert (unknown.points, unknown.matched, unknown.detail) == (0, 0.0, detail)


def test_the_tech_stack_weighs_nothing_by_default_but_is_reported():
    tech = factor("tech_stack", tech_stack=["hubspot"])
    assert (tech.weight, tech.points, tech.matched, tech.detail) == (0, 0, 1.0, "1 of 1 tools: HubSpot")


def test_a_tech_stack_weight_counts_and_the_score_is_normalised_by_the_total_weight():
    weighted = market(weights={"fit": {"tech_stack": 0.2}})
    assert score_fit(company(), weighted).score == 1.0
    without_tools = score_fit(company(tech_stack=["Pipedrive"]), weighted)
    assert without_tools.score == round(1.0 / 1.2, 4)


def test_a_score_equal_to_the_threshold_qualifies():
    fit = score_fit(company(growth_signals=[], pain_signals=[]), market(quality_threshold=0.70))
    assert fit.score == 0.70  # industry 0.25 + employees 0.20 + revenue 0.15 + location 0.10
    assert fit.qualified


def test_a_score_below_the_threshold_does_not_qualify():
    fit = score_fit(company(growth_signals=[], pain_signals=[]), market(quality_threshold=0.71))
    assert not fit.qualified


def test_the_score_is_the_sum_of_the_points():
    fit = score_fit(company(industry="Fintech", growth_signals=["hiring"]), market(growth_signals=["hiring", "ipo"]))
    assert fit.score == round(sum(f.points for f in fit.breakdown.values()), 4) == 0.825


# --- the stage --------------------------------------------------------------


def test_sourcing_counts_what_it_read_merged_and_split_at_the_threshold():
    result = source_companies(
        [fit_record("acme.com"), fit_record("www.acme.com"), fit_record("retail.com", industry="Retail",
                                                                         growth_signals=[], pain_signals=[])],
        market(),
    )
    assert (result.companies_read, result.duplicates_merged) == (3, 1)
    assert [s.company.domain for s in result.qualified] == ["acme.com"]
    assert [s.company.domain for s in result.below_threshold] == ["retail.com"]
    assert result.over_target == []


def test_qualified_companies_are_ranked_by_fit_then_domain():
    result = source_companies(
        [fit_record("zeta.com"), fit_record("beta.com", industry="Fintech"), fit_record("alpha.com")], market()
    )
    assert [s.company.domain for s in result.qualified] == ["alpha.com", "zeta.com", "beta.com"]


def test_a_monthly_target_keeps_the_best_and_reports_the_rest_over_target():
    result = source_companies(
        [fit_record("zeta.com"), fit_record("beta.com", industry="Fintech"), fit_record("alpha.com")],
        market(monthly_target=2),
    )
    assert [s.company.domain for s in result.qualified] == ["alpha.com", "zeta.com"]
    assert [s.company.domain for s in result.over_target] == ["beta.com"]


def test_a_run_narrowed_to_some_domains_sources_only_those_companies():
    records = [CompanyRecord(name="Acme", domain="https://www.acme.io/", source="apollo", confidence=0.9),
               CompanyRecord(name="Globex", domain="globex.com", source="apollo", confidence=0.9)]
    result = source_companies(records, market(), only={"acme.io"})
    sourced = [d.key for d in result.excluded] + [s.company.domain for s in result.below_threshold + result.qualified]
    assert sourced == ["acme.io"]
