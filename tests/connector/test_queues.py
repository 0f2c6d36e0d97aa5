"""Queue wiring against a real Redis and a real rq worker."""

import datetime as dt

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from connector.queues import (
    RUN_TTL, STAGES, enqueue_once, job_id, job_meta, queue, release_due, remember_run_tenant, retry_policy,
    run_failures, run_pending, run_retrying, run_stats, run_tenant, stats_key, tenant_key,
)
from tests.connector.jobs_for_tests import explode, fails_while_down, record
from tests.connector.retries import work_through_retries


def drain(conn, *names):
    worker = SimpleWorker([queue(name, conn) for name in names], connection=conn, serializer=JSONSerializer)
    worker.work(burst=True)


def test_there_is_one_queue_per_stage():
    assert STAGES == ("source", "enrich", "contacts", "score", "outreach", "engagement")


def test_an_unknown_queue_is_refused(conn):
    with pytest.raises(ValueError, match="unknown queue 'sourcing'"):
        queue("sourcing", conn)


def test_job_ids_are_deterministic_and_valid():
    assert job_id("run", "r1", "enrich", "3") == "run-r1-enrich-3"
    long = job_id("outreach", "local", "2026-11-02T09:00:00-05:00|a@b.io#0")
    assert long == job_id("outreach", "local", "2026-11-02T09:00:00-05:00|a@b.io#0")
    assert long.replace("-", "").isalnum()


def test_a_duplicate_enqueue_is_a_no_op(conn):
    first = enqueue_once(conn, "enrich", record, {"n": 1}, job_key="k1")
    second = enqueue_once(conn, "enrich", record, {"n": 2}, job_key="k1")
    assert first is not None and second is None
    assert queue("enrich", conn).count == 1


def test_a_finished_job_still_blocks_its_duplicate(conn):
    enqueue_once(conn, "enrich", record, {"n": 1}, job_key="k1", run_id="r")
    drain(conn, "enrich")
    assert enqueue_once(conn, "enrich", record, {"n": 1}, job_key="k1", run_id="r") is None
    assert run_pending(conn, "r") == 0


def test_a_run_is_pending_until_its_jobs_finish_and_records_their_counts(conn):
    enqueue_once(conn, "enrich", record, {"n": 1}, job_key="a", run_id="r")
    enqueue_once(conn, "score", record, {"n": 2}, job_key="b", run_id="r")
    assert run_pending(conn, "r") == 2
    drain(conn, "enrich", "score")
    assert run_pending(conn, "r") == 0
    assert sorted(s["seen"] for s in run_stats(conn, "r")) == [1, 2]


def test_a_job_out_of_retries_is_reported_and_no_longer_pending(conn):
    enqueue_once(conn, "enrich", explode, {"n": 7}, job_key="bad", run_id="r")
    work_through_retries(conn, "enrich")
    assert run_pending(conn, "r") == 0
    assert run_failures(conn, "r") == {"bad": "RuntimeError: boom 7"}
    assert run_retrying(conn, "r") == []


def test_a_failing_job_waits_minutes_then_hours_for_each_retry_and_fails_for_good_after_the_last(conn):
    enqueue_once(conn, "enrich", explode, {"n": 7}, job_key="bad", run_id="r")
    registry = queue("enrich", conn).scheduled_job_registry
    waits = []
    for attempt in range(1, 6):
        drain(conn, "enrich")  # the attempt fails; its retry waits in the schedule
        assert run_failures(conn, "r") == {} and run_pending(conn, "r") == 1
        due = registry.get_scheduled_time("bad")
        waits.append((due - dt.datetime.now(dt.UTC)).total_seconds())
        [note] = run_retrying(conn, "r")
        assert (note["job"], note["error"], note["attempt"], note["attempts"]) == (
            "bad", "RuntimeError: boom 7", attempt, 6)
        assert abs(dt.datetime.fromisoformat(note["at"]) - due) < dt.timedelta(seconds=2)
        assert release_due(conn, "r", ["enrich"], now=due - dt.timedelta(seconds=1)) == 0  # not before its time
        assert release_due(conn, "r", ["enrich"], now=due) == 1
    drain(conn, "enrich")
    assert run_failures(conn, "r") == {"bad": "RuntimeError: boom 7"} and run_pending(conn, "r") == 0
    for wait, minutes in zip(waits, [1, 5, 15, 60, 240], strict=True):
        assert 60 * minutes - 2 <= wait <= 60 * minutes * 1.2 + 1, (minutes, wait)


