"""People Data Labs through the real ProviderClient: the market's query, scrolling, mapping, no match, credits.

Error messages are the status descriptions of PDL's OpenAPI (github.com/peopledatalabs/openAPI-specifications).
"""

from __future__ import annotations

import httpx
import pytest
import respx

from agents.market import MarketDefinition
from connector.providers import pdl
from connector.providers.http.errors import AuthRefused, QuotaExhausted
from connector.providers.http.spec import load_spec
from tests.connector.provider_test_kit import ANSWERED_AT, RecordingMeter, client, fixture, sent_json

API = "https://api.peopledatalabs.com/v5"


def _market(**changes) -> MarketDefinition:
    fields = {"industry": "B2B SaaS", "related_industries": ["Software", "SaaS"], "company_size": "10-500 employees",
              "location": ["US", "UK", "Canada"]}
    return MarketDefinition(**{**fields, **changes})


def _page(items: list[dict], total: int, token: str | None) -> dict:
    return {"status": 200, "data": items, "total": total, "scroll_token": token}


def _not_found() -> httpx.Response:
    error = {"type": "not_found", "message": "Request didn't return any records."}
    return httpx.Response(404, json={"status": 404, "error": error})


def test_the_query_asks_for_the_market_industry_or_tags_headcount_countries_and_leaves_out_exclusions():
    market = _market(exclude={"industries": ["Insurance"], "companies": ["rival.io", "Competitor1"]})

    query = pdl.company_query(market)["query"]["bool"]

    industry, headcount, countries = query["must"]
    assert industry == {"bool": {"should": [{"terms": {"industry": ["b2b saas", "software", "saas"]}},
                                            {"terms": {"tags": ["b2b saas", "software", "saas"]}}],
                                 "minimum_should_match": 1}}
    assert headcount == {"range": {"employee_count": {"gte": 10, "lte": 500}}}
    assert countries == {"terms": {"location.country": ["united states", "united kingdom", "canada"]}}
    assert query["must_not"] == [{"terms": {"industry": ["insurance"]}}, {"terms": {"website": ["rival.io"]}},
                                 {"terms": {"name": ["competitor1"]}}]


def test_an_open_ended_headcount_has_one_bound_and_no_location_means_anywhere():
    query = pdl.company_query(_market(company_size="500+", location=[]))["query"]["bool"]

    assert query["must"][1:] == [{"range": {"employee_count": {"gte": 500}}}]
    assert "must_not" not in query


def test_country_names_are_pdls_own_where_iso_names_differ():
    assert [pdl.country_name(code) for code in ("US", "GB", "RU", "KR", "TR")] == [
        "united states", "united kingdom", "russia", "south korea", "turkey"]
    assert [pdl.pdl_country(name) for name in ("united states", "russia", "ivory coast", "atlantis", None)] == [
        "US", "RU", "CI", None, None]


def test_search_maps_the_documented_company_fields():
    with respx.mock(base_url=API) as api:
        api.post("/company/search").mock(return_value=httpx.Response(200, json=_page(
            fixture("pdl_company_search.json")["data"], total=2, token="13.312621$543927")))

        first, second = list(pdl.search_companies(client("pdl"), _market(), limit=10))

    assert first.model_dump(exclude={"tech_stack", "growth_signals", "pain_signals", "job_board"}) == {
        "name": "People Data Labs", "domain": "peopledatalabs.com",
        "industry": "SaaS",  # its tag "saas" is the market's related industry, in the market's words
        "employee_count": 83, "annual_revenue": 75_000_000.0, "country": "US", "founded": 2015,
        "funding_stage": "Series B", "source": "pdl", "confidence": 0.9, "fetched_at": ANSWERED_AT}
    assert (second.industry, second.country, second.annual_revenue, second.funding_stage) == (
        "information technology and services", "CA", 5_500_000.0, None)


def test_search_scrolls_with_each_answers_token_until_every_matching_company_is_read():
    page = fixture("pdl_company_search.json")
    with respx.mock(base_url=API) as api:
        route = api.post("/company/search").mock(side_effect=[
            httpx.Response(200, json=page),  # 2 of 3, token "13.312621$543927"
            httpx.Response(200, json=_page([{**page["data"][1], "website": "thirdco.com"}], 3, "13.9$999")),
        ])

        records = list(pdl.search_companies(client("pdl"), _market(), limit=1000))

    assert [record.domain for record in records] == ["peopledatalabs.com", "cedarforge.ca", "thirdco.com"]
    first, second = sent_json(route)
    assert "scroll_token" not in first and second["scroll_token"] == "13.312621$543927"
    assert first["query"] == second["query"] == pdl.company_query(_market())
    assert route.call_count == 2  # the third token is not followed: all 3 are read


def test_search_asks_the_last_page_for_no_more_companies_than_the_limit():
    page = fixture("pdl_company_search.json")
    hundred = [{**page["data"][1], "website": f"co{n}.com"} for n in range(100)]
    with respx.mock(base_url=API) as api:
        route = api.post("/company/search").mock(side_effect=[
            httpx.Response(200, json=_page(hundred, 5000, "t1")),
            httpx.Response(200, json=_page(hundred[:30], 5000, "t2")),
        ])

        records = list(pdl.search_companies(client("pdl"), _market(), limit=130))

    assert len(records) == 130
    assert [body["size"] for body in sent_json(route)] == [100, 30]


def test_search_charges_one_credit_per_company_returned():
    meter = RecordingMeter()
    page = fixture("pdl_company_search.json")
    with respx.mock(base_url=API) as api:
        api.post("/company/search").mock(side_effect=[
            httpx.Response(200, json=page), httpx.Response(200, json=_page(page["data"][:1], 3, "t2"))])

        list(pdl.search_companies(client("pdl", meter), _market(), limit=100))

    assert meter.charges == [("company_search", 2, pytest.approx(0.2), False),
                             ("company_search", 1, pytest.approx(0.1), False)]


