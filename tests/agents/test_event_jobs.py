"""A rep's pause in the CRM holds the contact's steps; resuming runs what fell due meanwhile."""

from __future__ import annotations

import datetime as dt

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.event_jobs import override_tier_job, pause_sequence_job, record_deal_stage_job, resume_sequence_job
from agents.events import CrmEvent
from agents.jobs import outreach_job
from connector import runtime
from connector.deal_events import DealEvents
from connector.queues import enqueue_once, queue
from crm_adapters.local import LocalCRM
from tests.agents.test_outreach_job import DUE, item
from tests.connector.retries import work_through_retries


T1, T2 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
NOW = T2 + dt.timedelta(days=1)  # SalesOS's clock in these tests, whatever the date really is


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The jobs' SALESOS_HOME, with a ledger and tenant markets that judge changes' times against NOW."""
    from connector.ledger import Ledger
    from connector.tenant_markets import TenantMarkets

    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setattr(runtime, "now", lambda: DUE)  # when the steps of these tests fall due
    runtime.settings.cache_clear()
    runtime.record_index.cache_clear()
    ledger = Ledger(runtime.settings().state_path, clock=lambda: NOW)
    markets = TenantMarkets(runtime.settings().state_path, clock=lambda: NOW)
    monkeypatch.setattr(runtime, "ledger", lambda: ledger)
    monkeypatch.setattr(runtime, "tenant_markets", lambda: markets)
    yield tmp_path
    runtime.settings.cache_clear()
    runtime.record_index.cache_clear()


def run(conn, stage: str, func, payload: dict, key: str) -> None:
    enqueue_once(conn, stage, func, payload, job_key=key)
    SimpleWorker([queue(stage, conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert queue(stage, conn).failed_job_registry.count == 0



def state_change(value: str, identity: str, at: dt.datetime = T1) -> dict:
    return {"event": CrmEvent(tenant="local", source="hubspot-webhook", kind="contact.propertyChange",
                              object_type="contact", object_id="1", property_name="salesos_sequence_state",
                              property_value=value, occurred_at=at, identity=identity,
                              payload={"email": "jane@acme.io"}).model_dump(mode="json")}


def test_a_step_due_while_the_rep_paused_the_sequence_does_not_run(home, conn):
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1"), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")
    assert list((home / "outbox").glob("*.eml")) == []
    assert LocalCRM(home / "crm.sqlite3").get_activities() == []


def test_resuming_runs_the_step_that_fell_due_during_the_pause_once(home, conn):
    from connector.queues import job_id

    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1"), "pause")
    step = item()
    original = job_id("outreach", "local", f"{step['sequence'][0]['scheduled_at']}|jane@acme.io#0")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [step]}, original)  # the step's own job key
    run(conn, "engagement", resume_sequence_job, state_change("active", "e2"), "resume")
    assert len(queue("outreach", conn).scheduled_job_registry.get_job_ids()) == 1  # at its original, past time
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(
        burst=True, with_scheduler=True)
    assert len(list((home / "outbox").glob("*.eml"))) == 1
    assert len(LocalCRM(home / "crm.sqlite3").get_activities()) == 1


def test_a_late_retry_of_in_progress_never_undoes_a_newer_pause(home, conn):
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e2", at=T2), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")  # parked: held
    run(conn, "engagement", resume_sequence_job, state_change("active", "e1", at=T1), "late-retry")
    assert queue("engagement", conn).fetch_job("late-retry").return_value() == {"older_changes_skipped": 1}
    assert runtime.ledger().held("local", ["jane@acme.io"]) == {"jane@acme.io"}
    assert queue("outreach", conn).scheduled_job_registry.get_job_ids() == [] and queue("outreach", conn).count == 0
    assert list((home / "outbox").glob("*.eml")) == []


def test_a_late_pause_never_undoes_a_newer_resume(home, conn):
    run(conn, "engagement", resume_sequence_job, state_change("active", "e2", at=T2), "resume")
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1", at=T1), "late-pause")
    assert runtime.ledger().held("local", ["jane@acme.io"]) == set()
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")
    assert len(list((home / "outbox").glob("*.eml"))) == 1


def test_a_pause_then_a_newer_resume_in_order_releases_the_parked_step(home, conn):
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1", at=T1), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")
    run(conn, "engagement", resume_sequence_job, state_change("active", "e2", at=T2), "resume")
    assert queue("engagement", conn).fetch_job("resume").return_value()["steps_resumed"] == 1


def test_a_retried_resume_job_still_queues_the_steps_it_released(home, conn):
    """RQ runs a job at least once: the same change again is not older than itself."""
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1", at=T1), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")
    runtime.ledger().release_hold("local", "jane@acme.io", T2)  # a first run of the job died after releasing
    run(conn, "engagement", resume_sequence_job, state_change("active", "e2", at=T2), "retry")
    assert queue("engagement", conn).fetch_job("retry").return_value()["steps_resumed"] == 1


def test_two_changes_of_one_record_on_two_workers_apply_in_occurred_at_order(home):
    """The check and the effect are one transaction: whichever worker commits first, the newer change wins."""
    from connector.ledger import Ledger

    first, second = (Ledger(home / "salesos.sqlite3", clock=lambda: NOW) for _ in range(2))
    assert first.hold("local", "jane@acme.io", "paused in the CRM", T2) is True
    assert second.release_hold("local", "jane@acme.io", T1) is None  # older than what is applied: not released
    assert first.held("local", ["jane@acme.io"]) == {"jane@acme.io"}
    assert second.release_hold("local", "jane@acme.io", T2 + dt.timedelta(seconds=1)) == {}
    assert first.hold("local", "jane@acme.io", "paused in the CRM", T2) is False
    assert second.held("local", ["jane@acme.io"]) == set()


def test_a_deal_stage_change_is_recorded_once(home, conn):
    change = {"event": CrmEvent(tenant="hubspot-62515", source="hubspot-webhook", kind="deal.propertyChange",
                                object_type="deal", object_id="77", property_name="dealstage",
                                property_value="contractsent", occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                                identity="d1").model_dump(mode="json")}
    run(conn, "engagement", record_deal_stage_job, change, "deal")
    run(conn, "engagement", record_deal_stage_job, change, "deal-again")
    assert DealEvents(home / "salesos.sqlite3").history("hubspot-62515", "77") == [
        ("contractsent", "2026-11-02T00:00:00+00:00")]


@pytest.fixture
def market_data(home, monkeypatch):
    """The end-to-end test's hand-made market data as the data SalesOS prospects from."""
    import json as jsonlib

    from tests.test_end_to_end import MARKET, ROWS

    data = home / "market.jsonl"
    data.write_text("\n".join(row if isinstance(row, str) else jsonlib.dumps(row) for row in ROWS) + "\n")
    monkeypatch.setenv("SALESOS_DATA_FILES", jsonlib.dumps([str(data)]))
    runtime.settings.cache_clear()
    return MARKET


