"""A worker killed with SIGKILL loses no job: real `connector worker` processes on a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from connector import runtime
from connector.queues import enqueue_once, queue, run_failures, run_pending, run_stats
from connector.worker import StageWorker, _Queue, return_untaken, taken_key
from tests.connector.jobs_for_tests import attempt
from tests.connector.test_ledger_leases import wait_until
from tests.live_server import ROOT


class Workers:
    """`connector worker` processes on the engagement queue, each the leader of its own process group."""

    def __init__(self, redis_url: str, home: Path, lease_seconds: float) -> None:
        self.env = {**os.environ, "REDIS_URL": redis_url, "SALESOS_HOME": str(home), "PYTHONPATH": str(ROOT),
                    "SALESOS_LEASE_SECONDS": str(lease_seconds)}
        self.log = home / "workers.log"
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "connector", "worker", "--queues", "engagement",
                                        "--no-scheduler"], cwd=ROOT, env=self.env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_JOB_RETRY_MINUTES", "[0, 0, 0]")  # retried at once: these workers run no scheduler
    runtime.settings.cache_clear()  # the policy is the enqueuing process's
    pool = Workers(redis_url, tmp_path / "home", lease_seconds=2)  # a job's lease: 3 s, maintenance every 1 s
    yield pool
    pool.stop()
    runtime.settings.cache_clear()


def _enqueue(conn, marks: Path, **payload) -> Job:
    marks.mkdir(exist_ok=True)
    return enqueue_once(conn, "engagement", attempt, {"marks": str(marks), **payload}, job_key="job-1", run_id="r")


def _fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)


def test_a_job_whose_worker_is_killed_mid_job_is_run_again_by_another(conn, workers, tmp_path):
    marks = tmp_path / "marks"
    job = _enqueue(conn, marks, hang=1)
    first = workers.start()
    wait_until(lambda: (marks / "attempt-1").exists(), timeout=60)  # running, and about to hang
    workers.kill(first)
    workers.start()
    wait_until(lambda: _fetch(conn, job.id).get_status() == JobStatus.FINISHED, timeout=120)
    assert run_pending(conn, "r") == 0
    assert run_stats(conn, "r") == [{"attempt": 2}]
    assert run_failures(conn, "r") == {}
    assert _fetch(conn, job.id).retries_left == 2  # the kill cost the job one of its three retries
    assert conn.zcard(queue("engagement", conn).started_job_registry.key) == 0


def test_a_job_killed_on_its_last_attempt_fails_and_its_run_says_so(conn, workers, tmp_path):
    marks = tmp_path / "marks"
    job = _enqueue(conn, marks, hang=1)
    job.retries_left = 0  # as if every retry had been spent already
    job.save()
    first = workers.start()
    wait_until(lambda: (marks / "attempt-1").exists(), timeout=60)
    workers.kill(first)
    workers.start()
    wait_until(lambda: _fetch(conn, job.id).get_status() == JobStatus.FAILED, timeout=120)
    assert run_pending(conn, "r") == 0
    assert run_failures(conn, "r") == {
        "job-1": "AbandonedJobError: its worker stopped in the middle of its last attempt (killed, or its machine lost)"}
    assert job.id in queue("engagement", conn).failed_job_registry.get_job_ids(cleanup=False)
    assert len(list(marks.iterdir())) == 1


def test_a_job_running_longer_than_its_lease_keeps_it_and_runs_once(conn, workers, tmp_path):
    marks = tmp_path / "marks"
    job = _enqueue(conn, marks, work=8)  # well over the 3 s lease: renewed while it works
    workers.start()
    workers.start()  # idle, cleaning the registries every second: it would take over a lapsed job
    wait_until(lambda: run_pending(conn, "r") == 0, timeout=120)
    assert run_stats(conn, "r") == [{"attempt": 1}]
    assert _fetch(conn, job.id).retries_left == 3


def test_a_job_taken_by_a_worker_that_died_before_starting_it_goes_back_to_its_queue(conn, workers, tmp_path):
    marks = tmp_path / "marks"
    job = _enqueue(conn, marks)
    taken, _queue = _Queue.dequeue_any([queue("engagement", conn)], None, connection=conn, serializer=JSONSerializer)
    assert taken.id == job.id  # popped by a worker that dies here, before the job is started
    assert conn.llen(queue("engagement", conn).key) == 0
    assert conn.zscore(taken_key("engagement"), job.id) is not None
    workers.start()
    wait_until(lambda: run_pending(conn, "r") == 0, timeout=120)
    assert run_stats(conn, "r") == [{"attempt": 1}]
    assert conn.zcard(taken_key("engagement")) == 0


def test_a_started_job_is_no_longer_counted_as_taken(conn, workers, tmp_path):
    marks = tmp_path / "marks"
    _enqueue(conn, marks, hang=1)
    workers.start()
    wait_until(lambda: (marks / "attempt-1").exists(), timeout=60)
    assert conn.zcard(taken_key("engagement")) == 0
    assert conn.zcard(queue("engagement", conn).started_job_registry.key) == 1



def _take(conn) -> Job:
    """What a worker does first: take the queue's next job (and record it as taken)."""
    job, _queue = _Queue.dequeue_any([queue("engagement", conn)], None, connection=conn, serializer=JSONSerializer)
    return job


