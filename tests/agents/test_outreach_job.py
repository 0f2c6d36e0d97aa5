"""Outreach steps happen exactly once per contact and step, whatever RQ does."""

import datetime as dt
import logging
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import outreach_job
from connector import runtime
from connector.health import health_report, render
from connector.ledger import Ledger, effect_key
from connector.queues import enqueue_once, queue, release_due, run_failures, run_pending, run_retrying, run_stats
from connector.tenants import Tenant
from connector.vault import new_key
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.connector.retries import work_through_retries
from tests.crm_adapters.salesforce_fake import SalesforceFake

STEP = {"day": 0, "channel": "email", "action": "send_cold_email", "message_type": "problem_aware",
        "scheduled_at": "2026-11-02T09:00:00-05:00"}
CALL = STEP | {"day": 7, "channel": "phone", "action": "make_call", "message_type": "direct_pitch",
               "scheduled_at": "2026-11-09T09:00:00-05:00"}


DUE = dt.datetime(2026, 11, 2, 14, 5, tzinfo=dt.UTC)  # just after STEP's time: SalesOS's clock in these tests


def item(email="jane@acme.io", step_index=0, sequence=(STEP, CALL), name="Jane Roe"):
    return {"email": email, "name": name, "title": "CEO", "company_name": "Acme", "company_domain": "acme.io",
            "step_index": step_index, "sequence": list(sequence), "hooks": ["Raised Series B (2026-09-01)"],
            "objections": [{"objection": "Too expensive", "angle": "ROI"}]}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setattr(runtime, "now", lambda: DUE)
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
    assert "Opener:" in task.body and '- "Too expensive": ROI' in task.body  # the call script, drafted
    assert list((home / "outbox").glob("*.eml")) == []


def test_after_a_step_the_next_one_is_scheduled_and_the_contact_moves_on(home, conn):
    deliver(conn, "first", [item()])
    scheduled = queue("outreach", conn).scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1
    [contact] = LocalCRM(home / "crm.sqlite3").get_contacts(["jane@acme.io"])
    assert contact.fields["sequence_state"] == "active"
    assert contact.fields["next_touch_at"] == dt.datetime.fromisoformat(CALL["scheduled_at"])


def test_the_last_step_completes_the_sequence(home, conn):
    deliver(conn, "last", [item(step_index=1)])
    [contact] = LocalCRM(home / "crm.sqlite3").get_contacts(["jane@acme.io"])
    assert contact.fields["sequence_state"] == "finished"
    assert "next_touch_at" not in contact.fields