def workflow_action(domain: str, callback: str | None = "ap-1-2-3") -> dict:
    payload = {"domain": domain} | ({"callbackId": callback} if callback else {})
    return {"event": CrmEvent(tenant="local", source="hubspot-workflow", kind="workflow.prospect_company",
                              object_type="company", object_id="904", occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                              identity=f"wf-{domain}", payload=payload).model_dump(mode="json")}


def run_funnel(conn) -> None:
    from connector.runner import FUNNEL_STAGES

    SimpleWorker([queue(name, conn) for name in ("enrich", *FUNNEL_STAGES)], connection=conn,
                 serializer=JSONSerializer).work(burst=True)


def test_prospecting_without_a_market_stops_and_says_how_to_give_one(home, conn):
    from agents.event_jobs import prospect_job

    run(conn, "enrich", prospect_job, workflow_action("acme.io"), "prospect")
    [job] = queue("enrich", conn).finished_job_registry.get_job_ids()
    result = queue("enrich", conn).fetch_job(job).return_value()
    assert "has no market yet" in result["stopped"][0]["reason"]


def test_a_rep_asking_for_one_company_runs_the_funnel_for_that_company_only(home, conn, market_data):
    from agents.event_jobs import prospect_job
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets

    TenantMarkets(home / "salesos.sqlite3").set("local", market_from_text(market_data, "test"), "test")
    run(conn, "enrich", prospect_job, workflow_action("northwind.ca"), "prospect")
    run_funnel(conn)
    crm = LocalCRM(home / "crm.sqlite3")
    assert [a.domain for a in crm.get_accounts()] == ["northwind.ca"]
    assert sorted(c.email for c in crm.get_contacts()) == ["carl@northwind.ca", "nora@northwind.ca"]


