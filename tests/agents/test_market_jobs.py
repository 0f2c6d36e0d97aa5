"""A scheduled market ticks through a real RQ worker and its scheduler, on a clock the tests set.

The ticks are due at times in the past (2025), so RQ's scheduler releases
each one as soon as a burst worker starts; SalesOS's clock (`runtime.now`)
says what time it is for the tick, so nothing waits.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from connector import market_ticks, runtime
from connector.markets import market_from_text
from connector.private_files import private_dir
from connector.queues import queue
from connector.store import open_store
from connector.store.schema import tenant_markets
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.connector.retries import work_through_retries
from tests.test_end_to_end import MARKET, ROWS

TENANT = "local"  # ticks at 05:06 UTC
SCHEDULED = MARKET + "monthly_target: 1\nschedule: {source: monthly, rescore: weekly}\n"
FUNNEL = ("source", "enrich", "contacts", "score")


def at(day: str, time: str = "05:06") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}+00:00")


class Clock:
    def __init__(self) -> None:
        self.now = at("2025-10-29", "12:00")  # a Wednesday

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(tmp_path, monkeypatch):
    """SALESOS_HOME with the end-to-end test's market data, and SalesOS's clock."""
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    data = tmp_path / "market.jsonl"
    data.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in ROWS) + "\n")
    monkeypatch.setenv("SALESOS_DATA_FILES", json.dumps([str(data)]))
    runtime.settings.cache_clear()
    runtime.record_index.cache_clear()
    clock = Clock()
    monkeypatch.setattr(runtime, "now", clock)
    yield clock
    runtime.settings.cache_clear()
    runtime.record_index.cache_clear()


def schedule(conn, clock: Clock, text: str = SCHEDULED) -> dt.datetime | None:
    """What a run, a market record or the API does with a market: keep it as the tenant's, arm its ticks."""
    market = market_from_text(text, "test")
    runtime.tenant_markets().set(TENANT, market, "test")
    return market_ticks.arm(conn, TENANT, market, clock.now)


def tick(conn, clock: Clock, due: dt.datetime, late: dt.timedelta = dt.timedelta(0)) -> dict:
    """Let the clock reach `due` (plus `late`), and a burst worker with its scheduler run what falls due."""
    clock.now = due + late
    SimpleWorker([queue(name, conn) for name in FUNNEL], connection=conn, serializer=JSONSerializer).work(
        burst=True, with_scheduler=True)
    for name in FUNNEL:
        assert queue(name, conn).failed_job_registry.count == 0
    return queue("source", conn).fetch_job(market_ticks.tick_key(TENANT, due)).return_value()


def crm() -> LocalCRM:
    return LocalCRM(runtime.settings().crm_path)


def domains() -> list[str]:
    return sorted(account.domain for account in crm().get_accounts())


def add_rows(*rows: dict) -> None:
    path = runtime.settings().home / "market.jsonl"
    with path.open("a") as file:
        file.writelines(json.dumps(row) + "\n" for row in rows)


def scheduled_ticks(conn) -> list[str]:
    return queue("source", conn).scheduled_job_registry.get_job_ids()


def test_the_first_tick_sources_new_companies_up_to_the_monthly_target(conn, clock):
    first = schedule(conn, clock)
    assert first == at("2025-11-01")  # the 1st comes before Monday the 3rd
    assert domains() == []
    result = tick(conn, clock, first)
    assert result == {"sourcing_runs_started": 1, "next_tick": "2025-11-03T05:06:00+00:00"}
    assert domains() == ["northwind.ca"]  # the better fit of the two that qualify; the target is 1
    assert market_ticks.sourced(conn, TENANT, "Test market", "2025-11") == 1
    assert scheduled_ticks(conn) == [market_ticks.tick_key(TENANT, at("2025-11-03"))]


def test_a_tick_arms_the_next_one_and_the_chain_goes_on_through_the_scheduler(conn, clock):
    tick(conn, clock, schedule(conn, clock))
    assert tick(conn, clock, at("2025-11-03"))["next_tick"] == "2025-11-10T05:06:00+00:00"
    assert tick(conn, clock, at("2025-11-10"))["next_tick"] == "2025-11-17T05:06:00+00:00"
    assert market_ticks.armed(conn, TENANT) == at("2025-11-17")


