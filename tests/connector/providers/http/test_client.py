"""The provider client over respx: auth, statuses, retries, costs, cache, caps, breaker and pages.

The real ProviderClient with the real Redis-backed cache, cost ledger,
breaker and call stats (tests/conftest.py's Redis). Waits are recorded, not
slept; the clock is fixed unless a test moves it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json

import httpx
import pytest

from connector.providers.http.breaker import RedisBreaker
from connector.providers.http.cache import RedisResponseCache
from connector.providers.http.costs import CostLedger, run_costs
from connector.providers.http.errors import (
    AuthRefused, CapReached, CircuitOpen, NotConfigured, ProviderCallError, ProviderUnavailable, QuotaExhausted,
    RequestRefused,
)
from connector.providers.http.spec import load_spec
from connector.providers.http.stats import RedisCallStats, success_rates
from tests.connector.providers.http.helpers import ACME, KEY, NOW, acme, fixture, make_client

HUNTER = "https://api.hunter.io/v2"


def hunter(environ: dict[str, str] | None = None):
    return load_spec("hunter", environ=environ or {})


def ledger(conn, *, run_cap: float = 25, monthly_cap: float = 500, tenant: str = "t1") -> CostLedger:
    return CostLedger(conn, tenant, "run-1", run_cap=run_cap, monthly_cap=monthly_cap, clock=lambda: NOW)


def hunter_errors(code: int, details: str) -> dict:
    return {"errors": [{"id": "error", "code": code, "details": details}]}


def emails(count: int, results: int | None = None) -> dict:
    """A domain-search page of `count` emails; `meta.results` is how many the domain has in all (Hunter's docs)."""
    one = fixture("hunter_domain_search")["data"]["emails"][0]
    return {"data": {"domain": "intercom.com", "emails": [dict(one, value=f"p{n}@intercom.com") for n in range(count)]},
            "meta": {"results": count if results is None else results}}


# --- auth and where requests go -------------------------------------------------------------


def test_the_key_goes_in_the_header_the_spec_names_and_never_in_the_url(http, sleeps):
    route = http.get(f"{HUNTER}/email-verifier").respond(200, json=fixture("hunter_email_verifier_valid"))
    reply = make_client(hunter(), sleeps).call("email_verifier", params={"email": "patrick@stripe.com"})
    request = route.calls.last.request
    assert request.headers["X-API-KEY"] == KEY
    assert KEY not in str(request.url)
    assert request.url.params["email"] == "patrick@stripe.com"
    assert (reply.status, reply.body["data"]["status"], reply.cached, reply.fetched_at) == (200, "valid", False, NOW)


def test_a_header_key_carries_the_specs_prefix(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(200, json={})
    make_client(acme(), sleeps).call("lookup")
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {KEY}"


def test_a_query_auth_spec_sends_the_key_as_the_named_query_parameter(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(200, json={})
    make_client(acme(auth={"kind": "query", "name": "api_key"}), sleeps).call("lookup", params={"q": "x"})
    request = route.calls.last.request
    assert dict(request.url.params) == {"q": "x", "api_key": KEY}
    assert "Authorization" not in request.headers


def test_a_public_api_needs_no_key_and_sends_none(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(200, json=[])
    make_client(acme(auth={"kind": "none"}), sleeps, key=None).call("lookup")
    assert "Authorization" not in route.calls.last.request.headers


def test_a_provider_without_a_key_is_skipped_without_a_request(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(200, json={})
    with pytest.raises(NotConfigured) as caught:
        make_client(acme(), sleeps, key=None).call("lookup")
    assert (caught.value.kind, route.call_count) == ("skipped", 0)


def test_NAME_API_BASE_URL_points_the_provider_at_another_server(http, sleeps):
    local = http.get("http://127.0.0.1:8765/hunter/v2/email-verifier").respond(
        200, json=fixture("hunter_email_verifier_valid"))
    spec = hunter({"HUNTER_API_BASE_URL": "http://127.0.0.1:8765/hunter/v2/"})
    make_client(spec, sleeps).call("email_verifier", params={"email": "patrick@stripe.com"})
    assert local.call_count == 1


def test_path_values_are_escaped_so_data_cannot_change_the_path(http, sleeps):
    spec = acme(endpoints={"company": {"path": "/companies/{domain}"}})
    route = http.get(url__startswith=f"{ACME}/companies/").respond(200, json={})
    make_client(spec, sleeps).call("company", path={"domain": "evil.test/../admin?x=1"})
    assert route.calls.last.request.url.raw_path == b"/v1/companies/evil.test%2F..%2Fadmin%3Fx%3D1"


def test_lists_become_repeated_query_keys_and_booleans_lower_case(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(200, json={})
    make_client(acme(), sleeps).call("lookup", params={"loc[]": ["Paris", "Berlin"], "exact": True, "skip": None})
    assert route.calls.last.request.url.query == b"loc%5B%5D=Paris&loc%5B%5D=Berlin&exact=true"


def test_json_endpoints_send_their_params_as_the_body(http, sleeps):
    spec = acme(endpoints={"search": {"method": "POST", "path": "/search", "params_in": "json"}})
    route = http.post(f"{ACME}/search").respond(200, json={})
    make_client(spec, sleeps).call("search", params={"q": "saas", "page": 2})
    assert json.loads(route.calls.last.request.content) == {"q": "saas", "page": 2}


# --- rate limits, Retry-After, backoff ------------------------------------------------------


def test_a_429_with_retry_after_in_seconds_waits_that_long_then_answers(http, sleeps):
    route = http.get(f"{ACME}/lookup").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
        httpx.Response(200, json={"ok": True}),
    ])
    reply = make_client(acme(), sleeps).call("lookup")
    assert (reply.body, route.call_count, sleeps) == ({"ok": True}, 2, [7.0])


def test_a_429_with_retry_after_as_an_http_date_waits_until_that_time(http, sleeps):
    when = email.utils.format_datetime(NOW + dt.timedelta(seconds=12), usegmt=True)
    http.get(f"{ACME}/lookup").mock(side_effect=[httpx.Response(429, headers={"Retry-After": when}),
                                                httpx.Response(200, json={})])
    make_client(acme(), sleeps).call("lookup")
    assert sleeps == [12.0]


def test_retry_after_longer_than_the_longest_wait_gives_up_at_once_and_says_when_to_come_back(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(429, headers={"Retry-After": "120"}, json={"message": "hourly limit"})
    with pytest.raises(ProviderUnavailable) as caught:
        make_client(acme(), sleeps).call("lookup")
    assert (caught.value.retry_after, route.call_count, sleeps) == (120.0, 1, [])
    assert caught.value.reason == "HTTP 429: hourly limit"


def test_server_errors_are_retried_with_full_jitter_exponential_backoff_then_unavailable(http, sleeps):
    route = http.get(f"{ACME}/lookup").respond(503, json={"message": "overloaded"})
    draws = iter([0.5, 0.25, 1.0])
    with pytest.raises(ProviderUnavailable) as caught:
        make_client(acme(), sleeps, jitter=lambda: next(draws)).call("lookup")
    # attempts 4, base 1 s: random shares of 1, 2 and 4 s between the four requests, none after the last
    assert (route.call_count, sleeps) == (4, [0.5, 0.5, 4.0])
    assert (caught.value.kind, caught.value.reason, caught.value.retry_after) == ("unavailable", "HTTP 503: overloaded",
                                                                                  None)


def test_backoff_never_waits_longer_than_the_longest_wait(http, sleeps):
    http.get(f"{ACME}/lookup").respond(502)
    spec = acme(retry={"attempts": 4, "base_seconds": 10, "max_seconds": 15})
    with pytest.raises(ProviderUnavailable):
        make_client(spec, sleeps, jitter=lambda: 1.0).call("lookup")
    assert sleeps == [10.0, 15.0, 15.0]


def test_a_rate_limit_without_retry_after_backs_off_like_a_server_error(http, sleeps):
    http.get(f"{ACME}/lookup").mock(side_effect=[httpx.Response(429), httpx.Response(200, json={})])
    make_client(acme(), sleeps, jitter=lambda: 0.3).call("lookup")
    assert sleeps == [0.3]


def test_a_server_error_then_an_answer_returns_the_answer(http, sleeps):
    http.get(f"{ACME}/lookup").mock(side_effect=[httpx.Response(500), httpx.Response(200, json={"id": 1})])
    assert make_client(acme(), sleeps).call("lookup").body == {"id": 1}


def test_timeouts_are_retried_then_reported_as_unavailable(http, sleeps):
    route = http.get(f"{ACME}/lookup").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(ProviderUnavailable) as caught:
        make_client(acme(), sleeps).call("lookup")
    assert (route.call_count, len(sleeps), caught.value.reason) == (4, 3, "no answer within 15 s")


def test_connection_errors_are_retried_and_their_text_with_the_url_never_reaches_the_reason(http, sleeps):
    spec = acme(auth={"kind": "query", "name": "api_key"})
    route = http.get(f"{ACME}/lookup").mock(side_effect=[
        httpx.ConnectError(f"cannot reach {ACME}/lookup?api_key={KEY}"), httpx.Response(200, json={"ok": 1})])
    assert make_client(spec, sleeps).call("lookup").body == {"ok": 1}
    assert route.call_count == 2
    route.mock(side_effect=httpx.ConnectError(f"cannot reach {ACME}/lookup?api_key={KEY}"))
    with pytest.raises(ProviderUnavailable) as caught:
        make_client(spec, sleeps).call("lookup")
    assert caught.value.reason == "cannot connect (ConnectError)"
    assert caught.value.__context__ is None and KEY not in str(caught.value)


# --- each provider's own statuses ------------------------------------------------------------


def test_hunter_202_is_asked_again_with_the_same_request_then_answered_and_charged_once(http, sleeps, conn):
    route = http.get(f"{HUNTER}/email-verifier").mock(side_effect=[
        httpx.Response(202), httpx.Response(200, json=fixture("hunter_email_verifier_valid"))])
    reply = make_client(hunter(), sleeps, meter=ledger(conn)).call("email_verifier", params={"email": "a@stripe.com"})
    first, second = (call.request for call in route.calls)
    assert (reply.status, str(first.url), sleeps) == (200, str(second.url), [2.0])
    assert run_costs(conn, "t1", "run-1")["hunter"]["credits"] == 1


def test_hunter_202_that_never_ends_is_unavailable_after_its_polls(http, sleeps):
    route = http.get(f"{HUNTER}/email-verifier").respond(202)
    with pytest.raises(ProviderUnavailable) as caught:
        make_client(hunter(), sleeps).call("email_verifier", params={"email": "a@stripe.com"})
    assert (route.call_count, caught.value.reason) == (6, "still in progress after 5 polls")


@pytest.mark.parametrize("status", [222, 451])
def test_hunter_222_and_451_are_answers_that_are_neither_cached_nor_charged(http, sleeps, conn, status):
    body = {"data": {"status": "unknown"}} if status == 222 else hunter_errors(451, "restricted")
    route = http.get(f"{HUNTER}/email-verifier").respond(status, json=body)
    client = make_client(hunter(), sleeps, meter=ledger(conn), cache=RedisResponseCache(conn))
    replies = [client.call("email_verifier", params={"email": "a@stripe.com"}) for _ in range(2)]
    assert [(reply.status, reply.cached) for reply in replies] == [(status, False), (status, False)]
    assert route.call_count == 2 and sleeps == []
    assert run_costs(conn, "t1", "run-1")["hunter"] == {
        "calls": 2, "cached": 0, "credits": 0.0, "dollars": 0.0, "capped": 0}


def test_hunter_222_for_a_valid_looking_body_is_still_free(http, sleeps, conn):
    http.get(f"{HUNTER}/email-verifier").respond(222, json=fixture("hunter_email_verifier_valid"))
    make_client(hunter(), sleeps, meter=ledger(conn)).call("email_verifier", params={"email": "a@stripe.com"})
    assert run_costs(conn, "t1", "run-1")["hunter"]["credits"] == 0


def test_hunter_403_is_its_rate_limit_and_is_retried(http, sleeps):
    route = http.get(f"{HUNTER}/email-verifier").mock(side_effect=[
        httpx.Response(403, json=hunter_errors(403, "You have reached the rate limit")),
        httpx.Response(200, json=fixture("hunter_email_verifier_valid"))])
    reply = make_client(hunter(), sleeps).call("email_verifier", params={"email": "a@stripe.com"})
    assert (reply.status, route.call_count, sleeps) == (200, 2, [0.5])


def test_hunter_429_is_its_spent_monthly_quota_and_is_not_retried(http, sleeps):
    body = hunter_errors(429, "You have reached your usage limit")
    route = http.get(f"{HUNTER}/domain-search").respond(429, json=body)
    with pytest.raises(QuotaExhausted) as caught:
        make_client(hunter(), sleeps).call("domain_search", params={"domain": "stripe.com"})
    assert (route.call_count, sleeps, caught.value.kind, caught.value.status) == (1, [], "quota", 429)
    assert caught.value.reason == "quota spent (HTTP 429: You have reached your usage limit)"


def test_a_401_is_auth_refused_and_not_retried(http, sleeps):
    route = http.get(f"{HUNTER}/domain-search").respond(
        401, json=hunter_errors(401, "No user found for the API key supplied"))
    with pytest.raises(AuthRefused) as caught:
        make_client(hunter(), sleeps).call("domain_search", params={"domain": "stripe.com"})
    assert (route.call_count, caught.value.kind) == (1, "refused")
    assert caught.value.reason == "the API key was refused (HTTP 401: No user found for the API key supplied)"


def test_a_hunter_400_quotes_the_documented_error_details(http, sleeps):
    http.get(f"{HUNTER}/domain-search").respond(400, json=fixture("hunter_error_400"))
    with pytest.raises(RequestRefused) as caught:
        make_client(hunter(), sleeps).call("domain_search")
    assert caught.value.reason == "HTTP 400: You are missing the domain parameter"


def pdl_like(**cost):
    return acme(name="pdl", statuses={"no_match": [404]},
                endpoints={"enrich": {"path": "/company/enrich", "cache": "firmographics",
                                      "cost": {"credits": 1, "per": "match"} | cost}})


PDL_404 = {"status": 404, "error": {"type": "not_found", "message": "No records were found matching your request"}}


def test_a_pdl_style_404_is_no_match_and_free_when_charged_per_match(http, sleeps, conn):
    route = http.get(f"{ACME}/company/enrich").respond(404, json=PDL_404)
    reply = make_client(pdl_like(), sleeps, meter=ledger(conn)).call("enrich", params={"website": "nobody.test"})
    assert (reply.no_match, reply.status, route.call_count, sleeps) == (True, 404, 1, [])
    assert run_costs(conn, "t1", "run-1")["pdl"] == {"calls": 1, "cached": 0, "credits": 0.0, "dollars": 0.0,
                                                     "capped": 0}


def test_a_call_charged_per_match_costs_its_credits_when_it_matched(http, sleeps, conn):
    http.get(f"{ACME}/company/enrich").respond(200, json={"status": 200, "name": "stripe"})
    make_client(pdl_like(), sleeps, meter=ledger(conn)).call("enrich", params={"website": "stripe.com"})
    assert run_costs(conn, "t1", "run-1")["pdl"] == {"calls": 1, "cached": 0, "credits": 1.0, "dollars": 0.1,
                                                          "capped": 0}


APOLLO_422 = {"error": "API key must be passed in the X-Api-Key header for security reasons"}


def test_an_apollo_style_422_is_refused_with_the_providers_message_and_not_retried(http, sleeps):
    route = http.post(f"{ACME}/mixed_people/search").respond(422, json=APOLLO_422)
    spec = acme(endpoints={"people": {"method": "POST", "path": "/mixed_people/search", "params_in": "json"}})
    with pytest.raises(RequestRefused) as caught:
        make_client(spec, sleeps).call("people", params={"q_organization_domains_list": ["stripe.com"]})
    assert (route.call_count, sleeps, caught.value.status, caught.value.kind) == (1, [], 422, "refused")
    assert caught.value.reason == f"HTTP 422: {APOLLO_422['error']}"


@pytest.mark.parametrize("status, body", [
    (422, {"error": f"api_key {KEY} is not valid for this endpoint"}),
    (401, {"message": f"Invalid API key: {KEY}"}),
    (400, {"errors": [{"code": 400, "details": f"unknown parameter api_key={KEY}"}]}),
    (503, f"upstream rejected key {KEY}"),
])
def test_a_provider_message_that_quotes_the_key_never_carries_it_into_the_reason(http, sleeps, status, body):
    kwargs = {"json": body} if isinstance(body, dict) else {"text": body}
    http.get(f"{ACME}/lookup").respond(status, **kwargs)
    with pytest.raises(ProviderCallError) as caught:
        make_client(acme(), sleeps).call("lookup")
    assert KEY not in str(caught.value) and KEY not in caught.value.reason
    assert "[key]" in caught.value.reason


# --- costs ------------------------------------------------------------------------------------


def test_a_call_charged_per_call_costs_its_credits_at_the_configured_price(http, sleeps, conn):
    http.get(f"{ACME}/lookup").respond(200, json={})
    spec = acme(endpoints={"lookup": {"path": "/lookup", "cost": {"credits": 2}}}, dollars_per_credit=0.35)
    make_client(spec, sleeps, meter=ledger(conn)).call("lookup")
    assert run_costs(conn, "t1", "run-1")["acme"] == {"calls": 1, "cached": 0, "credits": 2.0, "dollars": 0.7,
                                                      "capped": 0}


def test_NAME_DOLLARS_PER_CREDIT_prices_the_tenants_contract(http, sleeps, conn):
    http.get(f"{HUNTER}/email-verifier").respond(200, json=fixture("hunter_email_verifier_valid"))
    spec = hunter({"HUNTER_DOLLARS_PER_CREDIT": "0.02"})
    make_client(spec, sleeps, meter=ledger(conn)).call("email_verifier", params={"email": "patrick@stripe.com"})
    assert run_costs(conn, "t1", "run-1")["hunter"]["dollars"] == 0.02


@pytest.mark.parametrize("found, credits", [(0, 0), (1, 1), (10, 1), (11, 2)])
def test_hunter_domain_search_costs_one_credit_per_ten_emails_and_none_without_any(http, sleeps, conn, found, credits):
    http.get(f"{HUNTER}/domain-search").respond(200, json=emails(found))
    make_client(hunter(), sleeps, meter=ledger(conn)).call("domain_search", params={"domain": "intercom.com"})
    assert run_costs(conn, "t1", "run-1")["hunter"]["credits"] == credits


@pytest.mark.parametrize("email, credits", [("alexis@reddit.com", 1), (None, 0)])
def test_hunter_email_finder_is_charged_only_when_it_finds_the_email(http, sleeps, conn, email, credits):
    body = fixture("hunter_email_finder")
    body["data"]["email"] = email
    http.get(f"{HUNTER}/email-finder").respond(200, json=body)
    make_client(hunter(), sleeps, meter=ledger(conn)).call("email_finder", params={"domain": "reddit.com"})
    assert run_costs(conn, "t1", "run-1")["hunter"]["credits"] == credits


@pytest.mark.parametrize("name, credits", [("hunter_email_verifier_valid", 1), ("hunter_email_verifier_disposable", 0)])
def test_hunter_verifications_that_come_back_disposable_or_unknown_are_free(http, sleeps, conn, name, credits):
    http.get(f"{HUNTER}/email-verifier").respond(200, json=fixture(name))
    make_client(hunter(), sleeps, meter=ledger(conn)).call("email_verifier", params={"email": "test@example.com"})
    costs = run_costs(conn, "t1", "run-1")["hunter"]
    assert (costs["credits"], costs["dollars"]) == (credits, 0.049 * credits)


# --- cache --------------------------------------------------------------------------------------


def test_a_cached_answer_makes_no_request_and_costs_nothing(http, sleeps, conn):
    route = http.get(f"{HUNTER}/email-verifier").respond(200, json=fixture("hunter_email_verifier_valid"))
    client = make_client(hunter(), sleeps, meter=ledger(conn), cache=RedisResponseCache(conn))
    first = client.call("email_verifier", params={"email": "patrick@stripe.com"})
    again = client.call("email_verifier", params={"email": "patrick@stripe.com"})
    assert route.call_count == 1
    assert (again.cached, again.body, again.status, again.fetched_at) == (True, first.body, 200, first.fetched_at)
    assert run_costs(conn, "t1", "run-1")["hunter"] == {"calls": 1, "cached": 1, "credits": 1.0, "dollars": 0.049,
                                                        "capped": 0}


def test_another_request_is_not_answered_from_the_cache(http, sleeps, conn):
    route = http.get(f"{HUNTER}/email-verifier").respond(200, json=fixture("hunter_email_verifier_valid"))
    client = make_client(hunter(), sleeps, cache=RedisResponseCache(conn))
    client.call("email_verifier", params={"email": "patrick@stripe.com"})
    assert client.call("email_verifier", params={"email": "john@stripe.com"}).cached is False
    assert route.call_count == 2


def test_a_no_match_is_cached_so_a_rerun_does_not_ask_again(http, sleeps, conn):
    route = http.get(f"{ACME}/company/enrich").respond(404, json=PDL_404)
    client = make_client(pdl_like(), sleeps, cache=RedisResponseCache(conn))
    client.call("enrich", params={"website": "nobody.test"})
    again = client.call("enrich", params={"website": "nobody.test"})
    assert (again.cached, again.no_match, route.call_count) == (True, True, 1)


def test_failures_are_not_cached(http, sleeps, conn):
    route = http.get(f"{ACME}/company/enrich").mock(side_effect=[httpx.Response(503)] * 4 + [
        httpx.Response(200, json={"name": "stripe"})])
    client = make_client(pdl_like(), sleeps, cache=RedisResponseCache(conn))
    with pytest.raises(ProviderUnavailable):
        client.call("enrich", params={"website": "stripe.com"})
    assert client.call("enrich", params={"website": "stripe.com"}).body == {"name": "stripe"}
    assert route.call_count == 5


def test_an_endpoint_without_a_kind_of_data_is_never_cached(http, sleeps, conn):
    route = http.get(f"{ACME}/lookup").respond(200, json={})
    client = make_client(acme(), sleeps, cache=RedisResponseCache(conn))
    client.call("lookup")
    client.call("lookup")
    assert route.call_count == 2 and conn.keys("*provider_cache*") == []


# --- caps --------------------------------------------------------------------------------------------


def paid_and_free():
    return acme(endpoints={"paid": {"path": "/paid", "cost": {"credits": 1}}, "free": {"path": "/free"}})


def test_a_reached_cap_makes_no_paid_request_while_free_endpoints_still_go(http, sleeps, conn):
    paid = http.get(f"{ACME}/paid").respond(200, json={})
    free = http.get(f"{ACME}/free").respond(200, json={})
    client = make_client(paid_and_free(), sleeps, meter=ledger(conn, run_cap=0.15))
    client.call("paid")
    with pytest.raises(CapReached) as caught:
        client.call("paid")
    client.call("free")
    client.call("free")
    assert (paid.call_count, free.call_count, caught.value.kind) == (1, 2, "capped")
    assert caught.value.reason == ("the run cost cap of $0.15 is reached: $0.10 spent or in flight, "
                                   "and the next call costs $0.10")
    assert run_costs(conn, "t1", "run-1")["acme"] == {"calls": 3, "cached": 0, "credits": 1.0, "dollars": 0.1,
                                                      "capped": 1}


def test_a_cap_of_zero_allows_no_paid_call_at_all(http, sleeps, conn):
    paid = http.get(f"{ACME}/paid").respond(200, json={})
    with pytest.raises(CapReached) as caught:
        make_client(paid_and_free(), sleeps, meter=ledger(conn, monthly_cap=0)).call("paid")
    assert (paid.call_count, caught.value.reason) == (0, "paid calls are off: the monthly cost cap is $0")


def test_a_paid_call_that_fails_gives_back_what_the_cap_held_for_it(http, sleeps, conn):
    paid = http.get(f"{ACME}/paid").mock(side_effect=[httpx.Response(503)] * 4 + [httpx.Response(200, json={})])
    client = make_client(paid_and_free(), sleeps, meter=ledger(conn, run_cap=0.1))
    with pytest.raises(ProviderUnavailable):
        client.call("paid")
    client.call("paid")  # the failed call's $0.10 was released: the cap still has room for this one
    assert paid.call_count == 5


def test_a_paid_call_the_breaker_stops_gives_back_what_the_cap_held_for_it(http, sleeps, conn):
    paid = http.get(f"{ACME}/paid").respond(200, json={})
    breaker = RedisBreaker(conn, "t1", threshold=1)
    breaker.failed("acme")
    meter = ledger(conn, run_cap=0.1)
    with pytest.raises(CircuitOpen):
        make_client(paid_and_free(), sleeps, meter=meter, breaker=breaker).call("paid")
    make_client(paid_and_free(), sleeps, meter=meter).call("paid")
    assert paid.call_count == 1


# --- circuit breaker ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_open_breaker_raises_circuit_open_without_a_request_then_a_half_open_trial_recovers(http, sleeps, conn):
    clock = Clock()
    route = http.get(f"{ACME}/lookup").respond(503)
    client = make_client(acme(retry={"attempts": 1}), sleeps, breaker=RedisBreaker(conn, "t1", clock=clock))
    for _ in range(5):
        with pytest.raises(ProviderUnavailable):
            client.call("lookup")
    with pytest.raises(CircuitOpen) as caught:
        client.call("lookup")
    assert (route.call_count, caught.value.kind) == (5, "unavailable")
    clock.now += 60
    route.respond(200, json={"ok": True})
    assert client.call("lookup").body == {"ok": True}  # the half-open trial
    client.call("lookup")
    assert route.call_count == 7


def test_a_spent_quota_opens_the_breaker(http, sleeps, conn):
    route = http.get(f"{HUNTER}/domain-search").respond(429, json=hunter_errors(429, "usage limit"))
    client = make_client(hunter(), sleeps, breaker=RedisBreaker(conn, "t1"))
    for _ in range(5):
        with pytest.raises(QuotaExhausted):
            client.call("domain_search", params={"domain": "stripe.com"})
    with pytest.raises(CircuitOpen):
        client.call("domain_search", params={"domain": "stripe.com"})
    assert route.call_count == 5


@pytest.mark.parametrize("status", [422, 401])
def test_refused_requests_and_keys_never_open_the_breaker(http, sleeps, conn, status):
    route = http.get(f"{ACME}/lookup").respond(status, json={"message": "no"})
    client = make_client(acme(), sleeps, breaker=RedisBreaker(conn, "t1"))
    for _ in range(7):
        with pytest.raises((RequestRefused, AuthRefused)):
            client.call("lookup")
    assert route.call_count == 7


def test_the_breaker_of_one_tenant_does_not_stop_another(http, sleeps, conn):
    route = http.get(f"{ACME}/lookup").respond(503)
    spec = acme(retry={"attempts": 1})
    first = make_client(spec, sleeps, tenant="t1", breaker=RedisBreaker(conn, "t1"))
    for _ in range(5):
        with pytest.raises(ProviderUnavailable):
            first.call("lookup")
    with pytest.raises(ProviderUnavailable):  # called, not stopped by t1's open breaker
        make_client(spec, sleeps, tenant="t2", breaker=RedisBreaker(conn, "t2")).call("lookup")
    assert route.call_count == 6


# --- call stats -------------------------------------------------------------------------------------------


def test_each_call_counts_once_in_the_success_rate_whatever_its_retries(http, sleeps, conn):
    stats = RedisCallStats(conn, clock=lambda: NOW)
    http.get(f"{ACME}/lookup").mock(side_effect=[httpx.Response(500), httpx.Response(200, json={})]
                                    + [httpx.Response(503)] * 4 + [httpx.Response(422)])
    client = make_client(acme(), sleeps, stats=stats)
    client.call("lookup")
    for error in (ProviderUnavailable, RequestRefused):
        with pytest.raises(error):
            client.call("lookup")
    rate = success_rates(conn, now=NOW)["acme"]
    assert (rate.ok, rate.failed) == (1, 2)


def test_calls_a_cap_stopped_are_not_counted_in_the_success_rate(http, sleeps, conn):
    stats = RedisCallStats(conn, clock=lambda: NOW)
    http.get(f"{ACME}/paid").respond(200, json={})
    with pytest.raises(CapReached):
        make_client(paid_and_free(), sleeps, stats=stats, meter=ledger(conn, run_cap=0)).call("paid")
    assert success_rates(conn, now=NOW) == {}


# --- pagination -----------------------------------------------------------------------------------------------


def pages_spec(**pagination):
    return acme(endpoints={"list": {"path": "/list", "pagination": pagination}})


def test_page_pagination_reads_every_page_up_to_the_page_count(http, sleeps):
    def page(request):
        number = int(request.url.params["page"])
        return httpx.Response(200, json={"items": [number * 10, number * 10 + 1], "pagination": {"total_pages": 3}})

    route = http.get(f"{ACME}/list").mock(side_effect=page)
    spec = pages_spec(kind="page", param="page", size_param="per_page", size=2, items="items",
                      total_pages="pagination.total_pages")
    bodies = [reply.body["items"] for reply in make_client(spec, sleeps).pages("list", params={"q": "saas"})]
    assert bodies == [[10, 11], [20, 21], [30, 31]]
    assert [dict(call.request.url.params) for call in route.calls] == [
        {"q": "saas", "page": str(n), "per_page": "2"} for n in (1, 2, 3)]


def test_page_pagination_without_a_page_count_stops_at_the_first_empty_page(http, sleeps):
    route = http.get(f"{ACME}/list").mock(side_effect=[httpx.Response(200, json=[1, 2]), httpx.Response(200, json=[3]),
                                                        httpx.Response(200, json=[])])
    replies = list(make_client(pages_spec(kind="page", param="page"), sleeps).pages("list"))
    assert ([reply.body for reply in replies], route.call_count) == ([[1, 2], [3], []], 3)


def test_offset_pagination_reads_hunter_emails_until_a_short_page(http, sleeps):
    route = http.get(f"{HUNTER}/domain-search").mock(side_effect=[
        httpx.Response(200, json=emails(count, results=23)) for count in (10, 10, 3)])
    replies = list(make_client(hunter(), sleeps).pages("domain_search", params={"domain": "intercom.com"}))
    assert sum(len(reply.body["data"]["emails"]) for reply in replies) == 23
    assert [(call.request.url.params["offset"], call.request.url.params["limit"]) for call in route.calls] == [
        ("0", "10"), ("10", "10"), ("20", "10")]


def test_offset_pagination_without_a_total_stops_at_the_empty_page_after_a_full_one(http, sleeps):
    untold = [{"data": emails(count)["data"]} for count in (10, 0)]
    route = http.get(f"{HUNTER}/domain-search").mock(side_effect=[httpx.Response(200, json=body) for body in untold])
    assert len(list(make_client(hunter(), sleeps).pages("domain_search", params={"domain": "x.test"}))) == 2
    assert route.call_count == 2


def test_offset_pagination_stops_once_the_total_the_provider_gave_is_read(http, sleeps):
    route = http.get(f"{HUNTER}/domain-search").mock(side_effect=[httpx.Response(200, json=emails(10, results=10))])
    assert len(list(make_client(hunter(), sleeps).pages("domain_search", params={"domain": "x.test"}))) == 1
    assert route.call_count == 1


def test_cursor_pagination_follows_the_next_cursor_until_there_is_none(http, sleeps):
    route = http.get(f"{ACME}/list").mock(side_effect=[
        httpx.Response(200, json={"data": [1], "meta": {"next": "c2"}}),
        httpx.Response(200, json={"data": [2], "meta": {"next": "c3"}}),
        httpx.Response(200, json={"data": [3], "meta": {"next": None}})])
    spec = pages_spec(kind="cursor", param="cursor", items="data", cursor="meta.next")
    assert [reply.body["data"] for reply in make_client(spec, sleeps).pages("list")] == [[1], [2], [3]]
    assert [call.request.url.params.get("cursor") for call in route.calls] == [None, "c2", "c3"]


def test_cursor_from_the_last_item_in_a_json_body_pages_like_crunchbase_after_id(http, sleeps):
    def page(request):
        after = json.loads(request.content).get("after_id")
        items = {None: [{"uuid": "a"}, {"uuid": "b"}], "b": [{"uuid": "c"}], "c": []}[after]
        return httpx.Response(200, json={"entities": items})

    route = http.post(f"{ACME}/search").mock(side_effect=page)
    spec = acme(endpoints={"search": {"method": "POST", "path": "/search", "params_in": "json", "pagination": {
        "kind": "cursor", "param": "after_id", "size_param": "limit", "size": 2, "items": "entities",
        "cursor_from_last_item": "uuid", "location": "json"}}})
    found = [item["uuid"] for reply in make_client(spec, sleeps).pages("search", json={"query": []})
             for item in reply.body["entities"]]
    assert found == ["a", "b", "c"]
    assert [json.loads(call.request.content) for call in route.calls] == [
        {"query": [], "limit": 2}, {"query": [], "limit": 2, "after_id": "b"},
        {"query": [], "limit": 2, "after_id": "c"}]


def test_pages_stop_at_max_pages(http, sleeps):
    route = http.get(f"{ACME}/list").respond(200, json=[1, 2, 3])
    assert len(list(make_client(pages_spec(kind="page", param="page"), sleeps).pages("list", max_pages=4))) == 4
    assert route.call_count == 4


def test_pages_of_an_endpoint_without_pagination_are_refused(sleeps):
    with pytest.raises(ValueError, match="acme lookup is not paginated"):
        next(make_client(acme(), sleeps).pages("lookup"))


def test_an_answer_bigger_than_the_bound_is_refused_not_read_whole(http, sleeps, monkeypatch):
    import connector.providers.http.client as client_module

    monkeypatch.setattr(client_module, "MAX_ANSWER_BYTES", 1000)
    http.get(f"{HUNTER}/email-verifier").respond(200, content=b"[" * 5000)
    with pytest.raises(RequestRefused, match="an answer over"):
        make_client(hunter(), sleeps).call("email_verifier", params={"email": "a@b.io"})


def test_an_answer_nested_past_pythons_limit_is_read_as_text(http, sleeps):
    http.get(f"{HUNTER}/email-verifier").respond(200, content=b"[" * 100_000 + b"]" * 100_000)
    reply = make_client(hunter(), sleeps).call("email_verifier", params={"email": "a@b.io"})
    assert isinstance(reply.body, str)
