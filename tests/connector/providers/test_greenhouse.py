"""Greenhouse job boards: open jobs as hiring signals, through the real client."""

import datetime as dt
import logging

import httpx
import pytest
import respx

from agents.enrichment import score_intent
from connector.providers import greenhouse
from connector.providers.http.errors import ProviderUnavailable
from tests.connector.providers.intent_support import CAPS, Sleeps, client, company, documented, rules

JOBS = "https://boards-api.greenhouse.io/v1/boards/vaulttec/jobs"
AS_OF = dt.date(2026, 11, 30)


def job(title, published="2026-11-02T09:00:00-05:00", department="Sales", **fields):
    """A job as the board lists it with content=true (the description left out)."""
    number = sum(map(ord, title))
    return {"id": number, "title": title, "updated_at": "2026-11-20T10:00:00-05:00", "first_published": published,
            "location": {"name": "Remote"}, "absolute_url": f"https://boards.greenhouse.io/vaulttec/jobs/{number}",
            "departments": [{"id": 1, "name": department, "parent_id": None, "child_ids": []}], **fields}


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_each_job_on_the_documented_board_is_a_posting_with_its_department_date_and_link(router):
    route = router.get(JOBS).mock(return_value=httpx.Response(200, json=documented("greenhouse_jobs_content_true")))
    signals = greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF)
    assert [(s.kind, s.title, s.department, s.date, s.url, s.source, s.company_domain) for s in signals] == [
        ("job_posting", "Vault Designer", "Department of Departments", dt.date(2016, 1, 14),
         "https://boards.greenhouse.io/vaulttec/jobs/127817", "greenhouse", "acme.io")]
    assert route.calls.last.request.url.params["content"] == "true"


def test_a_job_is_dated_by_its_first_publication_over_its_last_update(router):
    board = {"jobs": [job("AE", published="2026-10-01T08:00:00Z")]}
    router.get(JOBS).mock(return_value=httpx.Response(200, json=board))
    [signal] = greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF)
    assert signal.date == dt.date(2026, 10, 1)


def test_a_job_without_departments_is_kept_without_one(router):
    router.get(JOBS).mock(return_value=httpx.Response(200, json=documented("greenhouse_jobs")))
    [signal] = greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF)
    assert (signal.title, signal.department, signal.date) == ("Vault Designer", None, dt.date(2016, 1, 14))


def test_a_job_without_any_date_is_left_out_and_reported(router, caplog):
    undated = job("Account Executive", published=None) | {"updated_at": None}
    router.get(JOBS).mock(return_value=httpx.Response(200, json={"jobs": [undated, job("SDR"), "not a job"]}))
    with caplog.at_level(logging.WARNING):
        signals = greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF)
    assert [s.title for s in signals] == ["SDR"]
    assert "greenhouse: 2 of 3 items for acme.io left out" in caplog.text


def test_a_link_that_is_not_http_is_dropped_and_the_posting_kept(router):
    board = {"jobs": [job("SDR", absolute_url="javascript:alert(1)")]}
    router.get(JOBS).mock(return_value=httpx.Response(200, json=board))
    [signal] = greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF)
    assert (signal.title, signal.url) == ("SDR", None)


def test_an_unknown_board_has_no_signals_and_is_no_error(router):
    router.get(JOBS).mock(return_value=httpx.Response(404, json={"status": 404, "error": "Job not found"}))
    assert greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF) == []


def test_a_company_without_a_greenhouse_board_is_not_looked_up(router):
    route = router.get(url__startswith="https://boards-api.greenhouse.io/")
    for board in (None, "lever:vaulttec"):
        assert greenhouse.signals_for(client("greenhouse"), company(board), AS_OF) == []
    assert route.call_count == 0


def test_a_board_that_keeps_failing_is_unavailable_after_the_retries(router):
    route = router.get(JOBS).mock(return_value=httpx.Response(503, text="upstream timeout"))
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailable) as failure:
        greenhouse.signals_for(client("greenhouse", sleeps=sleeps), company("greenhouse:vaulttec"), AS_OF)
    assert route.call_count == 4 and len(sleeps) == 3
    assert "HTTP 503" in failure.value.reason


def test_a_vp_of_sales_opening_on_the_board_scores_the_sales_leader_rule(router):
    board = {"jobs": [job("VP of Sales, North America"), job("Senior Backend Engineer", department="Engineering")],
             "meta": {"total": 2}}
    router.get(JOBS).mock(return_value=httpx.Response(200, json=board))
    signals = greenhouse.signals_for(client("greenhouse"), company("greenhouse:vaulttec"), AS_OF)
    result = score_intent(signals, AS_OF, CAPS)
    assert rules(result) == {"Open VP/Head of Sales or CRO role": 0.30}
    assert result.points[0].evidence[0].url == board["jobs"][0]["absolute_url"]