def test_the_weekly_tick_rescores_the_markets_companies_without_restarting_their_sequences(conn, clock):
    tick(conn, clock, schedule(conn, clock))
    [carl] = crm().get_contacts(["carl@northwind.ca"])
    plan = carl.fields["sequencing"]
    crm().upsert_contacts([ContactWrite(email="carl@northwind.ca", fields={"sequence_state": "active"})])
    [before] = crm().get_accounts(["northwind.ca"])
    assert before.fields["intent_score"] == 0  # nothing recent enough on 1 November
    add_rows({"type": "signal", "kind": "job_posting", "company_domain": "northwind.ca", "date": "2025-11-02",
              "title": "VP of Sales", "department": "Sales", "url": "https://jobs.example.com/nw/vp"})

    result = tick(conn, clock, at("2025-11-03"))

    assert result["rescore_runs_started"] == 1 and result["rescore_companies"] == 1
    assert domains() == ["northwind.ca"]  # re-scoring adds no company
    [after] = crm().get_accounts(["northwind.ca"])
    assert after.fields["intent_score"] > 0
    [carl] = crm().get_contacts(["carl@northwind.ca"])
    assert carl.fields["sequence_state"] == "active" and carl.fields["sequencing"] == plan
    assert carl.fields["priority_score"] > 0.4 * before.fields["fit_score"]  # intent counts now


def test_a_late_tick_in_a_new_month_sources_only_companies_not_in_the_crm_and_rescores_once(conn, clock):
    tick(conn, clock, schedule(conn, clock))
    result = tick(conn, clock, at("2025-11-03"), late=dt.timedelta(days=28, hours=3))  # 1 December, 08:06
    assert result == {"sourcing_runs_started": 1, "rescore_runs_started": 1, "rescore_companies": 1,
                      "next_tick": "2025-12-08T05:06:00+00:00"}
    assert domains() == ["acme.io", "northwind.ca"]  # December's one new company
    assert market_ticks.sourced(conn, TENANT, "Test market", "2025-12") == 1
    source_job = queue("source", conn).fetch_job(
        f"run-{market_ticks.run_id(TENANT, 'source', at('2025-12-01'))}-source-0").return_value()
    assert source_job["known_companies_skipped"] == 1 and source_job["qualified"] == 1


def test_a_month_whose_target_is_met_starts_no_sourcing_run_and_the_next_sourcing_tick_is_next_month(conn, clock):
    weekly = SCHEDULED.replace("source: monthly, rescore: weekly", "source: weekly")
    first = schedule(conn, clock, weekly)
    assert first == at("2025-11-03")
    market_ticks.note_sourced(conn, TENANT, "Test market", "2025-11", ["met.example"])  # e.g. a run on the 1st
    result = tick(conn, clock, first)
    assert result == {"sourcing_skipped_target_met": 1, "next_tick": "2025-12-01T05:06:00+00:00"}
    assert domains() == [] and queue("enrich", conn).finished_job_registry.count == 0


def test_a_market_without_a_target_sources_every_new_company_that_qualifies(conn, clock):
    tick(conn, clock, schedule(conn, clock, SCHEDULED.replace("monthly_target: 1\n", "")))
    assert domains() == ["acme.io", "northwind.ca"]


def test_removing_the_schedule_stops_the_chain_at_its_next_tick(conn, clock):
    first = schedule(conn, clock)
    runtime.tenant_markets().set(TENANT, market_from_text(MARKET, "test"), "test")  # the same market, unscheduled
    assert tick(conn, clock, first) == {"ticks_stopped": 1}
    assert domains() == [] and scheduled_ticks(conn) == []
    assert market_ticks.armed(conn, TENANT) is None


def test_a_tenant_whose_market_is_gone_stops_ticking(conn, clock):
    from connector.store import open_store
    from connector.tenant_markets import forget_market

    first = schedule(conn, clock)
    with open_store(runtime.settings().database_url).write() as state:  # what uninstalling the tenant does
        forget_market(state, TENANT)
    assert tick(conn, clock, first) == {"ticks_stopped": 1}
    assert scheduled_ticks(conn) == []


