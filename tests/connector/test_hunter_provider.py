"""Hunter people through the real ProviderClient: domain search to the end, email finder, Hunter's own codes."""

from __future__ import annotations

import copy

import httpx
import pytest
import respx

from agents.market import MarketDefinition
from agents.models import PersonRecord
from connector.providers import hunter
from connector.providers.http.errors import AuthRefused, QuotaExhausted, RequestRefused
from tests.connector.provider_test_kit import ANSWERED_AT, RecordingMeter, client, fixture

API = "https://api.hunter.io/v2"


def _market(**changes) -> MarketDefinition:
    return MarketDefinition(**{"industry": "B2B SaaS", "company_size": "10-500", **changes})


def _search_page(emails: list[dict], results: int, offset: int) -> dict:
    page = copy.deepcopy(fixture("hunter_domain_search.json"))
    page["data"]["emails"] = emails
    page["meta"].update(results=results, offset=offset)
    return page


def _email(first: str, last: str, **changes) -> dict:
    item = copy.deepcopy(fixture("hunter_domain_search.json")["data"]["emails"][0])
    item.update(first_name=first, last_name=last, value=f"{first.lower()}@intercom.com", **changes)
    return item


def _not_found(first: str, last: str) -> dict:
    body = copy.deepcopy(fixture("hunter_email_finder.json"))
    body["data"].update(first_name=first, last_name=last, email=None, score=None, verification=None)
    return body


def test_a_domain_search_email_becomes_a_person_with_hunters_confidence():
    with respx.mock(base_url=API) as api:
        answer = fixture("hunter_domain_search.json") | {"meta": {"results": 1}}
        route = api.get("/domain-search").mock(return_value=httpx.Response(200, json=answer))

        found = hunter.search_people(client("hunter"), ["intercom.com"], _market())

    (person,) = found["intercom.com"]
    assert person.model_dump() == {
        "name": "Ciaran Lee", "title": "Support Engineer", "email": "ciaran@intercom.com", "phone": None,
        "linkedin_url": None, "company_domain": "intercom.com", "country": None, "timezone": None,
        "source": "hunter", "confidence": 0.92, "fetched_at": ANSWERED_AT, "ref": None}
    query = route.calls.last.request.url.params
    assert (query["domain"], query["type"], query["offset"], query["limit"]) == ("intercom.com", "personal", "0", "10")


def test_domain_search_pages_by_offset_until_every_result_is_read():
    people = [_email(f"P{n}", "Doe") for n in range(25)]
    with respx.mock(base_url=API) as api:
        route = api.get("/domain-search").mock(side_effect=[
            httpx.Response(200, json=_search_page(people[0:10], 25, 0)),
            httpx.Response(200, json=_search_page(people[10:20], 25, 10)),
            httpx.Response(200, json=_search_page(people[20:25], 25, 20)),
        ])

        found = hunter.search_people(client("hunter"), ["intercom.com"], _market())

    assert [person.name for person in found["intercom.com"]] == [f"P{n} Doe" for n in range(25)]
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "10", "20"]


def test_domain_search_stops_at_the_per_domain_limit_and_asks_only_for_what_remains():
    people = [_email(f"P{n}", "Doe") for n in range(10)]
    with respx.mock(base_url=API) as api:
        route = api.get("/domain-search").mock(side_effect=[
            httpx.Response(200, json=_search_page(people, 400, 0)),
            httpx.Response(200, json=_search_page(people[:5], 400, 10)),
        ])

        found = hunter.search_people(client("hunter"), ["intercom.com"], _market(), per_domain=15)

    assert len(found["intercom.com"]) == 15
    assert [call.request.url.params["limit"] for call in route.calls] == ["10", "5"]


def test_a_search_page_is_one_credit_per_ten_emails_and_an_empty_one_is_free():
    meter = RecordingMeter()
    with respx.mock(base_url=API) as api:
        api.get("/domain-search", params={"domain": "intercom.com"}).mock(
            return_value=httpx.Response(200, json=_search_page([_email("Ann", "Lee"), _email("Bo", "Ng")], 2, 0)))
        api.get("/domain-search", params={"domain": "quiet.io"}).mock(
            return_value=httpx.Response(200, json=_search_page([], 0, 0)))

        found = hunter.search_people(client("hunter", meter), ["intercom.com", "quiet.io"], _market())

    assert found["quiet.io"] == [] and len(found["intercom.com"]) == 2
    assert meter.credits == [1, 0]


def test_the_buying_roles_narrow_the_search_to_their_departments():
    market = _market(buying_team_roles=["VP Sales", "Head of Sales", "VP Revenue Operations", "CEO", "CRO"])
    with respx.mock(base_url=API) as api:
        route = api.get("/domain-search").mock(return_value=httpx.Response(200, json=_search_page([], 0, 0)))

        hunter.search_people(client("hunter"), ["intercom.com"], market)

    assert route.calls.last.request.url.params["department"] == "sales,operations,executive"


def test_a_role_naming_no_department_leaves_every_department_in():
    assert hunter.departments(["VP Sales", "Chief Happiness Wrangler"]) == ["sales", "executive"]
    assert hunter.departments(["VP Sales", "Wrangler"]) is None


