"""Work queues until their failing jobs are out of retries, without waiting the minutes and hours between them."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from connector.queues import is_retry, queue


def waiting_for_retry(conn, *stages: str) -> list[Job]:
    """The stages' jobs waiting in their scheduled registry for a retry (not steps scheduled for later)."""
    waiting = []
    for stage in stages:
        ids = queue(stage, conn).scheduled_job_registry.get_job_ids()
        waiting += [job for job in Job.fetch_many(ids, connection=conn, serializer=JSONSerializer)
                    if job is not None and is_retry(job)]
    return waiting


def work_through_retries(conn, *stages: str) -> None:
    """Work the stages in bursts; after each, every retry's wait passes at once (its job is moved onto its queue, as
    the scheduler does when it falls due), until no job waits for one: a job that keeps failing ends failed."""
    while True:
        SimpleWorker([queue(stage, conn) for stage in stages], connection=conn, serializer=JSONSerializer).work(
            burst=True)
        waiting = waiting_for_retry(conn, *stages)
        if not waiting:
            return
        for job in waiting:
            q = queue(job.origin, conn)
            q.scheduled_job_registry.remove(job.id)
            q._enqueue_job(job)