def test_changing_the_schedule_moves_the_chain_onto_the_new_grid_without_a_second_chain(conn, clock):
    old = schedule(conn, clock)  # 1 November, monthly sourcing
    new = schedule(conn, clock, SCHEDULED.replace("source: monthly, rescore: weekly", "rescore: weekly"))
    assert new == at("2025-11-03")
    tick(conn, clock, old)  # the scheduler releases both: their times have passed
    assert queue("source", conn).fetch_job(market_ticks.tick_key(TENANT, old)).return_value() == {
        "next_tick": "2025-11-03T05:06:00+00:00"}  # off the new grid: nothing to do, and the new grid's next tick
    assert queue("source", conn).fetch_job(market_ticks.tick_key(TENANT, new)).return_value() == {
        "rescore_runs_started": 0, "rescore_companies": 0, "next_tick": "2025-11-10T05:06:00+00:00"}
    assert domains() == []
    assert scheduled_ticks(conn) == [market_ticks.tick_key(TENANT, at("2025-11-10"))]  # one chain


def test_arming_a_tick_twice_makes_one_job(conn, clock):
    first = schedule(conn, clock)
    assert schedule(conn, clock) == first
    assert scheduled_ticks(conn) == [market_ticks.tick_key(TENANT, first)]


def test_the_idle_pass_rearms_a_chain_whose_tick_was_lost_and_leaves_a_live_one_alone(conn, clock):
    first = schedule(conn, clock)
    markets = runtime.tenant_markets().scheduled()
    assert market_ticks.rearm(conn, markets, clock.now) == 0  # its tick is waiting
    queue("source", conn).fetch_job(market_ticks.tick_key(TENANT, first)).delete()  # lost: a flushed job, a crash
    clock.now = at("2025-11-02")
    assert market_ticks.rearm(conn, markets, clock.now) == 1
    assert scheduled_ticks(conn) == [market_ticks.tick_key(TENANT, at("2025-11-03"))]
    assert market_ticks.rearm(conn, markets, clock.now) == 0


def test_the_idle_pass_rearms_a_chain_whose_tick_failed_for_good(conn, clock, monkeypatch):
    first = schedule(conn, clock)

    def broken(tenant):
        raise OSError("state database unreadable")

    monkeypatch.setattr(runtime, "installed", broken)
    clock.now = first
    SimpleWorker([queue("source", conn)], connection=conn, serializer=JSONSerializer).work(
        burst=True, with_scheduler=True)
    work_through_retries(conn, "source")
    assert queue("source", conn).failed_job_registry.get_job_ids() == [market_ticks.tick_key(TENANT, first)]
    assert scheduled_ticks(conn) == []
    assert market_ticks.rearm(conn, runtime.tenant_markets().scheduled(), clock.now) == 1
    assert market_ticks.armed(conn, TENANT) == at("2025-11-03")


