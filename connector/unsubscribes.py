"""Queueing the CRM write of each unsubscribe, once, and again for as long as it has not landed.

The web request that records an unsubscribe queues its job at once; when Redis
is down then, the person is unsubscribed all the same (the ledger stops every
send) and the dispatcher's idle pass (`requeue_unsynced`) queues it when Redis
is back. A job that failed (a CRM refusing, a tenant needing re-installing) is
queued afresh every RETRY_AFTER, until the ledger says it is synced.
"""

from __future__ import annotations

import datetime as dt
import logging

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from agents.consent_jobs import sync_unsubscribe_job
from connector.ledger import Ledger
from connector.queues import enqueue_once, job_id

RETRY_AFTER = dt.timedelta(minutes=30)
PASS_EVERY = 60  # seconds: one dispatcher's idle pass looks at the unsynced unsubscribes this often
PASS_LOCK = "salesos:unsubscribes:pass"
log = logging.getLogger(__name__)


def sync_job_id(tenant: str, email: str) -> str:
    return job_id("unsubscribe", tenant, email.lower())


def enqueue_sync(conn: redis.Redis, tenant: str, email: str) -> bool:
    """Queue the CRM write of one unsubscribe on the engagement queue; False when that job already exists."""
    key = sync_job_id(tenant, email)
    return enqueue_once(conn, "engagement", sync_unsubscribe_job, {"tenant": tenant, "email": email.lower()},
                        job_key=key) is not None


def requeue_unsynced(conn: redis.Redis, ledger: Ledger, now: dt.datetime | None = None) -> int:
    """Queue every unsynced unsubscribe whose job is missing, or ended over RETRY_AFTER ago; returns how many.

    Dispatchers call it on every idle pass; one of them does the work each PASS_EVERY seconds."""
    if not conn.set(PASS_LOCK, 1, nx=True, ex=PASS_EVERY):
        return 0
    now = now or dt.datetime.now(dt.UTC)
    queued = 0
    for tenant, email in ledger.unsynced_unsubscribes():
        if enqueue_sync(conn, tenant, email):
            queued += 1
            continue
        try:
            job = Job.fetch(sync_job_id(tenant, email), connection=conn, serializer=JSONSerializer)
        except NoSuchJobError:  # expired between the two calls: the next pass queues it
            continue
        ended = job.ended_at and (job.ended_at if job.ended_at.tzinfo else job.ended_at.replace(tzinfo=dt.UTC))
        if job.get_status() in (JobStatus.FAILED, JobStatus.FINISHED, JobStatus.STOPPED, JobStatus.CANCELED) \
                and ended and now - ended >= RETRY_AFTER:
            log.warning("an unsubscribe is not in %s's CRM yet (its job %s %s); queueing it again", tenant,
                        job.id, job.get_status())
            job.delete()
            queued += enqueue_sync(conn, tenant, email)
    return queued
