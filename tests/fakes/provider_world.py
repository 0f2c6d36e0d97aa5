"""The synthetic world the local data providers answer from, built from the bundled sample market.

Every company, person and signal of `data/sample_market.jsonl` exists here,
and each provider sees its own part of it, as the real ones do: most
companies are in Apollo, fewer in People Data Labs and Crunchbase, some only
in Apollo; Apollo knows the revenue of about half (PDL of most, as a range);
a few fields are missing here and there. People carry Apollo ids and an
email only some providers find; job postings sit on the company's Greenhouse
or Lever board; funding and news signals are articles; website changes are
Wayback captures whose digest changes on the signal's date.

Everything is decided by hashing the domain (or the person), never by a
random generator or the clock: the same sample gives the same world.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pycountry

from agents.domains import registered_domain
from agents.lead_source import merge_records
from agents.models import (
    Company, CompanyRecord, Conference, Funding, JobPosting, News, Review, Signal, WebsiteChange,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_market.jsonl"
AS_OF = dt.date(2026, 11, 2)  # the sample's own date (scripts/make_sample_data.py)
_SIGNALS = {"job_posting": JobPosting, "funding": Funding, "news": News, "website_change": WebsiteChange,
            "review": Review, "conference": Conference}


def roll(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`: the world's only source of chance."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hex_id(*parts: object, length: int = 24) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def uuid_for(*parts: object) -> str:
    value = hex_id(*parts, length=32)
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def digest_for(*parts: object) -> str:
    """A Wayback-style digest: 32 base32 characters."""
    return base64.b32encode(hashlib.sha1("|".join(map(str, parts)).encode()).digest()).decode()[:32]


def country_name(code: str | None) -> str | None:
    if not code:
        return None
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", country.name)


@dataclass
class Person:
    """One employee, as the providers that know them see them."""

    apollo_id: str
    first_name: str
    last_name: str
    title: str
    email: str | None
    phone: str | None
    linkedin_url: str | None
    domain: str
    country: str | None
    apollo_email_status: str  # verified / unverified / unavailable (no email)
    in_hunter: bool  # listed by Hunter's domain search
    hunter_confidence: int
    findable: bool  # Hunter's email finder knows them
    verification: str  # Hunter's verifier: valid / invalid / accept_all / unknown
    verify_polls: int  # 202 answers before the verdict
    verify_fails: bool  # 222: the mail server answered oddly

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class WorldCompany:
    domain: str
    truth: Company  # every source's records merged: what the company really is
    in_apollo: bool
    in_pdl: bool
    in_crunchbase: bool
    apollo_revenue: bool  # Apollo knows its revenue
    pdl_revenue: bool
    apollo_employees: bool
    pdl_industry: bool
    accept_all: bool  # its mail server accepts every address
    job_board: str | None  # greenhouse:<token> or lever:<site>
    people: list[Person] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return self.domain.split(".")[0]

    @property
    def apollo_id(self) -> str:
        return hex_id("apollo-org", self.domain)

    @property
    def pdl_id(self) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(self.domain.encode()).digest()).decode()[:28]

    @property
    def crunchbase_uuid(self) -> str:
        return uuid_for("crunchbase", self.domain)

    @property
    def permalink(self) -> str:
        return f"{self.stem}-{self.crunchbase_uuid[-4:]}"

    def record(self, source: str = "world") -> CompanyRecord:
        """The truth as a record, e.g. to qualify a set of companies the way the demo does."""
        return CompanyRecord(**self.truth.model_dump(exclude={"sources", "confidence", "job_board"}), source=source,
                             confidence=0.9, job_board=self.job_board)

    def signals_of(self, kind: type) -> list:
        return [signal for signal in self.signals if isinstance(signal, kind)]


class World:
    """The companies by domain, with lookups the providers need."""

    def __init__(self, companies: list[WorldCompany], as_of: dt.date = AS_OF) -> None:
        self.as_of = as_of
        self.companies = {company.domain: company for company in companies}
        self.people = {person.apollo_id: person for company in companies for person in company.people}
        self.emails = {person.email.lower(): person for person in self.people.values() if person.email}
        self.boards = {company.job_board: company for company in companies if company.job_board}
        self.permalinks = {company.permalink: company for company in companies}
        self.permalinks |= {company.crunchbase_uuid: company for company in companies}

    def company(self, domain: str) -> WorldCompany | None:
        return self.companies.get(domain.lower().removeprefix("www."))

    def email_owner(self, email: str) -> Person | None:
        return self.emails.get(email.strip().lower())


def build(path: Path = SAMPLE, as_of: dt.date = AS_OF) -> World:
    """The world of a sample market file. Rows are read directly, not through the offline provider: its
    checks (every URL, every row) take seconds, and a fake has no use for quarantines; malformed rows are
    skipped."""
    records, people, signals = [], defaultdict(list), defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            kind = row.get("type") if isinstance(row, dict) else None
            if kind == "company":
                records.append(CompanyRecord.model_validate(row))
            elif kind == "person":
                people[registered_domain(row["company_domain"])].append(row)
            elif kind == "signal" and row.get("kind") in _SIGNALS:
                domain = registered_domain(row["company_domain"])
                fields = row | {"date": dt.date.fromisoformat(row["date"]), "company_domain": domain}
                signals[domain].append(_SIGNALS[row["kind"]].model_construct(**fields))
        except (ValueError, KeyError, TypeError):  # ValidationError is a ValueError
            continue
    merged, _ = merge_records(records)
    return World([_company(company, people[company.domain], signals[company.domain]) for company in merged], as_of)


@lru_cache(maxsize=1)
def sample_world() -> World:
    """The bundled sample's world, built once per process (about two seconds)."""
    return build()


