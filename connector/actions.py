"""Asynchronous HubSpot workflow actions: remembered until their run ends, then completed.

A custom workflow action answers `BLOCK` at once (HubSpot waits up to a week)
and its run goes through the funnel like any other; the dispatcher's loop
calls `complete_finished`, which reports each ended run back to HubSpot
through the callback API, once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import redis

from connector.queues import run_failures, run_pending, run_stats
from connector.runner import summarise

PENDING = "salesos:actions:pending"
log = logging.getLogger(__name__)

# (tenant, callback id, output fields) -> None; raises CRMError when HubSpot cannot be told yet
Completer = Callable[[str, str, dict[str, str]], None]


def remember(conn: redis.Redis, callback_id: str, tenant: str, run_id: str) -> None:
    conn.hset(PENDING, callback_id, json.dumps({"tenant": tenant, "run_id": run_id}))


def outcome(conn: redis.Redis, run_id: str) -> dict[str, str]:
    """What the workflow shows: SUCCESS when the company qualified and nothing failed, else FAIL_CONTINUE."""
    summary = summarise(run_stats(conn, run_id))
    failures = run_failures(conn, run_id)
    stopped = [stop["reason"] for stop in summary["stopped"]]
    ok = summary["qualified"] > 0 and not failures and not stopped
    text = (f"{summary['qualified']} qualified, {summary['contacts']} contacts, {summary['steps_scheduled']} steps "
            f"scheduled" if ok else "; ".join(stopped + list(failures.values())) or "the company did not qualify "
            "for the tenant's market (or SalesOS has no data on it)")
    return {"hs_execution_state": "SUCCESS" if ok else "FAIL_CONTINUE", "salesos_result": text[:500]}


def complete_finished(conn: redis.Redis, complete: Completer) -> int:
    """Complete every remembered action whose run has ended; returns how many were completed."""
    done = 0
    for callback_id, raw in conn.hgetall(PENDING).items():
        pending = json.loads(raw)
        if run_pending(conn, pending["run_id"]):
            continue
        try:
            complete(pending["tenant"], callback_id.decode(), outcome(conn, pending["run_id"]))
        except Exception as exc:  # noqa: BLE001 - kept for the next pass; HubSpot waits up to a week
            log.warning("workflow action %s of %s not completed yet: %s", callback_id.decode(), pending["tenant"], exc)
            continue
        conn.hdel(PENDING, callback_id)
        done += 1
    return done
