"""How SalesOS is doing: the queues right now, and the seed's agent health checks.

Two readers share this module. `/readyz` (webhooks/health.py) needs the queue
state fast, so `queue_states` reads every stage queue in one pipeline (plus a
second one for the enqueue times of the jobs at the head of the non-empty
queues) and never writes: no registry clean-up, nothing a probe should do.
`python -m connector health` calls `health_report`, which adds the failed
jobs with their error line, what an admin must still do per tenant
(`connector/admin_actions.py`) and the agent checks.

The agent checks are the seed's "Agent Health Monitoring" (its thresholds
stand: DESIGN.md does not change them), computed from the run summaries that
`connector/runner.py` writes to SALESOS_HOME/runs:

- provider success rate = rows the data providers delivered that were usable
  / rows read, that is (rows_read - rows_quarantined) / rows_read. The
  summaries count rows per run, not per provider, so the rate is overall; the
  quarantined rows are broken down per data file in the check's detail.
  Warning below 0.95 (the seed's "API success rate > 95%").
- duplicate rate = duplicates_merged / companies_read. Flagged (severity
  "info", as in the seed) above 0.40: "consider adding more data sources".
- average fit score = the mean `fit_score` of the accounts SalesOS holds in
  the local CRM for the markets of those runs. Only qualified companies are
  written, so this is the seed's average over companies found. Warning below
  0.60: "refine market definition filters". Runs on a HubSpot or Salesforce
  tenant are not read back from that CRM here (a health check makes no CRM
  API calls); the check says so instead of guessing.

- API success rate, per data provider called in the last day: the calls
  it answered / the calls made (`connector/providers/http/stats.py`; a call
  counts once whatever its retries). Warning below 0.95, the seed's "API
  success rate" on real calls. No provider called, no check.

A threshold is crossed strictly, as in the seed: a rate of exactly 0.95 is ok.
The runs considered are those started in the last 24 hours (the seed's
`get_last_24h`), or the most recent run when none is that recent; the report
names them and the newest run's age, so a stale report is visible.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from sqlalchemy import select

from agents.market import MarketDefinition
from agents.validation import clip
from connector.admin_actions import AdminAction, admin_actions, state_unreadable, unsubscribe_backlog
from connector.dispatch import FAILED as FAILED_EVENTS, INBOX
from connector.providers.http.stats import SuccessRate, success_rates
from connector.queues import STAGES, queue
from connector.read_only_state import StateSnapshot, StateUnreadable, read_only
from connector.settings import Settings
from connector.store.schema import tenant_markets
WINDOW = dt.timedelta(hours=24)
FAILED_JOBS_SHOWN = 10

# The seed's thresholds.
PROVIDER_SUCCESS_MIN = 0.95
DUPLICATE_RATE_MAX = 0.40
AVERAGE_FIT_MIN = 0.60

Severity = Literal["warning", "info"]
CheckStatus = Literal["ok", "warning", "info", "unknown"]


class QueueState(BaseModel):
    queued: int = Field(description="jobs waiting to be picked up")
    oldest_queued_seconds: float | None = Field(description="how long the job at the head has waited; None when empty")
    failed: int = Field(description="jobs out of retries, kept for 30 days")
    scheduled: int = Field(description="jobs waiting for their time (sequence steps)")
    scheduled_due: int = Field(description="scheduled jobs whose time has passed: none while a scheduler runs")
    workers: int = Field(description="registered workers listening on the queue")


class QueueSnapshot(BaseModel):
    queues: dict[str, QueueState]
    events_inbox: int = Field(description="CRM events accepted but not yet routed to a stage")
    events_failed: int = Field(default=0, description="CRM events the dispatcher could not route (kept with the error)")


class FailedJob(BaseModel):
    queue: str
    job_id: str
    ended_at: dt.datetime | None
    error: str = Field(description="the last line of the traceback")
    run_id: str | None = Field(default=None, description="the run it was part of, if any")
    tenant: str | None = None
    contacts: list[str] = Field(default_factory=list, description="the contacts (emails) it acted on")
    companies: list[str] = Field(default_factory=list, description="the companies (domains) it acted on")


class Check(BaseModel):
    name: str
    label: str
    value: float | None
    threshold: float
    warn_when: Literal["below", "above"]
    severity: Severity = Field(description="the status when the threshold is crossed")
    status: CheckStatus
    message: str
    action: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class UnsubscribeBacklog(BaseModel):
    """A tenant's unsubscribes that are not in its CRM (the ledger stops every send to them all the same)."""

    tenant: str
    waiting: int = Field(description="not written into the CRM yet; queued again every 30 minutes until they are")
    abandoned: int = Field(description="never to be written: the tenant was uninstalled")
    reason: str | None = Field(description="the newest reason among them")


