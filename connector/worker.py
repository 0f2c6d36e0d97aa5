"""RQ workers for the stage queues.

SimpleWorker runs jobs in the worker process instead of forking one child per
job: on a 2-core machine forking caps throughput near 90 jobs/s, and an
in-process worker keeps its parsed data files cached between jobs. Scale by
running more worker processes, on this machine or others sharing the Redis.
"""

from __future__ import annotations

import logging
import signal

from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from connector.queues import STAGES, queue
from connector.redaction import configure_logging
from connector.redis_conn import connect


def work(url: str, queues: list[str] | None = None, burst: bool = False, with_scheduler: bool = True,
         log_level: str = "WARNING") -> None:
    """Process jobs from `queues` (default: every stage) until stopped, or until idle with `burst`."""
    conn = connect(url)
    names = queues or list(STAGES)
    configure_logging(log_level)
    logging.getLogger("agents.jobs.steps").setLevel(logging.INFO)  # one line per outreach step, at any level
    worker = SimpleWorker([queue(name, conn) for name in names], connection=conn, serializer=JSONSerializer)
    # rq installs its SIGINT/SIGTERM handler only after registering the worker: a signal in between would kill the
    # process where it stands, leaving an embedded Redis running. Its handler, then, from the start.
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, worker.request_stop)
        worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=log_level)
    except StopRequested:  # stopped before rq's loop, which handles it from then on, began
        worker.teardown()
    finally:
        conn.close()  # an open client would keep an embedded Redis running after the worker stops
