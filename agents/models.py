"""The domain vocabulary every layer shares.

Records (`CompanyRecord`, `PersonRecord`, signals) are what a data provider
says, one source at a time. `Company` is the merged view. The `*Result`
and plan models are what the agents decide. Everything is JSON-serialisable
so it can travel inside an RQ job and land in a CRM text field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from agents.domains import registered_domain
from agents.geo import country_code
from agents.urls import http_url_or_none, with_https
from agents.validation import one_line, without_invisible

Confidence = Annotated[float, Field(ge=0, le=1)]
# Every link that can reach a report or a CRM field: a row with any other URL is quarantined at the edge
# (a scheme-less one on a real domain, as exports write them, is read as https first).
HttpLink = Annotated[str | None, BeforeValidator(with_https), AfterValidator(http_url_or_none)]
Channel = Literal["email", "linkedin", "phone"]
Tier = Literal["TIER_1", "TIER_2", "TIER_3", "TIER_4"]


class Record(BaseModel):
    """Base of provider records: strict about types, tolerant of extra keys.

    Every text a record holds is one line, and is read `one_line`: control and format characters never get past
    ingestion (a file's row or a provider's answer) into a CRM field, an email header or a rep's screen.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _visible_text(cls, data: object) -> object:
        return without_invisible(data, one_line)


def _domain(value: object) -> object:
    return registered_domain(value) if isinstance(value, str) else value


