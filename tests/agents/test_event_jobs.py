"""A rep's pause in the CRM holds the contact's steps; resuming runs what fell due meanwhile."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.event_jobs import pause_sequence_job, record_deal_stage_job, resume_sequence_job
from agents.jobs import outreach_job
from connector import runtime
from connector.deal_events import DealEvents
from connector.queues import enqueue_once, queue
from crm_adapters.local import LocalCRM
from tests.agents.test_outreach_job import item
from webhooks.intake import CrmEvent


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    runtime.settings.cache_clear()
    runtime.record_index.cache_clear()
    yield tmp_path
    runtime.settings.cache_clear()
    runtime.record_index.cache_clear()


@pytest.fixture
def conn(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def run(conn, stage: str, func, payload: dict, key: str) -> None:
    enqueue_once(conn, stage, func, payload, job_key=key)
    SimpleWorker([queue(stage, conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert queue(stage, conn).failed_job_registry.count == 0


def state_change(value: str, identity: str) -> dict:
    return {"event": CrmEvent(tenant="local", source="hubspot-webhook", kind="contact.propertyChange",
                              object_type="contact", object_id="1", property_name="salesos_sequence_state",
                              property_value=value, occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                              identity=identity, payload={"email": "jane@acme.io"}).model_dump(mode="json")}


def test_a_step_due_while_the_rep_paused_the_sequence_does_not_run(home, conn):
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1"), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")
    assert list((home / "outbox").glob("*.eml")) == []
    assert LocalCRM(home / "crm.sqlite3").get_activities() == []


def test_resuming_runs_the_step_that_fell_due_during_the_pause_once(home, conn):
    run(conn, "engagement", pause_sequence_job, state_change("paused", "e1"), "pause")
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item()]}, "step")
    run(conn, "engagement", resume_sequence_job, state_change("in_progress", "e2"), "resume")
    assert len(queue("outreach", conn).scheduled_job_registry.get_job_ids()) == 1  # at its original, past time
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(
        burst=True, with_scheduler=True)
    assert len(list((home / "outbox").glob("*.eml"))) == 1
    assert len(LocalCRM(home / "crm.sqlite3").get_activities()) == 1


def test_a_deal_stage_change_is_recorded_once(home, conn):
    change = {"event": CrmEvent(tenant="hubspot-62515", source="hubspot-webhook", kind="deal.propertyChange",
                                object_type="deal", object_id="77", property_name="dealstage",
                                property_value="contractsent", occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                                identity="d1").model_dump(mode="json")}
    run(conn, "engagement", record_deal_stage_job, change, "deal")
    run(conn, "engagement", record_deal_stage_job, change, "deal-again")
    assert DealEvents(home / "salesos.sqlite3").history("hubspot-62515", "77") == [
        ("contractsent", "2026-11-02T00:00:00+00:00")]