def test_partial_entries_keep_what_they_have_and_an_unnamed_or_invalid_address_is_not_taken():
    entries = [
        _email("Ann", "Lee", position=None, position_raw="Head of Sales", confidence=None,
               linkedin="https://www.linkedin.com/in/annlee", phone_number="+1 415 555 0100"),
        _email("Bo", "Ng", verification={"date": "2024-01-02", "status": "invalid"}, linkedin="bo-ng"),
        {**_email("X", "Y"), "first_name": None, "last_name": None},
    ]
    with respx.mock(base_url=API) as api:
        api.get("/domain-search").mock(return_value=httpx.Response(200, json=_search_page(entries, 3, 0)))

        ann, bo = hunter.search_people(client("hunter"), ["intercom.com"], _market())["intercom.com"]

    assert (ann.title, ann.confidence, ann.linkedin_url, ann.phone) == (
        "Head of Sales", 0.5, "https://www.linkedin.com/in/annlee", "+1 415 555 0100")
    assert (bo.name, bo.email, bo.linkedin_url) == ("Bo Ng", None, None)


def test_reveal_asks_the_finder_only_for_people_without_an_email():
    known = PersonRecord(name="Ciaran Lee", email="ciaran@intercom.com", company_domain="intercom.com", source="hunter")
    unknown = PersonRecord(name="Alexis Ohanian", title="Cofounder", company_domain="reddit.com", source="apollo",
                           confidence=0.3, ref="apollo-42")
    with respx.mock(base_url=API) as api:
        route = api.get("/email-finder").mock(
            return_value=httpx.Response(200, json=fixture("hunter_email_finder.json")))

        same, revealed = hunter.reveal_emails(client("hunter"), [known, unknown])

    assert same is known
    assert route.call_count == 1
    assert dict(route.calls.last.request.url.params) == {"domain": "reddit.com", "first_name": "Alexis",
                                                         "last_name": "Ohanian"}
    assert (revealed.email, revealed.confidence, revealed.fetched_at) == ("alexis@reddit.com", 0.97, ANSWERED_AT)
    assert (revealed.name, revealed.title, revealed.source, revealed.ref) == ("Alexis Ohanian", "Cofounder", "apollo",
                                                                             "apollo-42")


def test_a_finder_answer_without_an_email_is_not_found_and_free():
    meter = RecordingMeter()
    person = PersonRecord(name="Nobody Here", company_domain="reddit.com")
    with respx.mock(base_url=API) as api:
        api.get("/email-finder").mock(return_value=httpx.Response(200, json=_not_found("Nobody", "Here")))

        (same,) = hunter.reveal_emails(client("hunter", meter), [person])

    assert same == person
    assert meter.credits == [0]


def test_a_found_email_is_one_credit():
    meter = RecordingMeter()
    with respx.mock(base_url=API) as api:
        api.get("/email-finder").mock(return_value=httpx.Response(200, json=fixture("hunter_email_finder.json")))

        hunter.reveal_emails(client("hunter", meter),
                             [PersonRecord(name="Alexis Ohanian", company_domain="reddit.com")])

    assert meter.charges == [("email_finder", 1, pytest.approx(0.049), False)]


def test_a_one_word_name_is_asked_as_a_full_name():
    assert hunter.finder_params(PersonRecord(name="Cher", company_domain="cher.com")) == {
        "domain": "cher.com", "full_name": "Cher"}


def test_a_400_is_refused_with_hunters_own_words():
    with respx.mock(base_url=API) as api:
        route = api.get("/domain-search").mock(return_value=httpx.Response(400, json=fixture("hunter_error_400.json")))

        with pytest.raises(RequestRefused) as refused:
            hunter.search_people(client("hunter"), ["intercom.com"], _market())

    assert refused.value.status == 400
    assert "You are missing the domain parameter" in refused.value.reason
    assert route.call_count == 1  # a refused request is not retried


def test_a_401_is_a_refused_key():
    with respx.mock(base_url=API) as api:
        api.get("/email-finder").mock(return_value=httpx.Response(401, json={"errors": [
            {"id": "authentication_failed", "code": 401, "details": "No user found for the API key supplied"}]}))

        with pytest.raises(AuthRefused, match="No user found for the API key supplied"):
            hunter.reveal_emails(client("hunter"), [PersonRecord(name="Alexis Ohanian", company_domain="reddit.com")])


def test_403_is_hunters_rate_limit_retried_until_answered():
    with respx.mock(base_url=API) as api:
        route = api.get("/email-finder").mock(side_effect=[
            httpx.Response(403, json={"errors": [{"id": "too_many_requests", "code": 403,
                                                  "details": "You have reached the rate limit"}]}),
            httpx.Response(200, json=fixture("hunter_email_finder.json"))])

        (revealed,) = hunter.reveal_emails(client("hunter"), [PersonRecord(name="Alexis Ohanian",
                                                                           company_domain="reddit.com")])

    assert revealed.email == "alexis@reddit.com" and route.call_count == 2


def test_429_is_the_months_quota_spent():
    with respx.mock(base_url=API) as api:
        api.get("/domain-search").mock(return_value=httpx.Response(429, json={"errors": [
            {"id": "too_many_requests", "code": 429, "details": "You have reached your usage limit"}]}))

        with pytest.raises(QuotaExhausted):
            hunter.search_people(client("hunter"), ["intercom.com"], _market())
