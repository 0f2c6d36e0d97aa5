"""Summaries of the runs nobody waits for: started by a CRM event or the API, saved when they end.

The CLI's `execute_run` waits for its run and saves the summary itself. A run
that a CRM event (`agents.event_jobs`), `POST /api/markets` or a market's
schedule (`agents.market_jobs`) starts has no such waiter, so
`enqueue_unattended` notes it in OPEN, and the dispatcher's idle pass (`save_finished`) saves the summary of each one that has ended into
SALESOS_HOME/runs, where `connector health` reads the last day's runs. Such a
summary does not replace `last_run.json`: that is the report of the last run
a person started.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Literal

import redis

from connector.queues import run_failures, run_pending, run_stats
from connector.runner import enqueue_run, provider_costs, save_summary, summarise
from connector.runs import RunContext

OPEN = "salesos:runs:open"
GIVE_UP_AFTER = 2 * 24 * 3600  # seconds: a run still pending then has lost a job; what finished is saved
log = logging.getLogger(__name__)

StartedBy = Literal["crm event", "api", "schedule"]


def enqueue_unattended(conn: redis.Redis, run: RunContext, started_by: StartedBy) -> None:
    """Start the run and note it, after enqueueing: a noted run with nothing pending counts as ended."""
    enqueue_run(conn, run)
    conn.hset(OPEN, run.run_id, json.dumps({"tenant": run.tenant, "market": run.market.name,
                                            "as_of": run.as_of.isoformat(), "started_by": started_by,
                                            "since": time.time()}))


def save_finished(conn: redis.Redis, home: Path, now: float | None = None) -> int:
    """Save the summary of every noted run that has ended (or been pending for GIVE_UP_AFTER); returns how many."""
    saved, now = 0, time.time() if now is None else now
    for raw_id, raw in conn.hgetall(OPEN).items():
        run_id, noted = raw_id.decode(), json.loads(raw)
        waited = now - noted["since"]
        pending = run_pending(conn, run_id)
        if pending and waited < GIVE_UP_AFTER:
            continue
        stats = run_stats(conn, run_id)
        summary = summarise(stats) | {
            "jobs": len(stats), "run_id": run_id, "tenant": noted["tenant"], "market": noted["market"],
            "as_of": noted["as_of"], "started_by": noted["started_by"], "elapsed_seconds": round(waited, 2),
            "failures": [{"job": key, "error": error} for key, error in run_failures(conn, run_id).items()],
        }
        summary |= provider_costs(conn, noted["tenant"], run_id, summary["qualified"])
        if pending:
            reason = f"{pending} job(s) still pending after {GIVE_UP_AFTER // 3600} h; this is what had finished"
            summary["stopped"].append({"stage": "run", "reason": reason})
            log.error("run %s of %s: %s", run_id, noted["tenant"], reason)
        save_summary(home, summary, last_run=False)
        conn.hdel(OPEN, raw_id)
        saved += 1
    return saved
