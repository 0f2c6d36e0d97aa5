"""Lever job sites: published postings as hiring signals, through the real client, paged to the end."""

import datetime as dt
import logging

import httpx
import pytest
import respx

from agents.enrichment import score_intent
from connector.providers import lever
from connector.providers.http.errors import RequestRefused
from tests.connector.providers.intent_support import CAPS, Sleeps, client, company, documented, rules

POSTINGS = "https://api.lever.co/v0/postings/skava"
AS_OF = dt.date(2026, 11, 30)
CREATED = 1_793_000_000_000  # 2026-10-26 in epoch milliseconds, as Lever writes createdAt


def posting(number, text="Account Executive", team="Mid-Market", department="Sales", **fields):
    return {"id": f"00000000-0000-0000-0000-{number:012d}", "text": text, "createdAt": CREATED,
            "categories": {"commitment": "Full Time", "location": "Remote", "team": team, "department": department},
            "hostedUrl": f"https://jobs.lever.co/skava/{number}",
            "applyUrl": f"https://jobs.lever.co/skava/{number}/apply", **fields}


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_each_documented_posting_is_a_job_posting_with_its_team_date_and_link(router):
    route = router.get(POSTINGS).mock(return_value=httpx.Response(200, json=documented("lever_postings")))
    signals = lever.signals_for(client("lever"), company("lever:skava"), AS_OF)
    assert [(s.title, s.department, s.date, s.url, s.source) for s in signals] == [
        ("Sales Solution Architect", "Pre-Sales", dt.date(2018, 2, 20),
         "https://jobs.lever.co/skava/eac055c5-7d16-4f75-89d8-3a97f94a7af8", "lever"),
        ("Technical Writer", "Platform", dt.date(2018, 8, 22),
         "https://jobs.lever.co/skava/2269a887-9925-4182-a6ea-efc492e45285", "lever"),
    ]
    assert dict(route.calls.last.request.url.params) == {"mode": "json", "skip": "0", "limit": "100"}


def test_the_department_is_preferred_to_the_team(router):
    router.get(POSTINGS).mock(return_value=httpx.Response(200, json=[posting(1, team="SDR", department="Sales")]))
    [signal] = lever.signals_for(client("lever"), company("lever:skava"), AS_OF)
    assert signal.department == "Sales"


def test_postings_are_read_page_by_page_to_the_end(router):
    pages = {"0": [posting(n) for n in range(100)], "100": [posting(n) for n in range(100, 200)],
             "200": [posting(n) for n in range(200, 203)]}
    route = router.get(POSTINGS).mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params["skip"]]))
    signals = lever.signals_for(client("lever"), company("lever:skava"), AS_OF)
    assert len(signals) == 203 and len({s.url for s in signals}) == 203
    assert [call.request.url.params["skip"] for call in route.calls] == ["0", "100", "200"]


def test_a_full_last_page_is_followed_by_one_empty_page(router):
    route = router.get(POSTINGS).mock(side_effect=lambda request: httpx.Response(
        200, json=[posting(n) for n in range(100)] if request.url.params["skip"] == "0" else []))
    assert len(lever.signals_for(client("lever"), company("lever:skava"), AS_OF)) == 100
    assert route.call_count == 2


def test_an_unknown_site_has_no_signals_and_is_no_error(router):
    router.get(POSTINGS).mock(return_value=httpx.Response(404, json={"ok": False, "error": "Document not found"}))
    assert lever.signals_for(client("lever"), company("lever:skava"), AS_OF) == []


def test_an_error_object_instead_of_postings_holds_none(router):
    router.get(POSTINGS).mock(return_value=httpx.Response(200, json={"ok": False, "error": "Document not found"}))
    assert lever.signals_for(client("lever"), company("lever:skava"), AS_OF) == []


def test_a_posting_without_a_title_or_categories_is_kept_one_without_a_date_is_left_out(router, caplog):
    bare = {"id": "x1", "createdAt": CREATED, "hostedUrl": "https://jobs.lever.co/skava/x1"}
    undated = posting(2) | {"createdAt": "yesterday"}
    router.get(POSTINGS).mock(return_value=httpx.Response(200, json=[bare, undated]))
    with caplog.at_level(logging.WARNING):
        [signal] = lever.signals_for(client("lever"), company("lever:skava"), AS_OF)
    assert (signal.title, signal.department, signal.date) == ("", None, dt.date(2026, 10, 26))
    assert "lever: 1 of 2 items for acme.io left out: no createdAt date" in caplog.text


def test_a_company_with_a_greenhouse_board_is_not_looked_up_on_lever(router):
    route = router.get(url__startswith="https://api.lever.co/")
    assert lever.signals_for(client("lever"), company("greenhouse:skava"), AS_OF) == []
    assert route.call_count == 0


def test_a_rate_limited_page_is_retried_after_the_wait_lever_asks_for(router):
    route = router.get(POSTINGS).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "2"}, json={"ok": False, "error": "Too many requests"}),
        httpx.Response(200, json=[posting(1)]),
    ])
    sleeps = Sleeps()
    assert len(lever.signals_for(client("lever", sleeps=sleeps), company("lever:skava"), AS_OF)) == 1
    assert route.call_count == 2 and sleeps == [2.0]


def test_a_refused_request_is_an_error_naming_lever_s_message(router):
    router.get(POSTINGS).mock(return_value=httpx.Response(400, json={"ok": False, "error": "Invalid mode"}))
    with pytest.raises(RequestRefused) as failure:
        lever.signals_for(client("lever"), company("lever:skava"), AS_OF)
    assert failure.value.reason == "HTTP 400: Invalid mode"


def test_an_sdr_opening_and_three_sales_roles_score_the_hiring_rules(router):
    site = [posting(1, "Sales Development Representative", team="SDR"), posting(2, "Account Executive, Mid-Market"),
            posting(3, "Enterprise Account Executive"), posting(4, "Data Engineer", team="Data", department="R&D")]
    router.get(POSTINGS).mock(return_value=httpx.Response(200, json=site))
    signals = lever.signals_for(client("lever"), company("lever:skava"), AS_OF)
    result = score_intent(signals, AS_OF, CAPS)
    assert rules(result) == {"Open SDR/BDR/sales development role": 0.20, "3 or more sales roles posted": 0.10}
    assert result.score == 0.30
