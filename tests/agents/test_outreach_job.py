"""Outreach steps happen exactly once per contact and step, whatever RQ does."""

import datetime as dt

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import outreach_job
from connector import runtime
from connector.ledger import Ledger
from connector.queues import enqueue_once, queue
from crm_adapters.local import LocalCRM

STEP = {"day": 0, "channel": "email", "action": "send_cold_email", "message_type": "problem_aware",
        "scheduled_at": "2026-11-02T09:00:00-05:00"}
CALL = STEP | {"day": 7, "channel": "phone", "action": "make_call", "message_type": "direct_pitch",
               "scheduled_at": "2026-11-09T09:00:00-05:00"}


def item(email="jane@acme.io", step_index=0, sequence=(STEP, CALL)):
    return {"email": email, "name": "Jane Roe", "title": "CEO", "company_name": "Acme", "company_domain": "acme.io",
            "step_index": step_index, "sequence": list(sequence), "hooks": ["Raised Series B (2026-09-01)"],
            "objections": [{"objection": "Too expensive", "angle": "ROI"}]}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    runtime.settings.cache_clear()
    yield tmp_path
    runtime.settings.cache_clear()


def deliver(conn, key, items):
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "local", "items": items}, job_key=key)
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)


def test_a_step_delivered_twice_writes_one_email_and_one_activity(home, conn):
    deliver(conn, "first", [item()])
    deliver(conn, "redelivered", [item()])
    assert len(list((home / "outbox").glob("*.eml"))) == 1
    assert len(LocalCRM(home / "crm.sqlite3").get_activities()) == 1


def test_a_phone_step_becomes_one_task_for_the_rep(home, conn):
    deliver(conn, "call", [item(step_index=1)])
    deliver(conn, "call-again", [item(step_index=1)])
    [task] = LocalCRM(home / "crm.sqlite3").get_tasks()
    assert (task.kind, task.subject) == ("call", "Call Jane Roe (Acme)")
    assert task.due_at == dt.datetime.fromisoformat(CALL["scheduled_at"])
    assert "If they say 'Too expensive': ROI" in task.body
    assert list((home / "outbox").glob("*.eml")) == []


def test_after_a_step_the_next_one_is_scheduled_and_the_contact_moves_on(home, conn):
    deliver(conn, "first", [item()])
    scheduled = queue("outreach", conn).scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1
    [contact] = LocalCRM(home / "crm.sqlite3").get_contacts(["jane@acme.io"])
    assert contact.fields["sequence_state"] == "in_progress"
    assert contact.fields["next_touch_at"] == dt.datetime.fromisoformat(CALL["scheduled_at"])


def test_the_last_step_completes_the_sequence(home, conn):
    deliver(conn, "last", [item(step_index=1)])
    [contact] = LocalCRM(home / "crm.sqlite3").get_contacts(["jane@acme.io"])
    assert contact.fields["sequence_state"] == "completed"
    assert "next_touch_at" not in contact.fields


def test_an_unsubscribed_contact_gets_nothing(home, conn):
    ledger = Ledger(home / "salesos.sqlite3")
    ledger.unsubscribe(ledger.unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"])
    deliver(conn, "first", [item()])
    assert list((home / "outbox").glob("*.eml")) == []
    assert LocalCRM(home / "crm.sqlite3").get_activities() == []


@pytest.fixture
def tenant(home, redis_url, monkeypatch):
    """An installed HubSpot tenant whose API budget is already spent (a share of 1 call is 0 calls)."""
    from connector.tenants import Tenant
    from connector.vault import new_key
    from tests.fakes.hubspot_server import FakeHubSpot, Server

    fake = FakeHubSpot()
    server = Server(fake)
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("HUBSPOT_API_BASE_URL", fake.url)
    monkeypatch.setenv("HUBSPOT_DAILY_API_LIMIT", "1")
    runtime.settings.cache_clear()
    runtime._tenant_crm.cache_clear()
    runtime.tenant_store().add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515",
                                      installed_at=dt.datetime.now(dt.UTC)), {"access_token": fake.token})
    yield "hubspot-62515"
    runtime._tenant_crm.cache_clear()
    server.stop()


def deliver_to(conn, tenant, key, items):
    enqueue_once(conn, "outreach", outreach_job, {"tenant": tenant, "items": items}, job_key=key)
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)


def test_steps_the_crm_budget_cannot_take_today_are_deferred_to_tomorrow_not_lost(home, conn, tenant):
    deliver_to(conn, tenant, "today", [item()])
    outreach = queue("outreach", conn)
    assert outreach.failed_job_registry.count == 0
    [resumed] = outreach.scheduled_job_registry.get_job_ids()
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    assert outreach.scheduled_job_registry.get_scheduled_time(resumed).date() == tomorrow
    assert not runtime.ledger().is_done(f"outreach:{tenant}:jane@acme.io:0")


def test_a_tenant_that_needs_reinstalling_writes_no_email_and_keeps_its_steps(home, conn, tenant):
    runtime.tenant_store().mark_needs_reinstall(tenant, "the refresh token was revoked")
    deliver_to(conn, tenant, "today", [item()])
    assert list((home / "outbox").glob("*.eml")) == []
    assert len(queue("outreach", conn).scheduled_job_registry.get_job_ids()) == 1


@pytest.fixture
def portal(home, redis_url, monkeypatch):
    """An installed HubSpot tenant on the local HubSpot server, with the default API budget."""
    from connector.tenants import Tenant
    from connector.vault import new_key
    from tests.fakes.hubspot_server import FakeHubSpot, Server

    fake = FakeHubSpot()
    server = Server(fake)
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("HUBSPOT_API_BASE_URL", fake.url)
    runtime.settings.cache_clear()
    runtime._tenant_crm.cache_clear()
    runtime.tenant_store().add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515",
                                      installed_at=dt.datetime.now(dt.UTC)), {"access_token": fake.token})
    yield fake
    runtime._tenant_crm.cache_clear()
    server.stop()


def test_the_opt_out_check_before_sending_is_one_batched_read_per_hundred_contacts(home, conn, portal):
    emails = [f"person{n}@acme.io" for n in range(250)]
    for n, email in enumerate(emails):  # every one of them opted out in HubSpot
        portal.objects["contacts"][str(5000 + n)] = {"email": email, "hs_email_optout": "true"}
    deliver_to(conn, "hubspot-62515", "due", [item(email=email) for email in emails])
    [job] = [queue("outreach", conn).fetch_job("due")]
    counts = job.return_value()
    assert (counts["skipped_opted_out"], counts["emails_written"]) == (250, 0)
    assert list((home / "outbox").glob("*.eml")) == []
    assert portal.calls["/crm/v3/objects/contacts/batch/read"] == 3
    assert portal.calls["/crm/v3/objects/contacts/batch/upsert"] == 3  # their sequences stopped, 100 a call
    assert portal.total_calls == 6
    assert {p["salesos_sequence_state"] for p in portal.objects["contacts"].values()} == {"stopped"}
