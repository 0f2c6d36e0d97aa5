"""What each local provider answers: the world as each provider's documented payloads, and its filters.

Pure functions over `provider_world`; `provider_server` serves them over HTTP
and does the accounting. Shapes follow the documented payloads in
tests/fixtures/providers/ (the tests check every documented key); where the
docs were silent the choice is marked "[assumed]".
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pycountry

from agents.domains import registered_domain
from agents.geo import country_code
from agents.models import Funding, JobPosting
from tests.fakes import provider_world as worlds
from tests.fakes.provider_world import World, WorldCompany, country_name, hex_id, uuid_for


class Refused(Exception):
    """Bad input: answered with the provider's error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# --- Apollo --------------------------------------------------------------------------------


def held_by(world: World, provider: str) -> list[WorldCompany]:
    """The companies a provider holds, in its own stable order (by its id)."""
    held = {"apollo": lambda c: c.in_apollo, "pdl": lambda c: c.in_pdl, "crunchbase": lambda c: c.in_crunchbase}
    key = {"apollo": lambda c: c.apollo_id, "pdl": lambda c: c.pdl_id, "crunchbase": lambda c: c.crunchbase_uuid}
    return sorted(filter(held[provider], world.companies.values()), key=key[provider])


def apollo_org_matches(company: WorldCompany, params: dict[str, list]) -> bool:
    org = apollo_org(company)
    ranges = params.get("organization_num_employees_ranges", [])
    if ranges:
        employees = org["estimated_num_employees"]
        if employees is None or not any(_in_range(employees, text) for text in ranges):
            return False
    locations = params.get("organization_locations", [])
    if locations and company.truth.country not in {_country(location) for location in locations}:
        return False
    tags = [tag.lower() for tag in params.get("q_organization_keyword_tags", [])]
    if tags and not any(tag in keyword for tag in tags for keyword in org["keywords"]):
        return False
    low, high = params.get("revenue_range[min]", [None])[0], params.get("revenue_range[max]", [None])[0]
    if low is not None or high is not None:
        revenue = org["annual_revenue"]
        if revenue is None or (low is not None and revenue < float(low)) \
                or (high is not None and revenue > float(high)):
            return False
    technologies = {uid.lower() for uid in params.get("currently_using_any_of_technology_uids", [])}
    if technologies and not technologies & {tech["uid"] for tech in org["current_technologies"]}:
        return False
    domains = {clean_domain(domain) for domain in params.get("q_organization_domains_list", [])}
    if domains and company.domain not in domains:
        return False
    name = (params.get("q_organization_name") or [""])[0].lower()
    return name in company.truth.name.lower()


def _in_range(value: int, text: str) -> bool:
    low, _, high = str(text).partition(",")
    try:
        return (not low.strip() or value >= int(low)) and (not high.strip() or value <= int(high))
    except ValueError:
        raise Refused(422, f"organization_num_employees_ranges: {str(text)[:100]!r} is not 'min,max'") from None


def _country(text: str) -> str | None:
    try:
        return country_code(text)
    except ValueError:
        return None


