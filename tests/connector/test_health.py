"""`python -m connector health`: queue state from a real Redis and RQ, and the seed's agent checks."""

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
import redis

from connector.dispatch import INBOX
from connector.health import (
    exit_code, failed_jobs, health_report, queue_states, recent_runs, render,
)
from connector.private_files import write_private
from connector.providers.http.stats import RedisCallStats
from connector.queues import enqueue_once
from connector.runner import summarise
from connector.settings import Settings
from crm_adapters.base import AccountWrite
from crm_adapters.local import LocalCRM
from tests.connector.jobs_for_tests import explode, record
from tests.connector.retries import work_through_retries

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
SUFFIX = itertools.count(1)


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path)


def write_run(settings, hours_ago=1.0, *, market="SaaS", tenant="local", rows_read=100, quarantined=0,
              companies_read=50, duplicates_merged=0, name=None):
    started = NOW - dt.timedelta(hours=hours_ago)
    run_id = name or f"{started:%Y%m%dT%H%M%S}-{next(SUFFIX):06x}"
    bad = [{"file": "/data/apollo.jsonl", "line": n + 1, "reason": "invalid JSON"} for n in range(quarantined)]
    summary = summarise([{"rows_read": rows_read, "quarantined": bad, "companies_read": companies_read,
                          "duplicates_merged": duplicates_merged}])
    summary |= {"run_id": run_id, "tenant": tenant, "market": market}
    runs = settings.home / "runs"
    write_private(runs / f"{run_id}.json", json.dumps(summary))  # as the runner writes them: owner only
    write_private(settings.home / "last_run.json", json.dumps(summary))
    return run_id


def put_accounts(settings, scores, market="SaaS"):
    crm = LocalCRM(settings.crm_path)
    crm.upsert_accounts([
        AccountWrite(domain=f"{market.lower()}{index}.example.com", name=f"C{index}",
                     fields={"fit_score": score, "salesos_market": market})
        for index, score in enumerate(scores)
    ])
    crm.close()


def check(report, name):
    return next(c for c in report.checks if c.name == name)


# --- provider success rate -------------------------------------------------------


def test_provider_success_rate_below_95_percent_is_a_warning(settings):
    write_run(settings, rows_read=100, quarantined=6)
    result = check(health_report(settings, None, now=NOW), "provider_success_rate")
    assert (result.status, result.value) == ("warning", 0.94)
    assert result.detail["quarantined_by_file"] == {"apollo.jsonl": 6}


def test_provider_success_rate_of_exactly_95_percent_is_ok(settings):
    write_run(settings, rows_read=100, quarantined=5)
    assert check(health_report(settings, None, now=NOW), "provider_success_rate").status == "ok"


def test_provider_success_rate_without_rows_is_unknown_not_a_warning(settings):
    write_run(settings, rows_read=0)
    assert check(health_report(settings, None, now=NOW), "provider_success_rate").status == "unknown"


# --- duplicate rate ----------------------------------------------------------------


def test_duplicate_rate_above_40_percent_is_flagged_as_info_with_the_seeds_advice(settings):
    write_run(settings, companies_read=100, duplicates_merged=41)
    result = check(health_report(settings, None, now=NOW), "duplicate_rate")
    assert (result.status, result.value) == ("info", 0.41)
    assert result.action == "Consider adding more data sources"


def test_duplicate_rate_of_exactly_40_percent_is_ok(settings):
    write_run(settings, companies_read=100, duplicates_merged=40)
    assert check(health_report(settings, None, now=NOW), "duplicate_rate").status == "ok"


# --- average fit score ------------------------------------------------------------------


def test_average_fit_below_0_60_is_a_warning(settings):
    write_run(settings)
    put_accounts(settings, [0.5, 0.69])
    result = check(health_report(settings, None, now=NOW), "average_fit_score")
    assert (result.status, result.value) == ("warning", 0.595)
    assert result.action == "Refine market definition filters"


def test_average_fit_of_exactly_0_60_is_ok(settings):
    write_run(settings)
    put_accounts(settings, [0.5, 0.7])
    assert check(health_report(settings, None, now=NOW), "average_fit_score").status == "ok"


