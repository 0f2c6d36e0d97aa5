"""Run a market through the funnel to completion, with workers started here or already running elsewhere.

The CLI and the benchmark call `execute_run`. It enqueues the source job,
starts worker processes (real RQ workers, the same ones `connector worker`
runs; none with `workers=0`, when the workers of other hosts sharing the Redis
do the work), waits until the run's pending set is empty, stops the workers
it started and adds up what every job reported.

A job that failed waits for its retry (minutes, then hours: `connector.queues`)
and the run waits with it, saying what it waits for (`retry_wait`): a run ends
when every job has finished or failed for good, so its summary is whole.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from agents.jobs import source_job
from agents.market import MarketDefinition
from connector.channels.sink import LocalSink
from connector.market_ticks import arm
from connector.private_files import append_private, write_private
from connector.providers.file_check import check_files
from connector.providers.http.costs import run_costs
from connector.queues import (
    enqueue_once,
    job_id,
    release_due,
    remember_run_tenant,
    run_failures,
    run_pending,
    run_retrying,
    run_stats,
)
from connector.redis_conn import connect, redis_url
from connector.run_waits import stage_waits
from connector.runs import RunContext, new_run_id
from connector.settings import Settings
from connector.tenant_markets import TenantMarkets

FUNNEL_STAGES = ("source", "enrich", "contacts", "score")
WAITS_EVERY = 1.0  # seconds between two readings of what the stages wait for (`run_waits.stage_waits`)
ProgressCallback = Callable[[dict[str, Any]], None]  # the summary so far, and "waiting": a note per stage


class RunFailed(RuntimeError):
    """The workers died, so the run cannot finish; jobs that fail are reported in the summary."""


def execute_run(
    settings: Settings,
    market: MarketDefinition,
    data_files: list[Path],
    as_of: dt.date,
    *,
    send_now: bool = False,
    workers: int = 2,
    on_progress: ProgressCallback | None = None,
    tenant: str = "local",
) -> dict[str, Any]:
    check_files(data_files)
    run = RunContext(
        run_id=new_run_id(), tenant=tenant, market=market, data_files=[str(path.resolve()) for path in data_files],
        as_of=as_of, send_now=send_now, batch_size=settings.salesos_batch_size,
    )
    started = time.monotonic()
    queues = [*FUNNEL_STAGES, "outreach"] if send_now else list(FUNNEL_STAGES)
    TenantMarkets(settings.database_url).set(tenant, market, origin=f"run {run.run_id}")
    with redis_url(settings) as url, smtp_sink(settings, tenant) as sink:
        conn = connect(url)
        enqueue_run(conn, run)
        arm(conn, tenant, market, dt.datetime.now(dt.UTC))
        with worker_pool(url, settings, workers, queues, sink) as pool:
            waits, waits_read = {}, 0.0
            while run_pending(conn, run.run_id):
                pool.check()
                release_due(conn, run.run_id, queues)
                if on_progress:
                    progress = summarise(run_stats(conn, run.run_id))
                    if time.monotonic() - waits_read >= WAITS_EVERY:
                        waits_read = time.monotonic()
                        waits = stage_waits(conn, run.run_id, queues, progress["provider_misses"])
                    on_progress(progress | {"waiting": waits, "retrying": retry_wait(run_retrying(conn, run.run_id))})
                time.sleep(0.1)
        stats = run_stats(conn, run.run_id)
        if on_progress:
            on_progress(summarise(stats) | {"waiting": {}, "retrying": None})  # the last jobs' counts: every bar ends where its stage did
        summary = summarise(stats) | {"jobs": len(stats)}
        summary |= provider_costs(conn, tenant, run.run_id, summary["qualified"])
        failures = run_failures(conn, run.run_id)
        conn.close()
    summary |= {
        "run_id": run.run_id, "tenant": tenant, "market": market.name, "as_of": as_of.isoformat(),
        "failures": [{"job": key, "error": error} for key, error in failures.items()],
        "elapsed_seconds": round(time.monotonic() - started, 2),
    }
    save_summary(settings.home, summary)
    return summary


def enqueue_run(conn, run: RunContext) -> None:
    """Start a run: its source job starts the rest. Workers already running pick it up."""
    remember_run_tenant(conn, run.run_id, run.tenant)
    enqueue_once(conn, "source", source_job, {"run": run.model_dump(mode="json")},
                 job_key=job_id("run", run.run_id, "source", "0"), run_id=run.run_id)


def retry_wait(retrying: list[dict[str, Any]]) -> str | None:
    """What a run waits for while jobs wait for their retry, in one line; None when none does."""
    if not retrying:
        return None
    first = retrying[0]
    at = dt.datetime.fromisoformat(first["at"])
    jobs = f"{len(retrying)} jobs retry" if len(retrying) > 1 else "a job retries"
    return (f"waiting: {jobs} from {at:%H:%M:%S} UTC (attempt {first['attempt'] + 1} of {first['attempts']}) after "
            f"{first['error']}")


# Always present in a summary, zero when no job reported them.
COUNTS = (
    "rows_read", "companies_read", "duplicates_merged", "excluded", "below_threshold", "over_target",
    "qualified", "enriched", "companies_searched", "companies_scored", "contacts", "contacts_dropped", "companies_without_contacts", "scored",
    "steps_planned", "steps_scheduled", "steps_already_scheduled", "sequences_kept_active", "emails_sent", "emails_drafted", "emails_bounced",
    "emails_uncertain", "emails_retrying", "tasks_created",
    "skipped_already_done", "skipped_unsubscribed", "rep_edits_kept", "sequences_not_started_opted_out",
    "skipped_opted_out",
)


def summarise(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the per-job counts into the funnel a user reads."""
    summary: dict[str, Any] = {key: 0 for key in COUNTS}
    summary |= {"tiers": {f"TIER_{n}": 0 for n in range(1, 5)}, "contacts_dropped_by_reason": {},
                "steps_rescheduled": {}, "sequences_not_started_consent": {},
                "seconds": {}, "quarantined": [], "crm_errors": [], "record_errors": [], "stopped": []}
    for job in stats:
        for key, value in job.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                summary[key] = summary.get(key, 0) + value  # a count COUNTS forgot still adds up
            elif isinstance(value, dict):
                for name, count in value.items():
                    summary[key][name] = round(summary[key].get(name, 0) + count, 3)
            elif isinstance(value, list):
                summary.setdefault(key, []).extend(value)
    summary["quarantined"].sort(key=lambda row: (row["file"], row["line"]))
    summary["providers_skipped"] = sorted(set(summary.get("providers_skipped", [])))
    summary["provider_misses"] = _misses(summary.get("provider_misses", []))
    summary["rows_quarantined"] = len(summary["quarantined"])
    return summary