def test_the_waiting_workflow_action_is_completed_once_when_its_run_ends(home, conn, market_data):
    from agents.event_jobs import prospect_job
    from connector.actions import complete_finished
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets

    TenantMarkets(home / "salesos.sqlite3").set("local", market_from_text(market_data, "test"), "test")
    run(conn, "enrich", prospect_job, workflow_action("acme.io"), "prospect")
    completed = []
    assert complete_finished(conn, lambda *call: completed.append(call)) == 0  # the run has not run yet
    run_funnel(conn)
    assert complete_finished(conn, lambda *call: completed.append(call)) == 1
    assert complete_finished(conn, lambda *call: completed.append(call)) == 0
    [(tenant, callback, outputs)] = completed
    assert (tenant, callback, outputs["hs_execution_state"]) == ("local", "ap-1-2-3", "SUCCESS")
    assert outputs["salesos_result"].startswith("1 qualified, 3 contacts")


def test_a_company_the_market_does_not_want_completes_the_action_as_failed_with_the_reason(home, conn, market_data):
    from agents.event_jobs import prospect_job
    from connector.actions import complete_finished
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets

    TenantMarkets(home / "salesos.sqlite3").set("local", market_from_text(market_data, "test"), "test")
    run(conn, "enrich", prospect_job, workflow_action("fintastic.com"), "prospect")
    run_funnel(conn)
    completed = []
    complete_finished(conn, lambda *call: completed.append(call))
    [(_, _, outputs)] = completed
    assert outputs["hs_execution_state"] == "FAIL_CONTINUE" and "did not qualify" in outputs["salesos_result"]


def test_a_market_defined_in_the_crm_becomes_the_tenants_market_and_runs(home, conn, market_data):
    from agents.event_jobs import market_defined_job
    from connector.tenant_markets import TenantMarkets

    change = {"event": CrmEvent(tenant="local", source="salesforce-outbound", kind="SalesOS_Market__c.updated",
                                object_type="market", object_id="a01", property_name="Definition__c",
                                property_value=market_data, occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                                identity="m1").model_dump(mode="json")}
    run(conn, "source", market_defined_job, change, "market")
    run_funnel(conn)
    market, origin = TenantMarkets(home / "salesos.sqlite3").get("local")
    assert (market.name, origin) == ("Test market", "CRM market record a01")
    assert sorted(a.domain for a in LocalCRM(home / "crm.sqlite3").get_accounts()) == ["acme.io", "northwind.ca"]


def test_an_invalid_market_record_stops_with_each_problem_named(home, conn):
    from agents.event_jobs import market_defined_job

    change = {"event": CrmEvent(tenant="local", source="hubspot-webhook", kind="market.propertyChange",
                                object_type="market", object_id="7", property_name="salesos_definition",
                                property_value="name: Broken\ncompany_size: lots", occurred_at=dt.datetime(
                                    2026, 11, 2, tzinfo=dt.UTC), identity="m2").model_dump(mode="json")}
    run(conn, "source", market_defined_job, change, "market")
    [job] = queue("source", conn).finished_job_registry.get_job_ids()
    reason = queue("source", conn).fetch_job(job).return_value()["stopped"][0]["reason"]
    assert reason.startswith("CRM market record 7:") and "company_size" in reason


@pytest.mark.parametrize("size", ["[10, abc]", "[10, 1e999]", "[nan, nan]"])
def test_a_market_record_whose_range_list_is_not_two_numbers_stops_with_the_reason(home, conn, size):
    from agents.event_jobs import market_defined_job

    change = {"event": CrmEvent(tenant="local", source="hubspot-webhook", kind="market.propertyChange",
                                object_type="market", object_id="7", property_name="salesos_definition",
                                property_value=f"industry: SaaS\ncompany_size: {size}\n", occurred_at=dt.datetime(
                                    2026, 11, 2, tzinfo=dt.UTC), identity="m4").model_dump(mode="json")}
    run(conn, "source", market_defined_job, change, "market")  # asserts the job did not fail
    [job] = queue("source", conn).finished_job_registry.get_job_ids()
    [stopped] = queue("source", conn).fetch_job(job).return_value()["stopped"]
    assert stopped["reason"].startswith("CRM market record 7: company_size: ")
    assert "a range given as a list must be two numbers" in stopped["reason"]


