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

from agents.market import IntentCaps
from agents.models import (
    Conference, Evidence, Funding, IntentPoint, IntentResult, JobPosting, News, Review, Signal, WebsiteChange,
)
from agents.titles import normalise_title

EVIDENCE_PER_RULE = 5


def _words(text: str) -> set[str]:
    return set(normalise_title(text).split())


def _is_sales_leader(s: Signal) -> bool:
    words = _words(s.title)
    return bool(words & {"cro", "cso"}) or ("sales" in words and bool(words & {"vp", "svp", "evp", "head"}))


def _is_sales_development(s: Signal) -> bool:
    words = _words(s.title)
    return bool(words & {"sdr", "bdr"}) or {"sales", "development"} <= words or {
        "business", "development", "representative"} <= words


def _is_sales_role(s: Signal) -> bool:
    words = _words(s.title)
    department = (s.department or "").casefold()
    return department == "sales" or bool(words & {"sales", "sdr", "bdr", "cro"}) or {"account", "executive"} <= words


_LATE_ROUND = re.compile(r"series\s+[b-z]\b|growth|late stage|pre-?ipo|\bipo\b|private equity", re.I)
_EARLY_ROUND = re.compile(r"pre-?seed|\bseed\b|series\s+a\b|angel", re.I)


@dataclass(frozen=True)
class Rule:
    category: str
    label: str
    points: float
    kind: type
    matches: Callable[[Signal], bool]
    at_least: int = 1  # signals needed in the window


RULES: tuple[Rule, ...] = (
    Rule("hiring", "Open VP/Head of Sales or CRO role", 0.30, JobPosting, _is_sales_leader),
    Rule("hiring", "Open SDR/BDR/sales development role", 0.20, JobPosting, _is_sales_development),
    Rule("hiring", "3 or more sales roles posted", 0.15, JobPosting, _is_sales_role, at_least=3),
    Rule("funding", "Raised Series B or later", 0.25, Funding, lambda s: bool(_LATE_ROUND.search(s.round))),
    Rule("funding", "Raised Seed or Series A", 0.15, Funding,
         lambda s: bool(_EARLY_ROUND.search(s.round)) and not _LATE_ROUND.search(s.round)),
    Rule("funding", "Expansion news", 0.15, News, lambda s: s.category == "expansion"),
    Rule("funding", "Partnership news", 0.08, News, lambda s: s.category == "partnership"),
    Rule("website", "Pricing page changed", 0.10, WebsiteChange, lambda s: s.page == "pricing"),
    Rule("website", "Demo page changed", 0.10, WebsiteChange, lambda s: s.page == "demo"),
    Rule("website", "Features page changed", 0.05, WebsiteChange, lambda s: s.page == "features"),
    Rule("reviews", "Active in software reviews", 0.15, Review, lambda s: True),
    Rule("reviews", "Negative review of a competitor", 0.10, Review,
         lambda s: s.about_competitor and (s.sentiment == "negative" or (s.rating is not None and s.rating <= 2))),
    Rule("conferences", "Exhibited at a conference", 0.10, Conference, lambda s: s.booth),
    Rule("conferences", "Attended a conference", 0.05, Conference, lambda s: not s.booth),
)


def signals_in_window(signals: list[Signal], as_of: dt.date, window_days: int = 180) -> list[Signal]:
    """Signals dated from `as_of - window_days` to `as_of`, both included."""
    start = as_of - dt.timedelta(days=window_days)
    return [signal for signal in signals if start <= signal.date <= as_of]


def score_intent(
    signals: list[Signal], as_of: dt.date, caps: IntentCaps, window_days: int = 180
) -> IntentResult:
    """Intent of one company: rule points, capped per category, with evidence."""
    recent = sorted(signals_in_window(signals, as_of, window_days), key=lambda s: s.date, reverse=True)
    left = caps.model_dump()
    points: list[IntentPoint] = []
    for rule in sorted(RULES, key=lambda r: -r.points):  # the biggest rule claims its category first
        hits = [signal for signal in recent if isinstance(signal, rule.kind) and rule.matches(signal)]
        if len(hits) < rule.at_least:
            continue
        counted = round(min(rule.points, left[rule.category]), 4)
        if counted <= 0:
            continue
        left[rule.category] = round(left[rule.category] - counted, 4)
        points.append(IntentPoint(category=rule.category, rule=rule.label, points=counted,
                                  evidence=[_evidence(s) for s in hits[:EVIDENCE_PER_RULE]]))
    score = round(min(1.0, sum(point.points for point in points)), 4)
    return IntentResult(score=score, points=points)


def _evidence(signal: Signal) -> Evidence:
    return Evidence(source=signal.source, date=signal.date, url=signal.url, title=signal.title or None)