def test_a_tick_retried_after_starting_its_run_starts_no_second_run(conn, clock):
    from agents.market_jobs import market_tick_job
    from connector.queues import enqueue_once

    first = schedule(conn, clock, SCHEDULED.replace("monthly_target: 1\n", ""))
    tick(conn, clock, first)
    enqueue_once(conn, "source", market_tick_job, {"tenant": TENANT, "due": first.isoformat()}, job_key="retry")
    SimpleWorker([queue("source", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert queue("source", conn).fetch_job("retry").return_value()["sourcing_runs_started"] == 0


def test_a_tenant_without_data_keeps_ticking_and_says_why_no_run_started(conn, clock, monkeypatch):
    from connector.data_sources import NoData

    def no_data(tenant):
        raise NoData(f"{tenant} has no data source")

    first = schedule(conn, clock)
    monkeypatch.setattr(runtime, "data_files", no_data)
    result = tick(conn, clock, first)
    assert result == {"stopped": [{"stage": "schedule", "reason": "local has no data source"}],
                      "next_tick": "2025-11-03T05:06:00+00:00"}
    assert domains() == []


def test_health_lists_each_scheduled_market_with_its_next_tick(conn, clock):
    from connector.health import health_report, render

    first = schedule(conn, clock)
    report = health_report(runtime.settings(), conn, now=clock.now)
    [row] = report.schedules
    assert (row.tenant, row.market, row.schedule, row.next_tick) == (
        TENANT, "Test market", {"source": "monthly", "rescore": "weekly"}, first)
    assert "  local: 'Test market' (source monthly, rescore weekly), next tick 2025-11-01 05:06 UTC\n" in render(report)
    conn.delete(market_ticks.ARMED)
    assert "next tick not armed (is a dispatcher running?)" in render(health_report(runtime.settings(), conn))


def test_a_scheduled_market_record_written_in_the_crm_arms_its_first_tick(conn, clock):
    from agents.event_jobs import market_defined_job
    from connector.queues import enqueue_once
    from agents.events import CrmEvent

    change = {"event": CrmEvent(tenant=TENANT, source="salesforce-outbound", kind="salesos_market__c.updated",
                                object_type="salesos_market__c", object_id="a01", property_name="Definition__c",
                                property_value=SCHEDULED, occurred_at=at("2025-10-29", "11:00"),
                                identity="m1").model_dump(mode="json")}
    enqueue_once(conn, "source", market_defined_job, change, job_key="market")
    SimpleWorker([queue("source", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert market_ticks.armed(conn, TENANT) == at("2025-11-01")
    assert market_ticks.tick_key(TENANT, at("2025-11-01")) in scheduled_ticks(conn)


def test_the_dispatchers_idle_pass_arms_a_scheduled_market_that_has_no_tick(conn, clock, redis_url):
    from typer.testing import CliRunner

    from connector.cli import app

    runtime.tenant_markets().set(TENANT, market_from_text(SCHEDULED, "test"), "an older SalesOS")  # never armed
    result = CliRunner().invoke(app, ["dispatch", "--burst"], env={
        "REDIS_URL": redis_url, "SALESOS_HOME": str(runtime.settings().home)})
    assert result.exit_code == 0, result.output
    due = market_ticks.armed(conn, TENANT)
    assert due > dt.datetime.now(dt.UTC) and scheduled_ticks(conn) == [market_ticks.tick_key(TENANT, due)]


def test_the_idle_pass_checks_the_chains_at_most_once_a_minute(conn, clock):
    first = schedule(conn, clock)
    rearming = market_ticks.Rearming(conn, lambda: runtime.tenant_markets().scheduled(), clock)
    assert rearming() == 0
    queue("source", conn).fetch_job(market_ticks.tick_key(TENANT, first)).delete()
    assert rearming() == 0  # checked a moment ago
    rearming._last -= market_ticks.REARM_EVERY
    assert rearming() == 1


def test_the_idle_pass_goes_on_when_the_state_database_cannot_be_read(conn, clock, tmp_path, caplog):
    unreadable = open_store(private_dir(tmp_path / "state-is-a-directory"))  # no database can be opened there

    def scheduled():
        with unreadable.read() as state:
            return state.execute(select(tenant_markets.c.tenant, tenant_markets.c.market)).all()

    rearming = market_ticks.Rearming(conn, scheduled, clock)
    assert rearming() == 0
    assert "the scheduled markets could not be read: " in caplog.text  # checked again on a later pass


def test_a_crm_that_refuses_the_rescore_today_stops_it_with_the_reason_and_the_ticks_go_on(conn, clock, monkeypatch):
    from crm_adapters.errors import GrantRevoked

    def revoked(tenant):
        raise GrantRevoked("tenant local needs re-installing: the grant was revoked")

    first = schedule(conn, clock, SCHEDULED.replace("source: monthly, rescore: weekly", "rescore: weekly"))
    monkeypatch.setattr(runtime, "crm_for", revoked)
    assert tick(conn, clock, first) == {
        "stopped": [{"stage": "rescore", "reason": "tenant local needs re-installing: the grant was revoked"}],
        "next_tick": "2025-11-10T05:06:00+00:00"}


def test_a_kept_market_this_salesos_cannot_read_is_left_out_of_the_schedules_not_the_others(conn, clock):
    from connector.store import open_store
    from connector.store.schema import tenant_markets

    schedule(conn, clock)
    with open_store(runtime.settings().database_url).write() as state:
        state.execute(tenant_markets.insert().values(tenant="hubspot-1", origin="old", updated_at="x", market=(
            '{"industry": "SaaS", "company_size": {"min": 10}, "colour": "red", "schedule": {"source": "monthly"}}')))
    assert [tenant for tenant, _ in runtime.tenant_markets().scheduled()] == [TENANT]
