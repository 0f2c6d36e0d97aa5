"""From the CRM's request to the effect, through the real routing table: webhook → inbox → dispatcher → job.

Everything is real but the CRM: the Flask app, Redis, the dispatcher, RQ
workers, the routing table, the jobs, and HubSpot's side played by the local
HubSpot server (which also receives the workflow action's completion).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.event_jobs import market_defined_job
from agents.events import CrmEvent
from connector import runtime
from connector.actions import complete_finished
from connector.data_sources import DataSource
from connector.dispatch import Dispatcher, default_router
from connector.health import recent_runs
from connector.markets import market_from_text
from connector.queues import STAGES, enqueue_once, queue
from connector.run_summaries import save_finished
from connector.tenant_markets import TenantMarkets
from connector.tenants import Tenant
from connector.vault import new_key
from tests.test_end_to_end import MARKET, ROWS
from tests.test_tenant_run import hubspot  # noqa: F401 - the fixture is shared
from tests.webhooks.hubspot_helpers import PUBLIC, SECRET, deliver, hubspot_event, signed_headers
from webhooks.app import create_app

PORTAL = 62515
TENANT = f"hubspot-{PORTAL}"


@pytest.fixture
def world(world_without_data, tmp_path):
    """A SalesOS home with a HubSpot tenant, its market and the hand-made market data as its data source."""
    data = tmp_path / "market.jsonl"
    data.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in ROWS) + "\n")
    runtime.data_sources().set(TENANT, DataSource(files=[str(data)]))
    return world_without_data


@pytest.fixture
def world_without_data(tmp_path, redis_url, hubspot, monkeypatch):
    """A SalesOS home with a HubSpot tenant and its market, and no data source."""
    for name, value in {"SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key(), "REDIS_URL": redis_url,
                        "HUBSPOT_API_BASE_URL": hubspot.url, "HUBSPOT_CLIENT_SECRET": SECRET,
                        "SALESOS_PUBLIC_URL": PUBLIC}.items():
        monkeypatch.setenv(name, value)
    for cached in (runtime.settings, runtime._tenant_crm, runtime.record_index, runtime._data_sources):
        cached.cache_clear()
    runtime.tenant_store().add(Tenant(id=TENANT, crm="hubspot", external_id=str(PORTAL),
                                      installed_at=dt.datetime.now(dt.UTC)), {"access_token": hubspot.token})
    TenantMarkets(runtime.settings().state_path).set(TENANT, market_from_text(MARKET, "test"), "test")
    conn = redis.Redis.from_url(redis_url)
    yield create_app(redis_url=redis_url, settings=runtime.settings()).test_client(), conn
    for cached in (runtime.settings, runtime._tenant_crm, runtime.record_index, runtime._data_sources):
        cached.cache_clear()
    conn.close()


def dispatch_and_work(conn) -> None:
    """The dispatcher once, then workers until every stage queue is empty (jobs enqueue more jobs)."""
    Dispatcher(conn, default_router(), name="test").run(burst=True)
    SimpleWorker([queue(name, conn) for name in STAGES], connection=conn, serializer=JSONSerializer).work(
        burst=True)
    for name in STAGES:
        assert queue(name, conn).failed_job_registry.count == 0, name


def test_a_workflow_action_runs_its_company_and_hubspot_is_told_when_it_is_done(world, hubspot):
    client, conn = world
    path = "/webhooks/hubspot/actions/prospect_company"
    body = json.dumps({"callbackId": "ap-1", "origin": {"portalId": PORTAL, "actionDefinitionId": 7},
                       "object": {"objectId": 55, "objectType": "COMPANY", "properties": {"domain": "acme.io"}}}
                      ).encode()
    response = client.post(path, data=body, headers=signed_headers(body, uri=PUBLIC + path))
    assert response.get_json()["outputFields"]["hs_execution_state"] == "BLOCK"
    dispatch_and_work(conn)
    assert complete_finished(conn, lambda tenant, callback, outputs: runtime.complete_action(
        conn, tenant, callback, outputs)) == 1
    assert hubspot.completed["ap-1"]["hs_execution_state"] == "SUCCESS"
    assert [p["salesos_domain"] for p in hubspot.objects["companies"].values()] == ["acme.io"]
    assert len(hubspot.objects["contacts"]) == 3


def test_a_workflow_action_on_a_tenant_without_a_data_source_completes_failed_with_the_reason(
        world_without_data, hubspot):
    client, conn = world_without_data
    path = "/webhooks/hubspot/actions/prospect_company"
    body = json.dumps({"callbackId": "ap-2", "origin": {"portalId": PORTAL, "actionDefinitionId": 7},
                       "object": {"objectId": 56, "objectType": "COMPANY", "properties": {"domain": "acme.io"}}}
                      ).encode()
    response = client.post(path, data=body, headers=signed_headers(body, uri=PUBLIC + path))
    assert response.get_json()["outputFields"]["hs_execution_state"] == "BLOCK"
    dispatch_and_work(conn)
    assert complete_finished(conn, lambda tenant, callback, outputs: runtime.complete_action(
        conn, tenant, callback, outputs)) == 1
    outputs = hubspot.completed["ap-2"]
    assert outputs["hs_execution_state"] == "FAIL_CONTINUE"
    assert outputs["salesos_result"].startswith(f"{TENANT} has no data source")
    assert hubspot.objects["companies"] == {} and hubspot.objects["contacts"] == {}


def test_a_market_record_on_a_tenant_without_a_data_source_is_kept_and_runs_once_data_is_given(
        world_without_data, hubspot, tmp_path):
    client, conn = world_without_data
    runtime.tenant_markets().set(TENANT, market_from_text("industry: Retail\ncompany_size: 10-50", "old"), "old")
    record = CrmEvent(tenant=TENANT, source="salesforce-outbound", kind="SalesOS_Market__c.updated",
                      object_type="market", object_id="a01", property_name="Definition__c", property_value=MARKET,
                      occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), identity="m1")
    first = work_on(conn, record)
    assert f"{TENANT} has no data source" in first["stopped"][0]["reason"]
    assert runtime.tenant_markets().get(TENANT)[0].name == "Test market"  # the CRM's market, kept
    assert hubspot.objects["companies"] == {}
    data = tmp_path / "market.jsonl"
    data.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in ROWS) + "\n")
    runtime.data_sources().set(TENANT, DataSource(files=[str(data)]))
    assert work_on(conn, record.model_copy(update={"identity": "m2"})) == {"market_runs_started": 1}
    assert sorted(p["salesos_domain"] for p in hubspot.objects["companies"].values()) == ["acme.io", "northwind.ca"]


def test_a_tenant_with_provider_keys_and_no_files_runs_what_its_crm_asks_for_reading_no_file(
        world_without_data, hubspot, monkeypatch):
    from connector.providers.keys import set_key
    from connector.tenants import vault_keys
    from connector.vault import Vault
    from tests.fakes.provider_server import ProviderServer

    client, conn = world_without_data
    providers = ProviderServer()  # whose world has no acme.io
    monkeypatch.setenv("APOLLO_API_BASE_URL", providers.base_url("apollo"))
    runtime.settings.cache_clear()
    set_key(Vault(runtime.settings().database_url, vault_keys(runtime.settings())), TENANT, "apollo",
            providers.fake.keys["apollo"])
    record = CrmEvent(tenant=TENANT, source="salesforce-outbound", kind="SalesOS_Market__c.updated",
                      object_type="market", object_id="a01", property_name="Definition__c", property_value=MARKET,
                      occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), identity="m1")
    assert work_on(conn, record) == {"market_runs_started": 1}
    path = "/webhooks/hubspot/actions/prospect_company"
    body = json.dumps({"callbackId": "ap-3", "origin": {"portalId": PORTAL, "actionDefinitionId": 7},
                       "object": {"objectId": 57, "objectType": "COMPANY", "properties": {"domain": "acme.io"}}}
                      ).encode()
    client.post(path, data=body, headers=signed_headers(body, uri=PUBLIC + path))
    dispatch_and_work(conn)
    assert complete_finished(conn, lambda tenant, callback, outputs: runtime.complete_action(
        conn, tenant, callback, outputs)) == 1
    providers.stop()
    result = hubspot.completed["ap-3"]["salesos_result"]
    assert "has no data source" not in result and "did not qualify" in result  # looked up, and no provider knows it
    domains = {company["domain"] for company in hubspot.objects["companies"].values()}
    assert domains and "acme.io" not in domains  # the market's run found its companies through Apollo


def work_on(conn, event: CrmEvent) -> dict:
    """The market job for `event`, and the run it starts, on real workers; returns the market job's counts."""
    job = enqueue_once(conn, "source", market_defined_job, {"event": event.model_dump(mode="json")},
                       job_key=f"market-{event.identity}")
    SimpleWorker([queue(name, conn) for name in STAGES], connection=conn, serializer=JSONSerializer).work(
        burst=True)
    return job.return_value(refresh=True)