class ScheduledMarket(BaseModel):
    tenant: str
    market: str
    schedule: dict[str, str] = Field(description='what is scheduled and how often, e.g. {"source": "monthly"}')
    next_tick: dt.datetime | None = Field(description="when its next tick is due; None: none is armed (a running "
                                                      "dispatcher arms it within a minute)")


class HealthReport(BaseModel):
    generated_at: dt.datetime
    status: Literal["healthy", "warning", "unavailable"]
    redis: str = Field(description="'ok', or why Redis could not be read")
    queues: dict[str, QueueState] = Field(default_factory=dict)
    events_inbox: int | None = None
    events_failed: int | None = None
    failed_jobs: list[FailedJob] = Field(default_factory=list, description=f"the {FAILED_JOBS_SHOWN} most recent")
    admin_actions: list[AdminAction] = Field(default_factory=list, description="what an admin must still do, "
                                             "per tenant, each with what to run")
    runs: list[str] = Field(default_factory=list, description="run ids the checks were computed from")
    newest_run_age_seconds: float | None = None
    checks: list[Check] = Field(default_factory=list)
    unsubscribes: list[UnsubscribeBacklog] = Field(default_factory=list, description="per tenant, those not in its CRM")
    schedules: list[ScheduledMarket] = Field(default_factory=list, description="each tenant's scheduled market")

    @property
    def warnings(self) -> list[Check]:
        """The checks that crossed their threshold (severity warning or info)."""
        return [check for check in self.checks if check.status in ("warning", "info")]

    @property
    def admin_todo(self) -> list[AdminAction]:
        """The admin actions that are open (not those that could not be checked)."""
        return [action for action in self.admin_actions if action.status == "warning"]

    @property
    def admin_unchecked(self) -> list[AdminAction]:
        """What could not be checked, and says why: not healthy either, since nothing says it is done."""
        return [action for action in self.admin_actions if action.status == "unknown"]

    @property
    def failed_total(self) -> int:
        return sum(state.failed for state in self.queues.values())


# --- queues -------------------------------------------------------------------


def queue_states(conn: redis.Redis, now: dt.datetime | None = None) -> QueueSnapshot:
    """Every stage queue's depth, failures, schedule and oldest waiting job: two round trips, read only.

    Raises redis.RedisError when Redis cannot be read.
    """
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.timestamp()
    queues = [queue(name, conn) for name in STAGES]
    pipe = conn.pipeline(transaction=False)
    for q in queues:
        pipe.llen(q.key)
        pipe.lindex(q.key, 0)
        pipe.zcard(q.failed_job_registry.key)
        pipe.zcount(q.failed_job_registry.key, 0, stamp)  # expired, as rq's clean-up sees it (-1: kept forever)
        pipe.zcard(q.scheduled_job_registry.key)
        pipe.zcount(q.scheduled_job_registry.key, "-inf", stamp)
        pipe.scard(WORKERS_BY_QUEUE_KEY % q.name)
    pipe.llen(INBOX)
    pipe.llen(FAILED_EVENTS)
    replies = pipe.execute()
    failed_events = replies.pop()
    inbox = replies.pop()
    rows = [replies[index:index + 7] for index in range(0, len(replies), 7)]
    heads = {q.name: row[1].decode() for q, row in zip(queues, rows) if row[1] is not None}
    enqueued = _enqueued_at(conn, heads)
    states = {}
    for q, (depth, _, failed, expired, scheduled, due, workers) in zip(queues, rows):
        at = enqueued.get(q.name)
        states[q.name] = QueueState(
            queued=depth, oldest_queued_seconds=round(max(0.0, (now - at).total_seconds()), 1) if at else None,
            failed=failed - expired, scheduled=scheduled, scheduled_due=due, workers=workers,
        )
    return QueueSnapshot(queues=states, events_inbox=inbox, events_failed=failed_events)


