"""NewsAPI: a company's recent news as funding and news signals, through the real client."""

import datetime as dt
import logging

import httpx
import pytest
import respx

from agents.enrichment import score_intent
from connector.providers import newsapi
from connector.providers.http.errors import AuthRefused, NotConfigured, ProviderUnavailable, QuotaExhausted, \
    RequestRefused
from tests.connector.providers.intent_support import CAPS, Sleeps, client, company, documented, rules

EVERYTHING = "https://newsapi.org/v2/everything"
AS_OF = dt.date(2026, 11, 30)
KEY = "news-key-0123456789"


def article(title, description="", published="2026-11-18T14:05:00Z", url=None, source="TechCrunch"):
    slug = "-".join(title.lower().split())[:60]
    return {"source": {"id": None, "name": source}, "author": "Staff", "title": title, "description": description,
            "url": url or f"https://techcrunch.com/2026/11/18/{slug}/", "urlToImage": None, "publishedAt": published,
            "content": f"{description[:80]}… [+2310 chars]"}


def answer(*articles, total=None):
    return {"status": "ok", "totalResults": len(articles) if total is None else total, "articles": list(articles)}


def error(code, message):
    return {"status": "error", "code": code, "message": message}


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as router:
        yield router


def signals(response, router):
    router.get(EVERYTHING).mock(return_value=response)
    return newsapi.signals_for(client("newsapi", KEY), company(name="Acme, Inc."), AS_OF)


def test_the_search_is_the_company_name_or_domain_in_headlines_over_the_last_90_days(router):
    route = router.get(EVERYTHING).mock(return_value=httpx.Response(200, json=answer()))
    newsapi.signals_for(client("newsapi", KEY), company(name='Acme, Inc.'), AS_OF)
    request = route.calls.last.request
    assert dict(request.url.params) == {
        "q": '"Acme" OR "acme.io"', "searchIn": "title,description", "from": "2026-09-01",
        "to": "2026-11-30T23:59:59", "language": "en", "sortBy": "publishedAt", "page": "1", "pageSize": "100"}
    assert request.headers["X-Api-Key"] == KEY


def test_a_name_that_is_only_quotes_searches_by_the_domain_alone(router):
    route = router.get(EVERYTHING).mock(return_value=httpx.Response(200, json=answer()))
    newsapi.signals_for(client("newsapi", KEY), company(name='""'), AS_OF)
    assert route.calls.last.request.url.params["q"] == '"acme.io"'


def test_articles_of_the_documented_answer_that_are_not_about_the_company_give_nothing(router):
    assert signals(httpx.Response(200, json=documented("newsapi_articles")), router) == []


def test_a_funding_article_is_a_funding_signal_with_its_round_amount_date_and_link(router):
    raise_ = article("Acme raises $40M Series B to put AI agents in every sales team",
                     "The round was led by Accel.", published="2026-11-18T14:05:00Z")
    [signal] = signals(httpx.Response(200, json=answer(raise_)), router)
    assert (signal.kind, signal.round, signal.amount_usd, signal.date, signal.url, signal.source, signal.title) == (
        "funding", "Series B", 40_000_000, dt.date(2026, 11, 18), raise_["url"], "newsapi", raise_["title"])


def test_expansion_partnership_and_launch_articles_are_news_of_their_category(router):
    found = signals(httpx.Response(200, json=answer(
        article("Acme opens a London office to serve EMEA customers"),
        article("Acme partners with HubSpot on AI prospecting"),
        article("Acme launches Autopilot, an AI SDR for mid-market teams"),
        article("Acme's CEO on building a remote-first culture"))), router)
    assert [(s.kind, s.category) for s in found] == [("news", "expansion"), ("news", "partnership"),
                                                     ("news", "expansion")]


def test_a_removed_article_or_one_without_a_date_is_left_out(router, caplog):
    removed = article("[Removed]", url="https://removed.com", published="1970-01-01T00:00:00Z")
    undated = article("Acme partners with Stripe") | {"publishedAt": None}
    with caplog.at_level(logging.WARNING):
        found = signals(httpx.Response(200, json=answer(removed, undated, article("Acme partners with Zoom"))), router)
    assert [s.title for s in found] == ["Acme partners with Zoom"]
    assert "newsapi: 1 of 3 items for acme.io left out" in caplog.text


def test_a_link_that_is_not_http_is_dropped_and_the_signal_kept(router):
    [signal] = signals(httpx.Response(200, json=answer(article("Acme partners with Zoom", url="ftp://x.example/a"))),
                       router)
    assert signal.url is None


