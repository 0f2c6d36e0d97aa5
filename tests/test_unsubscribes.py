"""An unsubscribe click: the ledger stops every send at once, and one engagement job writes the tenant's CRM.

Everything is real but the CRMs: the Flask app, Redis, an RQ worker, the ledger,
the local CRM, hubspot-api-client against the local HubSpot server and
simple-salesforce against the Salesforce fake.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.consent_jobs import sync_unsubscribe_job
from connector import runtime
from connector.health import health_report, render
from connector.queues import queue
from connector.tenants import Tenant
from connector.unsubscribes import (
    JOB_SIZE, PASS_LIMIT, PASS_LOCK, RETRY_AFTER, enqueue_sync, requeue_unsynced, batch_job_id,
)
from connector.vault import new_key
from crm_adapters.base import ContactWrite
from tests.connector.retries import work_through_retries
from tests.connector.test_ledger import waiting
from tests.crm_adapters.salesforce_fake import SalesforceFake
from tests.fakes.hubspot_server import FakeHubSpot, Server
from tests.test_end_to_end import ROOT
from webhooks.app import create_app

HUBSPOT = "hubspot-62515"
SALESFORCE = "salesforce-00D000000000001AAA"
JANE = "jane@acme.io"


@pytest.fixture
def home(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    monkeypatch.setenv("REDIS_URL", redis_url)
    caches = (runtime.settings, runtime._tenant_crm, runtime.record_index, runtime._ledger, runtime._local_crm)
    for cached in caches:
        cached.cache_clear()
    yield tmp_path
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def hubspot(home, monkeypatch):
    fake = FakeHubSpot()
    server = Server(fake)
    monkeypatch.setenv("HUBSPOT_API_BASE_URL", fake.url)
    runtime.settings.cache_clear()
    runtime.tenant_store().add(Tenant(id=HUBSPOT, crm="hubspot", external_id="62515",
                                      installed_at=dt.datetime.now(dt.UTC)), {"access_token": fake.token})
    yield fake
    server.stop()


@pytest.fixture
def salesforce(home):
    fake = SalesforceFake()
    runtime.tenant_store().add(Tenant(id=SALESFORCE, crm="salesforce", external_id="00D000000000001AAA",
                                      instance_url=fake.instance_url, installed_at=dt.datetime.now(dt.UTC)),
                               {"access_token": "00D!session-token"})
    with fake.active():
        yield fake


def in_sequence(tenant: str, email: str = JANE) -> None:
    """SalesOS sequenced the contact in the tenant's CRM, through the same guarded adapter the jobs use."""
    written = runtime.crm_for(tenant).upsert_contacts([ContactWrite(
        email=email, name="Jane Roe", company_domain="acme.io",
        fields={"sequence_state": "active", "next_touch_at": dt.datetime(2026, 12, 7, 14, tzinfo=dt.UTC)})])
    assert not written.errors


def click(client, tenant: str, email: str = JANE):
    token = runtime.ledger().unsubscribe_tokens(tenant, [email])[email]
    return client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")


