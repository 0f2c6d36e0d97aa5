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

A job that fails is tried again after each of SALESOS_JOB_RETRY_MINUTES (1, 5,
15, 60 and 240 minutes by default, each up to a fifth longer so jobs that failed
together do not all come back together): a CRM down for a minute, or an hour,
costs a delay, not the job. A retry waits in its queue's scheduled registry,
which the workers' scheduler (or `release_due`, for a run the CLI waits for)
moves back onto the queue when it is due; meanwhile the run's `retrying` hash
says what it waits for. A job out of retries is listed by `health` with what
its meta names: its run, its tenant, and the contacts and companies it carries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import redis
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from agents.validation import clip

log = logging.getLogger(__name__)
STAGES = ("source", "enrich", "contacts", "score", "outreach", "engagement")
RESULT_TTL = 7 * 24 * 3600  # how long a finished job's id keeps blocking a duplicate
FAILURE_TTL = 30 * 24 * 3600
RUN_TTL = 30 * 24 * 3600
RETRY_JITTER = 0.2  # each wait is up to this share longer


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


def retrying_key(run_id: str) -> str:
    return f"salesos:run:{run_id}:retrying"


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
    from connector.runtime import settings  # the process's settings, read once

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
        retry=retry_policy(settings().salesos_job_retry_minutes),
        on_success=Callback(_job_succeeded),
        on_failure=Callback(_job_failed),
        meta=job_meta(payload, run_id),
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


def retry_policy(minutes: Sequence[float], jitter: Callable[[], float] = random.random) -> Retry | None:
    """RQ's retry: one attempt more after each wait of `minutes`, each up to RETRY_JITTER longer (0: at once, with no
    scheduler involved); None: no retry."""
    if not minutes:
        return None
    waits = [max(1, round(60 * wait * (1 + RETRY_JITTER * jitter()))) if wait else 0 for wait in minutes]
    return Retry(max=len(waits), interval=waits)


def is_retry(job: Job) -> bool:
    """Whether this run of the job follows a failed one."""
    return job.retries_left is not None and job.retries_left < len(job.retry_intervals or [])


def job_meta(payload: dict, run_id: str | None) -> dict[str, Any]:
    """What a job is named by when it fails for good: its run, its tenant, the contacts (emails) and companies
    (domains) it acts on, read from the stage payloads' shapes (a run's `run`, a CRM event's `event`, outreach
    `items`, unsubscribe `emails`, `companies` to enrich, `leads` with their `contacts`)."""
    run, event = _mapping(payload.get("run")), _mapping(payload.get("event"))
    leads = [_mapping(lead) for lead in _sequence(payload.get("leads"))]
    contacts = [_mapping(item).get("email") for item in _sequence(payload.get("items"))]
    contacts += _sequence(payload.get("emails"))
    contacts += [_mapping(contact).get("email") for lead in leads for contact in _sequence(lead.get("contacts"))]
    companies = [_mapping(_mapping(item).get("company")).get("domain")
                 for item in _sequence(payload.get("companies"))]
    companies += [_mapping(_mapping(lead.get("company")).get("company")).get("domain") for lead in leads]
    companies += _sequence(run.get("domains"))
    if event.get("object_type") in ("contact", "company"):
        (contacts if event["object_type"] == "contact" else companies).append(f"CRM id {event.get('object_id')}")
    meta: dict[str, Any] = {"run_id": run_id} if run_id else {}
    tenant = payload.get("tenant") or run.get("tenant") or event.get("tenant")
    if isinstance(tenant, str):
        meta["tenant"] = tenant
    for name, values in (("contacts", contacts), ("companies", companies)):
        if named := list(dict.fromkeys(value for value in values if isinstance(value, str))):
            meta[name] = named
    return meta


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _sequence(value: object) -> list:
    return value if isinstance(value, list) else []


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
    pipe.hdel(retrying_key(run_id), job.id)
    pipe.srem(pending_key(run_id), job.id)
    pipe.execute()


# What an error rq raises without a message means, for the run's list of failures.
_MEANING = {"AbandonedJobError": "its worker stopped in the middle of its last attempt (killed, or its machine lost)"}


def _job_failed(job: Job, connection: redis.Redis, exc_type, exc_value, tb) -> None:
    """A job with retries left says when it runs again; one out of retries ends the run's wait for it, and says
    why. (RQ calls this before it schedules the retry: `retries_left` still counts this one.)"""
    run_id = job.meta.get("run_id")
    error = clip(f"{exc_type.__name__}: {str(exc_value) or _MEANING.get(exc_type.__name__, '')}", 300)
    if job.retries_left:
        _retry_noted(job, connection, run_id, error)
        return
    if not run_id:
        return
    pipe = connection.pipeline()
    pipe.hset(failures_key(run_id), job.id, error)
    pipe.expire(failures_key(run_id), RUN_TTL)
    pipe.expire(tenant_key(run_id), RUN_TTL)
    pipe.hdel(retrying_key(run_id), job.id)
    pipe.srem(pending_key(run_id), job.id)
    pipe.execute()


def _retry_noted(job: Job, connection: redis.Redis, run_id: str | None, error: str) -> None:
    """A worker log line, and the run's note of what it waits for."""
    attempts = len(job.retry_intervals or []) + 1
    attempt = attempts - job.retries_left
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=job.get_retry_interval())
    log.warning("%s failed (attempt %d of %d): %s; retrying at %s UTC", job.description, attempt, attempts, error,
                f"{at:%Y-%m-%d %H:%M:%S}")
    if run_id:
        note = {"job": job.id, "error": error, "attempt": attempt, "attempts": attempts, "at": at.isoformat()}
        connection.hset(retrying_key(run_id), job.id, json.dumps(note))
        connection.expire(retrying_key(run_id), RUN_TTL)


def noop(payload: dict) -> dict:
    """A job that does nothing: the benchmark's measure of the queue's own cost."""
    return {}


def run_pending(conn: redis.Redis, run_id: str) -> int:
    return conn.scard(pending_key(run_id))


def run_stats(conn: redis.Redis, run_id: str) -> list[dict]:
    return [json.loads(value) for value in conn.hgetall(stats_key(run_id)).values()]


def run_failures(conn: redis.Redis, run_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in conn.hgetall(failures_key(run_id)).items()}


def run_retrying(conn: redis.Redis, run_id: str) -> list[dict[str, Any]]:
    """The run's jobs waiting for a retry, soonest first: each with its last error, the attempt that failed, the
    attempts it has in all, and when it runs again."""
    notes = [json.loads(value) for value in conn.hvals(retrying_key(run_id))]
    return sorted(notes, key=lambda note: (note["at"], note["job"]))


def release_due(conn: redis.Redis, run_id: str, stages: list[str], now: dt.datetime | None = None) -> int:
    """Put the run's scheduled jobs that are due (retries, companies waiting for a provider) on their queues; returns
    how many. A run the CLI waits for runs its workers without RQ's scheduler, so it releases its own jobs. `now`
    (default the time) is what "due" is judged against."""
    pending = {member.decode() for member in conn.smembers(pending_key(run_id))}
    timestamp = int((now or dt.datetime.now(dt.UTC)).timestamp())
    moved = 0
    for stage in stages:
        q = queue(stage, conn)
        registry = q.scheduled_job_registry
        due = [key for key in registry.get_jobs_to_schedule(timestamp) if key in pending]
        for job in Job.fetch_many(due, connection=conn, serializer=JSONSerializer):
            if job is not None:
                q._enqueue_job(job)  # what RQ's scheduler does with a due job
                registry.remove(job.id)
                moved += 1
    return moved