def test_an_unsubscribed_contact_gets_nothing(home, conn):
    ledger = Ledger(home / "salesos.sqlite3")
    ledger.unsubscribe(ledger.unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"])
    deliver(conn, "first", [item()])
    assert list((home / "outbox").glob("*.eml")) == []
    assert LocalCRM(home / "crm.sqlite3").get_activities() == []



def test_a_held_contact_who_unsubscribed_counts_as_unsubscribed_not_parked(home, conn):
    ledger = Ledger(home / "salesos.sqlite3")
    ledger.hold("local", "jane@acme.io", "paused in the CRM", DUE)
    ledger.unsubscribe(ledger.unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"])
    deliver(conn, "first", [item()])
    stats = queue("outreach", conn).fetch_job("first").return_value()
    assert (stats["skipped_unsubscribed"], stats["steps_parked"]) == (1, 0)


PUBLIC = "https://salesos.example.com"


def install(tenant: Tenant, token: str, env: dict[str, str], monkeypatch, redis_url: str) -> None:
    """Register the tenant in the SalesOS home, with the worker's environment."""
    for name, value in {"SALESOS_VAULT_KEYS": new_key(), "REDIS_URL": redis_url, "SALESOS_PUBLIC_URL": PUBLIC,
                        **env}.items():
        monkeypatch.setenv(name, value)
    for cached in (runtime.settings, runtime._tenant_crm, runtime.record_index):
        cached.cache_clear()  # each test has its own SALESOS_HOME
    runtime.tenant_store().add(tenant, {"access_token": token})


@pytest.fixture
def hubspot(home, redis_url, monkeypatch):
    """An installed HubSpot tenant on the local HubSpot server, which holds the contact jane@acme.io."""
    from tests.fakes.hubspot_server import FakeHubSpot, Server

    fake = FakeHubSpot()
    server = Server(fake)
    install(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
            fake.token, {"HUBSPOT_API_BASE_URL": fake.url}, monkeypatch, redis_url)
    runtime.crm_for("hubspot-62515").upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Roe")])
    yield fake
    runtime._tenant_crm.cache_clear()
    runtime.record_index.cache_clear()
    server.stop()


@pytest.fixture
def tenant(home, redis_url, monkeypatch):
    """An installed HubSpot tenant whose API budget is already spent (a share of 1 call is 0 calls)."""
    from tests.fakes.hubspot_server import FakeHubSpot, Server

    fake = FakeHubSpot()
    server = Server(fake)
    install(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
            fake.token, {"HUBSPOT_API_BASE_URL": fake.url, "HUBSPOT_DAILY_API_LIMIT": "1"}, monkeypatch, redis_url)
    yield "hubspot-62515"
    runtime._tenant_crm.cache_clear()
    runtime.record_index.cache_clear()
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
    assert (counts["skipped_opted_out"], counts["emails_sent"]) == (250, 0)
    assert list((home / "outbox").glob("*.eml")) == []
    # the check, then the rep-edit guard's read that each contact is still there (a consent stop creates none)
    assert portal.calls["/crm/v3/objects/contacts/batch/read"] == 3 + 3
    assert portal.calls["/crm/v3/objects/contacts/batch/upsert"] == 3  # their sequences stopped, 100 a call
    assert portal.total_calls == 9
    assert {p["salesos_sequence_state"] for p in portal.objects["contacts"].values()} == {"unsubscribed"}


def test_a_local_email_step_is_sent_into_the_local_smtp_sink_and_logged_as_sent(home, conn):
    deliver(conn, "first", [item()])
    [activity] = LocalCRM(home / "crm.sqlite3").get_activities()
    [eml] = (home / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes())
    assert activity.kind == "email" and activity.subject == message["Subject"]
    assert f"Message-ID: {message['Message-ID']}" in activity.body and "To: jane@acme.io" in activity.body


def test_a_follow_up_email_answers_the_first_email_of_its_sequence(home, conn):
    deliver(conn, "first", [item(sequence=(STEP, CALL, STEP))])
    deliver(conn, "third", [item(step_index=2, sequence=(STEP, CALL, STEP))])
    first, follow_up = sorted((message_from_bytes(p.read_bytes()) for p in (home / "outbox").glob("*.eml")),
                              key=lambda m: m["In-Reply-To"] is not None)
    assert follow_up["In-Reply-To"] == follow_up["References"] == first["Message-ID"]


def test_an_email_step_for_a_hubspot_tenant_is_an_open_email_task_holding_the_draft_never_a_sent_email(
        home, conn, hubspot):
    deliver_to(conn, "hubspot-62515", "first", [item()])
    assert hubspot.objects["emails"] == {}  # no email engagement, so none says SENT
    [task] = hubspot.objects["tasks"].values()
    assert (task["hs_task_type"], task["hs_task_status"]) == ("EMAIL", "NOT_STARTED")
    assert task["hs_task_subject"].startswith("Email Jane Roe (Acme): ")
    assert "it has not been sent" in task["hs_task_body"] and "To: Jane Roe <jane@acme.io>" in task["hs_task_body"]
    assert f"Unsubscribe: {PUBLIC}/unsubscribe/" in task["hs_task_body"]
    [link] = [a for a in hubspot.associations if a[0] == "tasks"]
    assert link[2:] == ("contacts", runtime.record_index("hubspot-62515").ids("contact", ["jane@acme.io"])[
        "jane@acme.io"])


@pytest.fixture
def salesforce(home, redis_url, monkeypatch):
    """An installed Salesforce tenant on the Salesforce fake, which holds the contact jane@acme.io."""
    fake = SalesforceFake()
    install(Tenant(id="salesforce-00D000000000001AAA", crm="salesforce", external_id="00D000000000001AAA",
                   instance_url=fake.instance_url, installed_at=dt.datetime.now(dt.UTC)), "00D!session-token", {},
            monkeypatch, redis_url)
    with fake.active():
        runtime.crm_for("salesforce-00D000000000001AAA").upsert_contacts([
            ContactWrite(email="jane@acme.io", name="Jane Roe")])
        yield fake
    runtime._tenant_crm.cache_clear()
    runtime.record_index.cache_clear()


def test_an_email_step_for_a_salesforce_tenant_is_an_open_task_holding_the_draft_never_a_completed_email(
        home, conn, salesforce):
    deliver_to(conn, "salesforce-00D000000000001AAA", "first", [item()])
    [task] = salesforce.tasks.values()
    assert (task["Status"], task.get("TaskSubtype")) == ("Not Started", "Task")
    assert task["WhoId"] == salesforce.contact("jane@acme.io")["Id"]
    assert task["Subject"].startswith("Email Jane Roe (Acme): ") and "it has not been sent" in task["Description"]
    assert f"Unsubscribe: {PUBLIC}/unsubscribe/" in task["Description"]


def test_without_an_https_public_url_a_tenants_email_step_waits_with_the_reason_and_runs_once_it_is_fixed(
        home, conn, hubspot, monkeypatch):
    monkeypatch.setenv("SALESOS_PUBLIC_URL", "http://127.0.0.1:5000")
    runtime.settings.cache_clear()
    outreach = queue("outreach", conn)
    call = item(email="jane@acme.io", step_index=1)
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "hubspot-62515", "items": [item()]}, job_key="email")
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "hubspot-62515", "items": [call]}, job_key="call")
    SimpleWorker([outreach], connection=conn, serializer=JSONSerializer).work(burst=True)
    counts = outreach.fetch_job("email").return_value()
    [stop] = counts["stopped"]
    assert "SALESOS_PUBLIC_URL is 'http://127.0.0.1:5000', not https" in stop["reason"]
    assert counts["steps_deferred"] == 1 and counts["emails_sent"] == 0
    assert list((home / "outbox").glob("*.eml")) == []
    assert [t["hs_task_type"] for t in hubspot.objects["tasks"].values()] == ["CALL"]  # other steps go on
    [waiting] = outreach.scheduled_job_registry.get_job_ids()  # the call was the sequence's last step
    in_an_hour = outreach.scheduled_job_registry.get_scheduled_time(waiting) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=55) < in_an_hour <= dt.timedelta(hours=1)
    assert not runtime.ledger().is_done("outreach:hubspot-62515:jane@acme.io:0")

    monkeypatch.setenv("SALESOS_PUBLIC_URL", PUBLIC)  # the operator fixes it and restarts the workers
    runtime.settings.cache_clear()
    job = outreach.fetch_job(waiting)
    outreach.scheduled_job_registry.remove(job)
    outreach.enqueue_job(job)  # its hour has come
    SimpleWorker([outreach], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert outreach.fetch_job(waiting).return_value()["emails_drafted"] == 1
    [draft] = [t for t in hubspot.objects["tasks"].values() if t["hs_task_type"] == "EMAIL"]
    assert f"Unsubscribe: {PUBLIC}/unsubscribe/" in draft["hs_task_body"]
    assert runtime.ledger().is_done("outreach:hubspot-62515:jane@acme.io:0")


# --- steps that fell due long ago (no worker ran) ---------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
A_MONTH_LATE = dt.datetime(2026, 12, 2, 15, tzinfo=dt.UTC)  # a Wednesday, 10:00 in New York


def in_new_york(step_index=0) -> dict:
    return item(step_index=step_index) | {"timezone": "America/New_York", "country": "US"}


def waiting_steps(conn) -> list[tuple[dt.datetime, dict]]:
    """The outreach jobs waiting for their time, with that time."""
    registry = queue("outreach", conn).scheduled_job_registry
    return sorted((registry.get_scheduled_time(key), queue("outreach", conn).fetch_job(key).args[0])
                  for key in registry.get_job_ids())


def test_a_step_overdue_past_the_grace_moves_to_the_contact_s_next_send_window_with_its_sequence(home, conn,
                                                                                                  monkeypatch):
    monkeypatch.setattr(runtime, "now", lambda: A_MONTH_LATE)
    deliver(conn, "a-month-late", [in_new_york()])
    assert list((home / "outbox").glob("*.eml")) == [] and LocalCRM(home / "crm.sqlite3").get_activities() == []
    assert queue("outreach", conn).fetch_job("a-month-late").return_value()["steps_moved"] == 1
    [(at, payload)] = waiting_steps(conn)
    assert at == dt.datetime(2026, 12, 3, 9, tzinfo=NEW_YORK)  # Thursday 09:00 where Jane is: 10:00 has passed
    assert [step["scheduled_at"] for step in payload["items"][0]["sequence"]] == [
        "2026-12-03T09:00:00-05:00", "2026-12-10T09:00:00-05:00"]  # the call still comes 7 days after the email
    [jane] = LocalCRM(home / "crm.sqlite3").get_contacts(["jane@acme.io"])
    assert jane.fields["next_touch_at"] == at  # the rep sees when it happens now

    monkeypatch.setattr(runtime, "now", lambda: at + dt.timedelta(minutes=1))  # the moved step falls due
    deliver(conn, "moved", payload["items"])
    assert len(list((home / "outbox").glob("*.eml"))) == 1
    [following] = [at for at, payload in waiting_steps(conn) if payload["items"][0]["step_index"] == 1]
    assert following == dt.datetime(2026, 12, 10, 9, tzinfo=NEW_YORK)


def test_a_step_a_few_hours_late_runs_and_one_a_rep_or_a_demo_asked_for_runs_however_late(home, conn, monkeypatch):
    monkeypatch.setattr(runtime, "now", lambda: DUE + dt.timedelta(hours=5, minutes=55))
    deliver(conn, "hours-late", [in_new_york()])
    assert len(list((home / "outbox").glob("*.eml"))) == 1
    monkeypatch.setattr(runtime, "now", lambda: A_MONTH_LATE)
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "local", "items": [item(email="sam@acme.io")],
                                                  "on_request": True}, job_key="send-now")
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert len(list((home / "outbox").glob("*.eml"))) == 2


