"""Lead Scoring & Sequencing: priority, tier, channel, sequence, hooks, objections."""

from __future__ import annotations

import datetime as dt

from agents.geo import main_timezone
from agents.hooks import hook_from_point
from agents.market import MarketDefinition, PriorityWeights
from agents.models import (
    Channel, Company, Contact, FitResult, Hook, IntentResult, LeadPlan, ObjectionAngle, Tier,
)
from agents.sequences import TEMPLATES, schedule

TIER_FLOORS: tuple[tuple[float, Tier], ...] = ((0.80, "TIER_1"), (0.60, "TIER_2"), (0.40, "TIER_3"))
MAX_HOOKS = 3
MAX_OBJECTIONS = 3


def priority(fit: float, intent: float, weights: PriorityWeights) -> float:
    """Intent weighs more: a high-intent, moderate-fit lead answers more often than the reverse."""
    return round(weights.fit * fit + weights.intent * intent, 4)


def tier(score: float) -> Tier:
    for floor, name in TIER_FLOORS:
        if round(score, 4) >= floor:
            return name
    return "TIER_4"


def recommended_channel(contact: Contact, lead_tier: Tier) -> Channel:
    """TIER_1 gets the contact's preferred channel if the tier uses it; everyone else gets email."""
    if lead_tier == "TIER_1" and contact.contact_preference in TEMPLATES["TIER_1"].channels:
        return contact.contact_preference
    return "email"


def contact_timezone(contact: Contact, company_country: str | None) -> str:
    """The contact's own zone, else its country's main zone, else its company's, else UTC."""
    return contact.timezone or main_timezone(contact.country) or main_timezone(company_country) or "UTC"


def personalization_hooks(intent: IntentResult) -> list[Hook]:
    """The strongest, freshest intent points, phrased the way a rep would open with them."""
    ranked = sorted(intent.points, key=lambda p: (-p.points, -_newest(p).toordinal()))
    return [hook_from_point(point) for point in ranked[:MAX_HOOKS]]


def _newest(point) -> dt.date:
    dates = [evidence.date for evidence in point.evidence if evidence.date]
    return max(dates) if dates else dt.date.min


def objection_angles(company: Company, intent: IntentResult, market: MarketDefinition) -> list[ObjectionAngle]:
    """Likely objections for this account, and the angle that answers each."""
    angles = [ObjectionAngle(objection="Too expensive", angle="ROI on sales productivity: hours back per rep per week")]
    in_use = [tool for tool in market.tech_stack_using if tool.casefold() in {t.casefold() for t in company.tech_stack}]
    if in_use:
        angles.append(ObjectionAngle(objection=f"We already use {in_use[0]}",
                                     angle=f"Works inside {in_use[0]}; nothing to migrate"))
    if any(point.rule == "Negative review of a competitor" for point in intent.points):
        angles.append(ObjectionAngle(objection="Happy with our current tool",
                                     angle="Their recent review of a competitor names the pain we remove"))
    if company.employee_count is not None and company.employee_count < 50:
        angles.append(ObjectionAngle(objection="No time to implement", angle="Live in a day, inside your CRM"))
    return angles[:MAX_OBJECTIONS]


def plan_lead(
    contact: Contact, company: Company, fit: FitResult, intent: IntentResult, market: MarketDefinition,
    start: dt.date, send_hour: int = 9,
) -> LeadPlan:
    score = priority(fit.score, intent.score, market.weights.priority)
    lead_tier = tier(score)
    channel = recommended_channel(contact, lead_tier)
    zone = contact_timezone(contact, company.country)
    steps = schedule(TEMPLATES[lead_tier], channel, start, zone, contact.country or company.country, send_hour)
    return LeadPlan(
        email=contact.email, company_domain=company.domain, priority_score=score, priority_tier=lead_tier,
        recommended_channel=channel, timezone=zone, sequencing=steps,
        personalization_hooks=personalization_hooks(intent),
        objection_angles=objection_angles(company, intent, market),
    )
