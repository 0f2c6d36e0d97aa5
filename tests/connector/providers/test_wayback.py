"""Wayback CDX: pricing, demo and features page changes as website signals, resume keys followed to the end."""

import datetime as dt
import logging

import httpx
import pytest
import respx

from agents.enrichment import score_intent
from connector.providers import wayback
from connector.providers.http.errors import ProviderUnavailable
from tests.connector.providers.intent_support import CAPS, Sleeps, client, company, documented, rules

CDX = "http://web.archive.org/cdx/search/cdx"
AS_OF = dt.date(2026, 11, 30)
HEADER = ["timestamp", "original", "digest", "statuscode"]


def rows(*captures, resume=None):
    """An output=json answer with the fields SalesOS asks for, ended by a resume key when given."""
    body = [HEADER, *[list(capture) for capture in captures]]
    return body + [[], [resume]] if resume else body


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as router:
        yield router


def answer_per_page(router, pages, default=None):
    """Answer each page kind's query (url=<domain>/<page>*) with its own body; no captures for the others."""
    def respond(request):
        page = request.url.params["url"].split("/")[1].rstrip("*")
        return httpx.Response(200, json=pages.get(page, default if default is not None else []))
    return router.get(CDX).mock(side_effect=respond)


def test_each_page_kind_is_one_query_of_its_captures_over_the_last_180_days(router):
    route = answer_per_page(router, {})
    assert wayback.signals_for(client("wayback"), company(domain="acme.io"), AS_OF) == []
    assert [dict(call.request.url.params) for call in route.calls] == [
        {"url": f"acme.io/{page}*", "output": "json", "fl": "timestamp,original,digest,statuscode",
         "collapse": "digest", "from": "20260603", "to": "20261130", "showResumeKey": "true", "limit": "1000"}
        for page in ("pricing", "demo", "features")]


def test_in_the_documented_answer_the_capture_whose_digest_changed_is_the_one_change(router):
    answer_per_page(router, {"pricing": documented("wayback_cdx_output_json")})
    [change] = wayback.signals_for(client("wayback"), company(domain="archive.org"), AS_OF)
    assert (change.kind, change.page, change.date, change.url, change.source, change.company_domain) == (
        "website_change", "pricing", dt.date(1997, 10, 11),
        "https://web.archive.org/web/19971011050034/http://www.archive.org:80/", "wayback", "archive.org")
    assert change.title == "Pricing page changed: archive.org"


def test_the_resume_key_is_followed_until_a_page_ends_without_one(router):
    last = rows(("19980301000000", "http://archive.org:80/", "NEWDIGEST", "200"))
    bodies = iter([documented("wayback_cdx_resumekey"), last])
    route = router.get(CDX, params={"url": "archive.org/pricing*"}).mock(
        side_effect=lambda request: httpx.Response(200, json=next(bodies)))
    router.get(CDX).mock(return_value=httpx.Response(200, json=[]))
    changes = wayback.signals_for(client("wayback"), company(domain="archive.org"), AS_OF)
    assert [change.date for change in changes] == [dt.date(1997, 10, 11), dt.date(1998, 3, 1)]
    first, second = (call.request.url.params for call in route.calls)
    assert "resumeKey" not in first
    assert second["resumeKey"] == "org,archive)/ 19980109140106!"  # as printed, decoded once: the server's own key
    assert {name: second[name] for name in ("url", "from", "to", "collapse")} == \
        {name: first[name] for name in ("url", "from", "to", "collapse")}


def test_an_empty_page_with_a_resume_key_is_followed_too(router):
    bodies = iter([rows(("20260901000000", "https://acme.io/pricing", "A", "200"), resume="k1"),
                   rows(resume="k2"), rows(("20261001000000", "https://acme.io/pricing", "B", "200"))])
    route = router.get(CDX, params={"url": "acme.io/pricing*"}).mock(
        side_effect=lambda request: httpx.Response(200, json=next(bodies)))
    router.get(CDX).mock(return_value=httpx.Response(200, json=[]))
    [change] = wayback.signals_for(client("wayback"), company(), AS_OF)
    assert change.date == dt.date(2026, 10, 1) and route.call_count == 3


def test_a_resume_key_that_repeats_ends_the_query(router):
    route = router.get(CDX, params={"url": "acme.io/pricing*"}).mock(return_value=httpx.Response(
        200, json=rows(("20260901000000", "https://acme.io/pricing", "A", "200"), resume="same")))
    router.get(CDX).mock(return_value=httpx.Response(200, json=[]))
    assert wayback.signals_for(client("wayback"), company(), AS_OF) == []
    assert route.call_count == 2


