"""Crunchbase v4 through the real ProviderClient: AND-only searches, keyset pages, funding rounds as signals."""

from __future__ import annotations

import copy
import datetime as dt
import json

import httpx
import pytest
import respx

from agents.market import MarketDefinition
from agents.models import CompanyRecord, Funding
from connector.providers import crunchbase
from connector.providers.http.client import ProviderClient
from connector.providers.http.errors import AuthRefused
from connector.providers.http.spec import load_spec
from tests.connector.provider_test_kit import ANSWERED_AT, RecordingMeter, client, fixture, sent_json
from tests.fakes.provider_payloads import held_by
from tests.fakes.provider_server import ProviderServer

API = "https://api.crunchbase.com/api/v4"
UNITED_STATES = "f110fca2-1055-99f6-996d-011c198b3928"
SOFTWARE = "c08b5441-a05b-9777-b7a6-012728caddd9"
SAAS = "5c4e6926-2f6c-4d1b-a0e5-5b4bb7c1a1c2"
SOFTWARE_GROUP = "a1b2c3d4-0000-4000-8000-000000000001"
CEDARFORGE = CompanyRecord(name="Cedarforge Data", domain="cedarforge.ca", source="pdl")


def _market(**changes) -> MarketDefinition:
    fields = {"industry": "B2B SaaS", "related_industries": ["Software", "SaaS"], "company_size": "10-500",
              "location": ["US"]}
    return MarketDefinition(**{**fields, **changes})


def _suggestion(value: str, uuid: str, kind: str, permalink: str | None = None) -> dict:
    return {"facet_ids": [], "identifier": {"uuid": uuid, "value": value, "permalink": permalink or value.lower(),
                                           "entity_def_id": kind}, "short_description": value}


def _autocomplete(known: dict[str, list[dict]]):
    """Answers /autocompletes as Crunchbase would from a small table: query -> suggestions."""
    def answer(request: httpx.Request) -> httpx.Response:
        entities = known.get(request.url.params["query"], [])
        return httpx.Response(200, json={"count": len(entities), "entities": entities})
    return answer


KNOWN = {
    "B2B SaaS": [],
    "Software": [_suggestion("Software", SOFTWARE, "category")],
    "SaaS": [_suggestion("SaaS", SAAS, "category")],
    "United States": [_suggestion("United States", UNITED_STATES, "location", "united-states")],
}


def _organization(uuid: str, name: str, website: str | None, **properties) -> dict:
    item = copy.deepcopy(fixture("crunchbase_search_entities_item.json")[0])
    item["uuid"] = item["properties"]["identifier"]["uuid"] = uuid
    item["properties"]["identifier"]["value"] = name
    if website:
        item["properties"]["website"] = {"value": website}
    item["properties"].update(properties)
    return item


def _page(entities: list[dict], count: int) -> dict:
    return {"count": count, "entities": entities}


def test_the_market_is_and_only_predicates_with_one_search_per_field_naming_its_industries():
    bodies = crunchbase.search_bodies(_market(), {"categories": [SOFTWARE, SAAS], "category_groups": [SOFTWARE_GROUP]},
                                      [UNITED_STATES])

    assert len(bodies) == 2
    common = [crunchbase.predicate("facet_ids", "includes", ["company"]),
              crunchbase.predicate("num_employees_enum", "includes", [
                  "c_00001_00010", "c_00011_00050", "c_00051_00100", "c_00101_00250", "c_00251_00500"]),
              crunchbase.predicate("location_identifiers", "includes", [UNITED_STATES])]
    assert bodies[0]["query"] == [*common, crunchbase.predicate("categories", "includes", [SOFTWARE, SAAS])]
    assert bodies[1]["query"] == [*common, crunchbase.predicate("category_groups", "includes", [SOFTWARE_GROUP])]
    assert "website" in bodies[0]["field_ids"]


def test_an_open_headcount_covers_every_bucket_from_its_floor():
    assert crunchbase.employee_codes(_market(company_size="600+").company_size) == [
        "c_00501_01000", "c_01001_05000", "c_05001_10000", "c_10001_max"]


def test_search_finds_uuids_then_pages_by_the_last_uuid_until_every_match_is_read():
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete(KNOWN))
        search = api.post("/searches/organizations").mock(side_effect=[
            httpx.Response(200, json=_page([_organization("u-1", "One", "https://one.io"),
                                            _organization("u-2", "Two", "https://two.io")], 3)),
            httpx.Response(200, json=_page([_organization("u-3", "Three", "https://three.io")], 3)),
        ])

        records = list(crunchbase.search_companies(client("crunchbase"), _market(), limit=100))

    assert [record.domain for record in records] == ["one.io", "two.io", "three.io"]
    first, second = sent_json(search)
    assert "after_id" not in first and second["after_id"] == "u-2"
    assert crunchbase.predicate("categories", "includes", [SOFTWARE, SAAS]) in first["query"]
    assert crunchbase.predicate("location_identifiers", "includes", [UNITED_STATES]) in first["query"]
    assert search.call_count == 2  # 3 of 3 read: no third call


