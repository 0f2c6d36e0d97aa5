"""RQ wiring: one queue per stage, deterministic job ids, run bookkeeping.

Jobs are serialised as JSON (never pickle) so any worker on any machine with
the same code can run them. A job's id is derived from what it does, and
enqueueing uses rq's atomic `unique=True`, so a duplicate enqueue is a no-op.

A run is tracked in Redis: `pending` holds the ids of its unfinished jobs
(a parent adds its children before it removes itself, so the set is empty
only when the run is done), `stats` holds each job's counts by job id (a job
that runs twice overwrites its own entry instead of counting twice), and
`tenant` names the tenant the run belongs to, kept as long as the others, so
the API shows a run only to its own tenant's keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import redis
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from agents.validation import quote

STAGES = ("source", "enrich", "contacts", "score", "outreach", "engagement")
RESULT_TTL = 7 * 24 * 3600  # how long a finished job's id keeps blocking a duplicate
FAILURE_TTL = 30 * 24 * 3600
RUN_TTL = 30 * 24 * 3600


def retry_delays(text: str | None) -> int | list[int]:
    """SALESOS_RETRY_DELAYS: the seconds before each retry of a failed job, comma-separated (rq's Retry intervals;
    a soak test shortens them). Unset: the policy's own."""
    if not text:
        return 0
    try:
        delays = [int(part) for part in text.split(",")]
    except ValueError:
        delays = [-1]
    if min(delays) < 0:
        raise ValueError(f"SALESOS_RETRY_DELAYS must be whole seconds, comma-separated, like 1,5,30 (got {quote(text)})")
    return delays


RETRY = Retry(max=3, interval=retry_delays(os.environ.get("SALESOS_RETRY_DELAYS")))  # unset: immediate


def queue(name: str, conn: redis.Redis) -> Queue:
    if name not in STAGES:
        raise ValueError(f"unknown queue {name!r}; the stages are {', '.join(STAGES)}")
    return Queue(name, connection=conn, serializer=JSONSerializer)


def job_id(*parts: str) -> str:
    """A valid rq job id from readable parts plus a digest of anything long."""
    head = "-".join(part for part in parts[:-1])
    tail = parts[-1]
    if len(tail) > 40 or not tail.replace("-", "").replace("_", "").isalnum():
        tail = hashlib.sha256(tail.encode()).hexdigest()[:24]
    return f"{head}-{tail}" if head else tail


def pending_key(run_id: str) -> str:
    return f"salesos:run:{run_id}:pending"


def stats_key(run_id: str) -> str:
    return f"salesos:run:{run_id}:stats"


def failures_key(run_id: str) -> str:
    return f"salesos:run:{run_id}:failures"


def tenant_key(run_id: str) -> str:
    return f"salesos:run:{run_id}:tenant"


def remember_run_tenant(conn: redis.Redis, run_id: str, tenant: str) -> None:
    conn.set(tenant_key(run_id), tenant, ex=RUN_TTL)


def run_tenant(conn: redis.Redis, run_id: str) -> str | None:
    """The tenant a run belongs to; None for a run unknown (or started before runs had owners)."""
    value = conn.get(tenant_key(run_id))
    return value.decode() if value is not None else None


def enqueue_once(
    conn: redis.Redis,
    stage: str,
    func: Callable[..., Any],
    payload: dict,
    *,
    job_key: str,
    run_id: str | None = None,
    at: dt.datetime | None = None,
    timeout: int = 600,
) -> Job | None:
    """Enqueue `func(payload)` on the stage's queue unless that job exists.

    With `run_id`, the job counts as part of the run until it finishes.
    With `at`, it waits in the scheduled registry until then.
    """
    q = queue(stage, conn)
    if run_id:
        conn.sadd(pending_key(run_id), job_key)
        conn.expire(pending_key(run_id), RUN_TTL)
        conn.expire(tenant_key(run_id), RUN_TTL)  # the run's owner lives as long as its status
    options = dict(
        job_id=job_key,
        unique=True,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        job_timeout=timeout,
        retry=RETRY,
        on_success=Callback(_job_succeeded),
        on_failure=Callback(_job_failed),
        meta={"run_id": run_id} if run_id else {},
        description=f"{stage} {job_key}",
    )
    try:
        if at is None:
            return q.enqueue(func, payload, **options)
        return q.enqueue_at(at, func, payload, **options)
    except DuplicateJobError:
        if run_id and _is_settled(conn, job_key):
            conn.srem(pending_key(run_id), job_key)
        return None


def _is_settled(conn: redis.Redis, key: str) -> bool:
    try:
        status = Job.fetch(key, connection=conn, serializer=JSONSerializer).get_status()
    except Exception:  # expired between the duplicate check and now
        return True
    return status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED)


def _job_succeeded(job: Job, connection: redis.Redis, result: Any, *args: Any) -> None:
    """Record the job's counts for its run, then mark it done."""
    run_id = job.meta.get("run_id")
    if not run_id:
        return
    pipe = connection.pipeline()
    pipe.hset(stats_key(run_id), job.id, json.dumps(result or {}, default=str))
    pipe.expire(stats_key(run_id), RUN_TTL)
    pipe.expire(tenant_key(run_id), RUN_TTL)
    pipe.srem(pending_key(run_id), job.id)
    pipe.execute()


# What an error rq raises without a message means, for the run's list of failures.
_MEANING = {"AbandonedJobError": "its worker stopped in the middle of its last attempt (killed, or its machine lost)"}


def _job_failed(job: Job, connection: redis.Redis, exc_type, exc_value, tb) -> None:
    """A job out of retries ends the run's wait for it, and says why."""
    run_id = job.meta.get("run_id")
    if not run_id or job.retries_left:
        return
    pipe = connection.pipeline()
    reason = str(exc_value) or _MEANING.get(exc_type.__name__, "")
    pipe.hset(failures_key(run_id), job.id, f"{exc_type.__name__}: {reason}")
    pipe.expire(failures_key(run_id), RUN_TTL)
    pipe.expire(tenant_key(run_id), RUN_TTL)
    pipe.srem(pending_key(run_id), job.id)
    pipe.execute()


def noop(payload: dict) -> dict:
    """A job that does nothing: the benchmark's measure of the queue's own cost."""
    return {}


def run_pending(conn: redis.Redis, run_id: str) -> int:
    return conn.scard(pending_key(run_id))


def run_stats(conn: redis.Redis, run_id: str) -> list[dict]:
    return [json.loads(value) for value in conn.hgetall(stats_key(run_id)).values()]


def run_failures(conn: redis.Redis, run_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in conn.hgetall(failures_key(run_id)).items()}


def release_due(conn: redis.Redis, run_id: str, stages: list[str]) -> int:
    """Put the run's scheduled jobs that are due (companies waiting for a provider) on their queues; returns how
    many. A run the CLI waits for runs its workers without RQ's scheduler, so it releases its own jobs."""
    from rq.utils import current_timestamp

    pending = {member.decode() for member in conn.smembers(pending_key(run_id))}
    moved = 0
    for stage in stages:
        q = queue(stage, conn)
        registry = q.scheduled_job_registry
        due = [key for key in registry.get_jobs_to_schedule(current_timestamp()) if key in pending]
        for job in Job.fetch_many(due, connection=conn, serializer=JSONSerializer):
            if job is not None:
                q._enqueue_job(job)  # what RQ's scheduler does with a due job
                registry.remove(job.id)
                moved += 1
    return moved