def test_each_wait_is_up_to_a_fifth_longer_so_jobs_that_failed_together_come_back_apart():
    assert retry_policy([1, 5, 60], jitter=lambda: 0.0).intervals == [60, 300, 3600]
    assert retry_policy([1, 5, 60], jitter=lambda: 1.0).intervals == [72, 360, 4320]
    assert retry_policy([1, 5, 60]).max == 3 and retry_policy([]) is None


def test_a_wait_of_zero_minutes_retries_at_once():
    assert retry_policy([0, 0.5], jitter=lambda: 1.0).intervals == [0, 36]


def test_a_job_that_succeeds_on_its_retry_counts_once_and_is_no_longer_waited_for(conn, caplog):
    conn.set("down", 1)
    enqueue_once(conn, "enrich", fails_while_down, {"n": 7, "down": "down"}, job_key="flaky", run_id="r")
    drain(conn, "enrich")
    assert [note["error"] for note in run_retrying(conn, "r")] == ["ConnectionError: the CRM is down"]
    assert "enrich flaky failed (attempt 1 of 6): ConnectionError: the CRM is down; retrying at" in caplog.text
    conn.delete("down")
    due = queue("enrich", conn).scheduled_job_registry.get_scheduled_time("flaky")
    assert release_due(conn, "r", ["enrich"], now=due) == 1
    drain(conn, "enrich")
    assert run_stats(conn, "r") == [{"seen": 7}] and run_retrying(conn, "r") == [] and run_pending(conn, "r") == 0
    assert run_failures(conn, "r") == {}


def test_a_jobs_meta_names_its_run_tenant_contacts_and_companies_whatever_the_stage():
    run = {"tenant": "hubspot-62515", "domains": None}
    assert job_meta({"run": run, "companies": [{"company": {"domain": "acme.io"}}]}, "r") == {
        "run_id": "r", "tenant": "hubspot-62515", "companies": ["acme.io"]}
    leads = [{"company": {"company": {"domain": "acme.io"}}, "contacts": [{"email": "jane@acme.io"}]}]
    assert job_meta({"run": run, "leads": leads}, "r") == {
        "run_id": "r", "tenant": "hubspot-62515", "contacts": ["jane@acme.io"], "companies": ["acme.io"]}
    assert job_meta({"tenant": "local", "items": [{"email": "jane@acme.io"}, {"email": "john@acme.io"}]}, None) == {
        "tenant": "local", "contacts": ["jane@acme.io", "john@acme.io"]}
    assert job_meta({"tenant": "local", "emails": ["jane@acme.io"]}, None) == {
        "tenant": "local", "contacts": ["jane@acme.io"]}
    event = {"tenant": "hubspot-62515", "object_type": "contact", "object_id": "501"}
    assert job_meta({"event": event}, None) == {"tenant": "hubspot-62515", "contacts": ["CRM id 501"]}
    assert job_meta({"n": 1, "items": "not a list", "run": 3}, None) == {}


def test_a_job_for_later_waits_in_the_schedule(conn):
    later = dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC)
    job = enqueue_once(conn, "outreach", record, {"n": 1}, job_key="later", at=later)
    assert job.id in queue("outreach", conn).scheduled_job_registry
    assert queue("outreach", conn).count == 0


def test_a_runs_tenant_is_kept_as_long_as_its_status(conn):
    remember_run_tenant(conn, "r", "hubspot-62515")
    conn.expire(tenant_key("r"), 5)  # as if the run had started long ago
    enqueue_once(conn, "enrich", record, {"n": 1}, job_key="k1", run_id="r")
    drain(conn, "enrich")
    assert run_tenant(conn, "r") == "hubspot-62515"
    assert conn.ttl(tenant_key("r")) > RUN_TTL - 60 and conn.ttl(stats_key("r")) > RUN_TTL - 60


def test_a_run_nobody_recorded_has_no_tenant(conn):
    assert run_tenant(conn, "unknown") is None
