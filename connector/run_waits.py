"""What each stage of a run is waiting for, so the command line can say it while the run waits.

A stage that takes more than a moment has a reason a user should see: its
jobs wait for a worker (none has started yet, or all are busy), a worker is
running them, some companies wait for a data provider that was down, or a
worker is retrying a CRM that failed. Workers leave that last note in Redis
for the length of the wait (`note_crm_wait`, the CRM call policy's `on_wait`);
the rest is read from RQ's registries, without changing them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import redis
from rq import get_current_job

from agents.validation import clip
from connector.queues import pending_key, queue


def wait_key(run_id: str, stage: str) -> str:
    return f"salesos:run:{run_id}:waiting:{stage}"


def note_crm_wait(message: str, seconds: float) -> None:
    """Show `message` on the current job's run for the `seconds` a worker waits before trying a CRM again."""
    job = get_current_job()
    run_id = job.meta.get("run_id") if job is not None else None
    if run_id:
        job.connection.set(wait_key(run_id, job.origin), clip(message), ex=max(1, math.ceil(seconds)))


def stage_waits(conn: redis.Redis, run_id: str, stages: Iterable[str], provider_misses: list[dict],
                now: float | None = None) -> dict[str, str]:
    """A note per stage that has unfinished jobs of the run: what they are waiting for."""
    now = time.time() if now is None else now
    stages = list(stages)
    pending = {member.decode() for member in conn.smembers(pending_key(run_id))}
    retrying = conn.mget([wait_key(run_id, stage) for stage in stages])
    notes = {}
    for stage, crm in zip(stages, retrying):
        q = queue(stage, conn)
        queued = len(pending.intersection(q.get_job_ids()))
        running = len(pending.intersection(q.started_job_registry.get_job_ids(cleanup=False)))
        held = [score for member, score in conn.zrange(q.scheduled_job_registry.key, 0, -1, withscores=True)
                if member.decode() in pending]
        note = _note(crm.decode() if crm else None, queued, running, held, _waited_for(provider_misses, stage), now)
        if note:
            notes[stage] = note
    return notes


def _note(crm: str | None, queued: int, running: int, held: list[float], providers: list[str], now: float) -> str:
    if crm:
        return crm
    if running:
        return f"{_jobs(running)} running" + (f", {queued} queued" if queued else "")
    if queued:
        return f"{_jobs(queued)} waiting for a worker"
    if held:
        wait = max(0, math.ceil(min(held) - now))
        return (f"waiting for {', '.join(providers) or 'a data provider'}, which was down: trying again in "
                f"{_duration(wait)}")
    return ""


def _waited_for(misses: list[dict], stage: str) -> list[str]:
    return sorted({miss["provider"] for miss in misses if miss.get("stage") == stage and miss.get("kind") == "waiting"})


def _jobs(count: int) -> str:
    return f"{count} job" + ("" if count == 1 else "s")


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"
