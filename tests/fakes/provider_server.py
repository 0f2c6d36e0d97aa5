"""Local data providers: one HTTP server speaking each provider's documented API over a synthetic world.

End-to-end tests and `bench/provider_cost.py` point `<NAME>_API_BASE_URL`
at it (`ProviderServer.environ()`). Each provider lives under its own
prefix and answers with its documented shapes (see the fixtures in
tests/fixtures/providers/), checks its key where it has one, and charges
credits the way the provider documents, priced from one table (`PRICES`);
`ledger()` adds them up. A test makes the next calls of a provider fail
(429 with Retry-After, 500), slow, or fail until cleared (an outage).

The payloads themselves are `provider_payloads`; where the docs were silent
the choice is written beside the code, marked "[assumed]".
"""

from __future__ import annotations

import hashlib
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

from agents.models import Funding
from tests.fakes import provider_payloads as payloads
from tests.fakes import provider_world as worlds
from tests.fakes.local_server import LocalServer
from tests.fakes.provider_payloads import Refused, held_by, whole_number
from tests.fakes.provider_world import World

# Dollars per credit, as each provider bills. Every price in one place; set per plan.
PRICES: dict[str, float] = {
    # Apollo's fair use counts a paying account's credit as $0.025 ("amount paid / $0.025"; api-evangelist's
    # reading of apollo.io/pricing, [3rd-party]). Credits: docs.apollo.io/docs/api-pricing + that reading.
    "apollo": 0.025,
    # [assumed] PDL sells credits by plan; about $0.10 a company credit on the Pro plan. Set yours.
    "pdl": 0.10,
    # Crunchbase API is an annual licence, not metered per call: calls are counted, credits are 0.
    "crunchbase": 0.0,
    # Hunter Starter: $49 for 1,000 credits (the same price as connector/providers/specs/hunter.yaml)
    "hunter": 0.049,
    # [assumed] NewsAPI Business: $449 a month for 250,000 requests; one credit = one request
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
    "greenhouse": "/greenhouse/v1", "lever": "/lever/v0", "newsapi": "/newsapi/v2", "wayback": "/wayback/cdx/search",
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
    released: threading.Event = field(default_factory=threading.Event)  # set: a slowed call answers now


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
            self.injected.append(Injected(provider, "slow", times, endpoint, seconds=seconds))

    def clear(self, provider: str | None = None) -> None:
        """No more injected failures (for one provider, or all); slow calls in progress answer now."""
        with self._lock:
            kept = [item for item in self.injected if provider is not None and item.provider != provider]
            for item in self.injected:
                if all(item is not other for other in kept):
                    item.released.set()
            self.injected = kept

    def release(self) -> None:
        """Slowed calls answer now (the server is stopping)."""
        with self._lock:
            for item in self.injected:
                item.released.set()

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

    # --- accounting -------------------------------------------------------

    def count(self, provider: str, endpoint: str) -> None:
        with self._lock:
            self.calls[(provider, endpoint)] += 1

    def still_verifying(self, email: str, polls: int) -> bool:
        """Whether Hunter answers this verification 202 once more (it takes `polls` of them), counting it."""
        with self._lock:
            due = self.verify_polls[email.lower()] < polls
            self.verify_polls[email.lower()] += due
            return due

    def calls_to(self, provider: str) -> int:
        with self._lock:
            return sum(calls for (name, _), calls in self.calls.items() if name == provider)

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


def create_app(fake: FakeProviders) -> Flask:
    app = Flask("fake-providers")
    world = fake.world
    news = [article for company in world.companies.values() for article in payloads.articles(company)]
    suggestions = payloads.cb_suggestions(world)

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
                        item.released.wait(item.seconds)
                    else:
                        response = _error(provider, item.status, _STATUS_TEXT.get(item.status, "injected failure"))
                        if item.retry_after is not None:
                            response.headers["Retry-After"] = item.retry_after
                        return response
                try:
                    return view(**kwargs)
                except Refused as refused:
                    return _error(provider, refused.status, refused.message)
            app.add_url_rule(BASE_PATHS[provider] + rule, f"{provider}.{endpoint}", guarded, methods=list(methods))
            return view
        return register

    # --- Apollo ---------------------------------------------------------------------

    @route("apollo", "organization_search", "/mixed_companies/search", ("POST",))
    def apollo_organization_search():
        params = _apollo_params()
        page, per_page = _page(params, "page", 1), min(_page(params, "per_page", 10), 100)
        found = [company for company in held_by(world, "apollo") if payloads.apollo_org_matches(company, params)]
        start = (page - 1) * per_page
        shown = found[start:start + per_page] if start + per_page <= fake.apollo_display_cap else []
        if shown:
            fake.charge("apollo", "organization_search", 1)  # 1 credit a page returned
        organizations = [payloads.apollo_search_org(company) for company in shown]
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
        domain = payloads.clean_domain(request.args.get("domain", ""))
        company = world.company(domain) if domain else None
        if company is None or not company.in_apollo:
            return _apollo_answer({}, fake)  # documented: 200 without an organization
        fake.charge("apollo", "organization_enrich", 1)
        return _apollo_answer({"organization": payloads.apollo_org(company)}, fake)

    @route("apollo", "bulk_organization_enrich", "/organizations/bulk_enrich", ("POST",))
    def apollo_bulk_organization_enrich():
        domains = _apollo_params().get("domains", [])
        if not domains:
            raise Refused(422, "domains[] is required")
        if len(domains) > 10:
            raise Refused(422, "at most 10 domains per request")
        unique = list(dict.fromkeys(payloads.clean_domain(domain) for domain in domains))
        found = [company for company in (world.company(domain) for domain in unique if domain)
                 if company is not None and company.in_apollo]
        fake.charge("apollo", "bulk_organization_enrich", len(found))  # 1 credit per organization
        return _apollo_answer({
            "status": "success", "error_code": None, "error_message": None, "total_requested_domains": len(domains),
            "unique_domains": len(unique), "unique_enriched_records": len(found),
            "missing_records": len(unique) - len(found), "organizations": [payloads.apollo_org(c) for c in found],
        }, fake)

    @route("apollo", "people_search", "/mixed_people/api_search", ("POST",))
    def apollo_people_search():
        params = _apollo_params()
        page, per_page = _page(params, "page", 1), min(_page(params, "per_page", 10), 100)
        domains = {payloads.clean_domain(domain) for domain in params.get("q_organization_domains_list", [])}
        titles = params.get("person_titles", [])
        seniorities = {value.lower() for value in params.get("person_seniorities", [])}
        people = [(company, person) for company in held_by(world, "apollo")
                  if not domains or company.domain in domains
                  for person in company.people
                  if (not titles or any(payloads.title_matches(person.title, title) for title in titles))
                  and (not seniorities or payloads.apollo_seniority(person.title) in seniorities)]
        start = (page - 1) * per_page
        shown = people[start:start + per_page] if start + per_page <= fake.apollo_display_cap else []
        return _apollo_answer({"total_entries": len(people),
                               "people": [payloads.apollo_search_person(c, p) for c, p in shown]}, fake)  # free

    @route("apollo", "bulk_people_match", "/people/bulk_match", ("POST",))
    def apollo_bulk_people_match():
        body = request.get_json(silent=True) or {}
        details = body.get("details")
        if not isinstance(details, list) or not details:
            raise Refused(422, "details is required: a list of people to match")
        if len(details) > 10:
            raise Refused(422, "at most 10 details per request")
        reveal_phone = str(body.get("reveal_phone_number", request.args.get("reveal_phone_number"))).lower() == "true"
        matches, credits = [], 0
        for detail in details:
            person = payloads.apollo_match(world, detail if isinstance(detail, dict) else {})
            if person is None:
                matches.append(None)
                continue
            credits += 1 + (8 if reveal_phone and person.phone else 0)  # 1 a person (email), +8 with a mobile
            matches.append(payloads.apollo_person(world.companies[person.domain], person, reveal_phone))
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
        company = payloads.pdl_lookup(world, request.args)
        likelihood = payloads.pdl_likelihood(company) if company else 0
        wanted = whole_number(request.args, "min_likelihood", 0)
        if company is None or likelihood < wanted:
            raise Refused(404, "No records were found matching your request")
        fake.charge("pdl", "company_enrich", 1)  # per match; a 404 is free
        return _json({"status": 200, "likelihood": likelihood, **payloads.pdl_company(company)},
                     headers=payloads.pdl_headers(1, "company_enrichment"))

    @route("pdl", "company_search", "/company/search", ("POST", "GET"))
    def pdl_company_search():
        body = request.get_json(silent=True) or {}
        if "sql" in body:
            raise Refused(400, "this local PDL answers the Elasticsearch `query` only, not `sql`")
        query = body.get("query")
        if isinstance(query, dict) and set(query) == {"query"}:
            query = query["query"]  # a whole Elasticsearch request, as PDL's own SDKs and examples send it
        if not isinstance(query, dict):
            raise Refused(400, "query is required (an Elasticsearch query object)")
        size = whole_number(body, "size", 1)
        if not 1 <= size <= 100:
            raise Refused(400, "size must be between 1 and 100")
        fingerprint = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:10]
        start = 0
        if body.get("scroll_token"):
            offset, _, token_query = str(body["scroll_token"]).partition("$")
            if token_query != fingerprint or not offset.isdigit():
                raise Refused(400, "scroll_token does not belong to this query")
            start = int(offset)
        found = [company for company in held_by(world, "pdl")
                 if payloads.es_matches(payloads.pdl_company(company), query)]
        data = [payloads.pdl_company(company) for company in found[start:start + size]]
        fake.charge("pdl", "company_search", len(data))  # 1 credit per record returned
        answer = {"status": 200, "data": data, "total": len(found)}
        if start + size < len(found):
            answer["scroll_token"] = f"{start + size}${fingerprint}"
        return _json(answer, headers=payloads.pdl_headers(len(data), "company_search"))

    # --- Crunchbase ---------------------------------------------------------------------

    @route("crunchbase", "search_organizations", "/searches/organizations", ("POST",))
    def crunchbase_search():
        body = request.get_json(silent=True) or {}
        predicates = body.get("query", [])
        limit = whole_number(body, "limit", 50)
        if not 1 <= limit <= 1000:
            raise Refused(400, "limit must be between 1 and 1000")
        field_ids = body.get("field_ids") or ["identifier"]
        found = [company for company in held_by(world, "crunchbase")
                 if all(payloads.cb_holds(company, predicate) for predicate in predicates)]
        if body.get("after_id"):
            ids = [company.crunchbase_uuid for company in found]
            if body["after_id"] not in ids:
                raise Refused(400, "after_id is not an entity of this search")
            page = found[ids.index(body["after_id"]) + 1:][:limit]
        else:
            page = found[:limit]
        entities = [{"uuid": company.crunchbase_uuid, "properties": payloads.cb_fields(company, field_ids)}
                    for company in page]
        return _json({"count": len(found), "entities": entities})

    @route("crunchbase", "autocomplete", "/autocompletes")
    def crunchbase_autocomplete():
        query = request.args.get("query", "").strip()
        if not query:
            raise Refused(400, "query is required")  # [assumed] the message; the docs make query required
        limit = whole_number(request.args, "limit", 10)
        if not 1 <= limit <= 25:
            raise Refused(400, "limit must be between 1 and 25")  # the documented maximum
        return _json(payloads.cb_autocomplete(suggestions, query, request.args.get("collection_ids", ""), limit))

    @route("crunchbase", "organization", "/entities/organizations/<entity_id>")
    def crunchbase_organization(entity_id: str):
        company = world.permalinks.get(entity_id)
        if company is None or not company.in_crunchbase:
            raise Refused(404, f"Organization {entity_id[:100]} not found")
        field_ids = [name for name in request.args.get("field_ids", "").split(",") if name] \
            or list(payloads.cb_properties(company))
        cards = [card for card in request.args.get("card_ids", "").split(",") if card]
        unknown = [card for card in cards if card != "raised_funding_rounds"]
        if unknown:
            raise Refused(400, f"this local Crunchbase has no card {unknown[0][:100]!r}")
        answer: dict[str, Any] = {"properties": payloads.cb_fields(company, field_ids)}
        if cards:
            answer["cards"] = {"raised_funding_rounds": [payloads.cb_round(company, signal)
                                                         for signal in company.signals_of(Funding)]}
        return _json(answer)

    # --- Hunter -------------------------------------------------------------------------

    @route("hunter", "domain_search", "/domain-search")
    def hunter_domain_search():
        domain = payloads.clean_domain(request.args.get("domain", ""))
        if not domain:
            raise Refused(400, "You are missing the domain parameter")
        limit, offset = whole_number(request.args, "limit", 10), whole_number(request.args, "offset", 0)
        if not 1 <= limit <= 100:
            raise Refused(400, "limit must be between 1 and 100")
        company = world.company(domain)
        listed = [person for person in (company.people if company else []) if person.in_hunter]
        seniority, department = request.args.get("seniority"), request.args.get("department")
        listed = [person for person in listed
                  if (not seniority or payloads.hunter_seniority(person.title) in seniority.split(","))
                  and (not department or payloads.hunter_department(person.title) in department.split(","))]
        emails = [payloads.hunter_email(person) for person in listed[offset:offset + limit]]
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
        domain = payloads.clean_domain(request.args.get("domain", ""))
        first, last = request.args.get("first_name", ""), request.args.get("last_name", "")
        if request.args.get("full_name") and not (first and last):
            first, _, last = request.args["full_name"].partition(" ")
        if not domain:
            raise Refused(400, "You are missing the domain parameter")
        if not (first and last):
            raise Refused(400, "You are missing the first_name and last_name (or full_name) parameters")
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
            "company": company.truth.name if company else None,
            "sources": payloads.hunter_sources(person) if person else [],
            "verification": {"date": None, "status": None},
        }, "meta": {"params": {"first_name": first, "last_name": last, "full_name": None, "domain": domain,
                               "company": None, "max_duration": None}}})

    @route("hunter", "email_verifier", "/email-verifier")
    def hunter_email_verifier():
        email = request.args.get("email", "").strip()
        if not email:
            raise Refused(400, "You are missing the email parameter")
        person = world.email_owner(email)
        if person is not None and person.verify_fails:
            raise Refused(222, "The email verification failed because of an unexpected response from the remote "
                               "SMTP server. This failure is outside of our control. Please retry later.")
        if person is not None and fake.still_verifying(email, person.verify_polls):
            return _json({"data": {"status": "unknown", "email": email}, "meta": {"params": {"email": email}}}, 202)
        verdict = payloads.hunter_verdict(world, email, person)
        if verdict["status"] not in ("unknown", "disposable"):
            fake.charge("hunter", "email_verifier", 1)  # 1 verification; unknown and disposable are free
        return _json({"data": verdict, "meta": {"params": {"email": email}}})

    # --- job boards ---------------------------------------------------------------------

    @route("greenhouse", "jobs", "/boards/<token>/jobs")
    def greenhouse_jobs(token: str):
        company = world.boards.get(f"greenhouse:{token}")
        if company is None:
            raise Refused(404, "Job board not found")
        content = request.args.get("content") == "true"
        jobs = [payloads.greenhouse_job(company, token, posting, content) for posting in worlds.job_postings(company)]
        return _json({"jobs": jobs, "meta": {"total": len(jobs)}})

    @route("lever", "postings", "/postings/<site>")
    def lever_postings(site: str):
        company = world.boards.get(f"lever:{site}")
        if company is None:
            raise Refused(404, "Document not found")
        if request.args.get("mode", "json") != "json":
            raise Refused(400, "this local Lever answers mode=json only")
        skip, limit = whole_number(request.args, "skip", 0), whole_number(request.args, "limit", 0)
        postings = [payloads.lever_posting(company, site, posting) for posting in worlds.job_postings(company)]
        return _json(postings[skip:skip + limit] if limit else postings[skip:])

    # --- NewsAPI --------------------------------------------------------------------------

    @route("newsapi", "everything", "/everything")
    def newsapi_everything():
        q = request.args.get("q", "").strip()
        if not q:
            raise Refused(400, "Required parameters are missing: q, qInTitle, sources or domains.")
        if len(q) > 500:
            raise Refused(400, "q must be at most 500 characters")
        page_size = min(whole_number(request.args, "pageSize", 100), 100)
        page = max(whole_number(request.args, "page", 1), 1)
        since, until = request.args.get("from", ""), request.args.get("to", "")
        found = [article for article in news
                 if payloads.news_matches(q, article) and since[:10] <= article["publishedAt"][:10]
                 and (not until or article["publishedAt"][:10] <= until[:10])]
        found.sort(key=lambda article: (article["publishedAt"], article["url"]), reverse=True)
        fake.charge("newsapi", "everything", 1)  # one request
        return _json({"status": "ok", "totalResults": len(found),
                      "articles": found[(page - 1) * page_size:page * page_size]})

    # --- Wayback CDX ----------------------------------------------------------------------

    @route("wayback", "cdx", "/cdx")
    def wayback_cdx():
        return _cdx(world, request.args)

    return app


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
    used = fake.calls_to("apollo")
    return _json(body, headers={"x-rate-limit-minute": "200", "x-minute-requests-left": str(200 - used % 200),
                                "x-rate-limit-hourly": "6000", "x-hourly-requests-left": str(6000 - used % 6000),
                                "x-rate-limit-daily": "50000", "x-daily-requests-left": str(50000 - used % 50000)})


def _page(params: dict[str, list], name: str, default: int) -> int:
    try:
        value = int(params.get(name, [default])[0])
    except (TypeError, ValueError):
        raise Refused(422, f"{name} must be a whole number") from None
    if value < 1:
        raise Refused(422, f"{name} must be at least 1")
    return value


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
    rows = payloads.captures(world, company) if company else []
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
        if name not in payloads.CDX_FIELDS:
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
    limit = whole_number(args, "limit", 0)
    more = bool(limit) and len(rows) > abs(limit)
    rows = rows[:limit] if limit > 0 else rows[limit:] if limit < 0 else rows
    wanted = (args.get("fl") or ",".join(payloads.CDX_FIELDS)).split(",")
    fields = [name for name in wanted if name in payloads.CDX_FIELDS]
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
