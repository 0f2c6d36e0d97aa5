"""Apollo.io: companies by organization search, firmographics by bulk enrichment, the buying team by the free
people search, and emails by bulk match of only the people worth paying for.

`specs/apollo.yaml` says how Apollo is called and what each call costs. This module holds what data cannot say:
Apollo's filters built from a market, reading past the 50,000-result display cap by partitioning the query, and
Apollo's answers mapped to the records the agents read.

A person from the people search is not yet a usable contact: Apollo sends a first name, an obfuscated last name
("Hu***n") and no email. Such a record keeps the real first name and the title (enough to rank the buying team),
no email, and Apollo's person id as `ref`; `awaiting_reveal` recognises it, and `reveal_emails` fills in the full
name, email, LinkedIn profile and country for the people the ranking kept.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pycountry
from pydantic import ValidationError

from agents.market import MarketDefinition
from agents.models import CompanyRecord, PersonRecord
from agents.titles import normalise_title, seniority
from connector.providers.http.client import ProviderClient, Reply
from connector.providers.http.spec import Pagination, dig
from connector.providers.mapping import country_or_none, domain_or_none, int_or_none, text, year_or_none

SOURCE = "apollo"
# Apollo gives no per-record confidence for firmographics; its records are curated and keyed by the domain asked for.
FIRMOGRAPHICS_CONFIDENCE = 0.8
# What Apollo's `email_status` says of an email it reveals. "verified" clears the Contact Finder's trusted bar (0.90).
EMAIL_CONFIDENCE = {"verified": 0.95, "likely to engage": 0.75, "extrapolated": 0.6, "unverified": 0.5}
UNRATED_EMAIL_CONFIDENCE = 0.4
# The buying team is ranked from at most this many pages (100 people each) of one company's matching people.
PEOPLE_PAGES_PER_COMPANY = 3
# Apollo's own headcount bands (its search filter's choices): the first way a query too big to read is split.
EMPLOYEE_BAND_STARTS = (11, 21, 51, 101, 201, 501, 1001, 2001, 5001, 10001)
_LOCKED_EMAIL = "email_not_unlocked@"  # the placeholder Apollo's older search sends instead of an email


@dataclass
class Tally:
    """What Apollo's answers held that became no record, and why; queries read only to the display cap."""

    skipped: Counter[str] = field(default_factory=Counter)
    capped: list[str] = field(default_factory=list)


# --- sourcing: organization search --------------------------------------------


@dataclass(frozen=True)
class Partition:
    """One slice of a market's search: a headcount band and the locations it covers."""

    low: int
    high: int | None
    locations: tuple[str, ...]

    def filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = {"organization_num_employees_ranges[]": [f"{self.low},{self.high or ''}"]}
        if self.locations:
            filters["organization_locations[]"] = list(self.locations)
        return filters

    def split(self) -> list[Partition]:
        """Smaller slices covering exactly this one: Apollo's bands, then one location each, then halves of the
        band. Empty when this slice is one headcount in one place."""
        cuts = [start for start in EMPLOYEE_BAND_STARTS
                if self.low < start and (self.high is None or start <= self.high)]
        if cuts:
            ends = [*(start - 1 for start in cuts), self.high]
            return [Partition(low, high, self.locations) for low, high in zip([self.low, *cuts], ends)]
        if len(self.locations) > 1:
            return [Partition(self.low, self.high, (location,)) for location in self.locations]
        if self.high is None or self.high > self.low:
            middle = self.low * 2 if self.high is None else (self.low + self.high) // 2
            return [Partition(self.low, middle, self.locations), Partition(middle + 1, self.high, self.locations)]
        return []

    def __str__(self) -> str:
        heads = f"{self.low}+" if self.high is None else f"{self.low}-{self.high}"
        return f"{heads} employees in {', '.join(self.locations) or 'any location'}"


def organization_filters(market: MarketDefinition) -> dict[str, Any]:
    """The filters every slice of the market's search shares (headcount and locations are the slice's own).

    Industries become keyword tags; a tech stack filters only when the market requires it (otherwise it is a fit
    preference, and filtering on it would hide companies the market wants).
    """
    keywords = list(dict.fromkeys(phrase.casefold() for phrase in [market.industry, *market.related_industries]))
    filters: dict[str, Any] = {"q_organization_keyword_tags[]": keywords}
    if market.annual_revenue is not None:
        if market.annual_revenue.min is not None:
            filters["revenue_range[min]"] = int(market.annual_revenue.min)
        if market.annual_revenue.max is not None:
            filters["revenue_range[max]"] = int(market.annual_revenue.max)
    if market.require_tech_stack:
        filters["currently_using_any_of_technology_uids[]"] = [technology_uid(name) for name in market.tech_stack_using]
    return filters