def test_a_searched_organization_maps_to_a_company_record():
    organization = _organization(
        "u-1", "Sweep", "https://www.sweep.net/en", num_employees_enum="c_00101_00250", revenue_range="r_00010000",
        founded_on={"value": "2020-01-01", "precision": "year"}, last_funding_type="series_b",
        location_identifiers=[
            {"permalink": "montpellier-languedoc-roussillon", "location_type": "city", "value": "Montpellier"},
            {"permalink": "france", "location_type": "country", "value": "France"}])
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete(KNOWN))
        api.post("/searches/organizations").mock(return_value=httpx.Response(200, json=_page([organization], 1)))

        (record,) = crunchbase.search_companies(client("crunchbase"), _market(), limit=10)

    assert record.model_dump(exclude={"tech_stack", "growth_signals", "pain_signals", "job_board"}) == {
        "name": "Sweep", "domain": "sweep.net", "industry": "Software",  # its category named like a related industry
        "employee_count": 176, "annual_revenue": 30_000_000.0, "country": "FR", "founded": 2020,
        "funding_stage": "Series B", "source": "crunchbase", "confidence": 0.9, "fetched_at": ANSWERED_AT}


def test_the_documented_search_item_has_no_website_so_it_is_skipped_and_the_next_one_kept():
    documented = fixture("crunchbase_search_entities_item.json")[0]  # identifier, categories, a city: no website
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete(KNOWN))
        api.post("/searches/organizations").mock(return_value=httpx.Response(200, json=_page(
            [documented, _organization("u-9", "Bare", "bare.io", categories=None, location_identifiers=None)], 2)))

        (record,) = crunchbase.search_companies(client("crunchbase"), _market(), limit=10)

    assert (record.domain, record.industry, record.country, record.employee_count, record.founded) == (
        "bare.io", None, None, None, None)


def test_categories_or_category_groups_is_two_searches_and_a_company_in_both_comes_once():
    known = {**KNOWN, "Software": [_suggestion("Software", SOFTWARE_GROUP, "category_group")]}
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete(known))
        search = api.post("/searches/organizations").mock(side_effect=[
            httpx.Response(200, json=_page([_organization("u-1", "One", "one.io")], 1)),
            httpx.Response(200, json=_page([_organization("u-1", "One", "one.io"),
                                            _organization("u-2", "Two", "two.io")], 2)),
        ])

        records = list(crunchbase.search_companies(client("crunchbase"), _market(), limit=100))

    assert [record.domain for record in records] == ["one.io", "two.io"]
    first, second = sent_json(search)
    assert crunchbase.predicate("categories", "includes", [SAAS]) in first["query"]
    assert crunchbase.predicate("category_groups", "includes", [SOFTWARE_GROUP]) in second["query"]


def test_an_industry_crunchbase_does_not_know_searches_nothing():
    with respx.mock(base_url=API, assert_all_called=False) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete({}))
        search = api.post("/searches/organizations").mock(return_value=httpx.Response(200, json=_page([], 0)))

        assert list(crunchbase.search_companies(client("crunchbase"), _market(), limit=10)) == []

    assert search.call_count == 0


def test_the_search_stops_at_the_limit():
    page = _page([_organization(f"u-{n}", f"Co {n}", f"co{n}.io") for n in range(100)], 5000)
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete(KNOWN))
        search = api.post("/searches/organizations").mock(return_value=httpx.Response(200, json=page))

        records = list(crunchbase.search_companies(client("crunchbase"), _market(), limit=7))

    assert len(records) == 7 and search.call_count == 1


def test_funding_rounds_become_funding_signals_with_their_crunchbase_page():
    meter = RecordingMeter()
    with respx.mock(base_url=API) as api:
        suggest = api.get("/autocompletes").mock(side_effect=_autocomplete({"Cedarforge Data": [
            _suggestion("Cedarforge Data", "o-1", "organization", "cedarforge-data")]}))
        lookup = api.get("/entities/organizations/cedarforge-data").mock(
            return_value=httpx.Response(200, json=fixture("crunchbase_organization_raised_funding_rounds.json")))

        series_b, seed = crunchbase.signals_for(client("crunchbase", meter), CEDARFORGE, dt.date(2026, 11, 2))

    assert series_b.model_dump() == {
        "kind": "funding", "company_domain": "cedarforge.ca", "date": dt.date(2026, 9, 15),
        "title": "Series B - Cedarforge Data", "round": "Series B", "amount_usd": 30_000_000.0, "source": "crunchbase",
        "url": "https://www.crunchbase.com/funding_round/cedarforge-data-series-b--8d41c6b2"}
    assert (seed.round, seed.date, seed.amount_usd) == ("Seed", dt.date(2019, 4, 25), None)
    assert suggest.calls.last.request.url.params["collection_ids"] == "organization.companies"
    assert dict(lookup.calls.last.request.url.params) == {"field_ids": "identifier,website",
                                                          "card_ids": "raised_funding_rounds"}
    assert set(meter.credits) == {0}  # licensed by the year: no call costs a credit


