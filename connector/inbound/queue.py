"""Received messages onto the engagement queue, one job per tenant, mailbox and message (a repeated post or
poll of one queues nothing new): the route and the mailbox poller only read; the reply job classifies."""

from __future__ import annotations

import hashlib

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from connector.inbound.base import InboundMessage
from connector.queues import FAILURE_TTL, RESULT_TTL

REPLIES_QUEUE = "engagement"  # the stage that acts on what contacts do
# What the queued job runs, called with the message as JSON (`InboundMessage.model_validate(payload)`); the
# route's app.config["SALESOS_INBOUND_JOB"] overrides it
INBOUND_JOB = "agents.reply_jobs.reply_job"


def enqueue_inbound(conn: redis.Redis | None, message: InboundMessage, job: str = INBOUND_JOB) -> bool:
    """Queue `job(message as JSON)` on the engagement queue, once per tenant and message; False for a repeat."""
    if conn is None:
        raise redis.ConnectionError("REDIS_URL is not set")
    queue = Queue(REPLIES_QUEUE, connection=conn, serializer=JSONSerializer)
    try:
        queue.enqueue(job, message.model_dump(mode="json"),
                      job_id=inbound_job_id(message), unique=True,
                      result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                      description=f"reply for {message.tenant} at {message.mailbox}")
    except DuplicateJobError:
        return False
    return True


def inbound_job_id(message: InboundMessage) -> str:
    """One job per tenant, mailbox and message: a repeated post (or poll) of it queues nothing new."""
    key = "\x1f".join((message.tenant, message.mailbox, message.provider_id))
    return f"inbound-{hashlib.sha256(key.encode()).hexdigest()[:40]}"