def work(conn) -> None:
    SimpleWorker([queue("engagement", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)


def app(redis_url: str):
    return create_app(redis_url=redis_url, settings=runtime.settings()).test_client()


def test_an_unsubscribe_stops_sends_at_once_and_one_job_opts_the_local_contact_out(home, redis_url, conn):
    in_sequence("local")
    assert click(app(redis_url), "local").status_code == 200
    assert runtime.ledger().unsubscribed("local", [JANE]) == {JANE}  # before any worker ran
    assert queue("engagement", conn).job_ids == [batch_job_id("local", [JANE])]
    assert click(app(redis_url), "local").status_code == 200 and queue("engagement", conn).count == 1
    work(conn)
    [jane] = runtime.crm_for("local").get_contacts([JANE])
    assert jane.email_opt_out is True and jane.fields["sequence_state"] == "unsubscribed"
    assert "next_touch_at" not in jane.fields
    assert waiting(runtime.ledger()) == []


def test_an_unsubscribe_opts_the_contact_out_in_hubspot_and_stops_its_sequence_in_the_same_job(
        home, redis_url, conn, hubspot):
    in_sequence(HUBSPOT)
    click(app(redis_url), HUBSPOT)
    before = dict(hubspot.calls)
    work(conn)
    [(_, jane)] = [(i, p) for i, p in hubspot.objects["contacts"].items() if p["email"] == JANE]
    assert (jane["hs_email_optout"], jane["salesos_sequence_state"], jane["salesos_next_touch_at"]) == (
        "true", "unsubscribed", "")
    assert hubspot.unsubscribed_from_all == [JANE]
    calls = {path: count - before.get(path, 0) for path, count in hubspot.calls.items() if count != before.get(path)}
    assert calls == {f"/communication-preferences/v4/statuses/{JANE}/unsubscribe-all": 1,
                     "/crm/v3/objects/contacts/batch/read": 2,  # is the contact there; the rep-edit guard's read
                     "/crm/v3/objects/contacts/batch/upsert": 1}
    assert waiting(runtime.ledger()) == []


def test_the_same_unsubscribe_job_run_again_costs_no_crm_call(home, redis_url, conn, hubspot):
    in_sequence(HUBSPOT)
    click(app(redis_url), HUBSPOT)
    work(conn)
    queue("engagement", conn).fetch_job(batch_job_id(HUBSPOT, [JANE])).delete()
    before = hubspot.total_calls
    assert not enqueue_sync(conn, runtime.ledger(), HUBSPOT, [JANE])  # nothing waits: nothing queued
    queue("engagement", conn).enqueue(sync_unsubscribe_job, {"tenant": HUBSPOT, "emails": [JANE]})  # a stray one
    work(conn)
    assert hubspot.total_calls == before and hubspot.unsubscribed_from_all == [JANE]


def test_an_unsubscribe_ticks_has_opted_out_of_email_on_the_salesforce_contact_and_its_leads(
        home, redis_url, conn, salesforce):
    in_sequence(SALESFORCE)
    lead = salesforce.add_lead(JANE)
    click(app(redis_url), SALESFORCE)
    work(conn)
    jane = salesforce.contact(JANE)
    assert (jane["HasOptedOutOfEmail"], jane["SalesOS_Sequence_State__c"], jane["SalesOS_Next_Touch_At__c"]) == (
        True, "unsubscribed", None)
    assert salesforce.leads[lead]["HasOptedOutOfEmail"] is True
    assert waiting(runtime.ledger()) == []


def test_with_redis_down_the_person_is_unsubscribed_and_the_dispatchers_idle_pass_queues_the_crm_write(
        home, conn, tmp_path):
    in_sequence("local")
    down = app(f"unix://{tmp_path}/no-redis.sock")
    response = click(down, "local")
    assert response.status_code == 200 and b"You will not get further emails" in response.data
    assert runtime.ledger().unsubscribed("local", [JANE]) == {JANE}
    assert waiting(runtime.ledger()) == [("local", JANE)]
    assert requeue_unsynced(conn, runtime.ledger()) == 1
    work(conn)
    [jane] = runtime.crm_for("local").get_contacts([JANE])
    assert jane.email_opt_out is True and jane.fields["sequence_state"] == "unsubscribed"
    assert waiting(runtime.ledger()) == []


def test_a_refused_opt_out_still_stops_the_sequence_and_is_queued_again_with_the_scope_to_grant_until_it_lands(
        home, redis_url, conn, hubspot):
    in_sequence(HUBSPOT)
    hubspot.scopes.clear()  # a portal installed before SalesOS asked for communication_preferences.write
    click(app(redis_url), HUBSPOT)
    work_through_retries(conn, "engagement")
    engagement = queue("engagement", conn)
    assert engagement.failed_job_registry.get_job_ids() == [batch_job_id(HUBSPOT, [JANE])]
    assert waiting(runtime.ledger()) == [(HUBSPOT, JANE)]
    [jane] = [p for p in hubspot.objects["contacts"].values() if p["email"] == JANE]
    assert (jane["salesos_sequence_state"], jane["salesos_next_touch_at"], jane.get("hs_email_optout")) == (
        "unsubscribed", "", None)  # the rep sees at once that no touch comes; the opt-out itself waits
    [backlog] = health_report(runtime.settings(), conn).unsubscribes
    assert (backlog.tenant, backlog.waiting, backlog.abandoned) == (HUBSPOT, 1, 0)
    assert "communication_preferences.write" in backlog.reason and "re-install" in backlog.reason
    hubspot.scopes.add("communication_preferences.write")  # the admin re-installed the app
    conn.delete(PASS_LOCK)
    assert requeue_unsynced(conn, runtime.ledger()) == 0  # failed just now: not yet
    conn.delete(PASS_LOCK)
    assert requeue_unsynced(conn, runtime.ledger(), now=dt.datetime.now(dt.UTC) + RETRY_AFTER) == 1
    work(conn)
    assert (jane["hs_email_optout"], jane["salesos_sequence_state"]) == ("true", "unsubscribed")
    assert waiting(runtime.ledger()) == [] and health_report(runtime.settings(), conn).unsubscribes == []


def test_a_forged_token_unsubscribes_nobody_and_queues_nothing(home, redis_url, conn):
    assert app(redis_url).post("/unsubscribe/forged-token").status_code == 404
    assert queue("engagement", conn).count == 0 and waiting(runtime.ledger()) == []


def test_the_idle_pass_looks_once_a_minute_whichever_dispatcher_calls_it(home, redis_url, conn):
    ledger = runtime.ledger()
    ledger.unsubscribe(ledger.unsubscribe_tokens("local", [JANE])[JANE])
    other_dispatcher = redis.Redis.from_url(redis_url)
    assert requeue_unsynced(conn, ledger) == 1
    queue("engagement", conn).empty()  # the job was lost
    later = dt.datetime.now(dt.UTC) + RETRY_AFTER
    assert requeue_unsynced(other_dispatcher, ledger, now=later) == 0
    conn.delete(PASS_LOCK)  # a minute later
    assert requeue_unsynced(other_dispatcher, ledger, now=later) == 1
    other_dispatcher.close()


def test_dispatch_queues_the_crm_write_of_an_unsubscribe_made_while_redis_was_down(home, redis_url, conn):
    ledger = runtime.ledger()
    ledger.unsubscribe(ledger.unsubscribe_tokens("local", [JANE])[JANE])
    result = subprocess.run([sys.executable, "-m", "connector", "dispatch", "--burst"], cwd=ROOT,
                            env={**os.environ, "SALESOS_HOME": str(home), "REDIS_URL": redis_url},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [job.args for job in queue("engagement", conn).jobs] == [[{"tenant": "local", "emails": [JANE]}]]


def test_an_unsubscribe_stops_a_sequence_a_rep_had_paused_and_clears_its_next_touch(home, redis_url, conn, hubspot):
    in_sequence(HUBSPOT)
    [jane] = [p for p in hubspot.objects["contacts"].values() if p["email"] == JANE]
    jane["salesos_sequence_state"] = "paused"  # a rep paused it in HubSpot, before the person unsubscribed
    click(app(redis_url), HUBSPOT)
    work(conn)
    assert (jane["salesos_sequence_state"], jane["salesos_next_touch_at"], jane["hs_email_optout"]) == (
        "unsubscribed", "", "true")
    assert waiting(runtime.ledger()) == []


def test_an_unsubscribe_of_an_uninstalled_tenant_is_abandoned_with_the_reason_shown_by_health_and_never_retried(
        home, redis_url, conn, hubspot):
    in_sequence(HUBSPOT)
    click(app(redis_url), HUBSPOT)
    runtime.tenant_store().remove(HUBSPOT)
    work(conn)
    assert queue("engagement", conn).failed_job_registry.count == 0
    assert waiting(runtime.ledger()) == []
    assert runtime.ledger().unsubscribed(HUBSPOT, [JANE]) == {JANE}  # SalesOS still sends it nothing
    [backlog] = health_report(runtime.settings(), conn).unsubscribes
    assert (backlog.tenant, backlog.waiting, backlog.abandoned) == (HUBSPOT, 0, 1)
    assert f"{HUBSPOT!r} is not installed" in backlog.reason
    assert "abandoned" in render(health_report(runtime.settings(), conn))
    for days in (1, 30):
        conn.delete(PASS_LOCK)
        assert requeue_unsynced(conn, runtime.ledger(), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=days)) == 0


@pytest.mark.parametrize("tenant", ["local", HUBSPOT])
def test_an_unsubscribe_of_a_contact_gone_from_the_crm_creates_nothing_and_counts_as_synced_with_a_note(
        home, redis_url, conn, hubspot, tenant):
    if tenant == HUBSPOT:
        in_sequence(HUBSPOT)
        [contact_id] = [i for i, p in hubspot.objects["contacts"].items() if p["email"] == JANE]
        del hubspot.objects["contacts"][contact_id]  # a rep deleted it, perhaps on the person's request
    click(app(redis_url), tenant)
    before = dict(hubspot.calls)
    work(conn)
    calls = {path: n - before.get(path, 0) for path, n in hubspot.calls.items() if n != before.get(path)}
    assert runtime.crm_for(tenant).get_contacts([JANE]) == []
    assert waiting(runtime.ledger()) == []
    result = queue("engagement", conn).fetch_job(batch_job_id(tenant, [JANE])).return_value()
    assert result["unsubscribes_not_in_crm"] == 1 and result["unsubscribes_synced"] == 0
    if tenant == HUBSPOT:  # HubSpot keeps the address's own opt-out, contact or not: a contact made later has it
        assert calls == {"/crm/v3/objects/contacts/batch/read": 1,
                         f"/communication-preferences/v4/statuses/{JANE}/unsubscribe-all": 1}
        assert hubspot.unsubscribed_from_all == [JANE] and hubspot.objects["contacts"] == {}


def test_an_unsubscribe_of_a_contact_gone_from_salesforce_still_opts_out_the_reps_leads_and_contacts_with_that_email(
        home, redis_url, conn, salesforce):
    in_sequence(SALESFORCE)
    del salesforce.contacts[salesforce.contact(JANE)["Id"]]  # SalesOS's contact, deleted by a rep
    lead, reps_contact = salesforce.add_lead(JANE), salesforce.add_contact(JANE.upper())
    click(app(redis_url), SALESFORCE)
    before = salesforce.calls
    work(conn)
    assert salesforce.leads[lead]["HasOptedOutOfEmail"] is True
    assert salesforce.contacts[reps_contact]["HasOptedOutOfEmail"] is True
    assert list(salesforce.contacts) == [reps_contact]  # nothing created
    assert salesforce.calls - before == 4  # SalesOS's contact, the Contacts and Leads with the address, one update
    result = queue("engagement", conn).fetch_job(batch_job_id(SALESFORCE, [JANE])).return_value()
    assert result["unsubscribes_not_in_crm"] == 1 and waiting(runtime.ledger()) == []


def test_after_an_upgrade_each_idle_pass_queues_a_bounded_batch_per_tenant_written_with_batch_upserts(
        home, redis_url, conn, hubspot):
    ledger = runtime.ledger()
    emails = {HUBSPOT: [f"person{n}@acme.io" for n in range(3)],
              "local": [f"person{n}@northwind.ca" for n in range(PASS_LIMIT + 20)]}
    for tenant, batch in emails.items():  # unsubscribes recorded before syncing existed: none was ever queued
        runtime.crm_for(tenant).upsert_contacts([ContactWrite(email=email, fields={"sequence_state": "active"})
                                                 for email in batch])
        for token in ledger.unsubscribe_tokens(tenant, batch).values():
            ledger.unsubscribe(token)
    engagement = queue("engagement", conn)
    before = dict(hubspot.calls)

    assert requeue_unsynced(conn, ledger) == PASS_LIMIT  # the oldest first, the HubSpot ones among them
    sizes = sorted((job.args[0]["tenant"], len(job.args[0]["emails"])) for job in engagement.jobs)
    local_first = PASS_LIMIT - 3
    assert sizes == [(HUBSPOT, 3)] + sorted(("local", size) for size in
                                            [JOB_SIZE] * (local_first // JOB_SIZE) + [local_first % JOB_SIZE])
    conn.delete(PASS_LOCK)  # a minute later: the rest
    assert requeue_unsynced(conn, ledger) == 23
    conn.delete(PASS_LOCK)
    assert requeue_unsynced(conn, ledger) == 0
    work(conn)

    assert waiting(ledger) == []
    local = runtime.crm_for("local").get_contacts(emails["local"])
    assert len(local) == PASS_LIMIT + 20 and all(c.email_opt_out and c.fields["sequence_state"] == "unsubscribed"
                                                 for c in local)
    calls = {path: count - before.get(path, 0) for path, count in hubspot.calls.items() if count != before.get(path)}
    assert calls == {**{f"/communication-preferences/v4/statuses/{email}/unsubscribe-all": 1
                        for email in emails[HUBSPOT]},  # one call per contact: HubSpot has no batch form
                     "/crm/v3/objects/contacts/batch/read": 2,  # which contacts exist; the rep-edit guard's read
                     "/crm/v3/objects/contacts/batch/upsert": 1}


def test_a_job_queued_by_an_older_salesos_with_one_email_still_syncs_it(home, conn):
    in_sequence("local")
    ledger = runtime.ledger()
    ledger.unsubscribe(ledger.unsubscribe_tokens("local", [JANE])[JANE])
    queue("engagement", conn).enqueue(sync_unsubscribe_job, {"tenant": "local", "email": JANE.upper()})
    work(conn)
    assert runtime.crm_for("local").get_contacts([JANE])[0].email_opt_out is True
    assert waiting(ledger) == []


def test_an_unsubscribe_abandoned_while_its_tenant_was_uninstalled_reaches_its_crm_once_it_is_installed_again(
        home, redis_url, conn, hubspot):
    in_sequence(HUBSPOT)
    click(app(redis_url), HUBSPOT)
    runtime.tenant_store().remove(HUBSPOT)
    work(conn)
    assert health_report(runtime.settings(), conn).unsubscribes[0].abandoned == 1
    runtime.tenant_store().add(Tenant(id=HUBSPOT, crm="hubspot", external_id="62515",
                                      installed_at=dt.datetime.now(dt.UTC)), {"access_token": hubspot.token})
    [backlog] = health_report(runtime.settings(), conn).unsubscribes
    assert (backlog.waiting, backlog.abandoned) == (1, 0)
    conn.delete(PASS_LOCK)
    assert requeue_unsynced(conn, runtime.ledger()) == 1  # at once: it was never queued to this installation
    work(conn)
    assert hubspot.unsubscribed_from_all == [JANE]
    assert waiting(runtime.ledger()) == [] and health_report(runtime.settings(), conn).unsubscribes == []


@pytest.mark.parametrize("failing", ["/crm/v3/objects/contacts/batch/read", "/unsubscribe-all"])
def test_a_crm_refusal_with_a_huge_message_is_kept_as_a_clipped_note(home, redis_url, conn, hubspot, failing):
    """Health shows the note: a CRM (or a proxy before it) answering megabytes must not fill the ledger with them."""
    in_sequence(HUBSPOT)
    hubspot.fail(failing, 400, {"status": "error", "message": "refused " + "x" * 20_000}, times=50)
    click(app(redis_url), HUBSPOT)
    work(conn)
    assert waiting(runtime.ledger()) == [(HUBSPOT, JANE)]
    [backlog] = health_report(runtime.settings(), conn).unsubscribes
    assert "refused" in backlog.reason and len(backlog.reason) <= 500


def unsubscribed_before_syncing(tenant: str, emails: list[str]) -> None:
    """Unsubscribes the ledger holds and no job was ever queued for (as after an upgrade, or with Redis down)."""
    ledger = runtime.ledger()
    runtime.crm_for(tenant).upsert_contacts([ContactWrite(email=email, fields={"sequence_state": "active"})
                                             for email in emails])
    for token in ledger.unsubscribe_tokens(tenant, emails).values():
        ledger.unsubscribe(token)


def test_a_backlog_still_waiting_in_a_stalled_queue_is_not_queued_again_by_later_passes(home, redis_url, conn):
    """Workers down for hours: each retry pass used to add one more job for the same backlog."""
    unsubscribed_before_syncing("local", [f"person{n}@northwind.ca" for n in range(3)])
    engagement, start = queue("engagement", conn), dt.datetime.now(dt.UTC)
    assert requeue_unsynced(conn, runtime.ledger(), now=start) == 3
    for retries in (1, 2, 3):
        conn.delete(PASS_LOCK)
        assert requeue_unsynced(conn, runtime.ledger(), now=start + retries * RETRY_AFTER) == 0
    assert engagement.count == 1
    work(conn)
    assert waiting(runtime.ledger()) == []


def test_a_pass_whose_ledger_mark_was_lost_finds_its_job_queued_and_queues_no_second(home, redis_url, conn):
    import sqlite3

    unsubscribed_before_syncing("local", [f"person{n}@northwind.ca" for n in range(3)])
    assert requeue_unsynced(conn, runtime.ledger()) == 3
    with sqlite3.connect(runtime.settings().state_path) as db:  # the dispatcher died between the enqueue and the mark
        assert db.execute("UPDATE unsubscribes SET queued_at = NULL").rowcount == 3
    conn.delete(PASS_LOCK)
    assert requeue_unsynced(conn, runtime.ledger()) == 0
    assert queue("engagement", conn).count == 1
    assert runtime.ledger().due_unsubscribes(dt.datetime.now(dt.UTC) - RETRY_AFTER, PASS_LIMIT) == []  # noted now


def test_a_batch_whose_job_failed_is_queued_again_after_the_retry_delay(home, redis_url, conn, hubspot):
    emails = [f"person{n}@acme.io" for n in range(3)]
    unsubscribed_before_syncing(HUBSPOT, emails)
    hubspot.scopes.clear()  # the opt-outs are refused until the admin re-installs the app
    start = dt.datetime.now(dt.UTC)
    assert requeue_unsynced(conn, runtime.ledger(), now=start) == 3
    work_through_retries(conn, "engagement")
    assert queue("engagement", conn).failed_job_registry.count == 1
    hubspot.scopes.add("communication_preferences.write")
    conn.delete(PASS_LOCK)
    assert requeue_unsynced(conn, runtime.ledger(), now=start + 2 * RETRY_AFTER) == 3
    work(conn)
    assert waiting(runtime.ledger()) == [] and sorted(hubspot.unsubscribed_from_all) == emails
