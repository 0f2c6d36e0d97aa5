"""The market definition: what a rep or admin asks SalesOS to prospect.

Loaded from YAML (CLI), JSON (API) or a CRM record; every boundary builds this
model, so every boundary refuses the same bad input with the same message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from agents.geo import country_code
from agents.models import Tier
from agents.sequences import COPY_KINDS
from agents.validation import quote, without_invisible

_MULTIPLIERS = {"": 1, "k": 1_000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}
_NUMBER = r"\$?\s*(\d+(?:[.,]\d+)*)\s*(k|mm|m|bn|b)?"
_UNIT_WORDS = re.compile(
    r"\b(employees?|people|staff|heads?|usd|dollars?|revenue|arr|per year|/yr|a year)\b", re.I
)
_RANGE_FORMS = (
    (re.compile(rf"^{_NUMBER}\s*(?:-|–|to)\s*{_NUMBER}$", re.I), "between"),
    (re.compile(rf"^{_NUMBER}\s*\+$", re.I), "at_least"),
    (re.compile(rf"^(?:>=?|over|more than|at least)\s*{_NUMBER}$", re.I), "at_least"),
    (re.compile(rf"^(?:<=?|under|up to|less than|at most)\s*{_NUMBER}$", re.I), "at_most"),
    (re.compile(rf"^{_NUMBER}$", re.I), "exactly"),
)


_LIST_RULE = "a range given as a list must be two numbers (or null for an open end), like [10, 500]"
# No real company comes near these, and a bound past them is a typo or an attack ("1e299" read as a number):
# the largest employers have about 2 million people, the world's yearly output is about $100 trillion.
MAX_EMPLOYEES = 10_000_000
MAX_MONEY = 100 * 10**12


class _NotANumber(ValueError):
    """Not one number (digits the pattern let through, like "1.5.5"); the caller quotes what the user wrote."""


def _amount(digits: str, suffix: str | None) -> float:
    if "," in digits and "." not in digits:
        digits = digits.replace(",", "")
    try:
        number = float(digits.replace(",", ""))
    except ValueError:  # float()'s own message would quote the whole input
        raise _NotANumber from None
    return number * _MULTIPLIERS[(suffix or "").lower()]


class Range(BaseModel):
    """An inclusive numeric range; an open end is None."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="forbid")

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range needs a minimum, a maximum or both, like '10-500', '500+' or 'up to 50'")
        for end in (self.min, self.max):
            if end is not None and end < 0:
                raise ValueError(f"a range cannot be negative (got {end:g})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"the minimum {self.min:g} is above the maximum {self.max:g}")
        return self

    def contains(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


def _at_most(cap: float, cap_text: str) -> Callable[[Range], Range]:
    """A check that neither end of a range is above `cap`."""

    def check(bounds: Range) -> Range:
        for end in (bounds.min, bounds.max):
            if end is not None and end > cap:
                raise ValueError(f"{end:g} is more than any company has: a range may name at most {cap_text}")
        return bounds

    return check


def parse_range(value: object) -> object:
    """Turn "10-500 employees", "$1M-$50M", "$10K+", "up to 50" into a Range.

    Bounds are checked here too, so an error quotes what the user wrote.
    """
    if isinstance(value, (Range, dict)) or value is None:
        return value
    bounds = _bounds(value)
    low, high = bounds["min"], bounds["max"]
    for end in (low, high):
        if end is not None and end < 0:
            raise ValueError(f"{quote(value)} is negative; a range must be 0 or more")
    if low is not None and high is not None and low > high:
        raise ValueError(f"{quote(value)} is impossible: its minimum is above its maximum")
    return bounds


def _bounds(value: object) -> dict:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"min": value, "max": value}
    if isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            return {"min": _list_end(value[0]), "max": _list_end(value[1])}
        except _NotANumber:
            raise ValueError(f"{quote(value)}: {_LIST_RULE}") from None
    if not isinstance(value, str):
        raise ValueError("expected a range like '10-500', '$1M-$50M' or '$10K+'")
    bounds = _text_bounds(_UNIT_WORDS.sub("", value).strip().rstrip(".").strip())
    if bounds is None:
        raise ValueError(f"{quote(value)} is not a range like '10-500', '$1M-$50M' or '$10K+'")
    return bounds


def _text_bounds(text: str) -> dict | None:
    for pattern, form in _RANGE_FORMS:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groups()
        try:
            first = _amount(groups[0], groups[1])
            second = _amount(groups[2], groups[3]) if form == "between" else first
            # "$1-50M": a suffix on the upper end only applies to both ends.
            if form == "between" and groups[1] is None and groups[3] is not None:
                first = _amount(groups[0], groups[3])
        except _NotANumber:
            return None
        if form == "at_least":
            return {"min": first, "max": None}
        if form == "at_most":
            return {"min": None, "max": first}
        return {"min": first, "max": second}
    return None


def _list_end(end: object) -> float | None:
    """One end of a range given as a list: a finite number, text that is one ("$1M"), or None (an open end)."""
    if isinstance(end, str):
        bounds = _text_bounds(_UNIT_WORDS.sub("", end).strip())
        if not bounds or bounds["min"] != bounds["max"]:
            raise _NotANumber
        end = bounds["min"]
    # An int is passed on as it is: one too big for a float (10**400) is refused by the model, naming the field.
    if end is None or (isinstance(end, int) and not isinstance(end, bool)) or (
            isinstance(end, float) and math.isfinite(end)):
        return end
    raise _NotANumber


def _as_list(value: object) -> object:
    """Accept "US, UK, Canada" as well as a YAML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _countries(value: object) -> object:
    value = _as_list(value)
    if not isinstance(value, list):
        return value
    return [country_code(item) if isinstance(item, str) else item for item in value]


EmployeeRange = Annotated[Range, BeforeValidator(parse_range),
                          AfterValidator(_at_most(MAX_EMPLOYEES, "10,000,000 employees"))]
MoneyRange = Annotated[Range, BeforeValidator(parse_range), AfterValidator(_at_most(MAX_MONEY, "$100 trillion"))]
Countries = Annotated[list[str], BeforeValidator(_countries)]
Phrases = Annotated[list[str], BeforeValidator(_as_list)]
Share = Annotated[float, Field(ge=0, le=1)]


class Exclusions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    industries: Phrases = Field(default_factory=list)
    companies: Phrases = Field(default_factory=list, description="names or domains")


class FitWeights(BaseModel):
    """Fit factor weights (DESIGN.md). The score is normalised by their sum."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    industry: Share = 0.25
    related_industry: Share = 0.15
    employees: Share = 0.20
    revenue: Share = 0.15
    location: Share = 0.10
    growth_signals: Share = 0.15
    pain_points: Share = 0.15
    tech_stack: Share = 0.0

    @model_validator(mode="after")
    def _related_not_above_industry(self) -> FitWeights:
        if self.related_industry > self.industry:
            raise ValueError("related_industry cannot weigh more than industry")
        if self.total() == 0:
            raise ValueError("at least one fit weight must be above 0")
        return self

    def total(self) -> float:
        return (
            self.industry + self.employees + self.revenue + self.location
            + self.growth_signals + self.pain_points + self.tech_stack
        )


class IntentCaps(BaseModel):
    """Per-category caps of the intent score; they sum to at most 1."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hiring: Share = 0.30
    funding: Share = 0.25
    website: Share = 0.20
    reviews: Share = 0.15
    conferences: Share = 0.10


class PriorityWeights(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fit: Share = 0.4
    intent: Share = 0.6

    @model_validator(mode="after")
    def _sum_to_one(self) -> PriorityWeights:
        if round(self.fit + self.intent, 6) != 1:
            raise ValueError(f"fit + intent must be 1 (got {self.fit:g} + {self.intent:g})")
        return self


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fit: FitWeights = Field(default_factory=FitWeights)
    intent: IntentCaps = Field(default_factory=IntentCaps)
    priority: PriorityWeights = Field(default_factory=PriorityWeights)


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Cadence = Annotated[Literal["weekly", "monthly"], BeforeValidator(_lower)]


class MarketSchedule(BaseModel):
    """When SalesOS prospects the market again by itself (`agents.market_schedule` says when exactly).

    `source` finds new companies, up to what is left of the month's
    `monthly_target`; `rescore` re-reads the intent of the market's companies
    already in the CRM and scores them again. Each is optional.
    """

    model_config = ConfigDict(extra="forbid")

    source: Cadence | None = None
    rescore: Cadence | None = None

    def kinds(self) -> dict[str, str]:
        """What is scheduled, and how often: {"source": "monthly", ...}; empty when nothing is."""
        return {kind: cadence for kind, cadence in (("source", self.source), ("rescore", self.rescore)) if cadence}


MAX_TEMPLATE_CHARS = 8_000  # a template is an email or a call script: a page, never a book


def _known_kinds(templates: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(templates) - set(COPY_KINDS))
    if unknown:
        raise ValueError(f"{', '.join(map(quote, unknown))}: not a message type; templates may be given for "
                         f"{', '.join(COPY_KINDS)}")
    for kind, text in templates.items():
        if len(text) > MAX_TEMPLATE_CHARS:
            raise ValueError(f"the {kind} template has {len(text):,} characters; at most {MAX_TEMPLATE_CHARS:,}")
    return templates


def _templates_as_written(value: object) -> object:
    if isinstance(value, str):
        raise ValueError("give the templates themselves (message type: template text); a directory name is read "
                         "only from a market file, relative to it")
    return value


Templates = Annotated[dict[str, str], BeforeValidator(_templates_as_written), AfterValidator(_known_kinds)]


DEFAULT_BUYING_TEAM = ["VP Sales", "Head of Sales", "VP Revenue Operations", "CEO", "CRO"]


class MarketDefinition(BaseModel):
    """A target market. Unknown fields are refused: a typo must not be ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    name: str = Field(default="market", min_length=1, max_length=100)
    industry: str = Field(min_length=1)
    related_industries: Phrases = Field(default_factory=list)
    company_size: EmployeeRange
    annual_revenue: MoneyRange | None = None
    location: Countries = Field(default_factory=list)
    budget_size: MoneyRange | None = None
    growth_signals: Phrases = Field(default_factory=list)
    pain_points: Phrases = Field(default_factory=list)
    tech_stack_using: Phrases = Field(default_factory=list)
    require_tech_stack: bool = False
    exclude: Exclusions = Field(default_factory=Exclusions)
    monthly_target: int | None = Field(default=None, gt=0)
    quality_threshold: Share = 0.70
    buying_team_roles: Phrases = Field(default_factory=lambda: list(DEFAULT_BUYING_TEAM))
    contacts_per_company: int = Field(default=3, ge=1, le=25)
    min_role_relevance: Share = 0.0
    weights: Weights = Field(default_factory=Weights)
    schedule: MarketSchedule | None = None
    templates: Templates = Field(default_factory=dict, description="message type: Jinja template text, overriding "
                                 "the bundled one (a market file may name a directory instead)")
    review_before_send: list[Tier] = Field(default_factory=list, description="tiers whose emails a rep approves "
                                           "in the CRM before they are sent")

    @model_validator(mode="before")
    @classmethod
    def _strip_invisible_characters(cls, data: object) -> object:
        """At ingestion, whichever door a market comes through (API, file, CRM record): in a CRM field or an email,
        control and format characters only hide or reorder what a value says."""
        return without_invisible(data)

    @field_validator("buying_team_roles")
    @classmethod
    def _roles_not_empty(cls, roles: list[str]) -> list[str]:
        if not roles:
            raise ValueError("list at least one buying-team role")
        return roles

    @model_validator(mode="after")
    def _tech_stack_requirement(self) -> MarketDefinition:
        if self.require_tech_stack and not self.tech_stack_using:
            raise ValueError("require_tech_stack is true but tech_stack_using is empty")
        return self