def test_the_grace_is_a_setting(home, conn, monkeypatch):
    monkeypatch.setenv("SALESOS_OVERDUE_GRACE", str(40 * 24 * 3600))
    runtime.settings.cache_clear()
    monkeypatch.setattr(runtime, "now", lambda: A_MONTH_LATE)
    deliver(conn, "within-40-days", [in_new_york()])
    assert len(list((home / "outbox").glob("*.eml"))) == 1


def test_a_step_queued_before_steps_carried_a_zone_moves_in_the_offset_it_was_planned_in(home, conn, monkeypatch):
    monkeypatch.setattr(runtime, "now", lambda: A_MONTH_LATE)
    deliver(conn, "old-item", [item()])  # no "timezone": its times say -05:00
    [(at, _)] = waiting_steps(conn)
    assert at == dt.datetime(2026, 12, 3, 9, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def test_a_worker_logs_one_line_per_step_it_executes_or_moves(home, conn, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="agents.jobs.steps")
    deliver(conn, "on-time", [in_new_york()])
    monkeypatch.setattr(runtime, "now", lambda: A_MONTH_LATE)
    deliver(conn, "late", [in_new_york() | {"email": "sam@acme.io"}])
    assert [record.getMessage() for record in caplog.records if record.name == "agents.jobs.steps"] == [
        "executed step 1 of 2 (send_cold_email, email) for jane@acme.io of tenant local, planned for "
        "2026-11-02T09:00:00-05:00",
        "moved step 1 of 2 (send_cold_email, email) for sam@acme.io of tenant local, planned for "
        "2026-11-02T09:00:00-05:00: 30 d 1 h overdue; now due 2026-12-03 09:00:00-05:00",
    ]


# --- failures: retried in minutes and hours, one record failing alone ------------------------------------------

HUBSPOT = "hubspot-62515"


def work(conn):
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)


