"""From the event inbox to stage jobs, each event's jobs enqueued exactly once.

The endpoints only append events to `INBOX`; the dispatcher turns them into
stage jobs with a router (`connector.routing.route`: event -> jobs). Nothing
may be lost and nothing done twice, even when the dispatcher dies at any
instruction:

- a batch is moved atomically (one Lua script of LMOVEs) from the inbox to
  this dispatcher's own processing list, so an event is always in exactly one
  list;
- each job is enqueued with `enqueue_once` under the router's key, which is
  derived from the event identity: doing a batch again enqueues nothing new;
- the processing list is cleared only after the whole batch is enqueued. A
  dispatcher that restarts under the same name resumes its list first; the
  list of a dispatcher whose lease expired (it died) is moved back to the head
  of the inbox by whichever dispatcher notices, at start and then regularly.

An event the router cannot handle (or that is not a `CrmEvent`) goes to
`FAILED` with the error, so one bad event never blocks the rest.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from rq.job import JOB_ID_PATTERN

from agents.events import CrmEvent
from agents.validation import clip
from connector.queues import enqueue_once, job_id

log = logging.getLogger(__name__)

PREFIX = "salesos:events"
INBOX = f"{PREFIX}:inbox"  # where the endpoints (webhooks/intake.py) append every accepted event
DISPATCHERS = f"{PREFIX}:dispatchers"  # names that may own a processing list
FAILED = f"{PREFIX}:failed"
FAILED_KEPT = 10_000

_TAKE = """
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
local held = redis.call('LRANGE', KEYS[2], 0, -1)
if #held > 0 then return held end
local taken = {}
for i = 1, tonumber(ARGV[1]) do
    local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
    if not item then break end
    taken[#taken + 1] = item
end
return taken
"""
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""
_RETURN = """
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do moved = moved + 1 end
return moved
"""


class StageJob(Protocol):
    """What a router returns per job: `key` must follow from the event's identity (same event, same key)."""

    stage: str
    func: str | Callable[..., Any]
    payload: dict
    key: str


Router = Callable[[CrmEvent], Sequence[StageJob]]


IDLE_EVERY = 5.0  # seconds between `on_idle` calls while events keep coming


class DispatcherBusy(RuntimeError):
    """Another live dispatcher already uses this name."""


@dataclass
class Counts:
    events: int = 0
    jobs: int = 0  # jobs newly enqueued (a re-dispatched event's jobs are not counted again)
    failed: int = 0

    def add(self, other: Counts) -> None:
        self.events += other.events
        self.jobs += other.jobs
        self.failed += other.failed


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def processing_key(name: str) -> str:
    return f"{PREFIX}:processing:{name}"


def lease_key(name: str) -> str:
    return f"{PREFIX}:dispatcher:{name}"


class Dispatcher:
    def __init__(self, conn: redis.Redis, router: Router, name: str | None = None, batch: int = 100,
                 lease_seconds: int = 30, inbox: str = INBOX) -> None:
        self.conn, self.router, self.name = conn, router, name or default_name()
        self.batch, self.lease_ms, self.inbox = batch, lease_seconds * 1000, inbox
        self.processing = processing_key(self.name)
        self._token = uuid.uuid4().hex
        self._take = conn.register_script(_TAKE)
        self._lease = conn.register_script(_LEASE)
        self._return = conn.register_script(_RETURN)
        self._last_recovery = 0.0

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> int:
        """Take the name's lease and recover the lists of dead dispatchers; returns how many events came back."""
        # A script, not SET NX: if the reply is lost and redis-py sends it again, our own lease is no conflict.
        if not self._lease(keys=[lease_key(self.name), DISPATCHERS], args=[self._token, self.lease_ms, self.name]):
            raise DispatcherBusy(f"a dispatcher named {self.name!r} is running (its lease has not expired); "
                                 f"stop it or give this one another --name")
        return self.recover()

    def stop(self) -> None:
        """Give up the lease; an unfinished batch stays in the processing list for the next start."""
        if self.conn.get(lease_key(self.name)) == self._token.encode():
            self.conn.delete(lease_key(self.name))
        if not self.conn.exists(self.processing):
            self.conn.srem(DISPATCHERS, self.name)

    def recover(self) -> int:
        """Move back to the inbox head every processing list whose dispatcher's lease is gone."""
        self._last_recovery = time.monotonic()
        moved = 0
        for raw in self.conn.smembers(DISPATCHERS):
            other = raw.decode()
            if other == self.name or self.conn.exists(lease_key(other)):
                continue
            count = int(self._return(keys=[processing_key(other), self.inbox]))
            if count:
                log.warning("dispatcher %s had stopped with %d event(s) in hand; they are queued again", other, count)
            moved += count
            self.conn.srem(DISPATCHERS, other)
        return moved

    # --- work ---------------------------------------------------------------

    def dispatch_once(self) -> Counts:
        """One batch: resume this dispatcher's unfinished batch, or take up to `batch` new events.

        The same script renews the lease and registers the name, so a processing
        list always belongs to a name that `recover` will look at."""
        if time.monotonic() - self._last_recovery > self.lease_ms / 1000:
            self.recover()
        items = self._take(keys=[self.inbox, self.processing, lease_key(self.name), DISPATCHERS],
                           args=[self.batch, self._token, self.lease_ms, self.name])
        counts = Counts(events=len(items))
        for raw in items:
            jobs, failed = self._dispatch(raw)
            counts.jobs += jobs
            counts.failed += failed
        if items:
            self.conn.delete(self.processing)  # only now: a crash before this redoes the batch, idempotently
        return counts

    def run(self, burst: bool = False, wait_seconds: int = 1, should_stop: Callable[[], bool] = lambda: False,
            on_idle: Callable[[], object] = lambda: None) -> Counts:
        """Dispatch until stopped (or, with `burst`, until the inbox is empty). Redis outages are waited out,
        except in burst mode, where they raise. `on_idle` runs whenever the inbox is empty (completing
        workflow actions whose runs have ended)."""
        total, pause, started, idle_at = Counts(), 0.5, False, time.monotonic()
        try:
            while not should_stop():
                try:
                    if not started:
                        self.start()
                        started = True
                    counts = self.dispatch_once()
                    total.add(counts)
                    if counts.events == 0 or time.monotonic() - idle_at > IDLE_EVERY:
                        on_idle()  # also under a steady backlog, so held workflows are not starved
                        idle_at = time.monotonic()
                    if counts.events == 0:
                        if burst:
                            break
                        self._wait(wait_seconds)
                    pause = 0.5
                except redis.RedisError as exc:
                    if burst:
                        raise
                    log.warning("dispatcher %s: Redis unavailable (%s); retrying in %.1f s", self.name, exc, pause)
                    time.sleep(pause)
                    pause = min(pause * 2, 10.0)
        finally:
            try:
                if started:
                    self.stop()
            except redis.RedisError:
                pass  # the lease expires by itself
        return total

    def _wait(self, seconds: int) -> None:
        """Block until an event arrives; it lands in the processing list, where the next batch picks it up."""
        self.conn.blmove(self.inbox, self.processing, seconds, "LEFT", "RIGHT")

    def _dispatch(self, raw: bytes) -> tuple[int, int]:
        """Enqueue one event's jobs; returns (jobs newly enqueued, 1 if the event went to FAILED).

        Redis errors propagate (the batch is redone later); anything else about
        this one event (not a CrmEvent, a router error, an unknown stage) sends it to FAILED.
        """
        enqueued = 0
        try:
            event = CrmEvent.model_validate_json(raw)
            for job in self.router(event):
                key = job.key if JOB_ID_PATTERN.fullmatch(job.key) else job_id("event", job.key)
                if enqueue_once(self.conn, job.stage, job.func, job.payload, job_key=key) is not None:
                    enqueued += 1
        except redis.RedisError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            self._fail(raw, exc)
            return enqueued, 1
        return enqueued, 0

    def _fail(self, raw: bytes, exc: Exception) -> None:
        error = clip(f"{type(exc).__name__}: {exc}", 500)  # an exception may quote the whole event
        log.error("dispatcher %s: event not routable (%s); kept in %s", self.name, error, FAILED)
        entry = json.dumps({"event": raw.decode(errors="replace"), "error": error,
                            "at": time.time()})
        pipe = self.conn.pipeline()
        pipe.rpush(FAILED, entry)
        pipe.ltrim(FAILED, -FAILED_KEPT, -1)
        pipe.execute()


def default_router() -> Router:
    """The project's routing table."""
    from connector.routing import route

    return route