def market_partition(market: MarketDefinition) -> Partition:
    """The whole market as one slice: its headcount range (Apollo counts from 1) and its countries by name."""
    size = market.company_size
    low = max(1, math.ceil(size.min)) if size.min is not None else 1
    high = max(low, math.floor(size.max)) if size.max is not None else None
    return Partition(low, high, tuple(location_name(code) for code in market.location))


def technology_uid(name: str) -> str:
    """Apollo's technology uid for a product name: 'Google Analytics' -> 'google_analytics'."""
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


def location_name(code: str) -> str:
    """Apollo filters locations by name ('united states'); a market holds ISO codes."""
    country = pycountry.countries.get(alpha_2=code)
    return (getattr(country, "common_name", None) or country.name).casefold()


def search_companies(client: ProviderClient, market: MarketDefinition, limit: int,
                     tally: Tally | None = None) -> Iterator[CompanyRecord]:
    """Companies matching the market, up to `limit`, read page by page to the end of every slice.

    A query matching more than the display cap is split (`Partition.split`) until every slice can be read whole;
    each slice is asked for once: its first page says how big it is and is kept when it can be read. A slice that
    cannot be split is read to the cap and named in `tally.capped`. Pages are fetched only as records are consumed.
    """
    tally = tally if tally is not None else Tally()
    pagination = client.spec.endpoint("organization_search").pagination
    cap = pagination.size * pagination.max_pages
    shared = organization_filters(market)
    pending, seen = [market_partition(market)], set()
    while pending and len(seen) < limit:
        partition = pending.pop()
        page = _organization_page(client, shared, partition, 1)
        total = dig(page.body, pagination.total_items)
        if isinstance(total, int) and total > cap:
            children = partition.split()
            if children:
                pending.extend(reversed(children))  # depth first, in band order
                continue
            tally.capped.append(f"{partition}: {total} companies, read to the first {cap}")
        for reply in _partition_pages(client, shared, partition, page):
            for record in _search_records(reply, tally):
                if record.domain in seen:
                    tally.skipped["already found"] += 1
                    continue
                seen.add(record.domain)
                yield record
                if len(seen) >= limit:
                    return


def _partition_pages(client: ProviderClient, shared: dict[str, Any], partition: Partition,
                     first: Reply) -> Iterator[Reply]:
    """The slice's pages from the first (already fetched) to its last, within the display cap."""
    pagination = client.spec.endpoint("organization_search").pagination
    reply, number = first, 1
    while True:
        yield reply
        if not _organizations(reply.body) or number >= _last_page(reply.body, pagination):
            return
        number += 1
        reply = _organization_page(client, shared, partition, number)


def _last_page(body: Any, pagination: Pagination) -> int:
    """The slice's last page as the answer counts it, never past the display cap."""
    pages = dig(body, pagination.total_pages)
    if not isinstance(pages, int):
        total = dig(body, pagination.total_items)
        pages = math.ceil(total / pagination.size) if isinstance(total, int) else pagination.max_pages
    return min(pages, pagination.max_pages)


def _organization_page(client: ProviderClient, shared: dict[str, Any], partition: Partition, number: int) -> Reply:
    pagination = client.spec.endpoint("organization_search").pagination
    params = {**shared, **partition.filters(), pagination.param: number, pagination.size_param: pagination.size}
    return client.call("organization_search", params=params)


def _organizations(body: Any) -> list[Any]:
    """A page's companies: the caller's saved accounts first, then Apollo's net-new organizations."""
    if not isinstance(body, dict):
        return []
    return [*(body.get("accounts") or []), *(body.get("organizations") or [])]


def _search_records(reply: Reply, tally: Tally) -> Iterator[CompanyRecord]:
    for item in _organizations(reply.body):
        record = company_record(item, reply.fetched_at, tally)
        if record is not None:
            yield record


# --- company enrichment: organizations/bulk_enrich ----------------------------