def hubspot_down(fake):
    """Every HubSpot call answers 503 (Retry-After 0, so the adapter's own retries end at once) until cleared."""
    fake.fail("/crm/v3/", 503, {"status": "error", "message": "Service Unavailable"}, headers={"Retry-After": "0"},
              times=1_000_000)


def test_a_one_minute_hubspot_outage_costs_a_step_a_delay_not_its_retries(home, conn, hubspot):
    key = effect_key("outreach", HUBSPOT, "jane@acme.io", 1)
    hubspot_down(hubspot)
    failed_at = dt.datetime.now(dt.UTC)
    enqueue_once(conn, "outreach", outreach_job, {"tenant": HUBSPOT, "items": [item(step_index=1)]}, job_key="call",
                 run_id="run-1")
    work(conn)
    outreach = queue("outreach", conn)
    assert outreach.failed_job_registry.count == 0 and run_pending(conn, "run-1") == 1
    due = outreach.scheduled_job_registry.get_scheduled_time("call")
    assert due >= failed_at + dt.timedelta(minutes=1)  # no attempt is made while a one-minute outage lasts
    [waiting] = run_retrying(conn, "run-1")
    assert "HubSpot answered 503" in waiting["error"] and (waiting["attempt"], waiting["attempts"]) == (1, 6)
    assert runtime.ledger().claimed() == []  # nothing holds the step while it waits
    hubspot.failures.clear()  # a minute on, HubSpot is back
    assert release_due(conn, "run-1", ["outreach"], now=due) == 1
    work(conn)
    assert run_failures(conn, "run-1") == {} and run_pending(conn, "run-1") == 0
    assert [task["hs_task_subject"] for task in hubspot.objects["tasks"].values()] == ["Call Jane Roe (Acme)"]
    assert runtime.ledger().is_done(key)


