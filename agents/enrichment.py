"""Lead Enrichment: intent from dated signals, every point with its evidence.

The rule table is DESIGN.md's (from the seed's "Intent Signals Weighted"):
each rule counts once per company, each category is capped, and only signals
dated within the window before the as-of date count.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from agents.market import IntentCaps
from agents.models import (
    Conference, Evidence, Funding, IntentPoint, IntentResult, JobPosting, News, Review, Signal, WebsiteChange,
)
from agents.titles import normalise_title

EVIDENCE_PER_RULE = 5
Category = Literal["hiring", "funding", "website", "reviews", "conferences"]


# --- what a signal says -----------------------------------------------------


def _words(title: str) -> set[str]:
    return set(normalise_title(title).split())


def _is_sales_leader(posting: JobPosting) -> bool:
    """VP/SVP/Head of Sales or CRO. normalise_title folds 'Vice President' to 'vp', 'Chief Revenue Officer' to 'cro'."""
    words = _words(posting.title)
    return "cro" in words or ("sales" in words and bool(words & {"vp", "svp", "evp", "head"}))


def _is_sales_development(posting: JobPosting) -> bool:
    words = _words(posting.title)
    return (
        bool(words & {"sdr", "bdr"})
        or {"sales", "development"} <= words
        or {"business", "development", "representative"} <= words
    )


def _is_sales_role(posting: JobPosting) -> bool:
    """Whole words, so a 'Salesforce Administrator' is not a sales hire."""
    words = _words(posting.title)
    return (
        (posting.department or "").strip().casefold() == "sales"
        or bool(words & {"sales", "salesperson", "sdr", "bdr"})
        or {"account", "executive"} <= words
        or _is_sales_leader(posting)
        or _is_sales_development(posting)
    )


_LATE_ROUND = re.compile(r"series\s+[b-z]\b|growth|late[\s-]*stage|pre-?ipo|\bipo\b", re.I)
_EARLY_ROUND = re.compile(r"pre-?seed|\bseed\b|series\s+a\b", re.I)


def _is_late_round(funding: Funding) -> bool:
    return bool(_LATE_ROUND.search(funding.round))


def _is_early_round(funding: Funding) -> bool:
    return bool(_EARLY_ROUND.search(funding.round)) and not _is_late_round(funding)


def _is_negative_competitor_review(review: Review) -> bool:
    negative = review.sentiment == "negative" or (review.rating is not None and review.rating <= 2)
    return review.about_competitor and negative


# --- the rule table ---------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    category: Category
    label: str
    points: float
    kind: type
    matches: Callable[[Any], bool]  # receives a signal of `kind`
    at_least: int = 1  # matching signals needed in the window


RULES: tuple[Rule, ...] = (
    Rule("hiring", "Open VP/Head of Sales or CRO role", 0.30, JobPosting, _is_sales_leader),
    Rule("hiring", "Open SDR/BDR/sales development role", 0.20, JobPosting, _is_sales_development),
    Rule("hiring", "3 or more sales roles posted", 0.15, JobPosting, _is_sales_role, at_least=3),
    Rule("funding", "Raised Series B or later", 0.25, Funding, _is_late_round),
    Rule("funding", "Raised Seed or Series A", 0.15, Funding, _is_early_round),
    Rule("funding", "Expansion news", 0.15, News, lambda news: news.category == "expansion"),
    Rule("funding", "Partnership news", 0.08, News, lambda news: news.category == "partnership"),
    Rule("website", "Pricing page changed", 0.10, WebsiteChange, lambda change: change.page == "pricing"),
    Rule("website", "Demo page changed", 0.10, WebsiteChange, lambda change: change.page == "demo"),
    Rule("website", "Features page changed", 0.05, WebsiteChange, lambda change: change.page == "features"),
    Rule("reviews", "Active in software reviews", 0.15, Review, lambda review: True),
    Rule("reviews", "Negative review of a competitor", 0.10, Review, _is_negative_competitor_review),
    Rule("conferences", "Exhibited at a conference", 0.10, Conference, lambda conference: conference.booth),
    Rule("conferences", "Attended a conference", 0.05, Conference, lambda conference: not conference.booth),
)

# The biggest rule claims its category's cap first (stable: ties keep table order).
_BY_POINTS = tuple(sorted(RULES, key=lambda rule: -rule.points))


# --- scoring ----------------------------------------------------------------


def signals_in_window(signals: list[Signal], as_of: dt.date, window_days: int = 180) -> list[Signal]:
    """Signals dated from `as_of - window_days` to `as_of`, both included; later ones are not known yet."""
    start = as_of - dt.timedelta(days=window_days)
    return [signal for signal in signals if start <= signal.date <= as_of]


def score_intent(signals: list[Signal], as_of: dt.date, caps: IntentCaps, window_days: int = 180) -> IntentResult:
    """Intent of one company: each rule that fires once, capped per category and at 1 in total.

    A rule that fires after its category is full is still listed, with the
    points that actually counted (possibly 0), so a rep sees every reason
    and the points always add up to the score. Points are listed biggest
    rule first.
    """
    recent = sorted(signals_in_window(signals, as_of, window_days), key=lambda s: s.date, reverse=True)
    left: dict[str, float] = caps.model_dump()
    total_left = 1.0
    points: list[IntentPoint] = []
    for rule in _BY_POINTS:
        hits = [signal for signal in recent if isinstance(signal, rule.kind) and rule.matches(signal)]
        if len(hits) < rule.at_least:
            continue
        counted = round(max(0.0, min(rule.points, left[rule.category], total_left)), 4)
        left[rule.category] -= counted
        total_left -= counted
        points.append(IntentPoint(category=rule.category, rule=rule.label, points=counted,
                                  evidence=[_evidence(signal) for signal in hits[:EVIDENCE_PER_RULE]]))
    return IntentResult(score=round(sum(point.points for point in points), 4), points=points)


def _evidence(signal: Signal) -> Evidence:
    return Evidence(source=signal.source, date=signal.date, url=signal.url, title=_headline(signal))


def _headline(signal: Signal) -> str | None:
    """The signal's own title, else what names it: the round raised or the conference."""
    if signal.title:
        return signal.title
    if isinstance(signal, Funding):
        return signal.round
    if isinstance(signal, Conference):
        return signal.name
    return None