def enrich_companies(client: ProviderClient, domains: list[str],
                     tally: Tally | None = None) -> dict[str, CompanyRecord]:
    """Firmographics per registered domain, in batches of the endpoint's `batch` (10); unknown domains are absent."""
    tally = tally if tally is not None else Tally()
    size = client.spec.endpoint("organization_bulk_enrich").batch
    found: dict[str, CompanyRecord] = {}
    for batch in _batches(_registered_domains(domains, tally), size):
        reply = client.call("organization_bulk_enrich", params={"domains[]": batch})
        body = reply.body if isinstance(reply.body, dict) else {}
        for item in body.get("organizations") or []:
            record = company_record(item, reply.fetched_at, tally)
            if record is not None:
                found[record.domain] = record
    return found


def company_record(item: Any, fetched_at: dt.datetime, tally: Tally) -> CompanyRecord | None:
    """An Apollo organization (or saved account) as a CompanyRecord; None, counted, without a usable domain."""
    if not isinstance(item, dict):
        tally.skipped["not an organization"] += 1
        return None
    domain = domain_or_none(item.get("primary_domain") or item.get("domain") or item.get("website_url"))
    if domain is None:
        tally.skipped["no domain"] += 1
        return None
    revenue = item.get("annual_revenue") or item.get("organization_revenue")
    technologies = item.get("technology_names") or [
        tech.get("name") for tech in item.get("current_technologies") or [] if isinstance(tech, dict)]
    try:
        return CompanyRecord(
            name=item.get("name") or domain,
            domain=domain,
            industry=item.get("industry") or None,
            employee_count=int_or_none(item.get("estimated_num_employees")),
            annual_revenue=revenue if isinstance(revenue, (int, float)) and revenue > 0 else None,
            country=country_or_none(item.get("country")),
            founded=year_or_none(item.get("founded_year")),
            funding_stage=item.get("latest_funding_stage") or None,
            tech_stack=[name for name in technologies if isinstance(name, str) and name.strip()],
            source=SOURCE, confidence=FIRMOGRAPHICS_CONFIDENCE, fetched_at=fetched_at,
        )
    except ValidationError:
        tally.skipped["unreadable organization"] += 1
        return None


# --- people: mixed_people/api_search, then people/bulk_match ------------------


def people_filters(market: MarketDefinition) -> dict[str, Any]:
    """The buying-team roles as titles (Apollo also matches similar titles) and, when every role has one, as
    seniorities: a role with no seniority Apollo knows would otherwise filter its own people out."""
    filters: dict[str, Any] = {"person_titles[]": list(market.buying_team_roles)}
    levels = [apollo_seniority(role) for role in market.buying_team_roles]
    if all(levels):
        filters["person_seniorities[]"] = list(dict.fromkeys(levels))
    return filters


def apollo_seniority(title: str) -> str | None:
    """Apollo's seniority for a title (founder, owner, c_suite, vp, head, director, manager, senior), or None."""
    words = set(normalise_title(title).split())
    if words & {"founder", "cofounder"}:
        return "founder"
    if "owner" in words:
        return "owner"
    level = seniority(title)
    if level == 7:
        return "head" if "head" in words else "director"
    return {10: "c_suite", 9: "vp", 8: "vp", 6: "director", 5: "manager", 4: "manager", 3: "senior"}.get(level)


def search_people(client: ProviderClient, domains: list[str], market: MarketDefinition,
                  tally: Tally | None = None) -> dict[str, list[PersonRecord]]:
    """The buying-team candidates at each domain, free, without emails (see `awaiting_reveal`).

    One domain per search: the answer's `organization` carries a name and has_* flags but no domain, so a search
    over many domains could not say where each person works. The search is free and cached per domain, so a
    company seen again (another run, a rep's single prospect) costs nothing. People Apollo has no email for are
    left out (counted): revealing them would spend a credit on a contact that cannot be emailed.
    """
    tally = tally if tally is not None else Tally()
    filters = people_filters(market)
    found: dict[str, list[PersonRecord]] = {}
    for domain in _registered_domains(domains, tally):
        people: dict[str, PersonRecord] = {}
        params = {**filters, "q_organization_domains_list[]": [domain]}
        for reply in client.pages("people_search", params=params, max_pages=PEOPLE_PAGES_PER_COMPANY):
            body = reply.body if isinstance(reply.body, dict) else {}
            for item in body.get("people") or []:
                person = _unrevealed_person(item, domain, reply.fetched_at, tally)
                if person is None:
                    continue
                if person.ref in people:  # pages can shift under a live index and repeat someone
                    tally.skipped["already found"] += 1
                    continue
                people[person.ref] = person
        found[domain] = list(people.values())
    return found


