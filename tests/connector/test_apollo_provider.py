"""Apollo through the real ProviderClient and its spec, against Apollo's documented answers (respx for the HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from agents.market import MarketDefinition
from agents.models import PersonRecord
from connector.providers import apollo
from connector.providers.http.client import ProviderClient
from connector.providers.http.errors import AuthRefused, ProviderUnavailable, RequestRefused
from connector.providers.http.spec import load_spec
from tests.connector.provider_test_kit import RecordingMeter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
BASE = "https://api.apollo.io/api/v1"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def router():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def ledger() -> RecordingMeter:
    return RecordingMeter()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture(scope="module")
def http():
    """One httpx client for the module (building its TLS context is the slow part); respx answers every request."""
    with httpx.Client() as shared:
        yield shared


@pytest.fixture
def client(router, http, ledger, sleeps) -> ProviderClient:
    return ProviderClient(load_spec("apollo", environ={}), "apollo-test-key", http=http, meter=ledger,
                          sleep=sleeps.append, jitter=lambda: 0.5)


def market(**changes) -> MarketDefinition:
    fields = {
        "industry": "B2B SaaS", "related_industries": ["Software"], "company_size": "10-500 employees",
        "annual_revenue": "$1M-$50M", "location": ["US", "UK", "Canada"],
        "tech_stack_using": ["Salesforce", "HubSpot"], "require_tech_stack": True,
        "buying_team_roles": ["VP Sales", "Head of Sales", "CEO"],
    }
    return MarketDefinition.model_validate(fields | changes)


def documented_search() -> dict:
    """The docs' sample answer, as one page: it was made with per_page=2 (592 pages), SalesOS asks for 100."""
    body = fixture("apollo_organization_search")
    body["pagination"] = {"page": 1, "per_page": 100, "total_entries": 2, "total_pages": 1}
    return body


def organization(domain: str) -> dict:
    return {"id": f"id-{domain}", "name": domain.split(".")[0].title(), "website_url": f"http://www.{domain}",
            "primary_domain": domain}


