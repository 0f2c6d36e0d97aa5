"""Crunchbase v4: organization search (sourcing) and funding rounds (intent).

Search predicates take uuids, found with the autocomplete API: the market's
countries among `location.countries`, its industry and related ones among
categories and category groups. Predicates are AND-only, so a market whose
industries are both categories and category groups is two searches (their
results merged by uuid). Each search pages by keyset (`after_id`) to the end
or to `limit`. Funding rounds come from the organization's
`raised_funding_rounds` card; the organization is found by name and kept only
when its website is the company's domain.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import pycountry

from agents.market import MarketDefinition, Range
from agents.models import CompanyRecord, Funding
from connector.providers.http.client import ProviderClient
from connector.providers.mapping import country_or_none, domain_or_none, estimate, year_or_none
from connector.providers.rounds import round_name

log = logging.getLogger(__name__)

SOURCE = "crunchbase"
SEARCH_CONFIDENCE = 0.9  # a search hit is Crunchbase's own record of the company, not a fuzzy match
SITE = "https://www.crunchbase.com"
SEARCH_FIELDS = ("identifier", "website", "categories", "location_identifiers", "num_employees_enum", "revenue_range",
                 "founded_on", "last_funding_type")
CANDIDATES = 5  # organizations named like the company, checked by website until one is it

# num_employees_enum and revenue_range codes (Crunchbase's enums), with the bounds they stand for.
EMPLOYEE_BUCKETS = (("c_00001_00010", 1, 10), ("c_00011_00050", 11, 50), ("c_00051_00100", 51, 100),
                    ("c_00101_00250", 101, 250), ("c_00251_00500", 251, 500), ("c_00501_01000", 501, 1000),
                    ("c_01001_05000", 1001, 5000), ("c_05001_10000", 5001, 10000), ("c_10001_max", 10001, None))
REVENUE_BUCKETS = (("r_00000000", 0, 1e6), ("r_00001000", 1e6, 1e7), ("r_00010000", 1e7, 5e7), ("r_00050000", 5e7, 1e8),
                   ("r_00100000", 1e8, 5e8), ("r_00500000", 5e8, 1e9), ("r_01000000", 1e9, 1e10),
                   ("r_10000000", 1e10, None))
_FIELD_OF = {"category": "categories", "category_group": "category_groups"}


# --- requests -----------------------------------------------------------------


def predicate(field: str, operator: str, values: list[Any]) -> dict[str, Any]:
    return {"type": "predicate", "field_id": field, "operator_id": operator, "values": values}


def employee_codes(size: Range) -> list[str]:
    """The headcount buckets a market's range overlaps."""
    return [code for code, low, high in EMPLOYEE_BUCKETS
            if (size.max is None or low <= size.max) and (high is None or size.min is None or high >= size.min)]


def search_bodies(market: MarketDefinition, industries: dict[str, list[str]],
                  countries: list[str]) -> list[dict[str, Any]]:
    """One search per field naming the market's industries (`categories`, `category_groups`): OR is two calls.

    Exclusions are left to the fit rules: Crunchbase charges no credit per result.
    """
    common = [predicate("facet_ids", "includes", ["company"]),
              predicate("num_employees_enum", "includes", employee_codes(market.company_size))]
    if countries:
        common.append(predicate("location_identifiers", "includes", countries))
    return [{"field_ids": list(SEARCH_FIELDS), "query": [*common, predicate(field, "includes", uuids)]}
            for field, uuids in industries.items() if uuids]


def autocomplete_params(query: str, collections: str, limit: int = 10) -> dict[str, Any]:
    return {"query": query[:100], "collection_ids": collections, "limit": limit}


# --- responses ----------------------------------------------------------------


def best_match(entities: list[dict[str, Any]], phrase: str) -> dict[str, Any] | None:
    """The suggestion named exactly like the phrase (any case), else Crunchbase's first suggestion."""
    identifiers = [entity.get("identifier") for entity in entities if isinstance(entity.get("identifier"), dict)]
    for identifier in identifiers:
        if str(identifier.get("value", "")).casefold() == phrase.casefold():
            return identifier
    return identifiers[0] if identifiers else None


def organization_record(properties: dict[str, Any], *, fetched_at: dt.datetime,
                        phrases: Sequence[str] = ()) -> CompanyRecord | None:
    """A searched organization as a CompanyRecord; None without a usable website (the key of every company).

    Its industry is the first category named like the market's industry or a related one (in the market's
    words), else its first category. Bucketed headcount and revenue become the bucket's midpoint.
    """
    domain = domain_or_none(_link(properties.get("website")) or properties.get("website_url"))
    if not domain:
        return None
    identifier = properties.get("identifier") if isinstance(properties.get("identifier"), dict) else {}
    founded = properties.get("founded_on")
    return CompanyRecord(
        name=str(identifier.get("value") or domain)[:200], domain=domain,
        industry=_industry(properties.get("categories"), phrases),
        employee_count=_bucket(EMPLOYEE_BUCKETS, properties.get("num_employees_enum"), whole=True),
        annual_revenue=_bucket(REVENUE_BUCKETS, properties.get("revenue_range")),
        country=_country(properties.get("location_identifiers")),
        founded=year_or_none(founded.get("value") if isinstance(founded, dict) else founded),
        funding_stage=round_name(properties.get("last_funding_type")),
        source=SOURCE, confidence=SEARCH_CONFIDENCE, fetched_at=fetched_at)


