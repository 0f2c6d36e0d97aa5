"""Scoring & Sequencing: priority, tiers, channel, time zone, hooks and objections."""

import datetime as dt

import pytest

from agents.market import MarketDefinition, PriorityWeights
from agents.models import Company, Contact, Evidence, FitResult, IntentPoint, IntentResult
from agents.scoring import (
    contact_timezone, objection_angles, personalization_hooks, plan_lead, priority, recommended_channel, tier,
)

MARKET = MarketDefinition(industry="B2B SaaS", company_size="10-500", tech_stack_using=["Salesforce", "HubSpot"])


def contact(**fields):
    values = dict(name="Jane Roe", title="CEO", email="jane@acme.io", company_domain="acme.io", country="US",
                  email_verified=True, role_relevance=1.0, seniority=10, buying_authority=0.95,
                  contact_preference="email")
    return Contact(**(values | fields))


def point(rule, points, date, category="hiring", title=None):
    return IntentPoint(category=category, rule=rule, points=points,
                       evidence=[Evidence(source="jobs", date=date, url="https://jobs.example.com/1", title=title)])


def intent(*points):
    return IntentResult(score=round(sum(p.points for p in points), 4), points=list(points))


def test_priority_is_forty_percent_fit_and_sixty_percent_intent():
    assert priority(0.9, 0.5, PriorityWeights()) == 0.66


@pytest.mark.parametrize(("score", "expected"), [
    (0.80, "TIER_1"), (0.7999, "TIER_2"), (0.60, "TIER_2"), (0.5999, "TIER_3"), (0.40, "TIER_3"),
    (0.3999, "TIER_4"), (0.0, "TIER_4"), (1.0, "TIER_1"),
])
def test_tier_boundaries_belong_to_the_higher_tier(score, expected):
    assert tier(score) == expected


def test_a_boundary_reached_by_arithmetic_is_not_lost_to_floating_point():
    assert tier(priority(0.7, 0.8666666666666667, PriorityWeights())) == "TIER_1"


def test_tier_1_uses_the_contacts_preferred_channel():
    assert recommended_channel(contact(contact_preference="linkedin"), "TIER_1") == "linkedin"
    assert recommended_channel(contact(contact_preference="phone"), "TIER_1") == "phone"


def test_other_tiers_use_email_whatever_the_preference():
    for other in ("TIER_2", "TIER_3", "TIER_4"):
        assert recommended_channel(contact(contact_preference="linkedin"), other) == "email"


def test_the_time_zone_falls_back_from_contact_to_country_to_company_to_utc():
    assert contact_timezone(contact(timezone="America/Chicago"), "GB") == "America/Chicago"
    assert contact_timezone(contact(country="GB"), "US") == "Europe/London"
    assert contact_timezone(contact(country=None), "CA") == "America/Toronto"
    assert contact_timezone(contact(country=None), None) == "UTC"


def test_hooks_are_the_three_strongest_signals_as_sentences_with_their_evidence():
    result = intent(
        point("Open VP/Head of Sales or CRO role", 0.30, dt.date(2026, 10, 1), title="VP of Sales"),
        point("Raised Series B or later", 0.25, dt.date(2026, 9, 1), "funding", "Acme raises Series B"),
        point("Pricing page changed", 0.10, dt.date(2026, 10, 20), "website"),
        point("Demo page changed", 0.10, dt.date(2026, 10, 25), "website"),
    )
    hooks = personalization_hooks(result)
    assert [hook.text for hook in hooks] == [
        "you are hiring a VP of Sales (posted 1 October)",
        "you raised a Series B in September",
        "your demo page changed in October",
    ]
    assert [hook.rule for hook in hooks] == [
        "Open VP/Head of Sales or CRO role", "Raised Series B or later", "Demo page changed"]
    assert all(hook.evidence for hook in hooks)


def test_no_intent_means_no_hooks():
    assert personalization_hooks(intent()) == []


def test_objections_answer_price_the_current_tool_and_a_small_team():
    company = Company(domain="acme.io", name="Acme", employee_count=30, tech_stack=["salesforce"])
    angles = objection_angles(company, intent(), MARKET)
    assert [a.objection for a in angles] == ["Too expensive", "We already use Salesforce", "No time to implement"]
    assert angles[1].angle == "Works inside Salesforce; nothing to migrate"


def test_a_negative_competitor_review_adds_its_angle():
    review = point("Negative review of a competitor", 0.10, dt.date(2026, 10, 1), "reviews")
    angles = objection_angles(Company(domain="acme.io", name="Acme", employee_count=200), intent(review), MARKET)
    assert "Happy with our current tool" in [a.objection for a in angles]


def test_a_plan_brings_it_all_together():
    company = Company(domain="acme.io", name="Acme", employee_count=150, country="US")
    fit = FitResult(score=0.9, breakdown={}, qualified=True)
    plan = plan_lead(contact(), company, fit, intent(point("Open VP/Head of Sales or CRO role", 0.30,
                                                          dt.date(2026, 10, 1))),
                     MARKET, dt.date(2026, 11, 2), send_hour=9)
    assert (plan.priority_score, plan.priority_tier, plan.recommended_channel) == (0.54, "TIER_3", "email")
    assert plan.timezone == "America/New_York"
    assert len(plan.sequencing) == 3
    assert plan.sequencing[0].scheduled_at.isoformat() == "2026-11-02T09:00:00-05:00"