def _enqueued_at(conn: redis.Redis, heads: dict[str, str]) -> dict[str, dt.datetime]:
    if not heads:
        return {}
    pipe = conn.pipeline(transaction=False)
    for job_key in heads.values():
        pipe.hget(Job.key_for(job_key), "enqueued_at")
    found = {}
    for name, value in zip(heads, pipe.execute()):
        if value:  # a job hash can expire while its id still sits in the queue
            try:
                found[name] = _rq_time(value.decode())
            except ValueError:
                continue
    return found


def _rq_time(value: str) -> dt.datetime:
    """rq stores '2026-11-02T09:00:00.123456Z' (UTC)."""
    parsed = dt.datetime.fromisoformat(value.removesuffix("Z"))
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


def failed_jobs(conn: redis.Redis, limit: int = FAILED_JOBS_SHOWN) -> list[FailedJob]:
    """The most recently failed jobs across the stage queues, each with its error line."""
    queues = [queue(name, conn) for name in STAGES]
    pipe = conn.pipeline(transaction=False)
    for q in queues:
        pipe.zrevrange(q.failed_job_registry.key, 0, limit - 1, withscores=True)
    newest = sorted(
        ((score, q.name, member.decode()) for q, entries in zip(queues, pipe.execute()) for member, score in entries),
        reverse=True,
    )[:limit]
    jobs = Job.fetch_many([job_key for _, _, job_key in newest], connection=conn, serializer=JSONSerializer)
    out = []
    for (_, name, job_key), job in zip(newest, jobs):
        if job is None:
            out.append(FailedJob(queue=name, job_id=job_key, ended_at=None, error="the job's record has expired"))
            continue
        result = job.latest_result()
        meta = {key: job.meta[key] for key in ("run_id", "tenant", "contacts", "companies") if key in job.meta}
        out.append(FailedJob(queue=name, job_id=job_key, ended_at=job.ended_at,
                             error=_last_line(result.exc_string if result else None) or "no error recorded", **meta))
    return out


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return clip(lines[-1], 300) if lines else ""


# --- runs and agent checks -----------------------------------------------------


def recent_runs(home: Path, now: dt.datetime, window: dt.timedelta = WINDOW) -> list[dict[str, Any]]:
    """The summaries of the runs started within `window` before `now`, newest first; else the newest one."""
    summaries = []
    runs_dir = home / "runs"
    paths = sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []
    if not paths and (home / "last_run.json").is_file():
        paths = [home / "last_run.json"]
    for path in paths:
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a summary being written right now, or damaged: not a reason to fail a health check
        if isinstance(summary, dict) and isinstance(summary.get("run_id"), str):
            summaries.append(summary)
    summaries.sort(key=lambda summary: summary["run_id"], reverse=True)  # run ids start with their UTC start time
    recent = [summary for summary in summaries if (started := run_started(summary["run_id"])) and now - started <= window]
    return recent or summaries[:1]