def test_a_rep_pausing_a_contact_in_hubspot_holds_its_next_step(world, hubspot):
    client, conn = world
    runtime.record_index(TENANT).remember("contact", {"jane@acme.io": "901"})
    response = deliver(client, [hubspot_event(PORTAL, 901, "contact.propertyChange", "salesos_sequence_state",
                                              "paused", changeSource="CRM_UI")])
    assert response.status_code == 200 and response.get_json()["queued"] == 1
    dispatch_and_work(conn)
    assert runtime.ledger().held(TENANT, ["jane@acme.io"]) == {"jane@acme.io"}


def state_change(value: str, at_ms: int, attempt: int = 0) -> list[dict]:
    return [hubspot_event(PORTAL, 901, "contact.propertyChange", "salesos_sequence_state", value,
                          changeSource="CRM_UI", occurredAt=at_ms, attemptNumber=attempt)]


def test_a_late_retry_of_in_progress_never_undoes_a_reps_newer_pause(world, hubspot):
    client, conn = world
    runtime.record_index(TENANT).remember("contact", {"jane@acme.io": "901"})
    now = int(time.time() * 1000)
    assert deliver(client, state_change("paused", now - 60_000)).get_json()["queued"] == 1
    dispatch_and_work(conn)
    late = deliver(client, state_change("active", now - 120_000, attempt=4))  # HubSpot retried it late
    assert late.get_json()["queued"] == 1
    dispatch_and_work(conn)
    assert runtime.ledger().held(TENANT, ["jane@acme.io"]) == {"jane@acme.io"}


