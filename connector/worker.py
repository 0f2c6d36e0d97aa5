"""RQ workers for the stage queues, which hand a dead worker's job on (kill -9, a lost machine).

SimpleWorker runs jobs in the worker process instead of forking one child per
job: on a 2-core machine forking caps throughput near 90 jobs/s, and an
in-process worker keeps its parsed data files cached between jobs. Scale by
running more worker processes, on this machine or others sharing the Redis.

Out of the box, rq would lose or strand the job of a SimpleWorker killed with
SIGKILL. Listening on several queues, it pops a job with BLPOP, so one killed
before the job reaches the started registry loses it for good. Once started,
the job's registry entry lasts its whole timeout (10 min) with no heartbeat,
and rq retries it only at a maintenance pass, every 10 min, under a lock that
lasts 15 min if its worker is killed while it holds it. So this worker:

- takes a job and records it as taken in one atomic step (`_TAKE`), and moves
  it into the started registry in one transaction; a job taken by a worker
  that died before starting it goes back to its queue after a job lease
  (`_RETURN`; a worker that merely stalled that long finds it gone when it
  would start it, and leaves it to whoever took it next);
- holds a running job's started-registry entry as a lease, renewed while the
  job runs: it lapses JOB_LEASE_SECONDS after its worker died, a little after
  the send-ledger leases of the steps that job held (renewed as often), so
  the job run again finds them free to take over;
- runs rq's maintenance of each queue every MAINTENANCE_SECONDS (idle or
  between jobs), one pass at a time under a lock that lapses within a few
  passes (rq's lasts 15 min): rq retries each lapsed job
  (`StartedJobRegistry.cleanup`: with retries left it is queued again, per
  the job's retry policy; without, it fails with AbandonedJobError and its
  run lists it). rq's scheduler lock lapses a minute after its holder died,
  when another worker takes scheduling over.

Polling replaces BLPOP, which can wait on several queues but cannot move what
it pops: an idle worker looks every quarter second at most.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time

import redis
from redis.exceptions import LockError
from rq import Queue, SimpleWorker, worker_registration
from rq.exceptions import DequeueTimeout, StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.registry import clean_registries as clean_queue_registries
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import WorkerStatus

from connector.ledger import LEASE_SECONDS
from connector.queues import STAGES, queue
from connector.redaction import configure_logging
from connector.redis_conn import connect

log = logging.getLogger(__name__)

JOB_LEASE_SECONDS = math.ceil(LEASE_SECONDS * 1.5)  # renewed every quarter: lapses >= 1.125 ledger leases after death
MAINTENANCE_SECONDS = max(1, math.ceil(LEASE_SECONDS / 2))
MAINTENANCE_LOCK_SECONDS = 4 * MAINTENANCE_SECONDS  # far longer than a pass takes; a killed worker's lapses then
_IDLE_POLL = (0.02, 0.25)  # seconds between looks at empty queues: the first, and the most, doubling in between

# Pop the first job of the first non-empty queue and record, in the same step, that it is taken and since when.
_TAKE = """
local count = #KEYS / 2
for index = 1, count do
  local job_id = redis.call('LPOP', KEYS[index])
  if job_id then
    redis.call('ZADD', KEYS[count + index], ARGV[1], job_id)
    return {KEYS[index], job_id}
  end
end
return false
"""
# Jobs taken before ARGV[1] and never started: back to the front of their queue.
_RETURN = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for index = #ids, 1, -1 do
  redis.call('ZREM', KEYS[1], ids[index])
  redis.call('LPUSH', KEYS[2], ids[index])
end
return #ids
"""


def taken_key(queue_name: str) -> str:
    """The jobs of a queue that a worker took and has not started yet, scored by when it took them."""
    return f"salesos:taken:{queue_name}"


class _Queue(Queue):
    @classmethod
    def dequeue_any(cls, queues, timeout, connection, job_class=None, serializer=None, death_penalty_class=None):
        """rq's, with each job recorded as taken as it is popped, and polling instead of BLPOP. Waits at most
        MAINTENANCE_SECONDS, so an idle worker keeps up its maintenance."""
        names = {q.key: q.name for q in queues}
        keys = list(names)
        take = connection.register_script(_TAKE)
        deadline = None if timeout is None else time.monotonic() + min(timeout, MAINTENANCE_SECONDS)
        pause = _IDLE_POLL[0]
        while True:
            at = time.time()
            taken = take(keys=keys + [taken_key(name) for name in names.values()], args=[repr(at)])
            if taken:
                queue_key, job_id = (value.decode() for value in taken)
                try:
                    result = cls._fetch_dequeued_job(connection, queue_key, job_id, job_class=job_class,
                                                     serializer=serializer, death_penalty_class=death_penalty_class)
                except redis.RedisError:  # left taken: maintenance puts it back after a job lease
                    raise
                except Exception:  # unreadable: no worker can run it (rq, too, drops it here)
                    connection.zrem(taken_key(names[queue_key]), job_id)
                    raise
                if result is not None:
                    result[0].salesos_taken_at = at  # this take's mark: the job stays this worker's while it holds
                    return result
                connection.zrem(taken_key(names[queue_key]), job_id)  # its hash expired while it waited
                continue
            if deadline is None:
                return None
            if time.monotonic() >= deadline:
                raise DequeueTimeout(timeout, keys)
            time.sleep(pause)
            pause = min(pause * 2, _IDLE_POLL[1])


