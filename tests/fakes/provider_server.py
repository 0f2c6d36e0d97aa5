"""Local data providers: one HTTP server speaking each provider's documented API over a synthetic world.

End-to-end tests and `bench/provider_cost.py` point `<NAME>_API_BASE_URL`
at it (`ProviderServer.environ()`). Each provider lives under its own
prefix and answers with its documented shapes (see the fixtures in
tests/fixtures/providers/), checks its key where it has one, and charges
credits the way the provider documents, priced from one table (`PRICES`);
`ledger()` adds them up. A test makes the next calls of a provider fail
(429 with Retry-After, 500), slow, or fail until cleared (an outage).

Where the docs were silent the choice is written beside the code, marked
"[assumed]".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from flask import Flask, Response, request

from agents.domains import registered_domain
from agents.geo import country_code
from agents.models import Funding, JobPosting, News
from tests.fakes import provider_world as worlds
from tests.fakes.local_server import LocalServer
from tests.fakes.provider_world import World, WorldCompany, country_name, hex_id, uuid_for

# Dollars per credit, as each provider bills. Every price in one place; set per plan.
PRICES: dict[str, float] = {
    # docs.apollo.io/docs/api-pricing; paying accounts' fair use counts a credit as $0.025 ("amount paid / $0.025")
    "apollo": 0.025,
    # [assumed] PDL sells credits by plan; about $0.10 a company credit on the Pro plan. Set yours.
    "pdl": 0.10,
    # Crunchbase API is an annual licence, not metered per call: calls are counted, credits are 0.
    "crunchbase": 0.0,
    # Hunter Starter: $49 for 1,000 credits (the same price as connector/providers/specs/hunter.yaml)
    "hunter": 0.049,
    # NewsAPI Business: $449 a month for 250,000 requests; one credit = one request
    "newsapi": 449 / 250_000,
    # public, free
    "greenhouse": 0.0,
    "lever": 0.0,
    "wayback": 0.0,
}
PROVIDERS = tuple(PRICES)
# Where each provider's API lives on the local server: the part of the real base URL after the host.
BASE_PATHS = {
    "apollo": "/apollo/api/v1", "pdl": "/pdl/v5", "crunchbase": "/crunchbase/api/v4", "hunter": "/hunter/v2",
    "greenhouse": "/greenhouse/v1", "lever": "/lever/v0", "newsapi": "/newsapi/v2", "wayback": "/wayback",
}
# How a provider takes its key: headers (any one) and query parameters (any one); public APIs take none.
_KEY_PLACES = {
    "apollo": (("x-api-key",), ()),
    "pdl": (("x-api-key",), ("api_key",)),
    "crunchbase": (("x-cb-user-key",), ("user_key",)),
    "hunter": (("x-api-key",), ("api_key",)),
    "newsapi": (("x-api-key",), ("apiKey",)),
}
APOLLO_DISPLAY_CAP = 50_000  # Apollo shows at most 50,000 records of a search (100 a page, 500 pages)


@dataclass
class Injected:
    """A failure a test asked for: the next `times` calls (None: until cleared) of `provider` (at `endpoint`)."""

    provider: str
    kind: str  # "status" (answer `status`) or "slow" (wait `seconds`, then answer normally)
    times: int | None
    endpoint: str | None = None
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass
class FakeProviders:
    """The world, the keys each provider accepts, what it was asked and charged, and the failures to inject."""

    world: World = field(default_factory=worlds.sample_world)
    keys: dict[str, str] = field(default_factory=lambda: {name: f"{name}-test-key" for name in _KEY_PLACES})
    prices: dict[str, float] = field(default_factory=lambda: dict(PRICES))
    apollo_display_cap: int = APOLLO_DISPLAY_CAP
    calls: Counter = field(default_factory=Counter)  # (provider, endpoint) -> requests received
    credits: Counter = field(default_factory=Counter)  # (provider, endpoint) -> credits charged
    verify_polls: Counter = field(default_factory=Counter)  # email -> 202s answered so far
    injected: list[Injected] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)

    # --- failures ---------------------------------------------------------

    def fail(self, provider: str, status: int = 500, times: int | None = 1, retry_after: float | None = None,
             endpoint: str | None = None) -> None:
        """Answer the next `times` calls with `status` (None: until `clear`); `Retry-After` when given."""
        with self._lock:
            self.injected.append(Injected(provider, "status", times, endpoint, status,
                                          None if retry_after is None else f"{retry_after:g}"))

    def outage(self, provider: str, status: int = 503, endpoint: str | None = None) -> None:
        """Every call fails until `clear(provider)`."""
        self.fail(provider, status, times=None, endpoint=endpoint)

    def slow(self, provider: str, seconds: float, times: int | None = 1, endpoint: str | None = None) -> None:
        """The next `times` calls answer after `seconds` (or as soon as `clear` or the server's stop)."""
        with self._lock:
            self._released.clear()
            self.injected.append(Injected(provider, "slow", times, endpoint, seconds=seconds))

    def clear(self, provider: str | None = None) -> None:
        """No more injected failures (for one provider, or all); slow calls in progress answer now."""
        with self._lock:
            self.injected = [item for item in self.injected if provider is not None and item.provider != provider]
            if not any(item.kind == "slow" for item in self.injected):
                self._released.set()

    def release(self) -> None:
        self._released.set()

    def take(self, provider: str, endpoint: str) -> list[Injected]:
        """The failures that apply to this call, each counted down once."""
        taken = []
        with self._lock:
            for item in self.injected:
                if item.provider == provider and item.endpoint in (None, endpoint) and item.times != 0:
                    if item.times is not None:
                        item.times -= 1
                    taken.append(item)
        return taken

    def wait(self, seconds: float) -> None:
        self._released.wait(seconds)

    # --- accounting -------------------------------------------------------

    def count(self, provider: str, endpoint: str) -> None:
        with self._lock:
            self.calls[(provider, endpoint)] += 1

    def charge(self, provider: str, endpoint: str, credits: float) -> None:
        with self._lock:
            self.credits[(provider, endpoint)] += credits

    def ledger(self) -> dict[str, dict[str, float]]:
        """{provider: {calls, credits, dollars}} for every provider, called or not."""
        with self._lock:
            totals = {name: {"calls": 0, "credits": 0.0, "dollars": 0.0} for name in PROVIDERS}
            for (provider, _), calls in self.calls.items():
                totals[provider]["calls"] += calls
            for (provider, _), credits in self.credits.items():
                totals[provider]["credits"] += credits
            for provider, row in totals.items():
                row["dollars"] = round(row["credits"] * self.prices[provider], 6)
            return totals

    def dollars(self) -> float:
        return round(sum(row["dollars"] for row in self.ledger().values()), 6)


# --- answers ------------------------------------------------------------------------


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def _error(provider: str, status: int, message: str) -> Response:
    """The provider's own error envelope (providers.md); Greenhouse's and Crunchbase's are [assumed]."""
    if provider == "apollo":
        body: Any = {"message": message} if status == 429 else {"error": message}
    elif provider == "pdl":
        kind = {400: "invalid_request_error", 401: "authentication_error", 402: "payment_required",
                404: "not_found", 429: "rate_limit_error"}.get(status, "api_error")
        body = {"status": status, "error": {"type": kind, "message": message}}
    elif provider == "hunter":
        kind = {400: "wrong_params", 401: "authentication_failed", 403: "too_many_requests",
                429: "too_many_requests", 222: "verification_failed", 451: "restricted"}.get(status, "server_error")
        body = {"errors": [{"id": kind, "code": status, "details": message}]}
    elif provider == "newsapi":
        code = {400: "parameterInvalid", 401: "apiKeyInvalid", 429: "rateLimited"}.get(status, "unexpectedError")
        body = {"status": "error", "code": code, "message": message}
    elif provider == "crunchbase":
        body = [{"code": {400: "MD100", 401: "LA102", 404: "MD404", 429: "LA103"}.get(status, "IS101"),
                 "message": message}]
    elif provider == "lever":
        body = {"ok": False, "error": message}
    elif provider == "wayback":
        return Response(message, status=status, mimetype="text/plain")
    else:
        body = {"status": status, "error": message}
    return _json(body, status)


_STATUS_TEXT = {429: "Too many requests: slow down", 500: "Internal server error", 502: "Bad gateway",
                503: "Service unavailable", 504: "Gateway timeout", 403: "You have reached your rate limit",
                401: "Invalid API key"}


def _keyed(provider: str, keys: dict[str, str]) -> bool:
    """The request carries the provider's key where the provider takes it (Apollo also takes OAuth Bearer)."""
    headers, params = _KEY_PLACES[provider]
    given = [request.headers.get(name) for name in headers] + [request.args.get(name) for name in params]
    if provider == "apollo" and request.headers.get("Authorization", "").startswith("Bearer "):
        given.append(request.headers["Authorization"].removeprefix("Bearer "))
    if provider == "newsapi":
        given.append(request.headers.get("Authorization"))
    return keys[provider] in given


class _Refused(Exception):
    """Bad input: answered with the provider's error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def create_app(fake: FakeProviders) -> Flask:
    app = Flask("fake-providers")
    world = fake.world
    news: list[dict] = []  # every article, built on the first search

    def route(provider: str, endpoint: str, rule: str, methods: tuple[str, ...] = ("GET",)):
        """Count the call, check the key, inject what the test asked for, then answer."""
        def register(view: Callable[..., Response]) -> Callable[..., Response]:
            def guarded(**kwargs):
                fake.count(provider, endpoint)
                if provider in _KEY_PLACES and not _keyed(provider, fake.keys):
                    return _error(provider, 401, "Invalid API key" if provider != "apollo"
                                  else "Invalid access credentials.")
                for item in fake.take(provider, endpoint):
                    if item.kind == "slow":
                        fake.wait(item.seconds)
                    else:
                        response = _error(provider, item.status, _STATUS_TEXT.get(item.status, "injected failure"))
                        if item.retry_after is not None:
                            response.headers["Retry-After"] = item.retry_after
                        return response
                try:
                    return view(**kwargs)
                except _Refused as refused:
                    return _error(provider, refused.status, refused.message)
            app.add_url_rule(BASE_PATHS[provider] + rule, f"{provider}.{endpoint}", guarded, methods=list(methods))
            return view
        return register

    # --- Apollo ---------------------------------------------------------------------

    @route("apollo", "organization_search", "/mixed_companies/search", ("POST",))
    def apollo_organization_search():
        params = _apollo_params()
        page, per_page = _page(params, "page", 1), min(_page(params, "per_page", 10), 100)
        found = [company for company in _sorted(world, "apollo") if _apollo_org_matches(company, params)]
        start = (page - 1) * per_page
        shown = found[start:start + per_page] if start + per_page <= fake.apollo_display_cap else []
        if shown:
            fake.charge("apollo", "organization_search", 1)  # 1 credit a page returned
        organizations = [_apollo_search_org(company) for company in shown]
        return _apollo_answer({
            "breadcrumbs": [], "partial_results_only": False, "has_join": False, "disable_eu_prospecting": False,
            "partial_results_limit": 10000,
            "pagination": {"page": page, "per_page": per_page, "total_entries": len(found),
                           "total_pages": math.ceil(len(found) / per_page)},
            "accounts": [], "organizations": organizations, "model_ids": [org["id"] for org in organizations],
            "num_fetch_result": None, "derived_params": None,
        }, fake)

    @route("apollo", "organization_enrich", "/organizations/enrich")
    def apollo_organization_enrich():
        domain = _clean_domain(request.args.get("domain", ""))
        company = world.company(domain) if domain else None
        if company is None or not company.in_apollo:
            return _apollo_answer({}, fake)  # documented: 200 without an organization
        fake.charge("apollo", "organization_enrich", 1)
        return _apollo_answer({"organization": _apollo_org(company)}, fake)

    @route("apollo", "bulk_organization_enrich", "/organizations/bulk_enrich", ("POST",))
    def apollo_bulk_organization_enrich():
        domains = _apollo_params().get("domains", [])
        if not domains:
            raise _Refused(422, "domains[] is required")
        if len(domains) > 10:
            raise _Refused(422, "at most 10 domains per request")
        unique = list(dict.fromkeys(_clean_domain(domain) for domain in domains))
        found = [company for company in (world.company(domain) for domain in unique if domain)
                 if company is not None and company.in_apollo]
        fake.charge("apollo", "bulk_organization_enrich", len(found))  # 1 credit per organization
        return _apollo_answer({
            "status": "success", "error_code": None, "error_message": None, "total_requested_domains": len(domains),
            "unique_domains": len(unique), "unique_enriched_records": len(found),
            "missing_records": len(unique) - len(found), "organizations": [_apollo_org(c) for c in found],
        }, fake)

    @route("apollo", "people_search", "/mixed_people/api_search", ("POST",))
    def apollo_people_search():
        params = _apollo_params()
        page, per_page = _page(params, "page", 1), min(_page(params, "per_page", 10), 100)
        domains = {_clean_domain(domain) for domain in params.get("q_organization_domains_list", [])}
        titles = params.get("person_titles", [])
        seniorities = {value.lower() for value in params.get("person_seniorities", [])}
        people = [(company, person) for company in _sorted(world, "apollo")
                  if not domains or company.domain in domains
                  for person in company.people
                  if (not titles or any(_title_matches(person.title, title) for title in titles))
                  and (not seniorities or apollo_seniority(person.title) in seniorities)]
        start = (page - 1) * per_page
        shown = people[start:start + per_page] if start + per_page <= fake.apollo_display_cap else []
        return _apollo_answer({"total_entries": len(people),
                               "people": [_apollo_search_person(c, p) for c, p in shown]}, fake)  # free

    @route("apollo", "bulk_people_match", "/people/bulk_match", ("POST",))
    def apollo_bulk_people_match():
        body = request.get_json(silent=True) or {}
        details = body.get("details")
        if not isinstance(details, list) or not details:
            raise _Refused(422, "details is required: a list of people to match")
        if len(details) > 10:
            raise _Refused(422, "at most 10 details per request")
        reveal_phone = str(body.get("reveal_phone_number", request.args.get("reveal_phone_number"))).lower() == "true"
        matches, credits = [], 0
        for detail in details:
            person = _apollo_match(world, detail if isinstance(detail, dict) else {})
            if person is None:
                matches.append(None)
                continue
            credits += 1 + (8 if reveal_phone and person.phone else 0)  # 1 a person (email), +8 with a mobile
            matches.append(_apollo_person(world.companies[person.domain], person, reveal_phone))
        fake.charge("apollo", "bulk_people_match", credits)
        found = sum(match is not None for match in matches)
        return _apollo_answer({
            "status": "success", "error_code": None, "error_message": None,
            "total_requested_enrichments": len(details), "unique_enriched_records": found,
            "missing_records": len(details) - found, "credits_consumed": credits, "matches": matches,
        }, fake)

    # --- People Data Labs ---------------------------------------------------------------

    @route("pdl", "company_enrich", "/company/enrich")
    def pdl_company_enrich():
        company = _pdl_lookup(world, request.args)
        likelihood = _pdl_likelihood(company) if company else 0
        wanted = int(request.args.get("min_likelihood") or 0)
        if company is None or likelihood < wanted:
            raise _Refused(404, "No records were found matching your request")
        fake.charge("pdl", "company_enrich", 1)  # per match; a 404 is free
        return _json({"status": 200, "likelihood": likelihood, **_pdl_company(company)},
                     headers=_pdl_headers(1, "company_enrichment"))

    @route("pdl", "company_search", "/company/search", ("POST", "GET"))
    def pdl_company_search():
        body = request.get_json(silent=True) or {}
        if "sql" in body:
            raise _Refused(400, "this local PDL answers the Elasticsearch `query` only, not `sql`")
        query = body.get("query")
        if not isinstance(query, dict):
            raise _Refused(400, "query is required (an Elasticsearch query object)")
        size = int(body.get("size", 1))
        if not 1 <= size <= 100:
            raise _Refused(400, "size must be between 1 and 100")
        fingerprint = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:10]
        start = 0
        if body.get("scroll_token"):
            offset, _, token_query = str(body["scroll_token"]).partition("$")
            if token_query != fingerprint or not offset.isdigit():
                raise _Refused(400, "scroll_token does not belong to this query")
            start = int(offset)
        found = [company for company in _sorted(world, "pdl") if _es_matches(_pdl_company(company), query)]
        data = [_pdl_company(company) for company in found[start:start + size]]
        fake.charge("pdl", "company_search", len(data))  # 1 credit per record returned
        answer = {"status": 200, "data": data, "total": len(found)}
        if start + size < len(found):
            answer["scroll_token"] = f"{start + size}${fingerprint}"
        return _json(answer, headers=_pdl_headers(len(data), "company_search"))

    # --- Crunchbase ---------------------------------------------------------------------

    @route("crunchbase", "search_organizations", "/searches/organizations", ("POST",))
    def crunchbase_search():
        body = request.get_json(silent=True) or {}
        predicates = body.get("query", [])
        limit = int(body.get("limit", 50))
        if not 1 <= limit <= 1000:
            raise _Refused(400, "limit must be between 1 and 1000")
        field_ids = body.get("field_ids") or ["identifier"]
        found = [company for company in _sorted(world, "crunchbase")
                 if all(_cb_holds(company, predicate) for predicate in predicates)]
        if body.get("after_id"):
            ids = [company.crunchbase_uuid for company in found]
            if body["after_id"] not in ids:
                raise _Refused(400, "after_id is not an entity of this search")
            page = found[ids.index(body["after_id"]) + 1:][:limit]
        else:
            page = found[:limit]
        return _json({"count": len(found), "entities": [
            {"uuid": company.crunchbase_uuid, "properties": _cb_fields(company, field_ids)} for company in page]})

    @route("crunchbase", "organization", "/entities/organizations/<entity_id>")
    def crunchbase_organization(entity_id: str):
        company = world.permalinks.get(entity_id)
        if company is None or not company.in_crunchbase:
            raise _Refused(404, f"Organization {entity_id[:100]} not found")
        field_ids = [f for f in request.args.get("field_ids", "").split(",") if f] or list(_cb_properties(company))
        cards = [card for card in request.args.get("card_ids", "").split(",") if card]
        unknown = [card for card in cards if card != "raised_funding_rounds"]
        if unknown:
            raise _Refused(400, f"this local Crunchbase has no card {unknown[0][:100]!r}")
        answer: dict[str, Any] = {"properties": _cb_fields(company, field_ids)}
        if cards:
            answer["cards"] = {"raised_funding_rounds": [_cb_round(company, signal)
                                                         for signal in company.signals_of(Funding)]}
        return _json(answer)

    # --- Hunter -------------------------------------------------------------------------

    @route("hunter", "domain_search", "/domain-search")
    def hunter_domain_search():
        domain = _clean_domain(request.args.get("domain", ""))
        if not domain:
            raise _Refused(400, "You are missing the domain parameter")
        limit, offset = int(request.args.get("limit", 10)), int(request.args.get("offset", 0))
        if not 1 <= limit <= 100:
            raise _Refused(400, "limit must be between 1 and 100")
        company = world.company(domain)
        listed = [person for person in (company.people if company else []) if person.in_hunter]
        seniority, department = request.args.get("seniority"), request.args.get("department")
        listed = [person for person in listed
                  if (not seniority or hunter_seniority(person.title) in seniority.split(","))
                  and (not department or hunter_department(person.title) in department.split(","))]
        emails = [_hunter_email(person) for person in listed[offset:offset + limit]]
        fake.charge("hunter", "domain_search", math.ceil(len(emails) / 10))  # 1 search per 1-10 emails
        return _json({"data": {
            "domain": domain, "disposable": False, "webmail": False,
            "accept_all": bool(company and company.accept_all), "pattern": "{first}.{last}" if listed else None,
            "organization": company.truth.name if company else None, "linked_domains": [], "emails": emails,
        }, "meta": {"results": len(listed), "limit": limit, "offset": offset, "params": {
            "domain": domain, "company": None, "type": request.args.get("type"), "seniority": seniority,
            "department": department}}})

    @route("hunter", "email_finder", "/email-finder")
    def hunter_email_finder():
        domain = _clean_domain(request.args.get("domain", ""))
        first, last = request.args.get("first_name", ""), request.args.get("last_name", "")
        if request.args.get("full_name") and not (first and last):
            first, _, last = request.args["full_name"].partition(" ")
        if not domain:
            raise _Refused(400, "You are missing the domain parameter")
        if not (first and last):
            raise _Refused(400, "You are missing the first_name and last_name (or full_name) parameters")
        company = world.company(domain)
        person = next((p for p in (company.people if company else [])
                       if p.findable and (p.first_name.lower(), p.last_name.lower()) == (first.lower(), last.lower())),
                      None)
        if person is not None:
            fake.charge("hunter", "email_finder", 1)  # 1 search per email found; nothing found is free
        return _json({"data": {
            "first_name": first, "last_name": last, "email": person.email if person else None,
            "score": person.hunter_confidence if person else None, "domain": domain,
            "accept_all": bool(company and company.accept_all), "position": person.title if person else None,
            "twitter": None, "linkedin_url": person.linkedin_url if person else None, "phone_number": None,
            "company": company.truth.name if company else None, "sources": _hunter_sources(person) if person else [],
            "verification": {"date": None, "status": None},
        }, "meta": {"params": {"first_name": first, "last_name": last, "full_name": None, "domain": domain,
                               "company": None, "max_duration": None}}})

    @route("hunter", "email_verifier", "/email-verifier")
    def hunter_email_verifier():
        email = request.args.get("email", "").strip()
        if not email:
            raise _Refused(400, "You are missing the email parameter")
        person = world.email_owner(email)
        if person is not None and person.verify_fails:
            raise _Refused(222, "The email verification failed because of an unexpected response from the remote "
                                "SMTP server. This failure is outside of our control. Please retry later.")
        if person is not None and fake.verify_polls[email.lower()] < person.verify_polls:
            with fake._lock:
                fake.verify_polls[email.lower()] += 1
            return _json({"data": {"status": "unknown", "email": email}, "meta": {"params": {"email": email}}}, 202)
        verdict = _hunter_verdict(world, email, person)
        if verdict["status"] not in ("unknown", "disposable"):
            fake.charge("hunter", "email_verifier", 1)  # 1 verification; unknown and disposable are free
        return _json({"data": verdict, "meta": {"params": {"email": email}}})

    # --- job boards ---------------------------------------------------------------------

    @route("greenhouse", "jobs", "/boards/<token>/jobs")
    def greenhouse_jobs(token: str):
        company = world.boards.get(f"greenhouse:{token}")
        if company is None:
            raise _Refused(404, "Job board not found")
        content = request.args.get("content") == "true"
        jobs = [_greenhouse_job(company, token, posting, content) for posting in worlds.job_postings(company)]
        return _json({"jobs": jobs, "meta": {"total": len(jobs)}})

    @route("lever", "postings", "/postings/<site>")
    def lever_postings(site: str):
        company = world.boards.get(f"lever:{site}")
        if company is None:
            raise _Refused(404, "Document not found")
        if request.args.get("mode", "json") != "json":
            raise _Refused(400, "this local Lever answers mode=json only")
        skip, limit = int(request.args.get("skip", 0)), request.args.get("limit")
        postings = [_lever_posting(company, site, posting) for posting in worlds.job_postings(company)]
        return _json(postings[skip:skip + int(limit)] if limit else postings[skip:])

    # --- NewsAPI --------------------------------------------------------------------------

    @route("newsapi", "everything", "/everything")
    def newsapi_everything():
        q = request.args.get("q", "").strip()
        if not q:
            raise _Refused(400, "Required parameters are missing: q, qInTitle, sources or domains.")
        if len(q) > 500:
            raise _Refused(400, "q must be at most 500 characters")
        page_size, page = min(int(request.args.get("pageSize", 100)), 100), int(request.args.get("page", 1))
        since, until = request.args.get("from", ""), request.args.get("to", "")
        if not news:
            news.extend(article for company in world.companies.values() for article in _articles(company))
        found = [article for article in news
                 if _news_matches(q, article) and since[:10] <= article["publishedAt"][:10]
                 and (not until or article["publishedAt"][:10] <= until[:10])]
        found.sort(key=lambda article: (article["publishedAt"], article["url"]), reverse=True)
        fake.charge("newsapi", "everything", 1)  # one request
        return _json({"status": "ok", "totalResults": len(found),
                      "articles": found[(page - 1) * page_size:page * page_size]})

    # --- Wayback CDX ----------------------------------------------------------------------

    @route("wayback", "cdx", "/cdx/search/cdx")
    def wayback_cdx():
        return _cdx(world, request.args)

    return app


# --- Apollo --------------------------------------------------------------------------------


def _apollo_params() -> dict[str, list]:
    """Query parameters (`name[]=a&name[]=b`, `revenue_range[min]=`) and a JSON body, as one dict of lists."""
    params: dict[str, list] = {}
    for name in request.args:
        params.setdefault(name.removesuffix("[]"), []).extend(request.args.getlist(name))
    body = request.get_json(silent=True) or {}
    for name, value in body.items() if isinstance(body, dict) else ():
        if isinstance(value, dict):
            for key, inner in value.items():
                params.setdefault(f"{name}[{key}]", []).append(inner)
        else:
            params.setdefault(name.removesuffix("[]"), []).extend(value if isinstance(value, list) else [value])
    return params


def _apollo_answer(body: dict, fake: FakeProviders) -> Response:
    used = sum(calls for (provider, _), calls in fake.calls.items() if provider == "apollo")
    return _json(body, headers={"x-rate-limit-minute": "200", "x-minute-requests-left": str(200 - used % 200),
                                "x-rate-limit-hourly": "6000", "x-hourly-requests-left": str(6000 - used % 6000),
                                "x-rate-limit-daily": "50000", "x-daily-requests-left": str(50000 - used % 50000)})


def _page(params: dict[str, list], name: str, default: int) -> int:
    try:
        value = int(params.get(name, [default])[0])
    except (TypeError, ValueError):
        raise _Refused(422, f"{name} must be a whole number") from None
    if value < 1:
        raise _Refused(422, f"{name} must be at least 1")
    return value


def _sorted(world: World, provider: str) -> list[WorldCompany]:
    """The companies a provider holds, in its own stable order (by its id)."""
    held = {"apollo": lambda c: c.in_apollo, "pdl": lambda c: c.in_pdl, "crunchbase": lambda c: c.in_crunchbase}
    key = {"apollo": lambda c: c.apollo_id, "pdl": lambda c: c.pdl_id, "crunchbase": lambda c: c.crunchbase_uuid}
    return sorted(filter(held[provider], world.companies.values()), key=key[provider])


def _apollo_org_matches(company: WorldCompany, params: dict[str, list]) -> bool:
    org = _apollo_org(company)
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
        if revenue is None or (low is not None and revenue < float(low)) or (high is not None and revenue > float(high)):
            return False
    technologies = {uid.lower() for uid in params.get("currently_using_any_of_technology_uids", [])}
    if technologies and not technologies & {tech["uid"] for tech in org["current_technologies"]}:
        return False
    domains = {_clean_domain(domain) for domain in params.get("q_organization_domains_list", [])}
    if domains and company.domain not in domains:
        return False
    name = (params.get("q_organization_name") or [""])[0].lower()
    return name in company.truth.name.lower()


def _in_range(value: int, text: str) -> bool:
    low, _, high = str(text).partition(",")
    try:
        return (not low.strip() or value >= int(low)) and (not high.strip() or value <= int(high))
    except ValueError:
        raise _Refused(422, f"organization_num_employees_ranges: {str(text)[:100]!r} is not 'min,max'") from None


def _country(text: str) -> str | None:
    try:
        return country_code(text)
    except ValueError:
        return None


def _uid(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _apollo_search_org(company: WorldCompany) -> dict:
    """An organization as Apollo's search lists it: identity and links, no firmographics (see the fixture)."""
    org = _apollo_org(company)
    keep = ("id", "name", "website_url", "blog_url", "angellist_url", "linkedin_url", "twitter_url", "facebook_url",
            "primary_phone", "languages", "alexa_ranking", "phone", "linkedin_uid", "founded_year",
            "publicly_traded_symbol", "publicly_traded_exchange", "logo_url", "crunchbase_url", "primary_domain")
    return {name: org[name] for name in keep} | {
        "sanitized_phone": None, "owned_by_organization_id": None, "intent_strength": None, "show_intent": True,
        "has_intent_signal_account": False, "intent_signal_account": None}


def _apollo_org(company: WorldCompany) -> dict:
    truth = company.truth
    revenue = truth.annual_revenue if company.apollo_revenue else None
    industry = truth.industry.lower() if truth.industry else None
    phone = f"+1{2012000000 + int(worlds.roll('phone', company.domain) * 7_000_000_000)}"
    return {
        "id": company.apollo_id, "name": truth.name, "website_url": f"http://www.{company.domain}",
        "blog_url": None, "angellist_url": None, "linkedin_url": f"http://www.linkedin.com/company/{company.stem}",
        "twitter_url": None, "facebook_url": None, "languages": [], "alexa_ranking": None,
        "primary_phone": {"number": phone, "source": "Scraped", "sanitized_number": phone}, "phone": phone, "linkedin_uid": None, "founded_year": truth.founded, "publicly_traded_symbol": None,
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


def _title_matches(title: str, wanted: str) -> bool:
    """Apollo also finds similar titles: every word of the wanted title (VP Sales ~ VP of Sales)."""
    words = _title_words(wanted)
    return bool(words) and words <= _title_words(title)


def _apollo_search_person(company: WorldCompany, person: worlds.Person) -> dict:
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


def _apollo_match(world: World, detail: dict) -> worlds.Person | None:
    """Identify by id, email, or first and last name with a domain (the documented ways)."""
    if detail.get("id"):
        return world.people.get(str(detail["id"]))
    if detail.get("email"):
        return world.email_owner(str(detail["email"]))
    domain = _clean_domain(str(detail.get("domain", "")))
    company = world.company(domain) if domain else None
    name = (str(detail.get("first_name", "")), str(detail.get("last_name", "")))
    for person in company.people if company else []:
        if (person.first_name.lower(), person.last_name.lower()) == (name[0].lower(), name[1].lower()):
            return person
    return None


def _apollo_person(company: WorldCompany, person: worlds.Person, reveal_phone: bool) -> dict:
    org = _apollo_org(company)
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


def _pdl_company(company: WorldCompany) -> dict:
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


def _pdl_lookup(world: World, args) -> WorldCompany | None:
    if not any(args.get(name) for name in ("website", "name", "profile", "pdl_id", "ticker")):
        raise _Refused(400, "Request needs one of: website, name, profile, pdl_id, ticker")
    found = None
    if args.get("website"):
        found = world.company(_clean_domain(args["website"]))
    elif args.get("pdl_id"):
        found = next((c for c in world.companies.values() if c.pdl_id == args["pdl_id"]), None)
    elif args.get("name"):
        found = next((c for c in world.companies.values() if c.truth.name.lower() == args["name"].lower()), None)
    return found if found is not None and found.in_pdl else None


def _pdl_likelihood(company: WorldCompany) -> int:
    return 6 + int(worlds.roll("pdl-likelihood", company.domain) * 5)  # 6..10


def _pdl_headers(credits: int, kind: str) -> dict[str, str]:
    return {"x-ratelimit-remaining": "{'minute': 999}", "x-ratelimit-limit": "{'minute': 1000}",
            "x-call-credits-spent": str(credits), "x-call-credits-type": kind}


def _es_matches(doc: dict, query: dict) -> bool:
    """A subset of Elasticsearch's query DSL: bool (must, filter, should, must_not), term, terms, match,
    match_phrase, range, exists, match_all. Anything else is refused, naming it."""
    if not isinstance(query, dict) or len(query) != 1:
        raise _Refused(400, "each query clause must be an object with one key")
    (kind, body), = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        clauses = {name: body.get(name, []) for name in ("must", "filter", "should", "must_not")}
        clauses = {name: value if isinstance(value, list) else [value] for name, value in clauses.items()}
        return (all(_es_matches(doc, clause) for clause in clauses["must"] + clauses["filter"])
                and (not clauses["should"] or any(_es_matches(doc, clause) for clause in clauses["should"]))
                and not any(_es_matches(doc, clause) for clause in clauses["must_not"]))
    if kind == "exists":
        return _values(doc, body.get("field", "")) != []
    if not isinstance(body, dict) or len(body) != 1:
        raise _Refused(400, f"{kind}: expected one field")
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
    raise _Refused(400, f"this local PDL does not know the {kind[:50]!r} query")


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


def _investment_type(round_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", round_name.lower()).strip("_")


def _cb_properties(company: WorldCompany) -> dict:
    truth = company.truth
    country = country_name(truth.country)
    rounds = company.signals_of(Funding)
    latest = max(rounds, key=lambda signal: signal.date) if rounds else None
    return {
        "identifier": _identifier("organization", truth.name, company.permalink, company.crunchbase_uuid)
        | {"image_id": None},
        "short_description": f"{truth.name} makes {(truth.industry or 'software').lower()} products.",
        "categories": [_identifier("category", truth.industry, _uid(truth.industry).replace("_", "-"),
                                   uuid_for("category", truth.industry.lower()))] if truth.industry else [],
        "location_identifiers": [_identifier("location", country, country.lower().replace(" ", "-"),
                                             uuid_for("location", truth.country))
                                 | {"location_type": "country"}] if country else [],
        "website_url": f"https://www.{company.domain}",
        "num_employees_enum": _bucket(truth.employee_count, _CB_EMPLOYEES, "c_10001_max"),
        "revenue_range": _bucket(truth.annual_revenue, _CB_REVENUES, "r_10000000"),
        "founded_on": {"value": f"{truth.founded}-01-01", "precision": "year"} if truth.founded else None,
        "last_funding_type": _investment_type(latest.round) if latest else None,
        "last_funding_at": latest.date.isoformat() if latest else None,
        "facet_ids": ["company"],
    }


def _cb_fields(company: WorldCompany, field_ids: list[str]) -> dict:
    properties = _cb_properties(company)
    return {name: properties[name] for name in ["identifier", *field_ids]
            if name in properties and properties[name] is not None}


def _cb_holds(company: WorldCompany, predicate: dict) -> bool:
    """AND-only predicates (Crunchbase v4 search): includes, not_includes, eq, not_eq, contains, gte, lte,
    between on the properties this local Crunchbase knows."""
    if not isinstance(predicate, dict) or predicate.get("type", "predicate") != "predicate":
        raise _Refused(400, "query items must be predicates")
    name, operator, wanted = predicate.get("field_id"), predicate.get("operator_id"), predicate.get("values", [])
    properties = _cb_properties(company)
    if name not in properties:
        raise _Refused(400, f"this local Crunchbase does not search on field {str(name)[:100]!r}")
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
    raise _Refused(400, f"this local Crunchbase does not know operator {str(operator)[:50]!r}")


def _cb_round(company: WorldCompany, signal: Funding) -> dict:
    uuid = uuid_for("round", company.domain, signal.round, signal.date)
    money = {"value": signal.amount_usd, "currency": "USD", "value_usd": signal.amount_usd} \
        if signal.amount_usd else None
    return {"identifier": _identifier("funding_round", f"{signal.round} - {company.truth.name}",
                                      f"{company.stem}-{_investment_type(signal.round)}--{uuid[:8]}", uuid),
            "announced_on": signal.date.isoformat(), "investment_type": _investment_type(signal.round),
            "money_raised": money, "funded_organization_identifier": _cb_properties(company)["identifier"]}


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


def _hunter_sources(person: worlds.Person) -> list[dict]:
    return [{"domain": person.domain, "uri": f"https://{person.domain}/team", "extracted_on": "2026-06-01",
             "last_seen_on": worlds.AS_OF.isoformat(), "still_on_page": True}]


def _hunter_email(person: worlds.Person) -> dict:
    return {"value": person.email, "type": "personal", "confidence": person.hunter_confidence,
            "sources": _hunter_sources(person), "first_name": person.first_name, "last_name": person.last_name,
            "position": person.title, "position_raw": person.title, "seniority": hunter_seniority(person.title),
            "department": hunter_department(person.title), "linkedin": person.linkedin_url, "twitter": None,
            "phone_number": None, "verification": {"date": None, "status": None}}


def _hunter_verdict(world: World, email: str, person: worlds.Person | None) -> dict:
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
            "block": False, "sources": _hunter_sources(person) if person else []}


# --- job boards -----------------------------------------------------------------------------


def _job_id(company: WorldCompany, posting: JobPosting) -> int:
    return int(hex_id("job", company.domain, posting.title, posting.date, posting.url, length=8), 16) % 10_000_000


def _greenhouse_job(company: WorldCompany, token: str, posting: JobPosting, content: bool) -> dict:
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


def _lever_posting(company: WorldCompany, site: str, posting: JobPosting) -> dict:
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


def _articles(company: WorldCompany) -> list[dict]:
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


def _news_matches(q: str, article: dict) -> bool:
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

_CDX_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
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


def _cdx(world: World, args) -> Response:
    url = args.get("url", "").strip()
    if not url:
        return Response("url param is required\n", status=400, mimetype="text/plain")
    match_type = args.get("matchType") or ("prefix" if url.endswith("*") else "domain" if url.startswith("*.")
                                           else "exact")
    bare = re.sub(r"^[a-z]+://", "", url.removeprefix("*.").rstrip("*"), flags=re.I)
    host, _, path = bare.partition("/")
    host = host.split(":")[0].lower().removeprefix("www.")
    company = world.company(host)
    rows = captures(world, company) if company else []
    if match_type == "exact":
        rows = [row for row in rows if row["urlkey"].split(")/", 1)[1] == path.rstrip("/")]
    elif match_type == "prefix":
        rows = [row for row in rows if row["urlkey"].split(")/", 1)[1].startswith(path)]
    low = (args.get("from") or "").ljust(14, "0")
    high = (args.get("to") or "").ljust(14, "9")
    rows = [row for row in rows if low <= row["timestamp"] <= high]
    for rule in args.getlist("filter"):
        negate, rule = rule.startswith("!"), rule.removeprefix("!")
        name, _, pattern = rule.partition(":")
        if name not in _CDX_FIELDS:
            return Response(f"unknown filter field {name[:50]}\n", status=400, mimetype="text/plain")
        rows = [row for row in rows if bool(re.fullmatch(pattern, row[name])) != negate]
    for rule in args.getlist("collapse"):
        name, _, width = rule.partition(":")
        size = int(width) if width else None
        kept, previous = [], None
        for row in rows:
            value = (row["urlkey"], row[name][:size])
            if value != previous:
                kept.append(row)
            previous = value
        rows = kept
    if args.get("resumeKey"):
        after = unquote_plus(args["resumeKey"]).removesuffix("!").rsplit(" ", 1)
        rows = [row for row in rows if (row["urlkey"], row["timestamp"]) > (after[0], after[-1])]
    limit = int(args.get("limit") or 0)
    more = bool(limit) and len(rows) > abs(limit)
    rows = rows[:limit] if limit > 0 else rows[limit:] if limit < 0 else rows
    fields = [name for name in (args.get("fl") or ",".join(_CDX_FIELDS)).split(",") if name in _CDX_FIELDS]
    table = [[row[name] for name in fields] for row in rows]
    resume = quote_plus(f"{rows[-1]['urlkey']} {rows[-1]['timestamp']}!") \
        if more and limit > 0 and args.get("showResumeKey") == "true" else None
    if args.get("output") == "json":
        body: list = [list(fields), *table] if table else []
        if resume:
            body += [[], [resume]]
        return _json(body)
    text = "".join(" ".join(row) + "\n" for row in table) + (f"\n{resume}\n" if resume else "")
    return Response(text, mimetype="text/plain")


def _clean_domain(value: str) -> str:
    try:
        return registered_domain(value.strip())
    except ValueError:
        return ""


# --- the server --------------------------------------------------------------------------


class ProviderServer(LocalServer):
    """The local providers on a free loopback port. `environ()` gives the `<NAME>_API_BASE_URL` variables
    pointing at it; `ledger()` what it charged."""

    def __init__(self, fake: FakeProviders | None = None) -> None:
        self.fake = fake or FakeProviders()
        super().__init__(create_app(self.fake))

    def base_url(self, provider: str) -> str:
        return self.url + BASE_PATHS[provider]

    def environ(self) -> dict[str, str]:
        return {f"{name.upper()}_API_BASE_URL": self.base_url(name) for name in PROVIDERS}

    def ledger(self) -> dict[str, dict[str, float]]:
        return self.fake.ledger()

    def stop(self) -> None:
        self.fake.release()  # a slowed call answers now, so the request threads can finish
        super().stop()
