"""A contact a person opted out of email in the CRM is never emailed, and never enrolled again by a later run.

The funnel runs in this process, through real RQ workers on the real Redis, against the local CRM, the
local HubSpot server and the Salesforce fake; a rep opts Jane out the way each CRM records it (the local
CRM's column, HubSpot's read-only `hs_email_optout`, Salesforce's `HasOptedOutOfEmail`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import outreach_job, source_job
from connector import runtime
from connector.markets import load_market
from connector.queues import enqueue_once, job_id, queue, run_stats
from connector.runner import FUNNEL_STAGES, summarise
from connector.runs import RunContext
from connector.tenants import Tenant
from connector.vault import new_key
from tests.crm_adapters.salesforce_fake import SalesforceFake
from tests.fakes.hubspot_server import FakeHubSpot, Server
from tests.test_end_to_end import AS_OF, workspace  # noqa: F401 - the fixture is shared

JANE = "jane@acme.io"


@dataclass
class CRM:
    tenant: str
    opt_out: Callable[[str], None]  # what a rep does in the CRM
    set_state: Callable[[str, str], None]  # a rep changes the contact's sequence_state in the CRM

    def state(self, email: str) -> tuple[bool, str | None]:
        [contact] = runtime.crm_for(self.tenant).get_contacts([email])
        return contact.email_opt_out, contact.fields.get("sequence_state")


@pytest.fixture(params=["local", "hubspot", "salesforce"])
def crm(request, tmp_path, redis_url, monkeypatch):
    for name, value in {"SALESOS_HOME": str(tmp_path / "home"), "SALESOS_VAULT_KEYS": new_key(),
                        "REDIS_URL": redis_url, "SALESOS_PUBLIC_URL": "https://salesos.example.com"}.items():
        monkeypatch.setenv(name, value)
    # The first steps (09:00 in New York, Toronto and Los Angeles on AS_OF) fall due when `run_now` runs them.
    monkeypatch.setattr(runtime, "now", lambda: dt.datetime(2026, 11, 2, 17, 30, tzinfo=dt.UTC))
    caches = (runtime.settings, runtime._tenant_crm, runtime.record_index, runtime._ledger, runtime._local_crm)
    for cached in caches:
        cached.cache_clear()
    if request.param == "local":
        def opt_out(email: str) -> None:
            with sqlite3.connect(runtime.settings().crm_path) as db:
                db.execute("UPDATE contacts SET email_opt_out = 1 WHERE email = ?", (email,))

        def set_state(email: str, state: str) -> None:
            with sqlite3.connect(runtime.settings().crm_path) as db:
                db.execute("UPDATE contacts SET sequence_state = ? WHERE email = ?", (state, email))
        yield CRM("local", opt_out, set_state)
    elif request.param == "hubspot":
        fake = FakeHubSpot()
        server = Server(fake)
        monkeypatch.setenv("HUBSPOT_API_BASE_URL", fake.url)
        runtime.settings.cache_clear()
        runtime.tenant_store().add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515",
                                          installed_at=dt.datetime.now(dt.UTC)), {"access_token": fake.token})
        yield CRM("hubspot-62515", lambda email: fake.find("contacts", "email", email)[1].update(
            hs_email_optout="true"), lambda email, state: fake.find("contacts", "email", email)[1].update(
            salesos_sequence_state=state))
        server.stop()
    else:
        fake = SalesforceFake()
        runtime.tenant_store().add(Tenant(id="salesforce-00D000000000001AAA", crm="salesforce",
                                          external_id="00D000000000001AAA", instance_url=fake.instance_url,
                                          installed_at=dt.datetime.now(dt.UTC)), {"access_token": "00D!session"})
        with fake.active():
            yield CRM("salesforce-00D000000000001AAA", lambda email: fake.contact(email).update(
                HasOptedOutOfEmail=True), lambda email, state: fake.contact(email).update(
                SalesOS_Sequence_State__c=state))
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def conn(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def run_funnel(conn, workspace, tenant: str, run_id: str) -> dict:  # noqa: F811 - the shared fixture's value
    _, market, data = workspace
    run = RunContext(run_id=run_id, tenant=tenant, market=load_market(market), data_files=[str(data)],
                     as_of=dt.date.fromisoformat(AS_OF))
    enqueue_once(conn, "source", source_job, {"run": run.model_dump(mode="json")},
                 job_key=job_id("run", run_id, "source", "0"), run_id=run_id)
    SimpleWorker([queue(name, conn) for name in FUNNEL_STAGES], connection=conn,
                 serializer=JSONSerializer).work(burst=True)
    summary = summarise(run_stats(conn, run_id))
    assert summary["crm_errors"] == [] and summary["stopped"] == []
    return summary


def scheduled_steps(conn) -> list[dict]:
    """The payloads of the outreach jobs waiting for their time."""
    outreach = queue("outreach", conn)
    return [outreach.fetch_job(key).args[0] for key in outreach.scheduled_job_registry.get_job_ids()]


def run_now(conn, payloads: list[dict]) -> list[dict]:
    """The steps fall due: each waiting job runs now, through a worker; returns their counts."""
    keys = [enqueue_once(conn, "outreach", outreach_job, payload, job_key=f"due-{n}").id
            for n, payload in enumerate(payloads)]
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    return [queue("outreach", conn).fetch_job(key).return_value() for key in keys]


def emailed() -> set[str]:
    outbox = runtime.settings().outbox
    return {message_from_bytes(path.read_bytes(), policy=default)["To"].addresses[0].addr_spec
            for path in outbox.glob("*.eml")} if outbox.exists() else set()


def test_a_due_step_leaves_alone_a_contact_a_rep_opted_out_and_stops_their_sequence(crm, conn, workspace):
    run_funnel(conn, workspace, crm.tenant, "run-1")
    waiting = [payload for payload in scheduled_steps(conn) if JANE in {item["email"] for item in payload["items"]}]
    assert waiting, "Jane's first step waits for its time"
    crm.opt_out(JANE)
    counts = run_now(conn, waiting)
    assert JANE not in emailed()
    assert sum(c["skipped_opted_out"] for c in counts) == 1
    assert sum(c["steps_done"] for c in counts) == sum(
        len(p["items"]) for p in waiting) - 1  # the others in her batch got theirs
    assert crm.state(JANE) == (True, "unsubscribed")
    assert JANE not in {item["email"] for payload in scheduled_steps(conn) for item in payload["items"]
                        if item["step_index"] > 0}  # no next step for her


def test_a_later_run_does_not_enroll_again_a_contact_a_rep_opted_out(crm, conn, workspace):
    run_funnel(conn, workspace, crm.tenant, "run-1")
    assert crm.state(JANE) == (False, "active")
    crm.opt_out(JANE)
    again = run_funnel(conn, workspace, crm.tenant, "run-2")
    assert again["sequences_not_started_opted_out"] == 1
    assert crm.state(JANE) == (True, "unsubscribed")
    [jane] = runtime.crm_for(crm.tenant).get_contacts([JANE])
    assert "next_touch_at" not in jane.fields
    waiting = [payload for payload in scheduled_steps(conn) if JANE in {item["email"] for item in payload["items"]}]
    run_now(conn, waiting)
    assert JANE not in emailed()


def test_a_contact_unsubscribed_through_salesos_is_not_enrolled_by_a_later_run_even_before_the_crm_knows(
        crm, conn, workspace):
    run_funnel(conn, workspace, crm.tenant, "run-1")
    ledger = runtime.ledger()
    ledger.unsubscribe(ledger.unsubscribe_tokens(crm.tenant, [JANE])[JANE])  # no worker has synced it yet
    again = run_funnel(conn, workspace, crm.tenant, "run-2")
    assert again["sequences_not_started_opted_out"] == 1
    assert crm.state(JANE)[1] == "unsubscribed"


def test_a_contact_who_opted_out_shows_stopped_even_where_a_rep_had_paused_the_sequence(crm, conn, workspace):
    run_funnel(conn, workspace, crm.tenant, "run-1")
    crm.set_state(JANE, "paused")
    crm.opt_out(JANE)
    run_funnel(conn, workspace, crm.tenant, "run-2")
    assert crm.state(JANE) == (True, "unsubscribed")
