"""Queueing the CRM write of each unsubscribe, once, and again for as long as it has not landed.

The web request that records an unsubscribe queues its job at once; when Redis
is down then, the person is unsubscribed all the same (the ledger stops every
send) and the dispatcher's idle pass (`requeue_unsynced`) queues it when Redis
is back. An unsubscribe whose write failed (a CRM refusing, a tenant needing
re-installing) is queued afresh RETRY_AFTER after it was last queued, until
the ledger says it is synced; one whose tenant was uninstalled is abandoned
by its job and never queued again.

The ledger, not Redis, says what is due, so a pass costs one query however
many unsubscribes wait (a ledger upgraded from before syncing holds every
earlier one). A pass takes at most PASS_LIMIT of them, oldest first, and
queues one job per tenant and JOB_SIZE contacts, which the CRM adapters write
with their batch upserts.

A job's id comes from its tenant and emails only, so whichever dispatcher or
pass queues a backlog queues it once: while its job still waits (workers down
for hours, or a dispatcher that died before noting it queued), a later pass
finds it and queues nothing; once it has run and failed, the pass queues it
afresh under the same id.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

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
PASS_LIMIT = 500  # unsubscribes one pass queues at most: a backlog drains over passes, never in one
JOB_SIZE = 200  # contacts per job: one Salesforce collection, two HubSpot batches
RAN = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED)  # a job that will not run again
log = logging.getLogger(__name__)


def batch_job_id(tenant: str, emails: list[str]) -> str:
    """The job writing these unsubscribes of `tenant`, whoever queues it and when; one email's is its click's."""
    return job_id("unsubscribe", tenant, "|".join(sorted({email.lower() for email in emails})))


def enqueue_sync(conn: redis.Redis, ledger: Ledger, tenant: str, emails: list[str],
                 now: dt.datetime | None = None) -> bool:
    """Queue one engagement job writing these unsubscribes of `tenant` into its CRM, and note them queued in the
    ledger; False when none still waits for its CRM write, or when their job is already queued (noted queued
    all the same). A job of theirs that already ran (and failed) is replaced."""
    emails = ledger.waiting_unsubscribes(tenant, emails)
    if not emails:
        return False
    key = batch_job_id(tenant, emails)
    job = enqueue_once(conn, "engagement", sync_unsubscribe_job, {"tenant": tenant, "emails": emails}, job_key=key)
    if job is None and _drop_if_ran(conn, key):
        job = enqueue_once(conn, "engagement", sync_unsubscribe_job, {"tenant": tenant, "emails": emails},
                           job_key=key)
    # Noted after: a Redis that refuses the job leaves them due at the next pass, not RETRY_AFTER later. A process
    # dying in between can queue a second job for them under another batch: the CRM writes are idempotent.
    ledger.unsubscribes_queued(tenant, emails, now)
    return job is not None


def _drop_if_ran(conn: redis.Redis, key: str) -> bool:
    """Delete the job `key` if it has run, so its unsubscribes can be queued again; False while it waits or runs."""
    try:
        job = Job.fetch(key, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:  # expired since
        return True
    if job.get_status() not in RAN:
        return False
    job.delete()
    return True


def requeue_unsynced(conn: redis.Redis, ledger: Ledger, now: dt.datetime | None = None) -> int:
    """Queue the unsubscribes due (never queued, or queued over RETRY_AFTER ago and still not synced), at most
    PASS_LIMIT; returns how many. Dispatchers call it on every idle pass; one of them does the work each
    PASS_EVERY seconds."""
    if not conn.set(PASS_LOCK, 1, nx=True, ex=PASS_EVERY):
        return 0
    now = now or dt.datetime.now(dt.UTC)
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for tenant, email in ledger.due_unsubscribes(now - RETRY_AFTER, PASS_LIMIT):
        by_tenant[tenant].append(email.lower())
    queued = 0
    for tenant, emails in by_tenant.items():
        for start in range(0, len(emails), JOB_SIZE):
            batch = emails[start:start + JOB_SIZE]
            if enqueue_sync(conn, ledger, tenant, batch, now=now):
                queued += len(batch)
    if queued:
        log.info("queued the CRM write of %d unsubscribe(s) of %d tenant(s)", queued, len(by_tenant))
    return queued