def test_a_step_out_of_retries_is_listed_by_health_with_its_run_tenant_and_contact(home, conn, hubspot):
    key = effect_key("outreach", HUBSPOT, "jane@acme.io", 1)
    hubspot_down(hubspot)  # and it stays down through every retry
    enqueue_once(conn, "outreach", outreach_job, {"tenant": HUBSPOT, "items": [item(step_index=1)]}, job_key="call",
                 run_id="run-1")
    work_through_retries(conn, "outreach")
    report = health_report(runtime.settings(), conn)
    [failed] = report.failed_jobs
    assert (failed.job_id, failed.run_id, failed.tenant, failed.contacts) == ("call", "run-1", HUBSPOT,
                                                                               ["jane@acme.io"])
    assert "HubSpot answered 503" in failed.error
    assert f"run run-1, tenant {HUBSPOT}, contacts jane@acme.io" in render(report)
    assert runtime.ledger().claimed() == [] and not runtime.ledger().is_done(key)
    assert hubspot.objects["tasks"] == {}


def test_a_step_hubspot_refuses_fails_alone_with_its_key_and_reason_and_leaves_no_claim(home, conn, hubspot):
    runtime.crm_for(HUBSPOT).upsert_contacts([ContactWrite(email="john@acme.io", name="John Poe"),
                                              ContactWrite(email="mary@acme.io", name="Mary Major")])
    hubspot.whole_batch_validation = True  # HubSpot refuses the whole batch create for one bad input
    hubspot.reject_values["Call John Poe (Acme)"] = 'Property "hs_task_subject" is not valid'
    people = {"jane@acme.io": "Jane Roe", "john@acme.io": "John Poe", "mary@acme.io": "Mary Major"}
    steps = [item(email=email, name=name, sequence=(CALL, CALL)) for email, name in people.items()]
    enqueue_once(conn, "outreach", outreach_job, {"tenant": HUBSPOT, "items": steps}, job_key="calls", run_id="run-1")
    work(conn)
    [counts] = run_stats(conn, "run-1")
    john = effect_key("outreach", HUBSPOT, "john@acme.io", 0)
    [refused] = counts["crm_errors"]
    assert refused["key"] == john and '"hs_task_subject" is not valid' in refused["reason"]
    assert (counts["steps_done"], counts["steps_failed"], counts["tasks_created"]) == (2, 1, 2)
    assert sorted(task["hs_task_subject"] for task in hubspot.objects["tasks"].values()) == [
        "Call Jane Roe (Acme)", "Call Mary Major (Acme)"]
    ledger = runtime.ledger()
    assert [ledger.is_done(effect_key("outreach", HUBSPOT, email, 0)) for email in people] == [True, False, True]
    assert ledger.claimed() == []
    [following] = queue("outreach", conn).scheduled_job_registry.get_job_ids()  # the next step, for those sent
    assert [i["email"] for i in queue("outreach", conn).fetch_job(following).args[0]["items"]] == [
        "jane@acme.io", "mary@acme.io"]
    states = {c.email: c.fields.get("sequence_state") for c in runtime.crm_for(HUBSPOT).get_contacts(list(people))}
    assert states == {"jane@acme.io": "active", "john@acme.io": None, "mary@acme.io": "active"}


