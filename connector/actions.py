"""Asynchronous HubSpot workflow actions: remembered until their run ends, then completed.

A custom workflow action answers `BLOCK` at once (HubSpot waits a day, as asked)
and its run goes through the funnel like any other; the dispatcher's loop
calls `complete_finished`, which reports each ended run back to HubSpot
through the callback API, once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import redis

from connector.failure_text import for_tenant
from connector.queues import run_failures, run_pending, run_stats
from connector.runner import summarise
from crm_adapters.errors import RequestRejected

PENDING = "salesos:actions:pending"
GIVE_UP_AFTER = 24 * 3600  # seconds: the hs_expiration_duration the endpoint answers with (P1D)
log = logging.getLogger(__name__)

# (tenant, callback id, output fields) -> None; raises CRMError when HubSpot cannot be told yet
Completer = Callable[[str, str, dict[str, str]], None]


def remember(conn: redis.Redis, callback_id: str, tenant: str, run_id: str | None, reason: str | None = None) -> None:
    """Complete this action when `run_id` ends; with no run, at once as failed for `reason`."""
    conn.hset(PENDING, callback_id, json.dumps({"tenant": tenant, "run_id": run_id, "reason": reason,
                                                "since": time.time()}))


def outcome(conn: redis.Redis, run_id: str) -> dict[str, str]:
    """What the workflow shows: SUCCESS when the company qualified and nothing failed, else FAIL_CONTINUE."""
    summary = summarise(run_stats(conn, run_id))
    failures = run_failures(conn, run_id)
    stopped = [stop["reason"] for stop in summary["stopped"]]
    ok = summary["qualified"] > 0 and not failures and not stopped
    text = (f"{summary['qualified']} qualified, {summary['contacts']} contacts, {summary['steps_scheduled']} steps "
            f"scheduled" if ok else "; ".join(stopped + [for_tenant(failure) for failure in failures.values()]) or "the company did not qualify "
            "for the tenant's market (or SalesOS has no data on it)")
    return {"hs_execution_state": "SUCCESS" if ok else "FAIL_CONTINUE", "salesos_result": text[:500]}


def complete_finished(conn: redis.Redis, complete: Completer) -> int:
    """Complete every remembered action whose run has ended; returns how many were completed."""
    done = 0
    for callback_id, raw in conn.hgetall(PENDING).items():
        pending, name = json.loads(raw), callback_id.decode()
        if time.time() - pending.get("since", time.time()) > GIVE_UP_AFTER:
            log.error("workflow action %s of %s dropped: HubSpot stopped waiting for it", name, pending["tenant"])
            conn.hdel(PENDING, callback_id)
            continue
        run_id = pending.get("run_id")
        if run_id and run_pending(conn, run_id):
            continue
        outputs = outcome(conn, run_id) if run_id else {"hs_execution_state": "FAIL_CONTINUE",
                                                         "salesos_result": (pending.get("reason") or "")[:500]}
        try:
            complete(pending["tenant"], name, outputs)
        except RequestRejected as exc:  # expired or deleted on HubSpot's side: asking again cannot help
            log.error("workflow action %s of %s dropped: %s", name, pending["tenant"], exc)
        except Exception as exc:  # noqa: BLE001 - kept for the next pass, until HubSpot stops waiting
            log.warning("workflow action %s of %s not completed yet: %s", name, pending["tenant"], exc)
            continue
        else:
            done += 1
        conn.hdel(PENDING, callback_id)
    return done