def test_average_fit_counts_only_the_markets_of_the_runs(settings):
    write_run(settings, market="SaaS")
    put_accounts(settings, [0.9, 0.8], market="SaaS")
    put_accounts(settings, [0.1, 0.1], market="Fintech")
    assert check(health_report(settings, None, now=NOW), "average_fit_score").value == 0.85


def test_average_fit_of_a_crm_tenant_is_unknown_and_says_why(settings):
    write_run(settings, tenant="hubspot-62515")
    result = check(health_report(settings, None, now=NOW), "average_fit_score")
    assert result.status == "unknown"
    assert "hubspot-62515" in result.message


def test_a_health_check_creates_no_local_crm(settings):
    write_run(settings)
    health_report(settings, None, now=NOW)
    assert not settings.crm_path.exists()


# --- API success rate per provider ------------------------------------------------------------


def record_calls(conn, provider, ok, failed, hours_ago=0.0):
    stats = RedisCallStats(conn, clock=lambda: NOW - dt.timedelta(hours=hours_ago))
    for outcome in [True] * ok + [False] * failed:
        stats.record(provider, outcome)


def test_each_provider_called_in_the_last_day_shows_its_success_rate_and_below_95_percent_warns(settings, conn):
    record_calls(conn, "apollo", 19, 1)
    record_calls(conn, "hunter", 18, 2, hours_ago=3)
    report = health_report(settings, conn, now=NOW)
    apollo, hunter = check(report, "api_success_rate:apollo"), check(report, "api_success_rate:hunter")
    assert (apollo.status, apollo.value, hunter.status, hunter.value) == ("ok", 0.95, "warning", 0.9)
    assert [c.name for c in report.warnings] == ["api_success_rate:hunter"]
    assert report.status == "warning"
    assert "WARNING  Hunter API success rate: 90.0% (18 of 20 calls succeeded in the last 24 h)" in render(report)


def test_no_provider_called_in_the_last_day_shows_no_api_success_rate(settings, conn):
    record_calls(conn, "apollo", 0, 10, hours_ago=30)
    report = health_report(settings, conn, now=NOW)
    assert not [c for c in report.checks if c.name.startswith("api_success_rate")]
    assert "API success rate" not in render(report)


# --- which runs ---------------------------------------------------------------------------


def test_the_checks_add_up_the_runs_of_the_last_24_hours(settings):
    write_run(settings, hours_ago=2, market="A", companies_read=50, duplicates_merged=30)
    write_run(settings, hours_ago=20, market="B", companies_read=50, duplicates_merged=0)
    write_run(settings, hours_ago=30, market="C", companies_read=100, duplicates_merged=100)
    report = health_report(settings, None, now=NOW)
    assert len(report.runs) == 2
    assert check(report, "duplicate_rate").value == 0.3


def test_without_a_recent_run_the_newest_run_is_used_and_its_age_shown(settings):
    write_run(settings, hours_ago=72, market="old")
    newest = write_run(settings, hours_ago=48, market="older")
    report = health_report(settings, None, now=NOW)
    assert report.runs == [newest]
    assert report.newest_run_age_seconds == 48 * 3600


def test_a_damaged_summary_is_skipped(settings):
    write_run(settings, hours_ago=1)
    (settings.home / "runs" / "20261102T115900-zzzzzz.json").write_text("{not json")
    assert len(recent_runs(settings.home, NOW)) == 1


def test_without_runs_nothing_warns(settings):
    report = health_report(settings, None, now=NOW)
    assert report.runs == [] and report.warnings == []
    assert {c.status for c in report.checks} == {"unknown"}


def test_a_healthy_run_raises_no_warning(settings, conn):
    write_run(settings, rows_read=100, quarantined=1, companies_read=100, duplicates_merged=10)
    put_accounts(settings, [0.8, 0.7])
    report = health_report(settings, conn, now=NOW)
    assert report.warnings == []
    assert (report.status, exit_code(report)) == ("healthy", 0)


def test_every_crossed_threshold_is_one_warning(settings, conn):
    write_run(settings, rows_read=100, quarantined=50, companies_read=100, duplicates_merged=90)
    put_accounts(settings, [0.1])
    report = health_report(settings, conn, now=NOW)
    assert [c.name for c in report.warnings] == ["provider_success_rate", "duplicate_rate", "average_fit_score"]
    assert (report.status, exit_code(report)) == ("warning", 1)