def test_pages_are_read_until_the_total_is_reached(router):
    first = [article(f"Acme partners with Vendor {n}", url=f"https://news.example/{n}") for n in range(100)]
    second = [article(f"Acme partners with Vendor {n}", url=f"https://news.example/{n}") for n in range(100, 130)]
    route = router.get(EVERYTHING).mock(side_effect=lambda request: httpx.Response(
        200, json=answer(*(first if request.url.params["page"] == "1" else second), total=130)))
    found = newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)
    assert len(found) == 130
    assert [call.request.url.params["page"] for call in route.calls] == ["1", "2"]


def test_a_later_page_beyond_the_plan_s_result_cap_keeps_the_pages_read(router, caplog):
    first = [article(f"Acme partners with Vendor {n}", url=f"https://news.example/{n}") for n in range(100)]
    route = router.get(EVERYTHING).mock(side_effect=[
        httpx.Response(200, json=answer(*first, total=240)),
        httpx.Response(426, json=error("maximumResultsReached", "Developer accounts are limited to a max of "
                                       "100 results. You are trying to request results 100 to 200.")),
    ])
    with caplog.at_level(logging.WARNING):
        assert len(newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)) == 100
    assert route.call_count == 2
    assert "newsapi: page 2 for acme.io refused (HTTP 426: Developer accounts are limited" in caplog.text


def test_the_same_story_on_two_pages_counts_once(router):
    story = article("Acme partners with Zoom", url="https://news.example/zoom")
    route = router.get(EVERYTHING).mock(side_effect=lambda request: httpx.Response(
        200, json=answer(*[story] * 100, total=200) if request.url.params["page"] == "1" else answer(story, total=200)))
    assert len(newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)) == 1
    assert route.call_count == 2


def test_without_a_key_nothing_is_called(router):
    route = router.get(EVERYTHING)
    with pytest.raises(NotConfigured):
        newsapi.signals_for(client("newsapi", None), company(), AS_OF)
    assert route.call_count == 0


def test_a_rate_limit_is_retried_with_backoff_then_the_provider_is_unavailable(router):
    sleeps = Sleeps()
    route = router.get(EVERYTHING).mock(return_value=httpx.Response(429, json=error(
        "rateLimited", "You have been rate limited. Back off for a while before trying the request again.")))
    with pytest.raises(ProviderUnavailable) as failure:
        newsapi.signals_for(client("newsapi", KEY, sleeps=sleeps), company(), AS_OF)
    assert route.call_count == 4 and sleeps == [0.5, 1.0, 2.0]
    assert "rate limited" in failure.value.reason


def test_an_exhausted_key_answering_429_is_a_spent_quota_not_retried(router):
    route = router.get(EVERYTHING).mock(return_value=httpx.Response(429, json=error(
        "apiKeyExhausted", "Your API key has no more requests available.")))
    with pytest.raises(QuotaExhausted) as failure:
        newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)
    assert route.call_count == 1
    assert failure.value.reason == "quota spent (HTTP 429: Your API key has no more requests available.)"


def test_an_invalid_key_is_refused_and_the_reason_does_not_quote_it(router):
    router.get(EVERYTHING).mock(return_value=httpx.Response(401, json=error(
        "apiKeyInvalid", "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org.")))
    with pytest.raises(AuthRefused) as failure:
        newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)
    assert KEY not in str(failure.value)


def test_a_disabled_key_answering_400_is_refused_as_a_key_not_as_a_request(router):
    router.get(EVERYTHING).mock(return_value=httpx.Response(400, json=error(
        "apiKeyDisabled", "Your API key has been disabled.")))
    with pytest.raises(AuthRefused):
        newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)


def test_a_bad_parameter_is_a_refused_request(router):
    route = router.get(EVERYTHING).mock(return_value=httpx.Response(400, json=error(
        "parameterInvalid", "You are trying to request results too far in the past.")))
    with pytest.raises(RequestRefused):
        newsapi.signals_for(client("newsapi", KEY), company(), AS_OF)
    assert route.call_count == 1


def test_a_429_without_a_code_is_a_rate_limit_as_its_status_says(router):
    sleeps = Sleeps()
    route = router.get(EVERYTHING).mock(side_effect=[httpx.Response(429, text="slow down"),
                                                     httpx.Response(200, json=answer())])
    assert newsapi.signals_for(client("newsapi", KEY, sleeps=sleeps), company(), AS_OF) == []
    assert route.call_count == 2 and sleeps == [0.5]


def test_a_series_b_article_scores_the_late_round_rule_with_the_article_as_evidence(router):
    raise_ = article("Acme raises $40M Series B led by Accel")
    found = signals(httpx.Response(200, json=answer(raise_, article("Acme partners with HubSpot"))), router)
    result = score_intent(found, AS_OF, CAPS)
    assert rules(result) == {"Raised Series B or later": 0.25, "Partnership news": 0.0}
    assert result.points[0].evidence[0].url == raise_["url"]
    assert result.score == 0.25