def run_started(run_id: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(run_id.split("-", 1)[0], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def agent_checks(runs: list[dict[str, Any]], fit_scores: list[float] | None, fit_note: str = "") -> list[Check]:
    """The seed's three lead-source checks over the given run summaries and fit scores."""
    rows_read = _total(runs, "rows_read")
    quarantined = sum(_quarantined(run) for run in runs)
    by_file: dict[str, int] = {}
    for run in runs:
        for row in run.get("quarantined") or []:
            name = Path(str(row.get("file", "?"))).name
            by_file[name] = by_file.get(name, 0) + 1
    companies = _total(runs, "companies_read")
    merged = _total(runs, "duplicates_merged")
    return [
        _check(
            "provider_success_rate", "provider success rate",
            (rows_read - quarantined) / rows_read if rows_read else None,
            PROVIDER_SUCCESS_MIN, "below", "warning",
            f"{rows_read - quarantined} of {rows_read} rows accepted" if rows_read else "no rows read",
            "Check the quarantined rows: a provider or export is sending bad data",
            {"rows_read": rows_read, "rows_quarantined": quarantined, "quarantined_by_file": by_file},
        ),
        _check(
            "duplicate_rate", "duplicate rate", merged / companies if companies else None,
            DUPLICATE_RATE_MAX, "above", "info",
            f"{merged} of {companies} company records were duplicates" if companies else "no company records read",
            "Consider adding more data sources",
            {"companies_read": companies, "duplicates_merged": merged},
        ),
        _check(
            "average_fit_score", "average fit score",
            sum(fit_scores) / len(fit_scores) if fit_scores else None,
            AVERAGE_FIT_MIN, "below", "warning",
            fit_note or (f"over {len(fit_scores)} accounts" if fit_scores else "no scored accounts"),
            "Refine market definition filters",
            {"accounts": len(fit_scores or [])},
        ),
    ]


def provider_checks(rates: dict[str, SuccessRate]) -> list[Check]:
    """The seed's API success rate for each provider called in the last day."""
    return [
        _check(f"api_success_rate:{name}", f"{name} API success rate", rate.rate, PROVIDER_SUCCESS_MIN, "below",
               "warning", f"{rate.ok} of {rate.calls} calls succeeded in the last 24 h",
               f"Check {name}'s key, quota and status page; the run summaries name what it missed",
               {"ok": rate.ok, "failed": rate.failed})
        for name, rate in rates.items()
    ]


def _check(name: str, label: str, value: float | None, threshold: float, warn_when: Literal["below", "above"],
           severity: Severity, basis: str, action: str, detail: dict[str, Any]) -> Check:
    title = f"{label[0].upper()}{label[1:]}"
    if value is None:
        return Check(name=name, label=label, value=None, threshold=threshold, warn_when=warn_when,
                     severity=severity, status="unknown", message=f"{title}: no data ({basis})", detail=detail)
    crossed = value < threshold if warn_when == "below" else value > threshold
    shown = f"{value:.2f}" if name == "average_fit_score" else f"{value:.1%}"
    message = f"{title}: {shown} ({basis})"
    return Check(name=name, label=label, value=round(value, 4), threshold=threshold, warn_when=warn_when,
                 severity=severity, status=severity if crossed else "ok", message=message, action=action if crossed else None,
                 detail=detail)


def _total(runs: list[dict[str, Any]], key: str) -> int:
    return sum(int(run.get(key) or 0) for run in runs)


def _quarantined(run: dict[str, Any]) -> int:
    if isinstance(run.get("rows_quarantined"), int):
        return run["rows_quarantined"]
    return len(run.get("quarantined") or [])


def local_fit_scores(settings: Settings, runs: list[dict[str, Any]]) -> tuple[list[float] | None, str]:
    """The fit scores of the local CRM's accounts in the markets of the local-tenant runs, and a note when none can be read."""
    markets = {run.get("market") for run in runs if run.get("tenant", "local") == "local"}
    others = sorted({str(run.get("tenant")) for run in runs if run.get("tenant", "local") != "local"})
    if not markets:
        return None, f"fit scores of tenant {', '.join(others)} live in its CRM; not read by a health check" if others \
            else "no runs"
    if not settings.crm_path.is_file():
        return None, f"no local CRM at {settings.crm_path}"
    from crm_adapters.local import LocalCRM  # only the report needs it, not /readyz

    crm = LocalCRM(settings.crm_path)
    try:
        accounts = crm.get_accounts()
    finally:
        crm.close()
    scores = [
        float(account.fields["fit_score"]) for account in accounts
        if account.fields.get("salesos_market") in markets and isinstance(account.fields.get("fit_score"), (int, float))
    ]
    return scores, ""


def health_report(settings: Settings, conn: redis.Redis | None, *, now: dt.datetime | None = None,
                  window: dt.timedelta = WINDOW) -> HealthReport:
    """Queues, failed jobs and the seed's agent checks. `conn` None means Redis is not configured."""
    now = now or dt.datetime.now(dt.UTC)
    report = HealthReport(generated_at=now, status="healthy", redis="ok")
    rates: dict[str, SuccessRate] = {}
    if conn is None:
        report.redis = "not configured (REDIS_URL is not set)"
    else:
        try:
            snapshot = queue_states(conn, now)
            report.queues, report.events_inbox = snapshot.queues, snapshot.events_inbox
            report.events_failed = snapshot.events_failed
            report.failed_jobs = failed_jobs(conn) if report.failed_total else []
            rates = success_rates(conn, now=now)
        except redis.RedisError as exc:
            report.redis = f"unreachable: {type(exc).__name__}: {exc}"
    report.admin_actions, report.unsubscribes, scheduled = state_checks(settings, now)
    report.schedules = scheduled_markets(scheduled, conn if report.redis == "ok" else None)
    runs = recent_runs(settings.home, now, window)
    report.runs = [run["run_id"] for run in runs]
    if runs and (started := run_started(runs[0]["run_id"])):
        report.newest_run_age_seconds = round((now - started).total_seconds(), 1)
    scores, note = local_fit_scores(settings, runs)
    report.checks = agent_checks(runs, scores, note) + provider_checks(rates)
    if report.redis != "ok":
        report.status = "unavailable"
    elif report.warnings or report.failed_total or report.admin_actions:
        report.status = "warning"
    return report


def state_checks(settings: Settings, now: dt.datetime) -> tuple[list[AdminAction], list[UnsubscribeBacklog],
                                                               list[tuple[str, MarketDefinition]]]:
    """The admin actions, the unsubscribe backlog and the scheduled markets, over one read-only snapshot of the
    state database. One that cannot be read is an action of its own (and a warning), never an empty, healthy list."""
    try:
        with read_only(settings.database_url) as state:
            if state is None:
                return admin_actions(settings, state, now), [], []
            return admin_actions(settings, state, now), _unsubscribe_backlog(state), _stored_schedules(state)
    except StateUnreadable as exc:
        return admin_actions(settings, None, now) + [state_unreadable(settings, exc)], [], []


def _stored_schedules(state: StateSnapshot) -> list[tuple[str, MarketDefinition]]:
    from connector.tenant_markets import scheduled_markets

    return scheduled_markets(state.rows(select(tenant_markets.c.tenant, tenant_markets.c.market)
                                        .order_by(tenant_markets.c.tenant)))


def scheduled_markets(markets: list[tuple[str, MarketDefinition]], conn: redis.Redis | None) -> list[ScheduledMarket]:
    """Each scheduled market with the due time of its armed tick (unknown without Redis)."""
    from connector.market_ticks import armed

    return [ScheduledMarket(tenant=tenant, market=market.name, schedule=market.schedule.kinds(),
                            next_tick=armed(conn, tenant) if conn is not None else None)
            for tenant, market in markets]


def _unsubscribe_backlog(state: StateSnapshot) -> list[UnsubscribeBacklog]:
    """None from a ledger an older SalesOS made, still without the columns this needs: the admin actions say so."""
    return [UnsubscribeBacklog(tenant=tenant, waiting=waiting, abandoned=abandoned, reason=reason)
            for tenant, waiting, abandoned, reason, _ in unsubscribe_backlog(state) or []]


def exit_code(report: HealthReport) -> int:
    """For the CLI: 0 healthy, 1 warnings, failed jobs or admin actions (to do, or not checked), 2 Redis unavailable."""
    return {"healthy": 0, "warning": 1, "unavailable": 2}[report.status]


# --- text ------------------------------------------------------------------------


def render(report: HealthReport) -> str:
    """The report as an operator reads it in a terminal."""
    lines = [f"SalesOS health: {report.status.upper()}  ({report.generated_at:%Y-%m-%d %H:%M:%S} UTC)", ""]
    lines.append(f"Redis: {report.redis}")
    if report.queues:
        lines += ["", f"{'queue':<12}{'queued':>8}{'oldest':>9}{'failed':>8}{'scheduled':>11}{'due':>6}{'workers':>9}"]
        for name, state in report.queues.items():
            lines.append(
                f"{name:<12}{state.queued:>8}{_age(state.oldest_queued_seconds):>9}{state.failed:>8}"
                f"{state.scheduled:>11}{state.scheduled_due:>6}{state.workers:>9}"
            )
        lines.append(f"CRM event inbox: {report.events_inbox} waiting, {report.events_failed} unroutable "
                     f"(salesos:events:failed)")
        if any(state.scheduled_due for state in report.queues.values()):
            lines.append("  scheduled jobs are overdue: is a worker running with --scheduler?")
    if report.failed_jobs:
        lines += ["", f"Failed jobs ({report.failed_total} in all, newest first):"]
        for job in report.failed_jobs:
            when = f"{job.ended_at:%Y-%m-%d %H:%M}" if job.ended_at else "?"
            lines.append(f"  {job.queue:<10} {job.job_id}  {when}  {job.error}")
            if subject := _subject(job):
                lines.append(f"  {'':<10} {subject}")
    if report.unsubscribes:
        flagged = {action.tenant for action in report.admin_actions if action.kind == "unsynced_unsubscribes"}
        lines += ["", "Unsubscribes not in their CRM (SalesOS sends these people nothing all the same):"]
        lines += [f"  {row.tenant}: {row.waiting} waiting, {row.abandoned} abandoned"
                  + ("  (see the admin actions)" if row.tenant in flagged else f"  ({clip(row.reason, 300)})"
                     if row.reason else "") for row in report.unsubscribes]
    lines.append("")
    if report.admin_actions:
        unchecked = f", {len(report.admin_unchecked)} not checked" if report.admin_unchecked else ""
        lines.append(f"Admin actions ({len(report.admin_todo)} to do{unchecked}):")
        for action in report.admin_actions:
            where = f"{action.tenant}: " if action.tenant else ""
            lines.append(f"  {action.status.upper():<8} {where}{action.message}")
            if action.run:
                lines.append(f"           -> {action.run}")
    else:
        lines.append("Admin actions: none")
    if report.schedules:
        lines += ["", "Scheduled markets:"]
        for row in report.schedules:
            kinds = ", ".join(f"{kind} {cadence}" for kind, cadence in row.schedule.items())
            due = f"{row.next_tick:%Y-%m-%d %H:%M} UTC" if row.next_tick else "not armed (is a dispatcher running?)"
            lines.append(f"  {row.tenant}: {clip(row.market)!r} ({kinds}), next tick {due}")
    lines.append("")
    if report.runs:
        runs = f"{len(report.runs)} run{'s' if len(report.runs) != 1 else ''}"
        lines.append(f"Agent checks ({runs}, newest {report.runs[0]}, started {_age(report.newest_run_age_seconds)} ago):")
    else:
        lines.append("Agent checks (no runs yet: `python -m connector run` writes one):")
    for check in report.checks:
        threshold = f"{check.threshold:.2f}" if check.name == "average_fit_score" else f"{check.threshold:.0%}"
        lines.append(f"  {check.status.upper():<8} {check.message}  [{check.severity} {check.warn_when} {threshold}]")
        if check.action:
            lines.append(f"           -> {check.action}")
    return "\n".join(lines) + "\n"


def _subject(job: FailedJob, shown: int = 3) -> str:
    """Whom a failed job was for: run, tenant, then its first contacts and companies (and how many more)."""
    parts = [f"run {job.run_id}" if job.run_id else "", f"tenant {job.tenant}" if job.tenant else ""]
    for label, values in (("contacts", job.contacts), ("companies", job.companies)):
        if values:
            more = f" and {len(values) - shown} more" if len(values) > shown else ""
            parts.append(f"{label} {clip(', '.join(values[:shown]), 300)}{more}")
    return ", ".join(part for part in parts if part)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
