"""People Data Labs: company search (sourcing) and company enrichment by website.

Search runs an Elasticsearch query built from the market against PDL's
company fields (docs: elasticsearch-mapping-company) and scrolls to the end
or to `limit`; PDL charges one credit per company returned, so the last page
asks for no more than remain. Enrichment is one GET per domain: 200 is a
match (charged), 404 is no match (free). Company fields are top level in an
enrichment answer, under `data` in a search answer; values are lower case
("computer software", "united states").
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pycountry

from agents.market import MarketDefinition
from agents.domains import registered_domain
from agents.models import CompanyRecord
from connector.providers.http.client import ProviderClient
from connector.providers.mapping import country_or_none, domain_or_none, estimate, int_or_none, year_or_none
from connector.providers.rounds import round_name

log = logging.getLogger(__name__)

SOURCE = "pdl"
# A search hit is PDL's own record of that company (no fuzzy match to doubt), unlike an enrichment,
# whose `likelihood` says how sure PDL is that it matched the website asked about.
SEARCH_CONFIDENCE = 0.9

# PDL's country names where pycountry's common name differs (PDL's published `location.country` enum).
_COUNTRY_NAMES = {
    "BN": "brunei", "BQ": "caribbean netherlands", "CD": "democratic republic of the congo",
    "CG": "republic of the congo", "CI": "ivory coast", "CV": "cape verde", "FK": "falkland islands",
    "FM": "micronesia", "MF": "saint martin", "MK": "macedonia", "MO": "macau", "PS": "palestine",
    "RU": "russia", "SH": "saint helena", "ST": "são tomé and príncipe", "SX": "sint maarten", "SZ": "swaziland",
    "TR": "turkey", "VA": "vatican city", "VG": "british virgin islands", "VI": "u.s. virgin islands",
}
_COUNTRY_CODES = {name: code for code, name in _COUNTRY_NAMES.items()}
_MONEY = re.compile(r"^\$(\d+(?:\.\d+)?)([KMB]?)$", re.I)
_UNITS = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9}


# --- requests -----------------------------------------------------------------


def company_query(market: MarketDefinition) -> dict[str, Any]:
    """The Elasticsearch request for the market's companies (`{"query": {"bool": ...}}`).

    Industry is PDL's (LinkedIn's) industry or one of the company's tags equal to the market's industry or a
    related one; headcount is `employee_count`; countries are PDL's lower-case names. Revenue is left to the
    fit score: a filter on `inferred_revenue` would drop every company PDL has inferred none for. Excluded
    industries and companies are left out here, so they cost no credits.
    """
    phrases = _phrases([market.industry, *market.related_industries])
    must: list[dict[str, Any]] = [{"bool": {"should": [{"terms": {"industry": phrases}}, {"terms": {"tags": phrases}}],
                                            "minimum_should_match": 1}}]
    headcount = {name: bound for name, bound in (("gte", _ceil(market.company_size.min)),
                                                 ("lte", _floor(market.company_size.max))) if bound is not None}
    if headcount:
        must.append({"range": {"employee_count": headcount}})
    if market.location:
        must.append({"terms": {"location.country": [country_name(code) for code in market.location]}})
    must_not: list[dict[str, Any]] = []
    if market.exclude.industries:
        must_not.append({"terms": {"industry": _phrases(market.exclude.industries)}})
    websites = [domain for domain in map(domain_or_none, market.exclude.companies) if domain]
    names = _phrases([name for name in market.exclude.companies if not domain_or_none(name)])
    if websites:
        must_not.append({"terms": {"website": websites}})
    if names:
        must_not.append({"terms": {"name": names}})
    query: dict[str, Any] = {"must": must}
    if must_not:
        query["must_not"] = must_not
    return {"query": {"bool": query}}


def country_name(code: str) -> str:
    """PDL's name of an ISO alpha-2 country: "US" -> "united states"."""
    if code in _COUNTRY_NAMES:
        return _COUNTRY_NAMES[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise ValueError(f"{code[:10]!r} is not an ISO alpha-2 country code")
    return getattr(country, "common_name", country.name).lower()


# --- responses ----------------------------------------------------------------


def company_record(item: dict[str, Any], *, fetched_at: dt.datetime, confidence: float, domain: str | None = None,
                   phrases: Sequence[str] = ()) -> CompanyRecord | None:
    """A PDL company as a CompanyRecord; None when it has no usable website (the key of every company).

    `domain` is the website asked about (enrichment), kept as the key even when PDL lists another one.
    `phrases` are the market's industry and related ones: a company whose tags name one of them is given
    that industry, in the market's words, so the fit score can recognise it.
    """
    domain = domain or domain_or_none(item.get("website"))
    if not domain:
        return None
    name = item.get("display_name") or item.get("name") or domain
    location = item.get("location") if isinstance(item.get("location"), dict) else {}
    return CompanyRecord(
        name=str(name)[:200], domain=domain, industry=_industry(item, phrases),
        employee_count=int_or_none(item.get("employee_count")),
        annual_revenue=revenue_estimate(item.get("inferred_revenue")),
        country=pdl_country(location.get("country")), founded=year_or_none(item.get("founded")),
        funding_stage=round_name(item.get("latest_funding_stage")),
        source=SOURCE, confidence=confidence, fetched_at=fetched_at)


def revenue_estimate(bucket: object) -> float | None:
    """USD from PDL's inferred revenue bucket: "$50M-$100M" -> 75,000,000, "$10B+" -> 10,000,000,000."""
    if not isinstance(bucket, str):
        return None
    text = bucket.strip()
    open_ended = text.endswith("+")
    ends = [_money(end) for end in text.rstrip("+").split("-")]
    if any(end is None for end in ends) or len(ends) != (1 if open_ended else 2):
        return None
    return estimate(ends[0], None if open_ended else ends[1])


def pdl_country(name: object) -> str | None:
    """The ISO code of a PDL country name ("united states" -> "US"); None when it names none."""
    if isinstance(name, str) and name.strip().lower() in _COUNTRY_CODES:
        return _COUNTRY_CODES[name.strip().lower()]
    return country_or_none(name)


def likelihood_confidence(body: dict[str, Any]) -> float:
    """PDL's `likelihood` (1-10, 10 the surest) as a confidence in 0..1; 0.5 when it is missing."""
    likelihood = body.get("likelihood")
    if isinstance(likelihood, bool) or not isinstance(likelihood, (int, float)):
        return 0.5
    return min(1.0, max(0.0, likelihood / 10))


# --- calls --------------------------------------------------------------------


def search_companies(client: ProviderClient, market: MarketDefinition, limit: int) -> Iterator[CompanyRecord]:
    """The market's companies, page after page, at most `limit` of them (each one is a credit)."""
    phrases = [market.industry, *market.related_industries]
    # The body's `query` holds a whole Elasticsearch request, itself with a `query` (as PDL's own SDKs send it).
    for reply in client.pages("company_search", json={"query": company_query(market)}, max_items=limit):
        items = [] if reply.no_match else (reply.body or {}).get("data") or []
        for item in items:
            record = company_record(item, fetched_at=reply.fetched_at, confidence=SEARCH_CONFIDENCE,
                                    phrases=phrases) if isinstance(item, dict) else None
            if record is None:
                log.info("pdl search: a company without a usable website was skipped (id %s)",
                         str(item.get("id") if isinstance(item, dict) else None)[:64])
                continue
            yield record


def enrich_companies(client: ProviderClient, domains: list[str]) -> dict[str, CompanyRecord]:
    """What PDL knows of each domain, keyed by the domain; a domain PDL does not know is absent."""
    found: dict[str, CompanyRecord] = {}
    for domain in dict.fromkeys(registered_domain(domain) for domain in domains):
        reply = client.call("company_enrich", params={"website": domain})
        if reply.no_match or not isinstance(reply.body, dict):
            continue
        record = company_record(reply.body, fetched_at=reply.fetched_at, domain=domain,
                                confidence=likelihood_confidence(reply.body))
        if record is not None:
            found[domain] = record
    return found


# --- helpers ------------------------------------------------------------------


def _industry(item: dict[str, Any], phrases: Sequence[str]) -> str | None:
    industry = item.get("industry") if isinstance(item.get("industry"), str) else None
    tags = [tag for tag in item.get("tags") or [] if isinstance(tag, str)]
    wanted = {phrase.casefold(): phrase for phrase in phrases}
    for value in ([industry] if industry else []) + tags:
        if value.strip().casefold() in wanted:
            return wanted[value.strip().casefold()]
    return industry


def _phrases(values: list[str]) -> list[str]:
    return list(dict.fromkeys(value.strip().lower() for value in values if value.strip()))


def _money(text: str) -> float | None:
    match = _MONEY.match(text.strip())
    return float(match.group(1)) * _UNITS[match.group(2).upper()] if match else None


def _ceil(value: float | None) -> int | None:
    return None if value is None else math.ceil(value)


def _floor(value: float | None) -> int | None:
    return None if value is None else math.floor(value)