def _uid(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def apollo_search_org(company: WorldCompany) -> dict:
    """An organization as Apollo's search lists it: identity and links, no firmographics (see the fixture)."""
    org = apollo_org(company)
    keep = ("id", "name", "website_url", "blog_url", "angellist_url", "linkedin_url", "twitter_url", "facebook_url",
            "primary_phone", "languages", "alexa_ranking", "phone", "linkedin_uid", "founded_year",
            "publicly_traded_symbol", "publicly_traded_exchange", "logo_url", "crunchbase_url", "primary_domain")
    return {name: org[name] for name in keep} | {
        "sanitized_phone": None, "owned_by_organization_id": None, "intent_strength": None, "show_intent": True,
        "has_intent_signal_account": False, "intent_signal_account": None}


def apollo_org(company: WorldCompany) -> dict:
    truth = company.truth
    revenue = truth.annual_revenue if company.apollo_revenue else None
    industry = truth.industry.lower() if truth.industry else None
    phone = f"+1{2012000000 + int(worlds.roll('phone', company.domain) * 7_000_000_000)}"
    return {
        "id": company.apollo_id, "name": truth.name, "website_url": f"http://www.{company.domain}",
        "blog_url": None, "angellist_url": None, "linkedin_url": f"http://www.linkedin.com/company/{company.stem}",
        "twitter_url": None, "facebook_url": None, "languages": [], "alexa_ranking": None,
        "primary_phone": {"number": phone, "source": "Scraped", "sanitized_number": phone}, "phone": phone,
        "linkedin_uid": None, "founded_year": truth.founded, "publicly_traded_symbol": None,
        "publicly_traded_exchange": None, "logo_url": None, "crunchbase_url": None,
        "primary_domain": company.domain, "persona_counts": {}, "industry": industry,
        "keywords": [keyword.lower() for keyword in ([truth.industry] if truth.industry else []) + truth.pain_signals],
        "estimated_num_employees": truth.employee_count if company.apollo_employees else None,
        "snippets_loaded": True, "industry_tag_id": hex_id("industry", industry) if industry else None,
        "retail_location_count": 0, "raw_address": country_name(truth.country), "street_address": None,
        "city": None, "state": None, "postal_code": None, "country": country_name(truth.country),
        "owned_by_organization_id": None, "suborganizations": [], "num_suborganizations": 0,
        "seo_description": None, "short_description": f"{truth.name} makes {industry or 'software'} products.",
        "annual_revenue_printed": _printed(revenue) if revenue else None, "annual_revenue": revenue,
        "total_funding": None, "total_funding_printed": None,
        "latest_funding_round_date": None, "latest_funding_stage": truth.funding_stage, "funding_events": [],
        "technology_names": list(truth.tech_stack),
        "current_technologies": [{"uid": _uid(name), "name": name, "category": "Software"}
                                 for name in truth.tech_stack],
        "departmental_head_count": {department: round((truth.employee_count or 0) * share)
                                    for department, share in _DEPARTMENTS.items()} if company.apollo_employees else {},
    }


# Apollo's departments (the documented payload's), with a made-up share of a software company's staff each.
_DEPARTMENTS = {"engineering": 0.3, "sales": 0.18, "marketing": 0.06, "support": 0.1, "operations": 0.05,
                "product_management": 0.04, "business_development": 0.05, "human_resources": 0.03,
                "finance": 0.02, "accounting": 0.02, "information_technology": 0.03, "arts_and_design": 0.02,
                "consulting": 0.02, "education": 0.01, "entrepreneurship": 0.02, "legal": 0.01,
                "data_science": 0.02, "administrative": 0.01, "media_and_commmunication": 0.01}


def _printed(amount: float) -> str:
    return f"{amount / 1e9:g}B" if amount >= 1e9 else f"{amount / 1e6:.1f}M".replace(".0M", "M") \
        if amount >= 1e6 else f"{amount / 1e3:.0f}K"


def apollo_seniority(title: str) -> str:
    """Apollo's seniority values from a title (owner, founder, c_suite, partner, vp, head, director, ...)."""
    words = set(re.findall(r"[a-z]+", title.lower()))
    if "founder" in words:
        return "founder"
    if words & {"ceo", "cro", "cto", "cfo", "coo", "chief", "president"} and not words & {"vice", "vp"}:
        return "c_suite"
    if words & {"vp", "svp", "evp"} or "vice president" in title.lower():
        return "vp"
    for word, seniority in (("head", "head"), ("director", "director"), ("manager", "manager"),
                            ("senior", "senior"), ("sr", "senior")):
        if word in words:
            return seniority
    return "entry"


_TITLE_WORDS = {"vice president": "vp", "chief revenue officer": "cro", "chief executive officer": "ceo"}


def _title_words(title: str) -> set[str]:
    text = title.lower()
    for phrase, short in _TITLE_WORDS.items():
        text = text.replace(phrase, short)
    return set(re.findall(r"[a-z]+", text)) - {"of", "the", "and", "sr", "senior"}


def title_matches(title: str, wanted: str) -> bool:
    """Apollo also finds similar titles: every word of the wanted title (VP Sales ~ VP of Sales)."""
    words = _title_words(wanted)
    return bool(words) and words <= _title_words(title)


def apollo_search_person(company: WorldCompany, person: worlds.Person) -> dict:
    """A person as People API Search lists them: no email, the last name obfuscated (see the fixture)."""
    last = person.last_name
    return {
        "id": person.apollo_id, "first_name": person.first_name,
        "last_name_obfuscated": f"{last[:2]}***{last[-1]}" if len(last) > 2 else f"{last[:1]}***",
        "title": person.title, "last_refreshed_at": f"{worlds.AS_OF.isoformat()}T00:00:00.000+00:00",
        "has_email": person.email is not None, "has_city": False, "has_state": False,
        "has_country": person.country is not None,
        "has_direct_phone": "Yes" if person.phone else "Maybe: please request direct dial via people/bulk_match",
        "organization": {"name": company.truth.name, "has_industry": company.truth.industry is not None,
                         "has_phone": False, "has_city": False, "has_state": False,
                         "has_country": company.truth.country is not None, "has_zip_code": False,
                         "has_revenue": company.apollo_revenue, "has_employee_count": company.apollo_employees},
    }


def apollo_match(world: World, detail: dict) -> worlds.Person | None:
    """Identify by id, email, or first and last name with a domain (the documented ways)."""
    if detail.get("id"):
        return world.people.get(str(detail["id"]))
    if detail.get("email"):
        return world.email_owner(str(detail["email"]))
    domain = clean_domain(str(detail.get("domain", "")))
    company = world.company(domain) if domain else None
    name = (str(detail.get("first_name", "")), str(detail.get("last_name", "")))
    for person in company.people if company else []:
        if (person.first_name.lower(), person.last_name.lower()) == (name[0].lower(), name[1].lower()):
            return person
    return None


def apollo_person(company: WorldCompany, person: worlds.Person, reveal_phone: bool) -> dict:
    org = apollo_org(company)
    return {
        "id": person.apollo_id, "first_name": person.first_name, "last_name": person.last_name,
        "name": person.name, "title": person.title, "headline": f"{person.title} at {company.truth.name}",
        "email": person.email, "email_status": person.apollo_email_status if person.email else None,
        "extrapolated_email_confidence": None, "linkedin_url": person.linkedin_url, "twitter_url": None,
        "github_url": None, "facebook_url": None, "photo_url": None, "intent_strength": None, "show_intent": True,
        "revealed_for_current_team": True, "city": None, "state": None, "country": country_name(person.country),
        "employment_history": [{
            "_id": hex_id("job", person.apollo_id), "id": hex_id("job", person.apollo_id),
            "key": hex_id("job", person.apollo_id), "created_at": None, "updated_at": None, "current": True,
            "degree": None, "description": None, "emails": None, "grade_level": None, "kind": None, "major": None,
            "raw_address": None, "organization_id": company.apollo_id, "organization_name": company.truth.name,
            "title": person.title, "start_date": None, "end_date": None}],
        "organization_id": company.apollo_id,
        "organization": org | {"sanitized_phone": org["phone"]},
        "phone_numbers": [{"raw_number": person.phone, "sanitized_number": person.phone, "type": "mobile"}]
        if reveal_phone and person.phone else [],
    }


# --- People Data Labs ------------------------------------------------------------------------

_PDL_SIZES = ((10, "1-10"), (50, "11-50"), (200, "51-200"), (500, "201-500"), (1000, "501-1000"),
              (5000, "1001-5000"), (10000, "5001-10000"))
_PDL_REVENUES = ((1e6, "$0-$1M"), (1e7, "$1M-$10M"), (2.5e7, "$10M-$25M"), (5e7, "$25M-$50M"),
                 (1e8, "$50M-$100M"), (2.5e8, "$100M-$250M"), (5e8, "$250M-$500M"), (1e9, "$500M-$1B"),
                 (1e10, "$1B-$10B"))


def _bucket(value: float | None, table: tuple, top: str) -> str | None:
    if value is None:
        return None
    return next((label for bound, label in table if value <= bound), top)


def pdl_company(company: WorldCompany) -> dict:
    """A PDL company record (docs.peopledatalabs.com example company record): lower case, flat, ranges."""
    truth = company.truth
    country = (country_name(truth.country) or "").lower() or None
    industry = truth.industry.lower() if truth.industry and company.pdl_industry else None
    return {
        "id": company.pdl_id, "name": truth.name.lower(), "display_name": truth.name,
        "size": _bucket(truth.employee_count, _PDL_SIZES, "10001+"), "employee_count": truth.employee_count,
        "founded": truth.founded,
        "inferred_revenue": _bucket(truth.annual_revenue, _PDL_REVENUES, "$10B+") if company.pdl_revenue else None,
        "industry": industry, "naics": None, "sic": None,
        "location": {"name": country, "locality": None, "region": None, "metro": None, "country": country,
                     "continent": None, "street_address": None, "address_line_2": None, "postal_code": None,
                     "geo": None} if country else None,
        "linkedin_url": f"linkedin.com/company/{company.stem}", "linkedin_slug": company.stem,
        "website": company.domain, "ticker": None, "type": "private",
        "summary": f"{truth.name} makes {industry or 'software'} products.",
        "tags": [tag.lower() for tag in truth.pain_signals],
        "latest_funding_stage": (truth.funding_stage or "").lower().replace(" ", "_") or None,
    }


def pdl_lookup(world: World, args) -> WorldCompany | None:
    if not any(args.get(name) for name in ("website", "name", "profile", "pdl_id", "ticker")):
        raise Refused(400, "Request needs one of: website, name, profile, pdl_id, ticker")
    found = None
    if args.get("website"):
        found = world.company(clean_domain(args["website"]))
    elif args.get("pdl_id"):
        found = next((c for c in world.companies.values() if c.pdl_id == args["pdl_id"]), None)
    elif args.get("name"):
        found = next((c for c in world.companies.values() if c.truth.name.lower() == args["name"].lower()), None)
    return found if found is not None and found.in_pdl else None


def pdl_likelihood(company: WorldCompany) -> int:
    return 6 + int(worlds.roll("pdl-likelihood", company.domain) * 5)  # 6..10


def pdl_headers(credits: int, kind: str) -> dict[str, str]:
    return {"x-ratelimit-remaining": "{'minute': 999}", "x-ratelimit-limit": "{'minute': 1000}",
            "x-call-credits-spent": str(credits), "x-call-credits-type": kind}


def es_matches(doc: dict, query: dict) -> bool:
    """A subset of Elasticsearch's query DSL: bool (must, filter, should, must_not), term, terms, match,
    match_phrase, range, exists, match_all. Anything else is refused, naming it."""
    if not isinstance(query, dict) or len(query) != 1:
        raise Refused(400, "each query clause must be an object with one key")
    (kind, body), = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        clauses = {name: body.get(name, []) for name in ("must", "filter", "should", "must_not")}
        clauses = {name: value if isinstance(value, list) else [value] for name, value in clauses.items()}
        return (all(es_matches(doc, clause) for clause in clauses["must"] + clauses["filter"])
                and (not clauses["should"] or any(es_matches(doc, clause) for clause in clauses["should"]))
                and not any(es_matches(doc, clause) for clause in clauses["must_not"]))
    if kind == "exists":
        return _values(doc, body.get("field", "")) != []
    if not isinstance(body, dict) or len(body) != 1:
        raise Refused(400, f"{kind}: expected one field")
    (name, wanted), = body.items()
    values = _values(doc, name)
    if kind in ("term", "terms"):
        wanted = wanted.get("value") if isinstance(wanted, dict) and kind == "term" else wanted
        options = {str(item).lower() for item in (wanted if isinstance(wanted, list) else [wanted])}
        return any(str(value).lower() in options for value in values)
    if kind in ("match", "match_phrase"):
        text = str(wanted.get("query") if isinstance(wanted, dict) else wanted).lower()
        if kind == "match_phrase":
            return any(text in str(value).lower() for value in values)
        return any(set(text.split()) <= set(str(value).lower().split()) for value in values)
    if kind == "range":
        bounds = {"gte": lambda v, b: v >= b, "gt": lambda v, b: v > b, "lte": lambda v, b: v <= b,
                  "lt": lambda v, b: v < b}
        return any(isinstance(value, (int, float)) and all(bounds[op](value, bound) for op, bound in wanted.items()
                                                           if op in bounds) for value in values)
    raise Refused(400, f"this local PDL does not know the {kind[:50]!r} query")


def _values(doc: dict, path: str) -> list:
    """The values at a dotted path, lists flattened; [] when missing or null."""
    current: list = [doc]
    for part in path.split("."):
        current = [item.get(part) for item in current if isinstance(item, dict)]
        current = [inner for item in current for inner in (item if isinstance(item, list) else [item])]
    return [value for value in current if value not in (None, "")]


# --- Crunchbase -------------------------------------------------------------------------------

_CB_EMPLOYEES = ((10, "c_00001_00010"), (50, "c_00011_00050"), (100, "c_00051_00100"), (250, "c_00101_00250"),
                 (500, "c_00251_00500"), (1000, "c_00501_01000"), (5000, "c_01001_05000"),
                 (10000, "c_05001_10000"))
_CB_REVENUES = ((1e6, "r_00000000"), (1e7, "r_00001000"), (5e7, "r_00010000"), (1e8, "r_00050000"),
                (5e8, "r_00100000"), (1e9, "r_00500000"), (1e10, "r_01000000"))


def _identifier(kind: str, value: str, permalink: str, uuid: str) -> dict:
    return {"entity_def_id": kind, "permalink": permalink, "uuid": uuid, "value": value}


# Crunchbase category groups (its own names) holding the world's industries (casefolded); every industry of the
# world is a category too, so "Software" is both, as on Crunchbase.
_CB_CATEGORY_GROUPS = {
    "Software": {"b2b saas", "saas", "software", "marketing technology", "sales technology"},
    "Sales and Marketing": {"marketing technology", "sales technology"},
    "Financial Services": {"finance", "insurance"}, "Health Care": {"healthcare"},
    "Commerce and Shopping": {"retail"}, "Manufacturing": {"manufacturing"}, "Education": {"education"},
}
# What each autocomplete collection id (or facet of one) suggests here: [assumed] a whole collection is the one facet
# this local Crunchbase has of it (its locations are countries, its organizations companies).
_CB_COLLECTIONS = {"categories": ("categories",), "category_groups": ("category_groups",),
                   "locations": ("location.countries",), "location.countries": ("location.countries",),
                   "organizations": ("organization.companies",), "organization.companies": ("organization.companies",)}


def _category(name: str) -> dict:
    return _identifier("category", name, _uid(name).replace("_", "-"), uuid_for("category", name.lower()))


def _category_group(name: str) -> dict:
    return _identifier("category_group", name, _uid(name).replace("_", "-"), uuid_for("category_group", name.lower()))


def _location(code: str) -> dict:
    name = country_name(code)
    return _identifier("location", name, name.lower().replace(" ", "-"), uuid_for("location", code)) \
        | {"location_type": "country"}


def _investment_type(round_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", round_name.lower()).strip("_")


def cb_properties(company: WorldCompany) -> dict:
    truth = company.truth
    country = country_name(truth.country)
    rounds = company.signals_of(Funding)
    latest = max(rounds, key=lambda signal: signal.date) if rounds else None
    return {
        "identifier": _identifier("organization", truth.name, company.permalink, company.crunchbase_uuid)
        | {"image_id": None},
        "short_description": f"{truth.name} makes {(truth.industry or 'software').lower()} products.",
        "categories": [_category(truth.industry)] if truth.industry else [],
        "category_groups": [_category_group(group) for group, members in _CB_CATEGORY_GROUPS.items()
                            if truth.industry and truth.industry.casefold() in members],
        "location_identifiers": [_location(truth.country)] if country else [],
        "website": {"value": f"https://www.{company.domain}"},  # a link field (the lookup fixture)
        "website_url": f"https://www.{company.domain}",
        "num_employees_enum": _bucket(truth.employee_count, _CB_EMPLOYEES, "c_10001_max"),
        "revenue_range": _bucket(truth.annual_revenue, _CB_REVENUES, "r_10000000"),
        "founded_on": {"value": f"{truth.founded}-01-01", "precision": "year"} if truth.founded else None,
        "last_funding_type": _investment_type(latest.round) if latest else None,
        "last_funding_at": latest.date.isoformat() if latest else None,
        "facet_ids": ["company"],
    }


def cb_fields(company: WorldCompany, field_ids: list[str]) -> dict:
    properties = cb_properties(company)
    return {name: properties[name] for name in ["identifier", *field_ids]
            if name in properties and properties[name] is not None}


def cb_holds(company: WorldCompany, predicate: dict) -> bool:
    """AND-only predicates (Crunchbase v4 search): includes, not_includes, eq, not_eq, contains, gte, lte,
    between on the properties this local Crunchbase knows."""
    if not isinstance(predicate, dict) or predicate.get("type", "predicate") != "predicate":
        raise Refused(400, "query items must be predicates")
    name, operator, wanted = predicate.get("field_id"), predicate.get("operator_id"), predicate.get("values", [])
    properties = cb_properties(company)
    if name not in properties:
        raise Refused(400, f"this local Crunchbase does not search on field {str(name)[:100]!r}")
    value = properties[name]
    if isinstance(value, list):
        have = {str(item.get(key, "")).lower() for item in value for key in ("permalink", "uuid", "value")} \
            if value and isinstance(value[0], dict) else {str(item).lower() for item in value}
    elif isinstance(value, dict):
        have = {str(value.get("value", "")).lower()}
    else:
        have = {str(value).lower()} if value is not None else set()
    wanted_set = {str(item).lower() for item in wanted}
    if operator in ("includes", "eq"):
        return bool(have & wanted_set)
    if operator in ("not_includes", "not_eq"):
        return not have & wanted_set
    if operator == "contains":
        return any(item in text for item in wanted_set for text in have)
    if operator in ("gte", "lte", "between"):
        if not have:
            return False
        text = next(iter(have))
        if operator == "gte":
            return text >= str(wanted[0]).lower()
        if operator == "lte":
            return text <= str(wanted[0]).lower()
        return str(wanted[0]).lower() <= text <= str(wanted[1]).lower()
    raise Refused(400, f"this local Crunchbase does not know operator {str(operator)[:50]!r}")


def cb_suggestions(world: World) -> dict[str, list[dict]]:
    """Everything the autocomplete suggests, by collection: the world's industries as categories (one per spelling
    up to case), the category groups holding them, every country, and the companies Crunchbase holds."""
    industries: dict[str, str] = {}
    for name in sorted({company.truth.industry for company in world.companies.values() if company.truth.industry}):
        industries.setdefault(name.casefold(), name)
    return {
        "categories": [{"identifier": _category(name), "short_description": name} for name in industries.values()],
        "category_groups": [{"identifier": _category_group(name), "short_description": name}
                            for name in _CB_CATEGORY_GROUPS],
        "location.countries": [{"facet_ids": ["country"], "identifier": _location(country.alpha_2),
                                "short_description": country_name(country.alpha_2)}
                               for country in pycountry.countries],
        "organization.companies": [{"facet_ids": ["company"], "identifier": properties["identifier"],
                                    "short_description": properties["short_description"]}
                                   for properties in map(cb_properties, held_by(world, "crunchbase"))],
    }


def cb_autocomplete(suggestions: dict[str, list[dict]], query: str, collection_ids: str, limit: int) -> dict:
    """Crunchbase's autocomplete answer: `count` every match, `entities` the best `limit` of them (the name itself,
    then names starting with the query, then names with a word starting with each of its words; ties in the order
    of the collections asked, [assumed])."""
    asked = [name.strip() for name in collection_ids.split(",") if name.strip()] or list(_CB_COLLECTIONS)
    unknown = [name for name in asked if name not in _CB_COLLECTIONS]
    if unknown:
        raise Refused(400, f"collection_ids: this local Crunchbase has no collection {unknown[0][:100]!r}")
    collections = list(dict.fromkeys(facet for name in asked for facet in _CB_COLLECTIONS[name]))
    ranked = []
    for order, collection in enumerate(collections):
        for position, entity in enumerate(suggestions[collection]):
            rank = _suggestion_rank(entity["identifier"]["value"], query)
            if rank is not None:
                ranked.append((rank, order, position, entity))
    ranked.sort(key=lambda item: item[:3])
    return {"count": len(ranked), "entities": [item[3] for item in ranked[:limit]]}


def _suggestion_rank(name: str, query: str) -> int | None:
    name, typed = name.casefold(), query.casefold().strip()
    if name == typed:
        return 0
    if name.startswith(typed):
        return 1
    words, typed_words = re.findall(r"\w+", name), re.findall(r"\w+", typed)
    if typed_words and all(any(word.startswith(part) for word in words) for part in typed_words):
        return 2
    return None


def cb_round(company: WorldCompany, signal: Funding) -> dict:
    uuid = uuid_for("round", company.domain, signal.round, signal.date)
    money = {"value": signal.amount_usd, "currency": "USD", "value_usd": signal.amount_usd} \
        if signal.amount_usd else None
    return {"identifier": _identifier("funding_round", f"{signal.round} - {company.truth.name}",
                                      f"{company.stem}-{_investment_type(signal.round)}--{uuid[:8]}", uuid),
            "announced_on": signal.date.isoformat(), "investment_type": _investment_type(signal.round),
            "money_raised": money, "funded_organization_identifier": cb_properties(company)["identifier"]}


# --- Hunter ---------------------------------------------------------------------------------


def hunter_seniority(title: str) -> str:
    """Hunter's seniority values: junior, senior, executive."""
    seniority = apollo_seniority(title)
    return "executive" if seniority in ("founder", "c_suite", "vp") else \
        "senior" if seniority in ("head", "director", "senior") else "junior"


def hunter_department(title: str) -> str:
    words = set(re.findall(r"[a-z]+", title.lower()))
    for department, keys in (("sales", {"sales", "revenue", "account", "sdr", "bdr", "cro"}),
                             ("marketing", {"marketing", "growth"}), ("it", {"engineer", "cto", "software"}),
                             ("finance", {"cfo", "finance"}), ("support", {"customer", "success"}),
                             ("executive", {"ceo", "founder", "president"})):
        if words & keys:
            return department
    return "management"


def hunter_sources(person: worlds.Person) -> list[dict]:
    return [{"domain": person.domain, "uri": f"https://{person.domain}/team", "extracted_on": "2026-06-01",
             "last_seen_on": worlds.AS_OF.isoformat(), "still_on_page": True}]


def hunter_email(person: worlds.Person) -> dict:
    return {"value": person.email, "type": "personal", "confidence": person.hunter_confidence,
            "sources": hunter_sources(person), "first_name": person.first_name, "last_name": person.last_name,
            "position": person.title, "position_raw": person.title, "seniority": hunter_seniority(person.title),
            "department": hunter_department(person.title), "linkedin": person.linkedin_url, "twitter": None,
            "phone_number": None, "verification": {"date": None, "status": None}}


def hunter_verdict(world: World, email: str, person: worlds.Person | None) -> dict:
    """The verifier's answer: the person's verdict, or for an unknown address invalid at a known company's
    domain (the server refuses it) and unknown elsewhere (no server answered)."""
    local, _, domain = email.lower().rpartition("@")
    disposable = domain in ("mailinator.com", "guerrillamail.com", "10minutemail.com")
    webmail = domain in ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
    if person is not None:
        status = person.verification
    elif disposable:
        status = "disposable"
    elif webmail:
        status = "webmail"
    else:
        company = world.company(domain) if local else None
        status = ("accept_all" if company.accept_all else "invalid") if company else "unknown"
    known = status != "unknown"
    score = {"valid": 100, "accept_all": 60, "webmail": 80, "invalid": 0, "disposable": 0, "unknown": 30}[status]
    return {"status": status, "score": score, "email": email, "regexp": bool(local), "gibberish": False,
            "disposable": disposable, "webmail": webmail, "mx_records": known, "smtp_server": known,
            "smtp_check": status in ("valid", "accept_all", "webmail"), "accept_all": status == "accept_all",
            "block": False, "sources": hunter_sources(person) if person else []}


# --- job boards -----------------------------------------------------------------------------


def _job_id(company: WorldCompany, posting: JobPosting) -> int:
    return int(hex_id("job", company.domain, posting.title, posting.date, posting.url, length=8), 16) % 10_000_000


def greenhouse_job(company: WorldCompany, token: str, posting: JobPosting, content: bool) -> dict:
    job_id = _job_id(company, posting)
    location = country_name(company.truth.country) or "Remote"
    job = {"id": job_id, "internal_job_id": job_id + 1000, "title": posting.title,
           "updated_at": f"{posting.date.isoformat()}T10:00:00-04:00", "requisition_id": str(job_id % 1000),
           "location": {"name": location}, "absolute_url": f"https://boards.greenhouse.io/{token}/jobs/{job_id}",
           "metadata": None}
    if content:
        department = posting.department or "General"
        job |= {"content": html.escape(f"<p>{company.truth.name} is hiring a {posting.title}.</p>"),
                "departments": [{"id": int(hex_id("department", department, length=6), 16), "name": department,
                                 "parent_id": None, "child_ids": []}],
                "offices": [{"id": int(hex_id("office", location, length=6), 16), "name": location,
                             "location": location, "parent_id": None, "child_ids": []}]}
    return job


def lever_posting(company: WorldCompany, site: str, posting: JobPosting) -> dict:
    posting_id = uuid_for("lever", company.domain, posting.title, posting.date, posting.url)
    created = dt.datetime.combine(posting.date, dt.time(10), tzinfo=dt.UTC)
    return {"id": posting_id, "text": posting.title,
            "categories": {"commitment": "Full Time", "location": country_name(company.truth.country) or "Remote",
                           "team": posting.department or "General", "department": posting.department or "General"},
            "country": company.truth.country, "createdAt": int(created.timestamp() * 1000),
            "descriptionPlain": f"{company.truth.name} is hiring a {posting.title}.", "lists": [],
            "additionalPlain": "", "workplaceType": "hybrid",
            "hostedUrl": f"https://jobs.lever.co/{site}/{posting_id}",
            "applyUrl": f"https://jobs.lever.co/{site}/{posting_id}/apply"}


# --- NewsAPI --------------------------------------------------------------------------------


def articles(company: WorldCompany) -> list[dict]:
    """Funding and news signals as NewsAPI articles; the text says what happened, as a real one would."""
    name = company.truth.name
    found = []
    for signal in worlds.articles(company):
        if isinstance(signal, Funding):
            amount = f"${signal.amount_usd / 1e6:g}M " if signal.amount_usd else ""
            description = f"{name} ({company.domain}) raised {amount}in a {signal.round} round to grow its team."
        else:
            description = {"expansion": f"{name} ({company.domain}) announces its expansion into new markets.",
                           "partnership": f"{name} ({company.domain}) announces a partnership with a larger vendor.",
                           }.get(signal.category, f"{name} ({company.domain}) shares company news.")
        found.append({"source": {"id": None, "name": "Example News"}, "author": "Newsroom", "title": signal.title,
                      "description": description, "url": signal.url, "urlToImage": None,
                      "publishedAt": f"{signal.date.isoformat()}T08:00:00Z",
                      "content": f"{description} [+1200 chars]"})
    return found


def news_matches(q: str, article: dict) -> bool:
    """Alternatives split by OR; each needs all its quoted phrases and words, in the title or description."""
    text = f"{article['title']} {article['description']}".lower()
    for alternative in re.split(r"\s+OR\s+", q.strip("() ")):
        phrases = re.findall(r'"([^"]+)"', alternative)
        words = [word for word in re.sub(r'"[^"]+"', " ", alternative).replace("(", " ").replace(")", " ").split()
                 if word not in ("AND", "+")]
        if all(phrase.lower() in text for phrase in phrases) and all(word.lower() in text for word in words):
            return True
    return False


# --- Wayback CDX ----------------------------------------------------------------------------

CDX_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
_PAGES = {"": "", "pricing": "pricing", "demo": "demo", "features": "features", "other": "about"}


def captures(world: World, company: WorldCompany) -> list[dict]:
    """Monthly captures of the home, pricing, demo, features and about pages over two years, plus one the
    day after each website change; a page's digest changes on each of its change dates."""
    host_key = ",".join(reversed(company.domain.split(".")))
    changes: dict[str, list[dt.date]] = {}
    for signal in worlds.website_changes(company):
        changes.setdefault(_PAGES[signal.page], []).append(signal.date)
    rows = []
    for path in _PAGES.values():
        dates = {world.as_of - dt.timedelta(days=30 * step + int(worlds.roll("shift", company.domain, path) * 20))
                 for step in range(24)}
        dates |= {date + dt.timedelta(days=1) for date in changes.get(path, []) if date < world.as_of}
        for date in sorted(dates):
            epoch = sum(change <= date for change in changes.get(path, []))
            rows.append({"urlkey": f"{host_key})/{path}", "timestamp": date.strftime("%Y%m%d") + "120000",
                         "original": f"https://{company.domain}/{path}", "mimetype": "text/html",
                         "statuscode": "200", "digest": worlds.digest_for(company.domain, path, epoch),
                         "length": str(2000 + int(worlds.roll("length", company.domain, path, epoch) * 9000))})
    return sorted(rows, key=lambda row: (row["urlkey"], row["timestamp"]))


def whole_number(source, name: str, default: int) -> int:
    """A whole-number parameter, or the provider's 400 naming it."""
    value = source.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Refused(400, f"{name} must be a whole number, got {str(value)[:100]!r}") from None


def clean_domain(value: str) -> str:
    try:
        return registered_domain(value.strip())
    except ValueError:
        return ""