def test_a_pause_then_a_newer_resume_releases_the_contact(world, hubspot):
    client, conn = world
    runtime.record_index(TENANT).remember("contact", {"jane@acme.io": "901"})
    now = int(time.time() * 1000)
    deliver(client, state_change("paused", now - 120_000))
    dispatch_and_work(conn)
    deliver(client, state_change("active", now - 60_000))
    dispatch_and_work(conn)
    assert runtime.ledger().held(TENANT, ["jane@acme.io"]) == set()


def test_a_rep_ticking_prospect_on_a_company_they_created_prospects_it(world, hubspot):
    client, conn = world
    hubspot.objects["companies"]["555"] = {"name": "Northwind Cloud", "domain": "https://www.northwind.ca/"}
    response = deliver(client, [hubspot_event(PORTAL, 555, "company.propertyChange", "salesos_prospect", "true")])
    assert response.get_json()["queued"] == 1
    dispatch_and_work(conn)
    assert list(hubspot.objects["companies"]) == ["555"]  # the rep's company, updated, not a duplicate
    assert hubspot.objects["companies"]["555"]["salesos_domain"] == "northwind.ca"
    assert hubspot.objects["companies"]["555"]["salesos_fit_score"] not in (None, "")


def test_the_run_a_reps_tick_started_is_summarised_for_connector_health(world, hubspot, tmp_path):
    client, conn = world
    hubspot.objects["companies"]["777"] = {"name": "Acme", "domain": "acme.io"}
    deliver(client, [hubspot_event(PORTAL, 777, "company.propertyChange", "salesos_prospect", "true",
                                   occurredAt=int(time.time() * 1000))])
    dispatch_and_work(conn)
    assert save_finished(conn, tmp_path) == 1
    [summary] = recent_runs(tmp_path, dt.datetime.now(dt.UTC))
    assert (summary["tenant"], summary["started_by"], summary["qualified"]) == (TENANT, "crm event", 1)