def test_a_market_record_with_yaml_aliases_stops_without_expanding_them(home, conn):
    from agents.event_jobs import market_defined_job
    from tests.webhooks.test_hostile_input import LAUGHS

    change = {"event": CrmEvent(tenant="local", source="hubspot-webhook", kind="market.propertyChange",
                                object_type="market", object_id="7", property_name="salesos_definition",
                                property_value=LAUGHS, occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                                identity="m3").model_dump(mode="json")}
    run(conn, "source", market_defined_job, change, "market")
    [job] = queue("source", conn).finished_job_registry.get_job_ids()
    [stopped] = queue("source", conn).fetch_job(job).return_value()["stopped"]
    assert stopped["reason"] == ("CRM market record 7: a: YAML anchors and aliases (&name, *name) are not "
                                 "accepted; write each value out")


def test_a_deal_reported_again_in_the_same_stage_is_recorded_once(home, conn):
    def change(identity: str, stage: str) -> dict:
        return {"event": CrmEvent(tenant="salesforce-00D000000000001AAA", source="salesforce-outbound",
                                  kind="opportunity.updated", object_type="opportunity", object_id="006A",
                                  property_name="StageName", property_value=stage,
                                  occurred_at=dt.datetime(2026, 11, 2, int(identity[-1]), tzinfo=dt.UTC),
                                  identity=identity).model_dump(mode="json")}

    for key, stage in (("n1", "Prospecting"), ("n2", "Prospecting"), ("n3", "Negotiation")):
        run(conn, "engagement", record_deal_stage_job, change(key, stage), key)
    assert [stage for stage, _ in DealEvents(home / "salesos.sqlite3").history(
        "salesforce-00D000000000001AAA", "006A")] == ["Prospecting", "Negotiation"]


def test_a_ticked_prospect_box_sent_again_starts_no_second_run(home, conn, market_data):
    from agents.event_jobs import prospect_job
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets

    TenantMarkets(home / "salesos.sqlite3").set("local", market_from_text(market_data, "test"), "test")
    ticked = {"event": CrmEvent(tenant="local", source="salesforce-outbound", kind="company.updated",
                                object_type="company", object_id="001A", property_name="SalesOS_Prospect__c",
                                property_value="true", occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                                identity="n1", payload={"domain": "acme.io"}).model_dump(mode="json")}
    run(conn, "enrich", prospect_job, ticked, "first")
    run(conn, "enrich", prospect_job, {"event": {**ticked["event"], "identity": "n2"}}, "again")
    assert queue("source", conn).count == 1


def test_without_a_market_the_waiting_workflow_goes_on_at_once_with_the_reason(home, conn):
    from agents.event_jobs import prospect_job
    from connector.actions import complete_finished

    run(conn, "enrich", prospect_job, workflow_action("acme.io"), "prospect")
    completed = []
    assert complete_finished(conn, lambda *call: completed.append(call)) == 1
    [(_, callback, outputs)] = completed
    assert (callback, outputs["hs_execution_state"]) == ("ap-1-2-3", "FAIL_CONTINUE")
    assert "has no market yet" in outputs["salesos_result"]


def test_the_same_request_handled_twice_starts_one_run(home, conn, market_data):
    from agents.event_jobs import prospect_job
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets

    TenantMarkets(home / "salesos.sqlite3").set("local", market_from_text(market_data, "test"), "test")
    run(conn, "enrich", prospect_job, workflow_action("acme.io"), "first-delivery")
    run(conn, "enrich", prospect_job, workflow_action("acme.io"), "rq-retry")
    assert queue("source", conn).count == 1