def test_a_task_salesforce_refuses_fails_alone_and_the_rest_of_its_batch_is_created(home, conn, salesforce):
    tenant = "salesforce-00D000000000001AAA"
    runtime.crm_for(tenant).upsert_contacts([ContactWrite(email="john@acme.io", name="John Poe")])
    steps = [item(sequence=(CALL, CALL)), item(email="john@acme.io", name="John " + "Poe" * 90, sequence=(CALL, CALL))]
    enqueue_once(conn, "outreach", outreach_job, {"tenant": tenant, "items": steps}, job_key="calls", run_id="run-1")
    work(conn)
    [counts] = run_stats(conn, "run-1")
    jane, john = (effect_key("outreach", tenant, email, 0) for email in ("jane@acme.io", "john@acme.io"))
    [refused] = counts["crm_errors"]
    assert refused["key"] == john and "STRING_TOO_LONG" in refused["reason"] and "Subject" in refused["reason"]
    assert [task["Subject"] for task in salesforce.tasks.values()] == ["Call Jane Roe (Acme)"]
    assert runtime.ledger().is_done(jane) and not runtime.ledger().is_done(john)
    assert runtime.ledger().claimed() == []


def test_a_step_whose_name_would_forge_an_email_header_fails_alone_and_the_rest_of_its_batch_is_sent(home, conn):
    """A name with a line break (in a step an older SalesOS queued: ingestion strips them now) cannot become a To
    header; that step is reported, the others are written."""
    steps = [item(name="Jane\nBcc: everyone@acme.io"), item(email="john@acme.io", name="John Poe")]
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "local", "items": steps}, job_key="emails",
                 run_id="run-1")
    work(conn)
    assert queue("outreach", conn).failed_job_registry.count == 0
    [counts] = run_stats(conn, "run-1")
    jane, john = (effect_key("outreach", "local", email, 0) for email in ("jane@acme.io", "john@acme.io"))
    [failed] = counts["record_errors"]
    assert failed["key"] == jane and failed["reason"].startswith("HeaderParseError: ")
    assert (counts["steps_done"], counts["steps_failed"], counts["emails_sent"]) == (1, 1, 1)
    [eml] = (home / "outbox").glob("*.eml")
    assert b"To: John Poe <john@acme.io>" in eml.read_bytes()
    assert [a.contact_email for a in LocalCRM(home / "crm.sqlite3").get_activities()] == ["john@acme.io"]
    assert runtime.ledger().is_done(john) and not runtime.ledger().is_done(jane)
    assert runtime.ledger().claimed() == []