def funding_signal(item: dict[str, Any], domain: str) -> Funding | None:
    """A raised funding round as a Funding signal; None without a date or a round type."""
    announced = _date(item.get("announced_on"))
    identifier = item.get("identifier") if isinstance(item.get("identifier"), dict) else {}
    name = round_name(item.get("investment_type"))
    if announced is None or name is None:
        return None
    money = item.get("money_raised") if isinstance(item.get("money_raised"), dict) else {}
    amount = money.get("value_usd")
    permalink = identifier.get("permalink") or item.get("permalink")
    return Funding(kind="funding", company_domain=domain, date=announced, round=name,
                   amount_usd=float(amount) if isinstance(amount, (int, float)) and amount >= 0 else None,
                   title=str(identifier.get("value") or item.get("short_description") or name)[:200],
                   url=f"{SITE}/funding_round/{quote(str(permalink), safe='')}" if permalink else None,
                   source=SOURCE)


# --- calls --------------------------------------------------------------------


def search_companies(client: ProviderClient, market: MarketDefinition, limit: int) -> Iterator[CompanyRecord]:
    """The market's companies, at most `limit`, each once however many searches found it.

    Nothing is searched when no industry (or, for a market with countries, no country) is known to Crunchbase:
    a search without that predicate would be another market.
    """
    if limit <= 0:
        return
    phrases = [market.industry, *market.related_industries]
    industries = _industries(client, phrases)
    countries = _countries(client, market.location)
    if not any(industries.values()) or (market.location and not countries):
        log.info("crunchbase: the market's industries or countries are unknown to Crunchbase; nothing searched")
        return
    seen: set[str] = set()
    given = 0
    for body in search_bodies(market, industries, countries):
        for reply in client.pages("organization_search", json=body):  # no credit per result: stop by `given`
            for entity in (reply.body or {}).get("entities") or []:
                uuid = entity.get("uuid")
                if not isinstance(entity.get("properties"), dict) or uuid in seen:
                    continue
                seen.add(uuid)
                record = organization_record(entity["properties"], fetched_at=reply.fetched_at, phrases=phrases)
                if record is None:
                    log.info("crunchbase search: an organization without a website was skipped (%s)", str(uuid)[:64])
                    continue
                yield record
                given += 1
                if given >= limit:
                    return


def signals_for(client: ProviderClient, company: CompanyRecord, as_of: dt.date) -> list[Funding]:
    """The company's funding rounds announced by `as_of`; none when Crunchbase has no organization at its domain."""
    suggestions = client.call("autocomplete", params=autocomplete_params(company.name, "organization.companies",
                                                                         CANDIDATES))
    for entity in _entities(suggestions.body):
        permalink = (entity.get("identifier") or {}).get("permalink")
        if not permalink:
            continue
        reply = client.call("organization", path={"permalink": permalink},
                            params={"field_ids": "identifier,website", "card_ids": "raised_funding_rounds"})
        body = reply.body if isinstance(reply.body, dict) and not reply.no_match else {}
        if domain_or_none(_link((body.get("properties") or {}).get("website"))) != company.domain:
            continue
        rounds = (body.get("cards") or {}).get("raised_funding_rounds") or []
        signals = [funding_signal(item, company.domain) for item in rounds if isinstance(item, dict)]
        return [signal for signal in signals if signal is not None and signal.date <= as_of]
    return []


# --- helpers ------------------------------------------------------------------


def _industries(client: ProviderClient, phrases: list[str]) -> dict[str, list[str]]:
    """The uuids of the categories and category groups named by the phrases, by the search field that takes them."""
    found: dict[str, list[str]] = {"categories": [], "category_groups": []}
    for phrase in dict.fromkeys(phrase.strip() for phrase in phrases if phrase.strip()):
        reply = client.call("autocomplete", params=autocomplete_params(phrase, "categories,category_groups"))
        match = best_match(_entities(reply.body), phrase)
        field = _FIELD_OF.get(str((match or {}).get("entity_def_id")))
        if field and match.get("uuid") and match["uuid"] not in found[field]:
            found[field].append(match["uuid"])
    return found


def _entities(body: object) -> list[dict]:
    """An autocomplete answer's entities; none when the answer is not the documented object (a 404 page)."""
    entities = body.get("entities") if isinstance(body, dict) else None
    return [entity for entity in entities if isinstance(entity, dict)] if isinstance(entities, list) else []


def _countries(client: ProviderClient, codes: list[str]) -> list[str]:
    """The uuids of the market's countries; a country Crunchbase does not know is left out (and said)."""
    uuids = []
    for code in codes:
        country = pycountry.countries.get(alpha_2=code)
        name = getattr(country, "common_name", None) or getattr(country, "name", code)
        reply = client.call("autocomplete", params=autocomplete_params(name, "location.countries"))
        match = best_match(_entities(reply.body), name)
        if match and match.get("uuid"):
            uuids.append(match["uuid"])
        else:
            log.info("crunchbase: no location for country %s", code[:10])
    return uuids


def _industry(categories: object, phrases: Sequence[str]) -> str | None:
    names = [str(item["value"]) for item in categories or [] if isinstance(item, dict) and item.get("value")] \
        if isinstance(categories, list) else []
    wanted = {phrase.casefold(): phrase for phrase in phrases}
    for name in names:
        if name.casefold() in wanted:
            return wanted[name.casefold()]
    return names[0] if names else None


def _country(locations: object) -> str | None:
    for location in locations if isinstance(locations, list) else []:
        if isinstance(location, dict) and location.get("location_type") == "country":
            return country_or_none(location.get("value"))
    return None


def _bucket(buckets: tuple, code: object, whole: bool = False) -> float | int | None:
    for name, low, high in buckets:
        if name == code:
            value = estimate(low, high)
            return round(value) if whole else value
    return None


def _link(value: object) -> str | None:
    """A link field ({"value": url}) or a plain URL."""
    value = value.get("value") if isinstance(value, dict) else value
    return value if isinstance(value, str) else None


def _date(value: object) -> dt.date | None:
    value = value.get("value") if isinstance(value, dict) else value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