def test_a_market_record_notified_again_with_the_same_definition_starts_no_second_run(home, conn, market_data):
    from agents.event_jobs import market_defined_job

    def notification(identity: str) -> dict:
        return {"event": CrmEvent(tenant="local", source="salesforce-outbound", kind="salesos_market__c.updated",
                                  object_type="salesos_market__c", object_id="a01", property_name="Definition__c",
                                  property_value=market_data, occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                                  identity=identity).model_dump(mode="json")}

    run(conn, "source", market_defined_job, notification("n1"), "first")
    run(conn, "source", market_defined_job, notification("n2"), "renamed")
    assert queue("source", conn).fetch_job("first").return_value()["market_runs_started"] == 1
    assert queue("source", conn).fetch_job("renamed").return_value()["market_unchanged"] == 1


def market_record(definition: str, identity: str, at: dt.datetime, record: str = "a01") -> dict:
    return {"event": CrmEvent(tenant="local", source="salesforce-outbound", kind="salesos_market__c.updated",
                              object_type="salesos_market__c", object_id=record, property_name="Definition__c",
                              property_value=definition, occurred_at=at, identity=identity).model_dump(mode="json")}


def test_a_late_retry_of_an_older_market_record_change_never_replaces_the_newer_market(home, conn, market_data):
    from agents.event_jobs import market_defined_job
    from connector.tenant_markets import TenantMarkets

    newer = market_data.replace("name: Test market", "name: Newer market")
    run(conn, "source", market_defined_job, market_record(newer, "n2", T2), "newer")
    run(conn, "source", market_defined_job, market_record(market_data, "n1", T1), "late-retry")
    assert queue("source", conn).fetch_job("newer").return_value()["market_runs_started"] == 1
    assert queue("source", conn).fetch_job("late-retry").return_value() == {"older_changes_skipped": 1}
    market, origin = TenantMarkets(home / "salesos.sqlite3").get("local")
    assert (market.name, origin) == ("Newer market", "CRM market record a01")
    run(conn, "source", market_defined_job, market_record(market_data, "n3", T2), "same-time-again")
    assert queue("source", conn).fetch_job("same-time-again").return_value()["market_runs_started"] == 1


def test_a_workflow_hubspot_no_longer_waits_for_is_dropped_not_retried_forever(home, conn):
    import json as jsonlib
    import time as clock

    from connector.actions import PENDING, complete_finished, remember
    from crm_adapters.errors import RequestRejected

    remember(conn, "gone", "hubspot-1", run_id=None, reason="no market")
    conn.hset(PENDING, "expired", jsonlib.dumps({"tenant": "hubspot-1", "run_id": None, "reason": "x",
                                                 "since": clock.time() - 2 * 24 * 3600}))

    def refuse(tenant, callback, outputs):
        raise RequestRejected("HubSpot refused the request (400): callback expired", status=400)

    assert complete_finished(conn, refuse) == 0
    assert conn.hlen(PENDING) == 0


def tier_override(value: str, identity: str = "o1", at: dt.datetime = T1) -> dict:
    return {"event": CrmEvent(tenant="local", source="hubspot-webhook", kind="contact.propertyChange",
                              object_type="contact", object_id="1", property_name="salesos_priority_tier",
                              property_value=value, occurred_at=at, identity=identity,
                              payload={"email": "jane@acme.io"}).model_dump(mode="json")}


def sequenced_jane(home) -> LocalCRM:
    from crm_adapters.base import ContactWrite

    crm = LocalCRM(home / "crm.sqlite3")
    crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Roe", title="CEO", company_domain="acme.io",
                                      timezone="America/New_York", country="US", fields={
                                          "priority_tier": "TIER_3", "recommended_channel": "email",
                                          "sequence_state": "active", "sequencing": item()["sequence"],
                                          "personalization_hooks": [{"text": "Raised Series B", "evidence": []}]})])
    return crm


def test_a_reps_tier_override_plans_the_sequence_again_with_that_tiers_touches(home, conn):
    from agents.sequences import TEMPLATES

    crm = sequenced_jane(home)
    run(conn, "engagement", override_tier_job, tier_override("TIER_1"), "override")
    [jane] = crm.get_contacts(["jane@acme.io"])
    assert len(jane.fields["sequencing"]) == len(TEMPLATES["TIER_1"].touches)
    assert jane.fields["sequence_state"] == "active"
    assert len(queue("outreach", conn).scheduled_job_registry.get_job_ids()) == 1  # the new plan's first step