def test_a_round_announced_after_the_as_of_date_is_not_yet_a_signal():
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete({"Cedarforge Data": [
            _suggestion("Cedarforge Data", "o-1", "organization", "cedarforge-data")]}))
        api.get("/entities/organizations/cedarforge-data").mock(
            return_value=httpx.Response(200, json=fixture("crunchbase_organization_raised_funding_rounds.json")))

        signals = crunchbase.signals_for(client("crunchbase"), CEDARFORGE, dt.date(2026, 1, 1))

    assert [signal.round for signal in signals] == ["Seed"]


def test_an_organization_named_alike_at_another_website_is_not_the_company():
    other = {"properties": {"identifier": {"permalink": "cedarforge"}, "website": {"value": "https://cedarforge.com"}},
             "cards": {"raised_funding_rounds": [{"announced_on": "2026-01-05", "investment_type": "series_c"}]}}
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete({"Cedarforge Data": [
            _suggestion("Cedarforge", "o-0", "organization", "cedarforge"),
            _suggestion("Cedarforge Data", "o-1", "organization", "cedarforge-data")]}))
        api.get("/entities/organizations/cedarforge").mock(return_value=httpx.Response(200, json=other))
        api.get("/entities/organizations/cedarforge-data").mock(
            return_value=httpx.Response(200, json=fixture("crunchbase_organization_raised_funding_rounds.json")))

        signals = crunchbase.signals_for(client("crunchbase"), CEDARFORGE, dt.date(2026, 11, 2))

    assert [signal.round for signal in signals] == ["Series B", "Seed"]


def test_no_organization_at_the_domain_is_no_signal():
    with respx.mock(base_url=API) as api:
        api.get("/autocompletes").mock(side_effect=_autocomplete({"Cedarforge Data": [
            _suggestion("Cedarforge Data", "o-1", "organization", "cedarforge-data")]}))
        api.get("/entities/organizations/cedarforge-data").mock(return_value=httpx.Response(
            404, json=[{"code": "MD101", "message": "Entity not found"}]))

        assert crunchbase.signals_for(client("crunchbase"), CEDARFORGE, dt.date(2026, 11, 2)) == []


def test_the_key_goes_in_the_x_cb_user_key_header_and_a_refused_one_is_auth_refused():
    with respx.mock(base_url=API) as api:
        route = api.get("/autocompletes").mock(return_value=httpx.Response(
            401, json=[{"code": "LA401", "message": "Invalid user_key"}]))

        with pytest.raises(AuthRefused) as refused:
            list(crunchbase.search_companies(client("crunchbase", key="cb-key"), _market(), limit=10))

    assert refused.value.reason == "the API key was refused (HTTP 401: Invalid user_key)"
    assert route.calls.last.request.headers["X-cb-user-key"] == "cb-key"


def test_a_funding_round_without_a_date_or_a_type_is_no_signal():
    item = fixture("crunchbase_organization_raised_funding_rounds.json")["cards"]["raised_funding_rounds"][0]

    assert crunchbase.funding_signal({**item, "announced_on": None}, "cedarforge.ca") is None
    assert crunchbase.funding_signal({**item, "investment_type": None}, "cedarforge.ca") is None
    assert json.loads(crunchbase.funding_signal(item, "cedarforge.ca").model_dump_json())["amount_usd"] == 30_000_000


# --- against the local Crunchbase (tests/fakes/provider_server.py): the module and the fake agree ----------------


@pytest.fixture(scope="module")
def local_crunchbase():
    server = ProviderServer()
    yield server
    server.stop()


def _local_client(server: ProviderServer) -> ProviderClient:
    spec = load_spec("crunchbase", environ={"CRUNCHBASE_API_BASE_URL": server.base_url("crunchbase")})
    return ProviderClient(spec, server.fake.keys["crunchbase"], sleep=lambda seconds: None, jitter=lambda: 0.0)


def test_the_local_crunchbase_yields_every_company_of_the_market_it_holds(local_crunchbase):
    market = _market(location=["US", "GB", "CA"])

    records = list(crunchbase.search_companies(_local_client(local_crunchbase), market, limit=10_000))

    held = {company.domain for company in held_by(local_crunchbase.fake.world, "crunchbase")
            if (company.truth.industry or "").casefold() in {"b2b saas", "software", "saas"}
            and company.truth.country in ("US", "GB", "CA") and 1 <= (company.truth.employee_count or 0) <= 500}
    domains = [record.domain for record in records]
    assert held and len(domains) == len(set(domains)) and set(domains) == held


def test_the_local_crunchbase_gives_a_held_company_its_funding_rounds_and_another_none(local_crunchbase):
    world = local_crunchbase.fake.world
    funded = next(company for company in held_by(world, "crunchbase") if company.signals_of(Funding))
    elsewhere = next(company for company in world.companies.values() if not company.in_crunchbase)
    as_of = world.as_of

    signals = crunchbase.signals_for(_local_client(local_crunchbase), funded.record("apollo"), as_of)

    assert sorted((signal.date, signal.amount_usd) for signal in signals) == sorted(
        (signal.date, signal.amount_usd) for signal in funded.signals_of(Funding) if signal.date <= as_of)
    assert crunchbase.signals_for(_local_client(local_crunchbase), elsewhere.record("apollo"), as_of) == []