def _misses(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per provider, stage and kind of failure: the first reason, and every company missed added up."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["provider"], row["stage"], row["kind"])
        if key in merged:
            merged[key]["missed"] += row["missed"]
        else:
            merged[key] = dict(row)
    return sorted(merged.values(), key=lambda row: (row["provider"], row["stage"], row["kind"]))


def provider_costs(conn, tenant: str, run_id: str, qualified: int) -> dict[str, Any]:
    """What the run's provider calls cost, per provider, in all, and per qualified lead."""
    costs = run_costs(conn, tenant, run_id)
    dollars = round(sum(row["dollars"] for row in costs.values()), 4)
    return {"provider_costs": costs, "provider_dollars": dollars,
            "cost_per_qualified_lead": round(dollars / qualified, 4) if qualified else None}


def save_summary(home: Path, summary: dict[str, Any], last_run: bool = True) -> None:
    """Into `runs/<run id>.json` (what `connector health` reads) and, unless told not to, `last_run.json`
    (what `connector report` renders)."""
    text = json.dumps(summary, indent=2, sort_keys=True)
    write_private(home / "runs" / f"{summary['run_id']}.json", text)
    if last_run:
        write_private(home / "last_run.json", text)


class WorkerPool:
    def __init__(self, processes: list[subprocess.Popen]) -> None:
        self.processes = processes

    def check(self) -> None:
        dead = [p for p in self.processes if p.poll() is not None]
        if dead:
            raise RunFailed(
                f"a worker exited with code {dead[0].returncode}; see its log in the logs folder of SALESOS_HOME"
            )


def smtp_sink(settings: Settings, tenant: str) -> AbstractContextManager[str | None]:
    """The local SMTP sink the embedded default sends into, for the run's workers: its address, or None when the
    run needs none (a CRM tenant's mail goes out through its mailboxes) or one is already set."""
    if tenant != "local" or settings.salesos_smtp_sink:
        return nullcontext(settings.salesos_smtp_sink)
    return _started_sink(settings)


@contextmanager
def _started_sink(settings: Settings) -> Iterator[str]:
    with LocalSink(settings.outbox) as sink:
        yield f"{sink.host}:{sink.port}"


@contextmanager
def worker_pool(url: str, settings: Settings, count: int, queues: list[str],
                sink: str | None = None) -> Iterator[WorkerPool]:
    """Start `count` worker processes on `queues` (none: the run waits for workers running elsewhere); stop them
    (gracefully first) on exit."""
    logs = settings.home / "logs"
    env = {**os.environ, "REDIS_URL": url, "SALESOS_HOME": str(settings.home),
           "SALESOS_DATABASE_URL": settings.database_url} | ({"SALESOS_SMTP_SINK": sink} if sink else {})
    command = [sys.executable, "-m", "connector", "worker", "--queues", ",".join(queues), "--no-scheduler"]
    processes = []
    try:
        for index in range(count):
            with append_private(logs / f"worker-{index}.log") as log:
                processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        yield WorkerPool(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