# --- queues ---------------------------------------------------------------------------------


def test_queue_depth_and_oldest_waiting_job_reflect_enqueued_jobs(conn):
    enqueue_once(conn, "enrich", record, {"n": 1}, job_key="e1")
    enqueue_once(conn, "enrich", record, {"n": 2}, job_key="e2")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    states = queue_states(conn, now=later).queues
    assert states["enrich"].queued == 2
    assert 89 <= states["enrich"].oldest_queued_seconds <= 91
    assert states["source"].queued == 0 and states["source"].oldest_queued_seconds is None


def test_failed_jobs_are_counted_per_queue(conn):
    enqueue_once(conn, "score", explode, {"n": 7}, job_key="bad")
    work_through_retries(conn, "score")
    states = queue_states(conn).queues
    assert states["score"].failed == 1
    assert states["score"].queued == 0


def test_failed_jobs_carry_their_error_line(conn):
    enqueue_once(conn, "score", explode, {"n": 7}, job_key="bad")
    work_through_retries(conn, "score")
    [job] = failed_jobs(conn)
    assert (job.queue, job.job_id, job.error) == ("score", "bad", "RuntimeError: boom 7")


def test_scheduled_jobs_are_counted_and_overdue_ones_shown(conn):
    enqueue_once(conn, "outreach", record, {"n": 1}, job_key="later", at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    enqueue_once(conn, "outreach", record, {"n": 2}, job_key="due", at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    state = queue_states(conn).queues["outreach"]
    assert (state.scheduled, state.scheduled_due, state.queued) == (2, 1, 0)


def test_the_crm_event_inbox_depth_is_reported(conn):
    conn.rpush(INBOX, "{}", "{}", "{}")
    assert queue_states(conn).events_inbox == 3


def test_failed_jobs_make_the_report_a_warning(settings, conn):
    enqueue_once(conn, "score", explode, {"n": 7}, job_key="bad")
    work_through_retries(conn, "score")
    report = health_report(settings, conn, now=NOW)
    assert report.status == "warning" and report.failed_total == 1
    assert report.failed_jobs[0].error == "RuntimeError: boom 7"


def test_an_unreachable_redis_makes_the_report_unavailable_but_still_checks_the_runs(settings):
    write_run(settings, rows_read=100, quarantined=50)
    report = health_report(settings, redis.Redis.from_url("redis://127.0.0.1:1/0"), now=NOW)
    assert report.redis.startswith("unreachable: ConnectionError")
    assert (report.status, exit_code(report)) == ("unavailable", 2)
    assert check(report, "provider_success_rate").status == "warning"


# --- text -----------------------------------------------------------------------------------------


def test_render_shows_queues_failed_jobs_and_each_warning_with_its_action(settings, conn):
    write_run(settings, rows_read=100, quarantined=10)
    enqueue_once(conn, "score", explode, {"n": 7}, job_key="bad")
    work_through_retries(conn, "score")
    text = render(health_report(settings, conn, now=NOW))
    assert "SalesOS health: WARNING" in text
    assert "RuntimeError: boom 7" in text
    assert "WARNING  Provider success rate: 90.0% (90 of 100 rows accepted)  [warning below 95%]" in text
    assert "-> Check the quarantined rows" in text
    assert "OK       Duplicate rate: 0.0%" in text


def test_the_report_serialises_to_json(settings, conn):
    write_run(settings)
    data = json.loads(health_report(settings, conn, now=NOW).model_dump_json())
    assert set(data["queues"]) == {"source", "enrich", "contacts", "score", "outreach", "engagement"}
    assert [c["name"] for c in data["checks"]] == ["provider_success_rate", "duplicate_rate", "average_fit_score"]


def test_the_health_command_prints_the_report_and_exits_by_its_status(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"SALESOS_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "connector", "health", "--json"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "healthy"
    assert servers_left_in(tmp_path) == []  # the embedded Redis it started is stopped again


def servers_left_in(home: Path) -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cwd"]):
        if process.info["name"] == "redis-server" and str(process.info["cwd"] or "").startswith(str(home)):
            found.append(process.pid)
    return found
