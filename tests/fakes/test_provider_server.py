"""The local providers speak each provider's documented shapes, page to the end, charge as documented,
and fail as a test asks. Answers are checked against the documented payloads in tests/fixtures/providers/."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import httpx
import pytest

from agents.models import Funding, JobPosting
from connector.providers.http.client import ProviderClient
from connector.providers.http.spec import load_spec
from tests.connector.provider_test_kit import RecordingMeter
from tests.fakes.provider_payloads import captures
from tests.fakes.provider_server import PRICES, FakeProviders, ProviderServer
from tests.fakes.provider_world import sample_world

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"


def fixture(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def assert_shape(documented, answered, where: str = "") -> None:
    """Every key the documented payload has, the answer has, with the same JSON type where both have a value."""
    if documented is None or answered is None:
        return
    if isinstance(documented, dict):
        assert isinstance(answered, dict), f"{where}: expected an object, got {answered!r:.100}"
        missing = set(documented) - set(answered)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, value in documented.items():
            assert_shape(value, answered[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(answered, list), f"{where}: expected a list, got {answered!r:.100}"
        if documented and answered:
            assert_shape(documented[0], answered[0], f"{where}[0]")
    elif isinstance(documented, bool):
        assert isinstance(answered, bool), f"{where}: expected a boolean, got {answered!r:.100}"
    elif isinstance(documented, (int, float)):
        assert isinstance(answered, (int, float)) and not isinstance(answered, bool), f"{where}: {answered!r:.100}"
    else:
        assert isinstance(answered, type(documented)), f"{where}: expected {type(documented).__name__}"


@pytest.fixture
def fake():
    return FakeProviders(world=sample_world())


@pytest.fixture
def server(fake):
    running = ProviderServer(fake)
    yield running
    running.stop()


@pytest.fixture
def http(server):
    keys = server.fake.keys
    headers = {"x-api-key": keys["apollo"]}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


def apollo(server, path: str) -> str:
    return server.base_url("apollo") + path


def pdl_headers(server) -> dict[str, str]:
    return {"X-Api-Key": server.fake.keys["pdl"]}


def cb_headers(server) -> dict[str, str]:
    return {"X-cb-user-key": server.fake.keys["crunchbase"]}


def hunter_client(server, **kwargs) -> ProviderClient:
    spec = load_spec("hunter", environ={"HUNTER_API_BASE_URL": server.base_url("hunter")})
    return ProviderClient(spec, server.fake.keys["hunter"], sleep=lambda seconds: None, jitter=lambda: 0.0, **kwargs)


def a_company(world, test):
    return next(company for company in world.companies.values() if test(company))


# --- Apollo --------------------------------------------------------------------------------


def test_apollo_organization_search_filters_like_apollo_pages_to_the_end_and_charges_a_credit_a_page(server, http):
    world = server.fake.world
    params = [("organization_num_employees_ranges[]", "10,500"), ("organization_locations[]", "United States"),
              ("q_organization_keyword_tags[]", "b2b saas"), ("per_page", "100")]
    first = http.post(apollo(server, "/mixed_companies/search"), params=params + [("page", "1")]).json()
    assert_shape(fixture("apollo_organization_search"), first, "search")
    pages, seen = first["pagination"]["total_pages"], []
    for page in range(1, pages + 1):
        body = http.post(apollo(server, "/mixed_companies/search"), params=params + [("page", str(page))]).json()
        seen += [org["primary_domain"] for org in body["organizations"]]
    assert len(seen) == len(set(seen)) == first["pagination"]["total_entries"] > 100
    for domain in seen:
        truth = world.companies[domain].truth
        assert 10 <= truth.employee_count <= 500 and truth.country == "US" and truth.industry.lower() == "b2b saas"
    assert server.ledger()["apollo"]["credits"] == pages + 1  # the first page twice


def test_apollo_search_takes_its_filters_as_a_json_body_too(server, http):
    query = http.post(apollo(server, "/mixed_companies/search"),
                      params={"organization_locations[]": "Canada", "per_page": "5"}).json()
    body = http.post(apollo(server, "/mixed_companies/search"),
                     json={"organization_locations": ["Canada"], "per_page": 5}).json()
    assert body["pagination"] == query["pagination"] and body["model_ids"] == query["model_ids"]


def test_apollo_search_shows_nothing_past_the_display_cap(fake, server, http):
    fake.apollo_display_cap = 20
    params = {"per_page": "10"}
    shown = http.post(apollo(server, "/mixed_companies/search"), params=params | {"page": "2"}).json()
    hidden = http.post(apollo(server, "/mixed_companies/search"), params=params | {"page": "3"}).json()
    assert len(shown["organizations"]) == 10 and hidden["organizations"] == []
    assert hidden["pagination"]["total_entries"] > 20  # the count is the real one, only the display stops


def test_apollo_bulk_enrich_answers_found_organizations_and_charges_one_credit_each(server, http):
    world = server.fake.world
    known = [c.domain for c in world.companies.values() if c.in_apollo][:3]
    elsewhere = a_company(world, lambda c: not c.in_apollo).domain
    response = http.post(apollo(server, "/organizations/bulk_enrich"),
                         params=[("domains[]", d) for d in [*known, elsewhere, "nobody-here.com"]])
    body = response.json()
    assert_shape({k: v for k, v in fixture("apollo_organization_enrich").items()},
                  {"organization": body["organizations"][0]}, "bulk_enrich")
    assert [org["primary_domain"] for org in body["organizations"]] == known
    assert (body["unique_enriched_records"], body["missing_records"]) == (3, 2)
    assert server.ledger()["apollo"]["credits"] == 3
    assert response.headers["x-minute-requests-left"]


def test_apollo_bulk_enrich_refuses_more_than_ten_domains_with_422(server, http):
    response = http.post(apollo(server, "/organizations/bulk_enrich"),
                         params=[("domains[]", f"d{n}.com") for n in range(11)])
    assert response.status_code == 422 and "10" in response.json()["error"]


def test_apollo_people_search_is_free_and_shows_no_email(server, http):
    company = a_company(server.fake.world, lambda c: c.in_apollo and len(c.people) >= 3)
    body = http.post(apollo(server, "/mixed_people/api_search"),
                     params={"q_organization_domains_list[]": company.domain}).json()
    assert_shape(fixture("apollo_people_api_search"), body, "api_search")
    assert body["total_entries"] == len(company.people)
    assert all("email" not in person and "***" in person["last_name_obfuscated"] for person in body["people"])
    assert server.ledger()["apollo"] == {"calls": 1, "credits": 0, "dollars": 0}


def test_apollo_people_search_finds_similar_titles_and_seniorities(server, http):
    body = http.post(apollo(server, "/mixed_people/api_search"),
                     params={"person_titles[]": "VP Sales", "per_page": "100"}).json()
    titles = {person["title"] for person in body["people"]}
    assert {"VP of Sales", "Vice President, Sales"} <= titles and "Sales Manager" not in titles
    founders = http.post(apollo(server, "/mixed_people/api_search"),
                         params={"person_seniorities[]": "founder", "per_page": "100"}).json()
    assert founders["people"] and all("founder" in p["title"].lower() for p in founders["people"])


def test_apollo_bulk_match_reveals_emails_by_id_and_charges_a_credit_a_match(server, http):
    world = server.fake.world
    people = [person for person in world.people.values() if person.email][:2]
    details = [{"id": person.apollo_id} for person in people] + [{"id": "0" * 24}]
    body = http.post(apollo(server, "/people/bulk_match"), json={"details": details}).json()
    assert_shape(fixture("apollo_people_bulk_match"), body, "bulk_match")
    assert [match["email"] if match else None for match in body["matches"]] == [p.email for p in people] + [None]
    assert body["matches"][0]["email_status"] in ("verified", "unverified")
    assert (body["missing_records"], body["credits_consumed"]) == (1, 2)
    assert server.ledger()["apollo"]["credits"] == 2


def test_apollo_bulk_match_charges_eight_more_for_a_revealed_mobile(server, http):
    person = next(p for p in server.fake.world.people.values() if p.phone)
    body = http.post(apollo(server, "/people/bulk_match"),
                     json={"details": [{"id": person.apollo_id}], "reveal_phone_number": True}).json()
    assert body["matches"][0]["phone_numbers"][0]["sanitized_number"] == person.phone
    assert server.ledger()["apollo"]["credits"] == 9


# --- People Data Labs -------------------------------------------------------------------------


def test_pdl_company_enrich_matches_by_website_and_a_miss_is_a_free_404(server, http):
    world = server.fake.world
    known = a_company(world, lambda c: c.in_pdl)
    found = http.get(server.base_url("pdl") + "/company/enrich", params={"website": f"https://www.{known.domain}/"},
                     headers=pdl_headers(server))
    body = found.json()
    assert found.status_code == 200 and body["website"] == known.domain and 6 <= body["likelihood"] <= 10
    assert body["employee_count"] == known.truth.employee_count and body["name"] == known.truth.name.lower()
    missed = http.get(server.base_url("pdl") + "/company/enrich", params={"website": "nobody-here.com"},
                      headers=pdl_headers(server))
    assert missed.status_code == 404 and missed.json()["error"]["type"] == "not_found"
    assert server.ledger()["pdl"] == {"calls": 2, "credits": 1, "dollars": PRICES["pdl"]}


def test_pdl_revenue_is_a_range_and_is_sometimes_known_only_to_pdl(server):
    world = server.fake.world
    only_pdl = [c for c in world.companies.values()
                if c.in_pdl and c.pdl_revenue and c.in_apollo and not c.apollo_revenue]
    assert len(only_pdl) > 100


def test_pdl_company_search_scrolls_to_the_end_and_charges_per_record(server, http):
    query = {"bool": {"must": [{"term": {"location.country": "canada"}},
                               {"range": {"employee_count": {"gte": 10, "lte": 500}}}]}}
    url, scroll, domains = server.base_url("pdl") + "/company/search", None, []
    while True:
        body = http.post(url, json={"query": query, "size": 100} | ({"scroll_token": scroll} if scroll else {}),
                         headers=pdl_headers(server)).json()
        domains += [company["website"] for company in body["data"]]
        scroll = body.get("scroll_token")
        if not scroll:
            break
    world = server.fake.world
    expected = {c.domain for c in world.companies.values()
                if c.in_pdl and c.truth.country == "CA" and 10 <= (c.truth.employee_count or 0) <= 500}
    assert len(domains) == len(set(domains)) == body["total"] and set(domains) == expected
    assert server.ledger()["pdl"]["credits"] == len(domains)


def test_pdl_company_search_names_the_query_it_does_not_know(server, http):
    response = http.post(server.base_url("pdl") + "/company/search",
                         json={"query": {"fuzzy": {"name": "x"}}}, headers=pdl_headers(server))
    assert response.status_code == 400 and "fuzzy" in response.json()["error"]["message"]


# --- Crunchbase --------------------------------------------------------------------------------


def test_crunchbase_search_pages_by_after_id_and_the_lookup_lists_funding_rounds(server, http):
    url = server.base_url("crunchbase") + "/searches/organizations"
    query = {"field_ids": ["identifier", "short_description", "categories", "location_identifiers",
                           "website_url", "num_employees_enum"],
             "query": [{"type": "predicate", "field_id": "location_identifiers", "operator_id": "includes",
                        "values": ["united-kingdom"]}], "limit": 50}
    first = http.post(url, json=query, headers=cb_headers(server)).json()
    assert_shape(fixture("crunchbase_search_entities_item")[0], first["entities"][0], "entity")
    entities, body = list(first["entities"]), first
    while len(body["entities"]) == 50:
        after = {"after_id": body["entities"][-1]["uuid"]}
        body = http.post(url, json=query | after, headers=cb_headers(server)).json()
        entities += body["entities"]
    assert len({e["uuid"] for e in entities}) == len(entities) == first["count"] > 50
    world = server.fake.world
    funded = a_company(world, lambda c: c.in_crunchbase and c.signals_of(Funding))
    lookup = http.get(server.base_url("crunchbase") + f"/entities/organizations/{funded.permalink}",
                      params={"card_ids": "raised_funding_rounds"}, headers=cb_headers(server)).json()
    rounds = lookup["cards"]["raised_funding_rounds"]
    assert rounds and {"announced_on", "investment_type", "money_raised", "identifier"} <= set(rounds[0])
    assert server.ledger()["crunchbase"]["credits"] == 0  # a licence, not metered


def cb_autocomplete(server, http, query: str, collections: str, **params) -> httpx.Response:
    return http.get(server.base_url("crunchbase") + "/autocompletes", headers=cb_headers(server),
                    params={"query": query, "collection_ids": collections, **params})


def cb_search(server, http, *predicates) -> list[dict]:
    query = {"field_ids": ["identifier", "categories", "category_groups", "location_identifiers"],
             "query": [{"type": "predicate", "field_id": field, "operator_id": "includes", "values": values}
                       for field, values in predicates], "limit": 1000}
    return http.post(server.base_url("crunchbase") + "/searches/organizations", json=query,
                     headers=cb_headers(server)).json()["entities"]


def test_crunchbase_autocomplete_suggests_industries_and_countries_whose_uuids_the_search_takes(server, http):
    answer = cb_autocomplete(server, http, "Software", "categories,category_groups").json()
    assert answer["count"] == len(answer["entities"]) == 2
    category, group = (entity["identifier"] for entity in answer["entities"])
    assert (category["value"], category["entity_def_id"], group["value"], group["entity_def_id"]) == (
        "Software", "category", "Software", "category_group")
    [country] = cb_autocomplete(server, http, "United Kingdom", "location.countries").json()["entities"]
    assert (country["facet_ids"], country["identifier"]["entity_def_id"]) == (["country"], "location")

    in_category = cb_search(server, http, ("categories", [category["uuid"]]),
                            ("location_identifiers", [country["identifier"]["uuid"]]))
    in_group = cb_search(server, http, ("category_groups", [group["uuid"]]))
    assert in_category and all(
        [c["value"] for c in e["properties"]["categories"]] == ["Software"]
        and [place["value"] for place in e["properties"]["location_identifiers"]] == ["United Kingdom"]
        for e in in_category)
    assert {"SaaS", "B2B SaaS", "Software"} <= {c["value"] for e in in_group for c in e["properties"]["categories"]}


def test_crunchbase_autocomplete_finds_a_company_by_name_with_the_permalink_its_lookup_takes(server, http):
    company = a_company(server.fake.world, lambda c: c.in_crunchbase and c.signals_of(Funding))
    answer = cb_autocomplete(server, http, company.truth.name, "organization.companies", limit=5).json()
    assert_shape(fixture("crunchbase_autocompletes"), answer, "autocompletes")
    suggestion = answer["entities"][0]
    assert suggestion["identifier"]["value"] == company.truth.name and "company" in suggestion["facet_ids"]
    lookup = http.get(server.base_url("crunchbase") + f"/entities/organizations/{suggestion['identifier']['permalink']}",
                      params={"field_ids": "identifier,website", "card_ids": "raised_funding_rounds"},
                      headers=cb_headers(server)).json()
    assert_shape(fixture("crunchbase_organization_raised_funding_rounds")["properties"], lookup["properties"], "lookup")
    assert lookup["properties"]["website"] == {"value": f"https://www.{company.domain}"}
    assert lookup["cards"]["raised_funding_rounds"]


def test_crunchbase_autocomplete_counts_every_match_and_lists_at_most_the_limit(server, http):
    answer = cb_autocomplete(server, http, "united", "location.countries", limit=2).json()
    assert answer["count"] > 2 and len(answer["entities"]) == 2


@pytest.mark.parametrize("params, named", [
    ({"query": ""}, "query"), ({"collection_ids": "planets"}, "collection_ids"), ({"limit": 26}, "limit")])
def test_crunchbase_autocomplete_refuses_bad_input_naming_the_parameter(server, http, params, named):
    answer = cb_autocomplete(server, http, **{"query": "Software", "collections": "categories"} | params)
    assert answer.status_code == 400 and named in answer.json()[0]["message"]


# --- Hunter, through the project's client and spec -------------------------------------------------


def test_hunter_domain_search_pages_by_offset_and_charges_a_search_per_ten_emails(server):
    world = server.fake.world
    company = max(world.companies.values(), key=lambda c: sum(p.in_hunter for p in c.people))
    meter = RecordingMeter()
    pages = list(hunter_client(server, meter=meter).pages("domain_search", params={"domain": company.domain}))
    assert_shape(fixture("hunter_domain_search"), pages[0].body, "domain_search")
    emails = [email["value"] for page in pages for email in page.body["data"]["emails"]]
    assert sorted(emails) == sorted(p.email for p in company.people if p.in_hunter)
    assert server.ledger()["hunter"]["credits"] == math.ceil(len(emails) / 10) == sum(meter.credits)


def test_hunter_email_finder_charges_only_an_email_found(server):
    world = server.fake.world
    person = next(p for p in world.people.values() if p.findable)
    lost = next(p for p in world.people.values() if not p.findable)
    client = hunter_client(server)
    found = client.call("email_finder", params={"domain": person.domain, "first_name": person.first_name,
                                                "last_name": person.last_name})
    missed = client.call("email_finder", params={"domain": lost.domain, "first_name": lost.first_name,
                                                 "last_name": lost.last_name})
    assert_shape(fixture("hunter_email_finder"), found.body, "email_finder")
    assert (found.body["data"]["email"], missed.body["data"]["email"]) == (person.email, None)
    assert server.ledger()["hunter"]["credits"] == 1


def test_hunter_verifier_polls_through_202_and_charges_every_verdict_but_unknown(server):
    world = server.fake.world
    polled = next(p for p in world.people.values() if p.verify_polls and not p.verify_fails and p.email)
    unknown = next(p for p in world.people.values() if p.verification == "unknown" and not p.verify_polls
                   and not p.verify_fails and p.email)
    accept_all = next(p for p in world.people.values() if p.verification == "accept_all" and not p.verify_polls
                      and not p.verify_fails and p.email)
    meter = RecordingMeter()
    client = hunter_client(server, meter=meter)
    answers = {p.verification: client.call("email_verifier", params={"email": p.email}).body["data"]["status"]
               for p in (polled, unknown, accept_all)}
    assert answers == {polled.verification: polled.verification, "unknown": "unknown", "accept_all": "accept_all"}
    assert_shape(fixture("hunter_email_verifier_valid")["data"] | {"result": None, "_deprecation_notice": None},
                 client.call("email_verifier", params={"email": accept_all.email}).body["data"]
                 | {"result": None, "_deprecation_notice": None}, "verifier")
    assert server.fake.calls[("hunter", "email_verifier")] == 5  # the 202, its repeat, two more, the shape check
    expected = (polled.verification != "unknown") + 2  # accept_all twice
    assert server.ledger()["hunter"]["credits"] == expected == sum(meter.credits)


def test_hunter_refuses_a_domain_search_without_a_domain_in_its_error_envelope(server, http):
    response = http.get(server.base_url("hunter") + "/domain-search", params={"api_key": server.fake.keys["hunter"]})
    assert response.status_code == 400
    assert_shape(fixture("hunter_error_400"), response.json(), "error")


# --- intent sources ---------------------------------------------------------------------------


def test_greenhouse_and_lever_boards_list_the_company_job_postings(server, http):
    world = server.fake.world
    greenhouse = a_company(world, lambda c: (c.job_board or "").startswith("greenhouse:") and c.signals_of(JobPosting))
    token = greenhouse.job_board.split(":")[1]
    jobs = http.get(server.base_url("greenhouse") + f"/boards/{token}/jobs", params={"content": "true"}).json()
    assert_shape(fixture("greenhouse_jobs_content_true"), jobs, "greenhouse")
    assert sorted(job["title"] for job in jobs["jobs"]) == sorted(
        posting.title for posting in greenhouse.signals if posting.kind == "job_posting")
    lever = a_company(world, lambda c: (c.job_board or "").startswith("lever:") and any(
        s.kind == "job_posting" for s in c.signals))
    postings = http.get(server.base_url("lever") + f"/postings/{lever.job_board.split(':')[1]}",
                        params={"mode": "json"}).json()
    assert_shape(fixture("lever_postings"), postings, "lever")
    assert http.get(server.base_url("lever") + "/postings/no-such-site").json() == {
        "ok": False, "error": "Document not found"}
    assert http.get(server.base_url("greenhouse") + "/boards/no-such-board/jobs").status_code == 404
    assert server.fake.dollars() == 0


def test_newsapi_finds_a_company_funding_news_and_charges_a_request(server, http):
    world = server.fake.world
    company = a_company(world, lambda c: any(s.kind == "funding" for s in c.signals))
    body = http.get(server.base_url("newsapi") + "/everything",
                    params={"q": f'"{company.truth.name}"', "from": "2026-01-01", "sortBy": "publishedAt"},
                    headers={"X-Api-Key": server.fake.keys["newsapi"]}).json()
    assert_shape(fixture("newsapi_articles"), body, "newsapi")
    assert any("raised" in article["description"] and company.domain in article["description"]
               for article in body["articles"])
    assert server.ledger()["newsapi"]["credits"] == 1


def test_wayback_captures_change_digest_after_the_website_change(server, http):
    world = server.fake.world
    company = a_company(world, lambda c: any(s.kind == "website_change" and s.page == "pricing" for s in c.signals))
    rows = http.get(server.base_url("wayback") + "/cdx",
                    params={"url": f"{company.domain}/pricing", "output": "json", "collapse": "digest"}).json()
    assert rows[0] == fixture("wayback_cdx_output_json")[0]
    changes = [s.date for s in company.signals if s.kind == "website_change" and s.page == "pricing"]
    assert len(rows) - 1 == len({*changes}) + 1  # one row per digest: the first, then one per change
    assert all(isinstance(value, str) for row in rows for value in row)


def test_wayback_resume_key_pages_through_every_capture(server, http):
    world = server.fake.world
    company = next(iter(world.companies.values()))
    url, rows, resume = server.base_url("wayback") + "/cdx", [], None
    while True:
        params = {"url": f"{company.domain}/*", "output": "json", "limit": "25", "showResumeKey": "true"}
        body = http.get(url, params=params | ({"resumeKey": resume} if resume else {})).json()
        if body[-2:-1] == [[]]:
            rows += body[1:-2]
            resume = body[-1][0]
        else:
            rows += body[1:]
            break
    assert [row[1] for row in rows] == [row["timestamp"] for row in captures(world, company)]


# --- keys, failures, the ledger ---------------------------------------------------------------


def test_a_wrong_key_and_no_key_get_the_same_401_in_the_provider_envelope(server):
    for provider, path in (("pdl", "/company/enrich?website=a.com"), ("hunter", "/domain-search?domain=a.com")):
        wrong = httpx.get(server.base_url(provider) + path, headers={"X-Api-Key": "wrong"})
        missing = httpx.get(server.base_url(provider) + path)
        assert wrong.status_code == missing.status_code == 401 and wrong.json() == missing.json()
    assert httpx.post(server.base_url("apollo") + "/mixed_companies/search").status_code == 401
    assert server.fake.dollars() == 0


def test_injected_429_carries_retry_after_then_the_provider_answers(fake, server, http):
    fake.fail("apollo", status=429, times=2, retry_after=7)
    answers = [http.post(apollo(server, "/mixed_companies/search")) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "7" and "message" in answers[0].json()
    assert server.ledger()["apollo"] == {"calls": 3, "credits": 1, "dollars": PRICES["apollo"]}


def test_an_outage_fails_every_call_until_cleared_and_only_that_provider(fake, server, http):
    fake.outage("pdl")
    url = server.base_url("pdl") + "/company/enrich"
    params = {"website": next(c.domain for c in fake.world.companies.values() if c.in_pdl)}
    assert [http.get(url, params=params, headers=pdl_headers(server)).status_code for _ in range(3)] == [503] * 3
    assert http.post(apollo(server, "/mixed_people/api_search")).status_code == 200
    fake.clear("pdl")
    assert http.get(url, params=params, headers=pdl_headers(server)).status_code == 200


def test_a_slow_call_answers_once_cleared(fake, server):
    fake.slow("greenhouse", seconds=600)
    board = next(iter(fake.world.boards)).split(":")[1]
    answers = []
    caller = threading.Thread(target=lambda: answers.append(
        httpx.get(server.base_url("greenhouse") + f"/boards/{board}/jobs", timeout=120)))
    caller.start()
    deadline = time.monotonic() + 60
    while fake.calls[("greenhouse", "jobs")] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not answers  # still waiting on the injected delay
    fake.clear("greenhouse")
    caller.join(timeout=60)
    assert answers and answers[0].status_code in (200, 404)


def test_the_ledger_prices_credits_from_the_price_table(fake):
    fake.charge("hunter", "email_verifier", 3)
    fake.charge("apollo", "bulk_people_match", 10)
    ledger = fake.ledger()
    assert ledger["hunter"]["dollars"] == pytest.approx(3 * PRICES["hunter"])
    assert ledger["apollo"]["dollars"] == pytest.approx(10 * PRICES["apollo"])
    assert set(ledger) == set(PRICES) and ledger["wayback"] == {"calls": 0, "credits": 0.0, "dollars": 0.0}


def test_environ_points_each_provider_spec_at_the_local_server(server):
    spec = load_spec("hunter", environ=server.environ())
    assert spec.base_url == server.url + "/hunter/v2"
    assert set(server.environ()) == {f"{name.upper()}_API_BASE_URL" for name in PRICES}