def test_a_query_that_never_ends_stops_after_the_most_calls_with_a_warning(router, caplog):
    keys = iter(range(1000))
    route = router.get(CDX, params={"url": "acme.io/pricing*"}).mock(side_effect=lambda request: httpx.Response(
        200, json=rows(("20260901000000", "https://acme.io/pricing", f"D{next(keys)}", "200"), resume="more")
        if "resumeKey" not in request.url.params else rows(resume=f"k{next(keys)}")))
    router.get(CDX).mock(return_value=httpx.Response(200, json=[]))
    with caplog.at_level(logging.WARNING):
        assert wayback.signals_for(client("wayback"), company(), AS_OF) == []
    assert route.call_count == wayback.MAX_CALLS
    assert f"wayback: acme.io/pricing* still had more after {wayback.MAX_CALLS} calls" in caplog.text


def test_each_page_url_has_its_own_baseline_however_it_was_captured(router):
    answer_per_page(router, {"pricing": rows(
        ("20260610000000", "http://www.acme.io:80/pricing/", "A", "200"),
        ("20260701000000", "https://acme.io/pricing/enterprise", "E", "200"),
        ("20260801000000", "https://acme.io/pricing", "A", "200"),
        ("20260901000000", "https://acme.io/pricing", "B", "200"),
        ("20261001000000", "https://acme.io/pricing/enterprise", "E", "200"),
    )})
    changes = wayback.signals_for(client("wayback"), company(), AS_OF)
    assert [(c.date, c.title) for c in changes] == [(dt.date(2026, 9, 1), "Pricing page changed: acme.io/pricing")]


def test_a_redirect_or_error_between_identical_pages_is_not_a_change(router):
    answer_per_page(router, {"demo": rows(
        ("20260610000000", "https://acme.io/demo", "A", "200"),
        ("20260701000000", "https://acme.io/demo", "REDIRECT", "301"),
        ("20260702000000", "https://acme.io/demo", "ERR", "503"),
        ("20260801000000", "https://acme.io/demo", "A", "200"),
    )})
    assert wayback.signals_for(client("wayback"), company(), AS_OF) == []


def test_captures_missing_fields_are_left_out(router):
    answer_per_page(router, {"features": [
        HEADER, ["20260610000000", "https://acme.io/features", "A", "200"], ["2026", "https://acme.io/features", "B"],
        ["notadate", "https://acme.io/features", "C", "200"], ["20260801000000", "https://acme.io/features", "", "200"],
        ["20260901000000", "https://acme.io/features", "D", "200"]]})
    [change] = wayback.signals_for(client("wayback"), company(), AS_OF)
    assert (change.page, change.date) == ("features", dt.date(2026, 9, 1))


def test_a_site_without_captures_or_excluded_from_the_archive_has_no_signals(router):
    blocked = ("org.archive.util.io.RuntimeIOException: "
               "org.archive.wayback.exception.AdministrativeAccessControlException: Blocked Site Error")
    bodies = {"pricing": httpx.Response(200, content=b""), "demo": httpx.Response(200, json=[]),
              "features": httpx.Response(403, text=blocked)}
    router.get(CDX).mock(side_effect=lambda request: bodies[request.url.params["url"].split("/")[1].rstrip("*")])
    assert wayback.signals_for(client("wayback"), company(), AS_OF) == []


def test_an_archive_that_keeps_failing_is_unavailable_after_the_retries(router):
    sleeps = Sleeps()
    route = router.get(CDX).mock(return_value=httpx.Response(503, text="Service Unavailable"))
    with pytest.raises(ProviderUnavailable):
        wayback.signals_for(client("wayback", sleeps=sleeps), company(), AS_OF)
    assert route.call_count == 4 and len(sleeps) == 3


def test_pricing_and_demo_page_changes_score_the_website_rules(router):
    answer_per_page(router, {
        "pricing": rows(("20260615000000", "https://acme.io/pricing", "A", "200"),
                        ("20261020000000", "https://acme.io/pricing", "B", "200")),
        "demo": rows(("20260615000000", "https://acme.io/demo", "A", "200"),
                     ("20261101000000", "https://acme.io/demo", "C", "200")),
        "features": rows(("20260615000000", "https://acme.io/features", "A", "200"))})
    result = score_intent(wayback.signals_for(client("wayback"), company(), AS_OF), AS_OF, CAPS)
    assert rules(result) == {"Pricing page changed": 0.10, "Demo page changed": 0.10}
    assert result.points[0].evidence[0].url == "https://web.archive.org/web/20261020000000/https://acme.io/pricing"