def test_steps_of_the_plan_a_rep_replaced_are_dropped_when_they_fall_due(home, conn):
    sequenced_jane(home)
    run(conn, "engagement", override_tier_job, tier_override("TIER_1"), "override")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item(step_index=1)]}, "old-plan-step")
    assert queue("outreach", conn).fetch_job("old-plan-step").return_value()["skipped_superseded"] == 1
    assert LocalCRM(home / "crm.sqlite3").get_tasks() == []


def test_the_new_plans_first_step_runs_even_though_the_old_plans_first_step_ran(home, conn):
    sequenced_jane(home)
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "old-first")
    run(conn, "engagement", override_tier_job, tier_override("TIER_1"), "override")
    scheduled = [queue("outreach", conn).fetch_job(job_id).args[0]
                 for job_id in queue("outreach", conn).scheduled_job_registry.get_job_ids()]
    [payload] = [p for p in scheduled if p["items"][0].get("version") == 1]  # the old plan's step 1 waits too
    run(conn, "outreach", outreach_job, payload, "new-first-when-due")
    assert len(list((home / "outbox").glob("*.eml"))) == 2


def test_an_unknown_tier_is_refused_with_the_allowed_ones(home, conn):
    sequenced_jane(home)
    run(conn, "engagement", override_tier_job, tier_override("TIER_9"), "override")
    reason = queue("engagement", conn).fetch_job("override").return_value()["stopped"][0]["reason"]
    assert "TIER_9" in reason and "TIER_1" in reason


def test_a_late_tier_override_never_replaces_a_newer_one(home, conn):
    from agents.sequences import TEMPLATES

    crm = sequenced_jane(home)
    run(conn, "engagement", override_tier_job, tier_override("TIER_1", "o2", at=T2), "newer")
    run(conn, "engagement", override_tier_job, tier_override("TIER_4", "o1", at=T1), "late")
    assert queue("engagement", conn).fetch_job("late").return_value() == {"older_changes_skipped": 1}
    [jane] = crm.get_contacts(["jane@acme.io"])
    assert len(jane.fields["sequencing"]) == len(TEMPLATES["TIER_1"].touches)
    assert runtime.ledger().versions("local", ["jane@acme.io"]) == {"jane@acme.io": 1}


def test_an_unknown_tier_is_quoted_at_most_100_characters(home, conn):
    run(conn, "engagement", override_tier_job, tier_override("T" * 5000), "override")
    reason = queue("engagement", conn).fetch_job("override").return_value()["stopped"][0]["reason"]
    assert reason.startswith("priority_tier 'TTT") and "T" * 101 not in reason


def opt_out_jane(home, how: str) -> None:
    """The person unsubscribed through SalesOS's link (not in the CRM yet), or was opted out in the CRM."""
    if how == "unsubscribed":
        ledger = runtime.ledger()
        ledger.unsubscribe(ledger.unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"])
    else:
        import sqlite3

        with sqlite3.connect(home / "crm.sqlite3") as db:
            db.execute("UPDATE contacts SET email_opt_out = 1 WHERE email = 'jane@acme.io'")


@pytest.mark.parametrize("how", ["unsubscribed", "opted out in the CRM"])
def test_a_tier_override_of_a_contact_who_opted_out_plans_nothing_and_leaves_the_sequence_stopped(home, conn, how):
    crm = sequenced_jane(home)
    opt_out_jane(home, how)
    run(conn, "engagement", override_tier_job, tier_override("TIER_1"), "override")
    assert queue("engagement", conn).fetch_job("override").return_value() == {"overrides_opted_out": 1}
    [jane] = crm.get_contacts(["jane@acme.io"])
    assert (jane.fields["sequence_state"], jane.fields.get("next_touch_at")) == ("unsubscribed", None)
    assert jane.fields["sequencing"] == item()["sequence"]  # the old plan, not replaced
    assert queue("outreach", conn).scheduled_job_registry.get_job_ids() == [] and queue("outreach", conn).count == 0
    assert runtime.ledger().versions("local", ["jane@acme.io"]) == {}


@pytest.mark.parametrize("how", ["unsubscribed", "opted out in the CRM"])
def test_resuming_the_sequence_of_a_contact_who_opted_out_runs_nothing_and_leaves_it_stopped(home, conn, how):
    crm = sequenced_jane(home)
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1", at=T1), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")  # parked while paused
    opt_out_jane(home, how)
    run(conn, "engagement", resume_sequence_job, state_change("active", "e2", at=T2), "resume")
    assert queue("engagement", conn).fetch_job("resume").return_value() == {"sequences_not_resumed_opted_out": 1}
    assert queue("outreach", conn).scheduled_job_registry.get_job_ids() == [] and queue("outreach", conn).count == 0
    [jane] = crm.get_contacts(["jane@acme.io"])
    assert (jane.fields["sequence_state"], jane.fields.get("next_touch_at")) == ("unsubscribed", None)
    assert list((home / "outbox").glob("*.eml")) == []