def _unrevealed_person(item: Any, domain: str, fetched_at: dt.datetime, tally: Tally) -> PersonRecord | None:
    if not isinstance(item, dict) or not item.get("id"):
        tally.skipped["no person id"] += 1
        return None
    if item.get("has_email") is False:
        tally.skipped["no email at Apollo"] += 1
        return None
    first_name = item.get("first_name")
    if not isinstance(first_name, str) or not first_name.strip():
        tally.skipped["no first name"] += 1
        return None
    try:
        return PersonRecord(name=first_name, title=item.get("title") or "", company_domain=domain, source=SOURCE,
                            fetched_at=fetched_at, ref=str(item["id"]))
    except ValidationError:
        tally.skipped["unreadable person"] += 1
        return None


def awaiting_reveal(person: PersonRecord) -> bool:
    """An Apollo search result: a first name and a title, its full name and email still to be bought."""
    return person.source == SOURCE and bool(person.ref) and person.email is None


def reveal_emails(client: ProviderClient, people: list[PersonRecord]) -> list[PersonRecord]:
    """The same people, in order, with full name, email, LinkedIn profile, title and country filled from Apollo.

    Only people awaiting a reveal are sent, by Apollo id, in batches of the endpoint's `batch` (10); Apollo charges
    a credit per person it finds. A person it does not find comes back unchanged. Confidence follows the email's
    `email_status` (verified: 0.95).
    """
    size = client.spec.endpoint("people_bulk_match").batch
    # Sorted: the same people make the same batches, so a re-run is answered by the cache instead of paid again.
    wanted = sorted({person.ref for person in people if awaiting_reveal(person)})
    matches: dict[str, tuple[dict[str, Any], dt.datetime]] = {}
    for batch in _batches(wanted, size):
        reply = client.call("people_bulk_match", json={"details": [{"id": ref} for ref in batch],
                                                       "reveal_personal_emails": False, "reveal_phone_number": False})
        body = reply.body if isinstance(reply.body, dict) else {}
        for match in body.get("matches") or []:
            if isinstance(match, dict) and match.get("id") in batch:
                matches[match["id"]] = (match, reply.fetched_at)
    return [_revealed(person, *matches[person.ref]) if awaiting_reveal(person) and person.ref in matches else person
            for person in people]


def _revealed(person: PersonRecord, match: dict[str, Any], fetched_at: dt.datetime) -> PersonRecord:
    email = text(match.get("email"))
    full_name = text(match.get("name")) or " ".join(
        part for part in (text(match.get("first_name")), text(match.get("last_name"))) if part)
    values = {
        **person.model_dump(),
        "name": full_name or person.name,
        "title": text(match.get("title")) or person.title,
        "country": country_or_none(match.get("country")) or person.country,
        "linkedin_url": text(match.get("linkedin_url")) or person.linkedin_url,
        "fetched_at": fetched_at,
    }
    if email and not email.startswith(_LOCKED_EMAIL):
        values |= {"email": email,
                   "confidence": EMAIL_CONFIDENCE.get(match.get("email_status"), UNRATED_EMAIL_CONFIDENCE)}
    try:
        return PersonRecord.model_validate(values)
    except ValidationError:  # a profile link the model refuses (not http(s)) is left out, the rest kept
        return PersonRecord.model_validate({**values, "linkedin_url": person.linkedin_url})


# --- shared -------------------------------------------------------------------


def _registered_domains(domains: Iterable[str], tally: Tally) -> list[str]:
    """Each registered domain once, sorted (the same set makes the same batches, so the cache answers a re-run)."""
    unique = set()
    for value in domains:
        domain = domain_or_none(value)
        if domain is None:
            tally.skipped["not a domain"] += 1
        else:
            unique.add(domain)
    return sorted(unique)


def _batches(items: list[str], size: int | None) -> Iterator[list[str]]:
    size = size or 1
    for start in range(0, len(items), size):
        yield items[start:start + size]
