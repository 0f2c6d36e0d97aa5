"""The tick of a scheduled market: source new companies, re-score those in the CRM, arm the next tick.

`market_tick_job` takes `{"tenant", "due"}` (`connector.market_ticks` arms
it) and returns its counts. When it runs, the tenant's market must still be
there and still scheduled; otherwise the chain ends here and nothing else
happens. What falls due (`agents.market_schedule.due_work`) starts runs
nobody waits for (`connector.run_summaries`), each with an id that follows
from the tenant, the kind and the grid point, so a retried tick, or a second
tick covering the same point, starts nothing twice.

- Sourcing searches the market for companies not yet in the CRM, up to what
  is left of the month's `monthly_target`; nothing left, no run, and the
  next sourcing tick is next month.
- Re-scoring runs the market's companies already in the CRM (their
  `salesos_market`) through the funnel again: intent is read anew (cached
  provider answers cost nothing), every score and tier is written again, and
  `score_job` leaves active sequences as they are.
"""

from __future__ import annotations

import datetime as dt

from rq import get_current_job

from agents.market import MarketDefinition
from agents.market_schedule import due_work
from connector import market_ticks, runtime
from connector.data_sources import NoData
from connector.queues import run_tenant
from connector.run_summaries import enqueue_unattended
from connector.runs import RunContext
from crm_adapters.errors import BudgetExhausted, GrantRevoked, RateLimited

RESCORE_RUN_SIZE = 1000  # companies per re-scoring run: each job of a run carries its list of domains


def market_tick_job(payload: dict) -> dict:
    """Do what fell due for the tenant's scheduled market since `due`, then arm its next tick."""
    tenant, due = payload["tenant"], dt.datetime.fromisoformat(payload["due"])
    conn = get_current_job().connection
    now = max(due, runtime.now())  # released early (the scheduler's clock runs ahead): it acts at its time
    kept = runtime.tenant_markets().get(tenant) if runtime.installed(tenant) else None
    market = kept[0] if kept else None
    if market is None or market.schedule is None or not market.schedule.kinds():
        market_ticks.stopped(conn, tenant, due)
        return {"ticks_stopped": 1}
    work, counts = due_work(market.schedule, tenant, due, now), {}
    if work:
        try:
            runtime.data_files(tenant)
        except NoData as exc:  # kept ticking: the runs start once the tenant has data
            work, counts = {}, {"stopped": [{"stage": "schedule", "reason": str(exc)}]}
    if "source" in work:
        counts |= _source(conn, tenant, market, work["source"], now)
    if "rescore" in work:
        counts |= _rescore(conn, tenant, market, work["rescore"], now)
    following = market_ticks.arm(conn, tenant, market, now)
    return counts | {"next_tick": following.isoformat() if following else None}


def _source(conn, tenant: str, market: MarketDefinition, point: dt.datetime, now: dt.datetime) -> dict:
    left = market_ticks.left(conn, tenant, market, now)
    if left == 0:
        return {"sourcing_skipped_target_met": 1}
    run = RunContext(run_id=market_ticks.run_id(tenant, "source", point), tenant=tenant,
                     market=market.model_copy(update={"monthly_target": left}), as_of=now.date(), new_only=True,
                     batch_size=runtime.settings().salesos_batch_size)
    return {"sourcing_runs_started": _start(conn, run)}


def _rescore(conn, tenant: str, market: MarketDefinition, point: dt.datetime, now: dt.datetime) -> dict:
    try:
        accounts = runtime.crm_for(tenant).get_accounts()
    except (BudgetExhausted, GrantRevoked, RateLimited) as exc:  # not today: the next rescore tick tries again
        if isinstance(exc, RateLimited) and not exc.daily:
            raise  # short limits are retried by the job's retry policy
        return {"stopped": [{"stage": "rescore", "reason": str(exc)}]}
    domains = sorted(account.domain for account in accounts if account.fields.get("salesos_market") == market.name)
    whole = market.model_copy(update={"monthly_target": None})  # the target caps new companies, not known ones
    started = 0
    for part, start in enumerate(range(0, len(domains), RESCORE_RUN_SIZE)):
        run = RunContext(run_id=market_ticks.run_id(tenant, "rescore", point, part), tenant=tenant, market=whole,
                         as_of=now.date(), domains=domains[start:start + RESCORE_RUN_SIZE],
                         batch_size=runtime.settings().salesos_batch_size)
        started += _start(conn, run)
    return {"rescore_runs_started": started, "rescore_companies": len(domains)}


def _start(conn, run: RunContext) -> int:
    """1 when the run starts now; 0 when it had started already (a retry, or another tick covering its point)."""
    if run_tenant(conn, run.run_id) is not None:
        return 0
    enqueue_unattended(conn, run, "schedule")
    return 1