def test_resuming_the_sequence_of_an_unsubscribed_contact_a_rep_deleted_creates_no_contact(home, conn):
    import sqlite3

    crm = sequenced_jane(home)
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1", at=T1), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")  # parked while paused
    opt_out_jane(home, "unsubscribed")
    with sqlite3.connect(home / "crm.sqlite3") as db:  # deleted by a rep, perhaps on the person's request
        db.execute("DELETE FROM contacts WHERE email = 'jane@acme.io'")
    run(conn, "engagement", resume_sequence_job, state_change("active", "e2", at=T2), "resume")
    assert queue("engagement", conn).fetch_job("resume").return_value() == {"sequences_not_resumed_opted_out": 1}
    assert crm.get_contacts(["jane@acme.io"]) == []
    assert queue("outreach", conn).scheduled_job_registry.get_job_ids() == [] and queue("outreach", conn).count == 0


def test_a_market_job_retried_after_setting_the_market_still_starts_its_run(home, conn, market_data, monkeypatch):
    """The first attempt set the market, then could not queue the run (a Redis blip): the retry finds the market
    already set, and starts the run all the same instead of calling it unchanged."""
    from agents import event_jobs

    queue_run, attempts = event_jobs.enqueue_unattended, []

    def blip_once(*args):
        attempts.append(args)
        if len(attempts) == 1:
            raise ConnectionError("Redis went away")
        queue_run(*args)

    monkeypatch.setattr(event_jobs, "enqueue_unattended", blip_once)
    enqueue_once(conn, "source", event_jobs.market_defined_job, market_record(market_data, "m1", T1), job_key="market")
    work_through_retries(conn, "source")  # the retry's wait passes at once
    assert len(attempts) == 2
    assert queue("source", conn).fetch_job("market").return_value() == {"market_runs_started": 1}


def test_a_rep_asking_for_a_company_no_file_holds_finds_it_through_the_data_providers(home, conn, monkeypatch):
    """The local CRM with provider keys and no data file: the company is looked up by its domain."""
    from agents.event_jobs import prospect_job
    from agents.lead_source import source_companies
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets
    from tests.fakes.dns_server import LocalDns
    from tests.fakes.provider_server import ProviderServer
    from tests.fakes.provider_world import sample_world
    from tests.test_end_to_end import MARKET

    market = market_from_text(MARKET, "test")
    world = sample_world()
    fits = source_companies([c.record() for c in world.companies.values() if c.in_apollo], market).qualified
    domain = fits[0].company.domain
    server = ProviderServer()
    try:
        with LocalDns({(domain, "MX"): [f"10 mx.{domain}."]}) as dns:
            for name, value in server.environ().items():
                monkeypatch.setenv(name, value)
            for name, key in server.fake.keys.items():
                monkeypatch.setenv(f"{name.upper()}_API_KEY", key)
            monkeypatch.setenv("SALESOS_DATA_FILES", "[]")
            monkeypatch.setenv("SALESOS_DNS_SERVER", f"127.0.0.1:{dns.port}")
            monkeypatch.setenv("SALESOS_JOB_BOARD_DISCOVERY", "false")
            runtime.settings.cache_clear()
            TenantMarkets(home / "salesos.sqlite3").set("local", market, "test")
            run(conn, "enrich", prospect_job, workflow_action(domain), "prospect")
            run_funnel(conn)
    finally:
        server.stop()
    [account] = LocalCRM(home / "crm.sqlite3").get_accounts()
    assert account.domain == domain and account.name == world.companies[domain].truth.name
    assert account.fields["fit_breakdown"]["industry"]["source"]["provider"] in ("apollo", "pdl")
    assert server.fake.calls_to("apollo") > 0