def test_a_search_matching_nothing_is_a_free_404_and_yields_no_company():
    meter = RecordingMeter()
    with respx.mock(base_url=API) as api:
        route = api.post("/company/search").mock(return_value=_not_found())

        assert list(pdl.search_companies(client("pdl", meter), _market(), limit=100)) == []

    assert route.call_count == 1 and meter.credits == [0]


def test_a_company_without_a_usable_website_is_skipped_and_the_rest_of_its_page_kept():
    page = fixture("pdl_company_search.json")
    no_site = {**page["data"][0], "website": None}
    bare = {"id": "x", "name": "bare co", "website": "bare.co", "display_name": None, "employee_count": None,
            "location": None, "inferred_revenue": None, "founded": None, "industry": None, "tags": None}
    with respx.mock(base_url=API) as api:
        api.post("/company/search").mock(return_value=httpx.Response(200, json=_page([no_site, bare], 2, None)))

        (record,) = pdl.search_companies(client("pdl"), _market(), limit=10)

    assert (record.name, record.domain, record.industry, record.employee_count, record.country, record.founded,
            record.annual_revenue) == ("bare co", "bare.co", None, None, None, None, None)


def test_enrich_asks_by_website_and_takes_likelihood_as_confidence():
    with respx.mock(base_url=API) as api:
        route = api.get("/company/enrich").mock(
            return_value=httpx.Response(200, json=fixture("pdl_company_enrich.json")))

        found = pdl.enrich_companies(client("pdl"), ["https://www.PeopleDataLabs.com/about"])

    assert route.calls.last.request.url.params["website"] == "peopledatalabs.com"
    record = found["peopledatalabs.com"]
    assert (record.name, record.industry, record.employee_count, record.country, record.confidence) == (
        "People Data Labs", "computer software", 83, "US", 0.6)  # likelihood 6 of 10; no market, PDL's own industry


def test_enrich_404_is_no_match_free_and_the_other_domains_are_still_enriched():
    meter = RecordingMeter()
    with respx.mock(base_url=API) as api:
        api.get("/company/enrich", params={"website": "unknown-co.com"}).mock(return_value=_not_found())
        api.get("/company/enrich", params={"website": "peopledatalabs.com"}).mock(
            return_value=httpx.Response(200, json=fixture("pdl_company_enrich.json")))

        found = pdl.enrich_companies(client("pdl", meter), ["unknown-co.com", "peopledatalabs.com"])

    assert list(found) == ["peopledatalabs.com"]
    assert meter.credits == [0, 1]


def test_enrich_keeps_the_domain_asked_about_when_pdl_lists_another_website():
    body = {**fixture("pdl_company_enrich.json"), "website": "peopledatalabs.io", "likelihood": None}
    with respx.mock(base_url=API) as api:
        api.get("/company/enrich").mock(return_value=httpx.Response(200, json=body))

        found = pdl.enrich_companies(client("pdl"), ["peopledatalabs.com"])

    assert found["peopledatalabs.com"].domain == "peopledatalabs.com"
    assert found["peopledatalabs.com"].confidence == 0.5  # no likelihood: no claim either way


def test_spent_credits_402_stop_with_pdls_own_message():
    with respx.mock(base_url=API) as api:
        error = {"type": "payment_required", "message": "You have reached your account maximum (all searches used)"}
        api.get("/company/enrich").mock(return_value=httpx.Response(402, json={"status": 402, "error": error}))

        with pytest.raises(QuotaExhausted) as refused:
            pdl.enrich_companies(client("pdl"), ["peopledatalabs.com"])

    assert "You have reached your account maximum (all searches used)" in refused.value.reason


def test_a_refused_key_is_auth_refused_and_never_retried():
    with respx.mock(base_url=API) as api:
        error = {"type": "authentication_error", "message": "Request contained a missing or invalid key"}
        route = api.post("/company/search").mock(return_value=httpx.Response(401, json={"status": 401, "error": error}))

        with pytest.raises(AuthRefused, match="Request contained a missing or invalid key"):
            list(pdl.search_companies(client("pdl"), _market(), limit=10))

    assert route.call_count == 1


def test_the_key_goes_in_the_x_api_key_header_and_usage_headers_are_read():
    with respx.mock(base_url=API) as api:
        route = api.get("/company/enrich").mock(return_value=httpx.Response(
            200, json=fixture("pdl_company_enrich.json"),
            headers={"x-ratelimit-remaining": "{'minute': 99}", "x-call-credits-spent": "1"}))

        reply = client("pdl", key="pdl-key").call("company_enrich", params={"website": "peopledatalabs.com"})

    assert route.calls.last.request.headers["X-Api-Key"] == "pdl-key"
    assert reply.rate_left == {"x-ratelimit-remaining": "{'minute': 99}", "x-call-credits-spent": "1"}


@pytest.mark.parametrize(("bucket", "dollars"), [("$50M-$100M", 75e6), ("$0-$1M", 5e5), ("$10B+", 1e10),
                                                ("$1B-$10B", 5.5e9), ("lots", None), (None, None)])
def test_inferred_revenue_buckets_become_their_midpoint_or_their_floor(bucket, dollars):
    assert pdl.revenue_estimate(bucket) == dollars


def test_the_base_url_can_point_at_another_server_speaking_pdls_api():
    assert load_spec("pdl", environ={"PDL_API_BASE_URL": "http://127.0.0.1:8125/v5"}).base_url == \
        "http://127.0.0.1:8125/v5"