def _company(truth: Company, people: list[dict], signals: list[Signal]) -> WorldCompany:
    domain = truth.domain
    presence = roll("presence", domain)
    board = roll("board", domain)
    has_jobs = any(isinstance(signal, JobPosting) for signal in signals)
    stem = domain.split(".")[0]
    company = WorldCompany(
        domain=domain, truth=truth,
        in_apollo=presence < 0.92,  # 8 % only elsewhere
        in_pdl=0.12 <= presence < 0.90 or presence >= 0.92,  # one in seven of Apollo's is only in Apollo
        in_crunchbase=0.30 <= presence < 0.80 or presence >= 0.96,
        apollo_revenue=roll("apollo-revenue", domain) < 0.55,
        pdl_revenue=roll("pdl-revenue", domain) < 0.85,
        apollo_employees=roll("apollo-employees", domain) < 0.95,
        pdl_industry=roll("pdl-industry", domain) < 0.9,
        accept_all=roll("accept-all", domain) < 0.10,
        job_board=(f"greenhouse:{stem}" if board < 0.45 else f"lever:{stem}" if board < 0.75 else None)
        if has_jobs or board < 0.2 else None,
        signals=signals,
    )
    company.people = [_person(row, company) for row in people if row.get("name")]
    return company


def _person(row: dict, company: WorldCompany) -> Person:
    name = str(row.get("name") or "").strip()
    first, _, last = name.partition(" ")
    key = f"{company.domain}|{name}"
    email = row.get("email")
    email = email if isinstance(email, str) and email.endswith(f"@{company.domain}") else None
    verdict = roll("verify", key)
    verification = ("accept_all" if company.accept_all else "valid" if verdict < 0.86
                    else "invalid" if verdict < 0.94 else "unknown")
    return Person(
        apollo_id=hex_id("apollo-person", key), first_name=first, last_name=last or first,
        title=str(row.get("title") or ""), email=email, phone=row.get("phone"), linkedin_url=row.get("linkedin_url"),
        domain=company.domain, country=row.get("country"),
        apollo_email_status="unavailable" if email is None else "verified" if roll("apollo-email", key) < 0.8
        else "unverified",
        in_hunter=email is not None and roll("hunter-listed", key) < 0.6,
        hunter_confidence=60 + int(roll("hunter-confidence", key) * 39),
        findable=email is not None and roll("hunter-finds", key) < 0.85,
        verification=verification,
        verify_polls=1 if roll("verify-poll", key) < 0.1 else 0,
        verify_fails=roll("verify-222", key) < 0.02,
    )


# --- what each signal looks like at its source ----------------------------------


def job_postings(company: WorldCompany) -> list[JobPosting]:
    return company.signals_of(JobPosting)


def articles(company: WorldCompany) -> list[Funding | News]:
    return [signal for signal in company.signals if isinstance(signal, (Funding, News))]


def website_changes(company: WorldCompany) -> list[WebsiteChange]:
    return company.signals_of(WebsiteChange)