class StageWorker(SimpleWorker):
    """A SimpleWorker whose job survives its death: see the module's docstring."""

    queue_class = _Queue

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return JOB_LEASE_SECONDS

    def prepare_execution(self, job: Job) -> Execution | None:
        """rq's, plus in the same transaction: the job leaves `taken` for the started registry, already STARTED
        (rq's cleanup drops a registry entry whose job is not), so a kill at any moment leaves it findable.
        None: the job is no longer this worker's (it stalled longer than a job lease after taking it, and the
        job went back to its queue for another)."""
        taken = taken_key(job.origin)
        with self.connection.pipeline() as pipeline:
            while True:
                try:
                    pipeline.watch(taken)
                    if pipeline.zscore(taken, job.id) != getattr(job, "salesos_taken_at", None):
                        return None  # returned to its queue, and maybe taken again: by another take
                    pipeline.multi()
                    execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipeline,
                                                 worker_name=self.name)
                    job.prepare_for_execution(self.name, pipeline=pipeline)
                    pipeline.zrem(taken, job.id)
                    self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
                    pipeline.execute()
                    break
                except redis.WatchError:  # another worker took or started a job of this queue meanwhile
                    continue
        self.executions[execution.id] = execution
        return execution

    def execute_job(self, job: Job, queue: Queue) -> None:
        """SimpleWorker's, with a thread renewing the job's lease every quarter of it."""
        execution = self.prepare_execution(job)
        if execution is None:
            log.warning("job %s went back to its queue while this worker stalled: another worker runs it", job.id)
            return
        done = threading.Event()
        beats = threading.Thread(target=self._renew, args=(job, done), name=f"lease-{job.id}", daemon=True)
        beats.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beats.join()
        self.set_state(WorkerStatus.IDLE)

    def _renew(self, job: Job, done: threading.Event) -> None:
        while not done.wait(JOB_LEASE_SECONDS / 4):
            for execution in list(self.executions.values()):
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception as exc:  # the next beat tries again, well within the lease; the thread lives on
                    log.warning("could not renew the lease of job %s: %s", job.id, exc)

    def clean_registries(self) -> None:
        """rq's maintenance of each queue, and its taken jobs never started returned: once per queue and
        MAINTENANCE_SECONDS by whichever worker comes first, and never two passes at once (rq's cleanup is not
        atomic: two would queue a lapsed job twice). Both locks lapse, so a worker killed meanwhile holds no one
        up for long (rq's lock lasts 15 min)."""
        for q in self.queues:
            if not self.connection.set(f"salesos:maintenance:{q.name}", self.name, nx=True, ex=MAINTENANCE_SECONDS):
                continue
            passing = self.connection.lock(f"salesos:maintaining:{q.name}", timeout=MAINTENANCE_LOCK_SECONDS)
            if not passing.acquire(blocking=False):
                continue
            try:
                return_untaken(self.connection, q)
                clean_queue_registries(q, self._exc_handlers)
                worker_registration.clean_worker_registry(q)
            finally:
                with contextlib.suppress(LockError):  # it lapsed: the pass took longer than the lock
                    passing.release()
        self.last_cleaned_at = now()


def return_untaken(conn: redis.Redis, q: Queue) -> int:
    """Put back the jobs a worker took more than a job lease ago and never started (it died in between)."""
    cutoff = time.time() - JOB_LEASE_SECONDS
    returned = conn.register_script(_RETURN)(keys=[taken_key(q.name), q.key], args=[cutoff])
    if returned:
        log.warning("%d job(s) of queue %s taken by a worker that died before starting them: queued again",
                    returned, q.name)
    return returned


def work(url: str, queues: list[str] | None = None, burst: bool = False, with_scheduler: bool = True,
         log_level: str = "WARNING") -> None:
    """Process jobs from `queues` (default: every stage) until stopped, or until idle with `burst`."""
    conn = connect(url)
    names = queues or list(STAGES)
    configure_logging(log_level)
    logging.getLogger("agents.jobs.steps").setLevel(logging.INFO)  # one line per outreach step, at any level
    for name in names:
        queue(name, conn)  # an unknown stage fails here, naming the stages
    worker = StageWorker(names, connection=conn, serializer=JSONSerializer, maintenance_interval=MAINTENANCE_SECONDS)
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