def _country(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return country_code(value) if isinstance(value, str) else value


class CompanyRecord(Record):
    name: str = Field(min_length=1)
    domain: str = Field(description="registered domain; a URL or subdomain is normalised")
    industry: str | None = None
    employee_count: int | None = Field(default=None, ge=0)
    annual_revenue: float | None = Field(default=None, ge=0, description="USD")
    country: str | None = None
    founded: int | None = Field(default=None, ge=1800, le=2100)
    funding_stage: str | None = None
    tech_stack: list[str] = Field(default_factory=list)
    growth_signals: list[str] = Field(default_factory=list)
    pain_signals: list[str] = Field(default_factory=list)
    source: str = "unknown"
    confidence: Confidence = 0.5
    fetched_at: dt.datetime | None = Field(default=None, description="when the provider answered (None: a file)")
    job_board: str | None = Field(default=None, pattern=r"^(greenhouse|lever):[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
                                  description="its public job board, e.g. greenhouse:acme or lever:acme")

    _normalise_domain = field_validator("domain", mode="before")(_domain)
    _normalise_country = field_validator("country", mode="before")(_country)


class PersonRecord(Record):
    name: str = Field(min_length=1)
    title: str = ""
    email: str | None = None
    phone: str | None = None
    linkedin_url: HttpLink = None
    company_domain: str
    country: str | None = None
    timezone: str | None = Field(default=None, description="IANA zone")
    source: str = "unknown"
    confidence: Confidence = 0.5
    fetched_at: dt.datetime | None = Field(default=None, description="when the provider answered (None: a file)")
    ref: str | None = Field(default=None, max_length=200,
                            description="the provider's id of the person, to reveal the email later (Apollo)")

    _normalise_domain = field_validator("company_domain", mode="before")(_domain)
    _normalise_country = field_validator("country", mode="before")(_country)


class _Signal(Record):
    company_domain: str
    date: dt.date
    title: str = ""
    url: HttpLink = None
    source: str = "unknown"

    _normalise_domain = field_validator("company_domain", mode="before")(_domain)


class JobPosting(_Signal):
    kind: Literal["job_posting"]
    department: str | None = None


class Funding(_Signal):
    kind: Literal["funding"]
    round: str
    amount_usd: float | None = Field(default=None, ge=0)


class News(_Signal):
    kind: Literal["news"]
    category: Literal["expansion", "partnership", "other"] = "other"


class WebsiteChange(_Signal):
    kind: Literal["website_change"]
    page: Literal["pricing", "demo", "features", "other"] = "other"


class Review(_Signal):
    kind: Literal["review"]
    product: str | None = None
    rating: float | None = Field(default=None, ge=0, le=5)
    sentiment: Literal["positive", "neutral", "negative"] | None = None
    about_competitor: bool = False


class Conference(_Signal):
    kind: Literal["conference"]
    name: str
    booth: bool = False


Signal = Annotated[
    Union[JobPosting, Funding, News, WebsiteChange, Review, Conference],
    Field(discriminator="kind"),
]


class FieldSource(BaseModel):
    """Where a merged value came from, so a rep can see whose number it is and how fresh."""

    provider: str
    fetched_at: dt.datetime | None = Field(default=None, description="None: read from a data file")
    confidence: Confidence


class Company(BaseModel):
    """One company after merging every source's record for its domain."""

    domain: str
    name: str
    industry: str | None = None
    employee_count: int | None = None
    annual_revenue: float | None = None
    country: str | None = None
    founded: int | None = None
    funding_stage: str | None = None
    tech_stack: list[str] = Field(default_factory=list)
    growth_signals: list[str] = Field(default_factory=list)
    pain_signals: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    confidence: Confidence = 0.5
    provenance: dict[str, FieldSource] = Field(default_factory=dict, description="field name: where its value came from")
    job_board: str | None = None


# --- decisions --------------------------------------------------------------


class Evidence(BaseModel):
    """Why a rep should believe a point: where it was seen, when, and a link."""

    source: str
    date: dt.date | None = None
    url: HttpLink = None
    title: str | None = None


class FitFactor(BaseModel):
    weight: float
    points: float
    matched: bool | float = Field(description="True/False, or the share matched")
    detail: str
    source: FieldSource | None = Field(default=None, description="where the value judged came from")


class FitResult(BaseModel):
    score: float = Field(ge=0, le=1)
    breakdown: dict[str, FitFactor]
    qualified: bool


class ScoredCompany(BaseModel):
    company: Company
    fit: FitResult


class Drop(BaseModel):
    """Something the funnel let go, and why: nothing leaves without a trace."""

    key: str
    reason: str
    kind: str = Field(default="other", description="a stable category for counting")


class SourcingResult(BaseModel):
    companies_read: int
    duplicates_merged: int
    excluded: list[Drop]
    below_threshold: list[ScoredCompany]
    over_target: list[ScoredCompany]
    qualified: list[ScoredCompany]


class IntentPoint(BaseModel):
    category: Literal["hiring", "funding", "website", "reviews", "conferences"]
    rule: str
    points: float
    evidence: list[Evidence]


class IntentResult(BaseModel):
    score: float = Field(ge=0, le=1)
    points: list[IntentPoint]


class Contact(BaseModel):
    """A person the Contact Finder kept, with its ranking."""

    name: str
    title: str
    email: str
    phone: str | None = None
    linkedin_url: HttpLink = None
    company_domain: str
    country: str | None = None
    timezone: str | None = None
    source: str = "unknown"
    confidence: Confidence = 0.5
    email_verified: bool
    role_relevance: float = Field(ge=0, le=1)
    seniority: int = Field(ge=1, le=10)
    buying_authority: float = Field(ge=0, le=1)
    contact_preference: Channel


class ContactSelection(BaseModel):
    kept: list[Contact]
    dropped: list[Drop]


class SequenceStep(BaseModel):
    day: int = Field(ge=0, description="calendar-day offset from the sequence start")
    channel: Channel
    action: str
    message_type: str
    scheduled_at: dt.datetime = Field(description="aware, in the contact's time zone")


class Hook(BaseModel):
    """An opener for this lead. `text` is a sentence a rep would write (`agents.hooks`); `rule` is the intent rule
    it came from, so the sentence can be dated again relative to the day it is sent."""

    text: str
    evidence: list[Evidence]
    rule: str | None = None


class ObjectionAngle(BaseModel):
    objection: str
    angle: str


class LeadPlan(BaseModel):
    """What Scoring & Sequencing decided for one contact."""

    email: str
    company_domain: str
    priority_score: float = Field(ge=0, le=1)
    priority_tier: Tier
    recommended_channel: Channel
    timezone: str
    sequencing: list[SequenceStep]
    personalization_hooks: list[Hook]
    objection_angles: list[ObjectionAngle]
