"""Queue wiring against a real Redis and a real rq worker."""

import datetime as dt

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from connector.queues import (
    RUN_TTL, STAGES, enqueue_once, job_id, queue, remember_run_tenant, run_failures, run_pending, run_stats,
    run_tenant, stats_key, tenant_key,
)
from tests.connector.jobs_for_tests import explode, record


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
    drain(conn, "enrich")  # immediate retries: all four attempts in one burst
    assert run_pending(conn, "r") == 0
    assert run_failures(conn, "r") == {"bad": "RuntimeError: boom 7"}


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