def search_page(organizations: list[dict], page: int, total_entries: int, accounts: list[dict] | None = None) -> dict:
    body = fixture("apollo_organization_search")
    body["organizations"], body["accounts"] = organizations, accounts or []
    body["pagination"] = {"page": page, "per_page": 100, "total_entries": total_entries,
                          "total_pages": -(-total_entries // 100)}
    return body


def params(call) -> httpx.QueryParams:
    return call.request.url.params


# --- organization search: filters, pages, mapping ---------------------------


def test_organization_search_sends_the_markets_filters_as_apollos_query_parameters(router, client):
    route = router.post("/mixed_companies/search").respond(json=documented_search())

    list(apollo.search_companies(client, market(), limit=2))

    sent = params(route.calls[0])
    assert route.calls[0].request.headers["x-api-key"] == "apollo-test-key"
    assert sent.get_list("q_organization_keyword_tags[]") == ["b2b saas", "software"]
    assert sent.get_list("organization_num_employees_ranges[]") == ["10,500"]
    assert sent.get_list("organization_locations[]") == ["united states", "united kingdom", "canada"]
    assert (sent["revenue_range[min]"], sent["revenue_range[max]"]) == ("1000000", "50000000")
    assert sent.get_list("currently_using_any_of_technology_uids[]") == ["salesforce", "hubspot"]
    assert (sent["page"], sent["per_page"]) == ("1", "100")


def test_a_tech_stack_the_market_only_prefers_does_not_filter_the_search(router, client):
    route = router.post("/mixed_companies/search").respond(json=documented_search())

    list(apollo.search_companies(client, market(require_tech_stack=False), limit=2))

    assert "currently_using_any_of_technology_uids[]" not in params(route.calls[0])


def test_an_open_ended_headcount_range_is_sent_without_a_maximum(router, client):
    route = router.post("/mixed_companies/search").respond(json=documented_search())

    list(apollo.search_companies(client, market(company_size="500+"), limit=2))

    assert params(route.calls[0]).get_list("organization_num_employees_ranges[]") == ["500,"]


def test_organization_search_reads_every_page_to_the_end_and_pays_a_credit_a_page(router, client, ledger):
    def answer(request):
        page = int(request.url.params["page"])
        count = 100 if page < 3 else 40
        return httpx.Response(200, json=search_page(
            [organization(f"p{page}-c{i}.com") for i in range(count)], page, total_entries=240))

    route = router.post("/mixed_companies/search").mock(side_effect=answer)

    records = list(apollo.search_companies(client, market(), limit=10_000))

    assert [params(call)["page"] for call in route.calls] == ["1", "2", "3"]
    assert len(records) == 240 == len({record.domain for record in records})
    assert ledger.credits_of("organization_search") == 3


def test_an_empty_search_answer_is_free_and_ends_the_search(router, client, ledger):
    route = router.post("/mixed_companies/search").respond(json=search_page([], 1, total_entries=0))

    assert list(apollo.search_companies(client, market(), limit=100)) == []
    assert route.call_count == 1
    assert ledger.credits_of("organization_search") == 0


def test_search_stops_at_the_limit_without_asking_for_more_pages(router, client):
    def answer(request):
        page = int(request.url.params["page"])
        return httpx.Response(200, json=search_page(
            [organization(f"p{page}-c{i}.com") for i in range(100)], page, total_entries=1_000))

    route = router.post("/mixed_companies/search").mock(side_effect=answer)

    records = list(apollo.search_companies(client, market(), limit=150))

    assert len(records) == 150
    assert route.call_count == 2


def test_documented_organizations_become_company_records(router, client):
    router.post("/mixed_companies/search").respond(json=documented_search())

    nikkei, mitsui = apollo.search_companies(client, market(), limit=10)

    assert (nikkei.name, nikkei.domain, nikkei.founded) == ("Nikkei Asia", "nikkei.com", 1876)
    assert (mitsui.domain, mitsui.founded) == ("mitsui.com", 1947)
    # The search answer carries no headcount, industry or country: partial data stays unknown, not invented.
    assert (nikkei.employee_count, nikkei.industry, nikkei.country) == (None, None, None)
    assert nikkei.source == "apollo" and nikkei.fetched_at is not None


def test_organizations_without_a_domain_are_skipped_and_counted(router, client):
    body = documented_search()
    del body["organizations"][0]["primary_domain"]
    body["organizations"][0]["website_url"] = None
    body["organizations"][1]["estimated_num_employees"] = None
    router.post("/mixed_companies/search").respond(json=body)
    tally = apollo.Tally()

    records = list(apollo.search_companies(client, market(), limit=10, tally=tally))

    assert [record.domain for record in records] == ["mitsui.com"]
    assert records[0].employee_count is None
    assert tally.skipped["no domain"] == 1


def test_a_domain_is_read_from_the_website_when_apollo_gives_no_primary_domain(router, client):
    body = documented_search()
    body["organizations"][0]["primary_domain"] = None
    router.post("/mixed_companies/search").respond(json=body)

    records = list(apollo.search_companies(client, market(), limit=10))

    assert records[0].domain == "nikkei.com"


def test_saved_accounts_are_read_with_the_organizations(router, client):
    router.post("/mixed_companies/search").respond(json=search_page(
        [organization("net-new.com")], 1, total_entries=2,
        accounts=[{"id": "a1", "name": "Saved", "domain": "saved.io"}]))

    records = list(apollo.search_companies(client, market(), limit=10))

    assert [record.domain for record in records] == ["saved.io", "net-new.com"]


# --- organization search: past the 50,000 display cap -------------------------


def test_a_query_past_the_display_cap_is_split_until_every_slice_is_read_whole_each_asked_once(router, client, ledger):
    """Totals by filter, as Apollo would count them: the market and two of its slices are over the cap."""
    big = {("10,500", 3): 200_000, ("201,500", 3): 90_000, ("201,500", "united states"): 70_000}
    asked: list[tuple[str, tuple[str, ...], str]] = []

    def answer(request):
        sent = request.url.params
        band, locations, page = (sent["organization_num_employees_ranges[]"],
                                 tuple(sent.get_list("organization_locations[]")), int(sent["page"]))
        asked.append((band, locations, page))
        total = big.get((band, len(locations)) if len(locations) > 1 else (band, locations[0]), 120)
        count = min(100, max(0, total - (page - 1) * 100))
        slug = f"{band.replace(',', '-')}-{'-'.join(location.split()[-1] for location in locations)}"
        return httpx.Response(200, json=search_page(
            [organization(f"{slug}-p{page}-{i}.com") for i in range(count)], page, total_entries=total))

    router.post("/mixed_companies/search").mock(side_effect=answer)
    tally = apollo.Tally()

    records = list(apollo.search_companies(client, market(), limit=100_000, tally=tally))

    assert len(asked) == len(set(asked)), "a slice was asked for the same page twice"
    slices_read = {(band, locations) for band, locations, page in asked if page == 2}
    everyone = ("united states", "united kingdom", "canada")
    assert slices_read == {
        ("10,10", everyone), ("11,20", everyone), ("21,50", everyone), ("51,100", everyone), ("101,200", everyone),
        ("201,500", ("united kingdom",)), ("201,500", ("canada",)),
        ("201,350", ("united states",)), ("351,500", ("united states",)),
    }
    assert len(records) == 9 * 120 == len({record.domain for record in records})
    assert len(asked) == 3 + 9 * 2  # three probes split, nine slices of two pages
    assert ledger.credits_of("organization_search") == len(asked)
    assert tally.capped == []


def test_a_slice_that_cannot_be_split_is_read_to_the_cap_and_reported(router, client):
    def answer(request):
        page = int(request.url.params["page"])
        return httpx.Response(200, json=search_page(
            [organization(f"p{page}-c{i}.com") for i in range(100)], page, total_entries=60_000))

    route = router.post("/mixed_companies/search").mock(side_effect=answer)
    tally = apollo.Tally()

    records = list(apollo.search_companies(client, market(company_size="7", location=["US"]), limit=250, tally=tally))

    assert len(records) == 250 and route.call_count == 3
    assert tally.capped == ["7-7 employees in united states: 60000 companies, read to the first 50000"]


# --- errors ---------------------------------------------------------------------


def test_a_refused_request_422_is_reported_once_and_never_retried(router, client, sleeps):
    route = router.post("/mixed_companies/search").respond(
        422, json={"error": "API key must be passed in the X-Api-Key header for security reasons"})

    with pytest.raises(RequestRefused) as refused:
        list(apollo.search_companies(client, market(), limit=10))

    assert refused.value.status == 422 and "X-Api-Key header" in refused.value.reason
    assert route.call_count == 1 and sleeps == []


def test_403_api_inaccessible_is_a_refused_key(router, client, sleeps):
    route = router.post("/organizations/bulk_enrich").respond(403, json={
        "error": "api/v1/organizations/bulk_enrich is not accessible with this api_key",
        "error_code": "API_INACCESSIBLE"})

    with pytest.raises(AuthRefused) as refused:
        apollo.enrich_companies(client, ["apollo.io"])

    assert "not accessible with this api_key" in refused.value.reason
    assert route.call_count == 1 and sleeps == []


def test_429_is_waited_out_with_backoff_then_answered(router, client, sleeps):
    limited = httpx.Response(429, json={"message": "The maximum number of api calls allowed for "
                                                   "api/v1/mixed_companies/search is 200 times per minute."})
    answered = httpx.Response(200, json=documented_search())
    route = router.post("/mixed_companies/search").mock(side_effect=[limited, answered])

    records = list(apollo.search_companies(client, market(), limit=10))

    assert len(records) == 2 and route.call_count == 2
    assert sleeps == [0.5]  # full jitter: half of the first backoff step (1 s)


def test_rate_limit_headers_are_read_into_the_reply(router, client):
    router.post("/mixed_companies/search").respond(json=documented_search(), headers={
        "x-minute-requests-left": "199", "x-hourly-requests-left": "1999", "x-daily-requests-left": "5999"})

    reply = client.call("organization_search", params={"page": 1})

    assert reply.rate_left == {"x-minute-requests-left": "199", "x-hourly-requests-left": "1999",
                               "x-daily-requests-left": "5999"}


def test_429_that_outlasts_the_retries_leaves_apollo_unavailable_for_now(router, client, sleeps):
    route = router.post("/mixed_people/api_search").respond(429, json={"message": "rate limited"})

    with pytest.raises(ProviderUnavailable):
        apollo.search_people(client, ["apollo.io"], market())

    assert route.call_count == client.spec.retry.attempts
    assert len(sleeps) == client.spec.retry.attempts - 1


# --- company enrichment -----------------------------------------------------------


def test_bulk_enrichment_asks_ten_domains_a_call_and_pays_per_organization_found(router, client, ledger):
    def answer(request):
        domains = request.url.params.get_list("domains[]")
        known = [organization(domain) for domain in domains if not domain.startswith("unknown")]
        return httpx.Response(200, json={"status": "success", "total_requested_domains": len(domains),
                                         "missing_records": len(domains) - len(known), "organizations": known})

    route = router.post("/organizations/bulk_enrich").mock(side_effect=answer)
    domains = [f"company{i:02}.com" for i in range(20)] + ["unknown1.com", "unknown2.com", "https://www.company00.com/"]

    found = apollo.enrich_companies(client, domains)

    assert [len(params(call).get_list("domains[]")) for call in route.calls] == [10, 10, 2]
    assert sorted(found) == [f"company{i:02}.com" for i in range(20)]
    assert ledger.credits_of("organization_bulk_enrich") == 20


def test_bulk_enrichment_maps_the_documented_answer_and_leaves_unknown_domains_out(router, client, ledger):
    router.post("/organizations/bulk_enrich").respond(json=fixture("apollo_organizations_bulk_enrich"))

    found = apollo.enrich_companies(client, ["apollo.io", "salespatriot.com", "not-in-apollo.com"])

    assert sorted(found) == ["apollo.io", "salespatriot.com"]
    company = found["apollo.io"]
    assert (company.name, company.employee_count, company.annual_revenue) == ("Apollo.io", 170, 10_000_000)
    assert (company.industry, company.country, company.founded, company.funding_stage) == (
        "computer software", "US", 2015, "Series A")
    assert "Hubspot" in company.tech_stack
    patriot = found["salespatriot.com"]
    assert patriot.annual_revenue is None  # organization_revenue 0.0 with no printed value: unknown, not zero
    assert patriot.tech_stack == [] and patriot.employee_count == 15
    assert ledger.credits_of("organization_bulk_enrich") == 2


def test_enriching_nothing_calls_nothing(router, client):
    route = router.post("/organizations/bulk_enrich").respond(json={})

    assert apollo.enrich_companies(client, []) == {}
    assert route.call_count == 0


# --- people search ------------------------------------------------------------------


def test_people_search_asks_each_domain_with_the_buying_team_filters_for_free(router, client, ledger):
    route = router.post("/mixed_people/api_search").respond(json={"total_entries": 0, "people": []})

    found = apollo.search_people(client, ["acme.com", "https://www.globex.com/about", "acme.com"], market())

    assert found == {"acme.com": [], "globex.com": []}
    assert [params(call).get_list("q_organization_domains_list[]") for call in route.calls] == [
        ["acme.com"], ["globex.com"]]
    sent = params(route.calls[0])
    assert sent.get_list("person_titles[]") == ["VP Sales", "Head of Sales", "CEO"]
    assert sent.get_list("person_seniorities[]") == ["vp", "head", "c_suite"]
    assert ledger.credits_of("people_search") == 0


def test_a_role_apollo_has_no_seniority_for_drops_the_seniority_filter(router, client):
    route = router.post("/mixed_people/api_search").respond(json={"total_entries": 0, "people": []})

    apollo.search_people(client, ["acme.com"], market(buying_team_roles=["VP Sales", "Account Executive"]))

    assert "person_seniorities[]" not in params(route.calls[0])


def test_people_come_back_with_first_name_title_and_apollo_id_awaiting_a_reveal(router, client):
    body = fixture("apollo_people_api_search") | {"total_entries": 10}  # the docs' sample counted the whole database
    router.post("/mixed_people/api_search").respond(json=body)

    people = apollo.search_people(client, ["scicomm.example.com"], market())["example.com"]

    first = people[0]
    assert (first.name, first.title, first.email, first.ref) == (
        "Andrew", "Professor and Neuroscientist at Stanford & Host", None, "67bdafd0c3a4c50001bbd7c2")
    assert first.company_domain == "example.com" and first.source == "apollo" and first.fetched_at is not None
    assert all(apollo.awaiting_reveal(person) for person in people)
    assert people[5].title == ""  # a null title stays empty, the person is kept
    assert len(people) == 10


def test_people_search_reads_pages_until_the_total_is_reached(router, client):
    def answer(request):
        page = int(request.url.params["page"])
        people = [{"id": f"p{page}-{i}", "first_name": "Ann", "title": "VP Sales", "has_email": True}
                  for i in range(100 if page == 1 else 50)]
        return httpx.Response(200, json={"total_entries": 150, "people": people})

    route = router.post("/mixed_people/api_search").mock(side_effect=answer)

    found = apollo.search_people(client, ["acme.com"], market())

    assert route.call_count == 2 and len(found["acme.com"]) == 150


def test_people_apollo_has_no_email_or_first_name_for_are_left_out_and_counted(router, client):
    body = fixture("apollo_people_api_search") | {"total_entries": 10}
    body["people"][0]["has_email"] = False
    body["people"][1]["first_name"] = None
    router.post("/mixed_people/api_search").respond(json=body)
    tally = apollo.Tally()

    people = apollo.search_people(client, ["acme.com"], market(), tally=tally)["acme.com"]

    assert len(people) == 8
    assert (tally.skipped["no email at Apollo"], tally.skipped["no first name"]) == (1, 1)


# --- reveal ---------------------------------------------------------------------------


def unrevealed(ref: str, domain: str = "apollo.io") -> PersonRecord:
    return PersonRecord(name="Tim", title="CEO", company_domain=domain, source="apollo", ref=ref)


def matched(ref: str, **changes) -> dict:
    match = fixture("apollo_people_bulk_match")["matches"][0]
    return match | {"id": ref} | changes


def test_reveal_sends_only_people_awaiting_it_by_id_ten_a_call(router, client):
    def answer(request):
        details = json.loads(request.content)["details"]
        return httpx.Response(200, json={"status": "success", "matches": [matched(d["id"]) for d in details]})

    route = router.post("/people/bulk_match").mock(side_effect=answer)
    known = PersonRecord(name="Kim Lee", email="kim@acme.com", company_domain="acme.com", source="hunter")
    people = [unrevealed(f"id{i}") for i in range(23)] + [known]

    revealed = apollo.reveal_emails(client, people)

    sent = [json.loads(call.request.content) for call in route.calls]
    assert [len(body["details"]) for body in sent] == [10, 10, 3]
    assert sent[0]["details"][0] == {"id": "id0"}
    assert sent[0]["reveal_phone_number"] is False
    assert [person.ref for person in revealed] == [person.ref for person in people]
    assert revealed[-1] == known


def test_reveal_fills_the_full_name_email_profile_title_and_country(router, client):
    router.post("/people/bulk_match").respond(json={"matches": [matched("p1", email_status="verified")]})

    (person,) = apollo.reveal_emails(client, [unrevealed("p1")])

    assert (person.name, person.email, person.title, person.country) == (
        "Tim Zheng", "tim@apollo.io", "Founder & CEO", "US")
    assert person.linkedin_url == "http://www.linkedin.com/in/tim-zheng-677ba010"
    assert person.confidence == 0.95
    assert not apollo.awaiting_reveal(person)


def test_an_email_apollo_has_not_verified_gets_a_lower_confidence(router, client):
    router.post("/people/bulk_match").respond(json=fixture("apollo_people_bulk_match"))  # email_status null

    (person,) = apollo.reveal_emails(client, [unrevealed("63cd663d8cde7800015d3520")])

    assert person.email == "tim@apollo.io"
    assert person.confidence < 0.9


def test_reveal_charges_a_credit_per_person_found_and_none_for_a_miss(router, client, ledger):
    router.post("/people/bulk_match").respond(json={"status": "success", "missing_records": 1,
                                                    "matches": [matched("p1"), None]})

    revealed = apollo.reveal_emails(client, [unrevealed("p1"), unrevealed("p2")])

    assert ledger.credits_of("people_bulk_match") == 1
    assert revealed[1] == unrevealed("p2")  # not found: unchanged, still awaiting a reveal


def test_a_match_without_an_email_fills_the_name_but_no_email(router, client):
    router.post("/people/bulk_match").respond(json={"matches": [matched("p1", email=None, email_status=None)]})

    (person,) = apollo.reveal_emails(client, [unrevealed("p1")])

    assert person.name == "Tim Zheng" and person.email is None


def test_the_placeholder_of_a_locked_email_is_not_an_email(router, client):
    router.post("/people/bulk_match").respond(json={"matches": [matched("p1", email="email_not_unlocked@apollo.io")]})

    (person,) = apollo.reveal_emails(client, [unrevealed("p1")])

    assert person.email is None and person.confidence == unrevealed("p1").confidence


def test_a_profile_link_that_is_not_http_is_left_out_and_the_rest_kept(router, client):
    router.post("/people/bulk_match").respond(json={"matches": [matched("p1", linkedin_url="javascript:alert(1)")]})

    (person,) = apollo.reveal_emails(client, [unrevealed("p1")])

    assert person.linkedin_url is None and person.email == "tim@apollo.io"


def test_revealing_nobody_calls_nothing(router, client):
    route = router.post("/people/bulk_match").respond(json={})

    assert apollo.reveal_emails(client, []) == []
    assert route.call_count == 0


def test_the_base_url_can_point_apollo_at_another_server():
    spec = load_spec("apollo", environ={"APOLLO_API_BASE_URL": "http://127.0.0.1:8765/api/v1"})

    assert spec.base_url == "http://127.0.0.1:8765/api/v1"