def _age_taken(conn, job_id: str) -> None:
    """As if the job had been taken long ago: longer than a job lease."""
    conn.zadd(taken_key("engagement"), {job_id: 1})


def test_a_worker_that_stalled_after_taking_a_job_leaves_it_to_whoever_took_it_next(conn, tmp_path):
    _enqueue(conn, tmp_path / "marks")
    stalled = StageWorker(["engagement"], connection=conn, serializer=JSONSerializer)
    job = _take(conn)
    _age_taken(conn, job.id)
    assert return_untaken(conn, queue("engagement", conn)) == 1  # maintenance: its worker looks dead
    retaken = _take(conn)  # another worker's
    assert stalled.prepare_execution(job) is None  # the stalled worker wakes up: not its job any more
    assert conn.zscore(taken_key("engagement"), retaken.id) is not None  # still the other worker's to start
    assert conn.zcard(queue("engagement", conn).started_job_registry.key) == 0


def test_starting_a_job_moves_it_from_taken_to_started_in_one_step(conn, tmp_path):
    _enqueue(conn, tmp_path / "marks")
    worker = StageWorker(["engagement"], connection=conn, serializer=JSONSerializer)
    job = _take(conn)
    assert worker.prepare_execution(job) is not None
    assert conn.zcard(taken_key("engagement")) == 0
    assert queue("engagement", conn).started_job_registry.get_job_ids(cleanup=False) == [job.id]


def test_a_job_whose_read_fails_on_a_redis_error_stays_taken_for_maintenance_to_return(conn, tmp_path, monkeypatch):
    job = _enqueue(conn, tmp_path / "marks")

    def redis_went_away(*args, **kwargs):
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(_Queue, "_fetch_dequeued_job", classmethod(redis_went_away))
    with pytest.raises(redis.ConnectionError):
        _take(conn)
    assert conn.zscore(taken_key("engagement"), job.id) is not None  # not lost: returned after a job lease


def test_two_maintenance_passes_never_overlap(conn, tmp_path):
    """rq's cleanup is not atomic: two passes at once would queue a lapsed job twice."""
    job = _enqueue(conn, tmp_path / "marks")
    _take(conn)
    _age_taken(conn, job.id)
    worker = StageWorker(["engagement"], connection=conn, serializer=JSONSerializer)
    passing = conn.lock("salesos:maintaining:engagement", timeout=60)
    assert passing.acquire(blocking=False)  # another worker's pass, still running
    worker.clean_registries()
    assert conn.zscore(taken_key("engagement"), job.id) is not None
    passing.release()
    conn.delete("salesos:maintenance:engagement")  # the next pass is due
    worker.clean_registries()
    assert conn.zscore(taken_key("engagement"), job.id) is None
    assert queue("engagement", conn).get_job_ids() == [job.id]
