"""The outreach job sends from the owner's mailbox, within the prospect's window and the mailbox's caps; what a cap
or a closed window refuses moves to a later window, never dropped."""

import datetime as dt

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import outreach_job
from connector import runtime
from connector.mailboxes import Mailbox, Mailboxes, SmtpSettings
from connector.queues import enqueue_once, queue
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.connector.channels.smtp_servers import Recorder, smtp_server

STEP = {"day": 0, "channel": "email", "action": "send_cold_email", "message_type": "problem_aware",
        "scheduled_at": "2026-11-02T09:00:00-05:00"}
FOLLOW_UP = STEP | {"day": 3, "action": "send_follow_up", "message_type": "value_add",
                    "scheduled_at": "2026-11-05T09:00:00-05:00"}
DUE = dt.datetime(2026, 11, 2, 14, 5, tzinfo=dt.UTC)  # 09:05 in New York, a Monday


def item(email, zone="America/New_York"):
    return {"email": email, "name": "Jane Roe", "title": "CEO", "company_name": "Acme", "company_domain": "acme.io",
            "step_index": 0, "sequence": [STEP, FOLLOW_UP], "hooks": [], "objections": [], "timezone": zone,
            "country": "US"}


@pytest.fixture
def server():
    recorder = Recorder()
    with smtp_server(recorder) as controller:
        yield recorder, controller


@pytest.fixture
def home(tmp_path, monkeypatch, server):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_MAILBOX_DAILY_CAP", "1")
    monkeypatch.setattr(runtime, "now", lambda: DUE)
    runtime.settings.cache_clear()
    _, controller = server
    registry = Mailboxes(runtime.settings().database_url, None)
    registry.add(Mailbox(tenant="local", address="rep@example.com", display_name="Rita Rep", backend="smtp",
                         smtp=SmtpSettings(host="127.0.0.1", port=controller.port, security="none", auth="none")))
    registry.map_owner("local", "owner-7", "rep@example.com")
    LocalCRM(tmp_path / "crm.sqlite3").upsert_contacts([ContactWrite(email=e) for e in ("jane@acme.io", "joe@acme.io")])
    yield tmp_path
    runtime.settings.cache_clear()


def deliver(conn, key, items, **payload):
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "local", "items": items, **payload}, job_key=key)
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    return queue("outreach", conn).fetch_job(key).return_value()


def test_an_owner_mapped_to_a_mailbox_sends_from_it(home, conn, server, monkeypatch):
    recorder, _ = server
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    counts = deliver(conn, "first", [item("jane@acme.io")])
    [message] = recorder.received
    assert counts["emails_sent"] == 1 and b"From: Rita Rep <rep@example.com>" in message


def test_an_email_over_the_mailboxs_daily_cap_moves_to_the_next_day_with_its_followers(home, conn, monkeypatch):
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    counts = deliver(conn, "first", [item("jane@acme.io"), item("joe@acme.io")])
    assert (counts["emails_sent"], counts["steps_rescheduled"]) == (1, {"daily_cap": 1})
    [moved] = [job for job in scheduled(conn) if job.args[0]["items"][0]["email"] == "joe@acme.io"]
    steps = moved.args[0]["items"][0]["sequence"]
    assert dt.datetime.fromisoformat(steps[0]["scheduled_at"]).date() == dt.date(2026, 11, 3)
    assert dt.datetime.fromisoformat(steps[1]["scheduled_at"]).date() == dt.date(2026, 11, 6)  # 3 days on, kept
    [joe] = LocalCRM(home / "crm.sqlite3").get_contacts(["joe@acme.io"])
    assert joe.fields["next_touch_at"].date() == dt.date(2026, 11, 3)


def test_a_prospect_whose_window_is_closed_waits_for_it_to_open(home, conn, monkeypatch):
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    counts = deliver(conn, "first", [item("jane@acme.io", zone="Australia/Sydney")])  # 01:05 on Tuesday there
    assert (counts["emails_sent"], counts["steps_rescheduled"]) == (0, {"window": 1})
    [moved] = scheduled(conn)
    at = dt.datetime.fromisoformat(moved.args[0]["items"][0]["sequence"][0]["scheduled_at"])
    assert at.astimezone(dt.UTC) > DUE and 8 <= at.hour < 17


def test_a_step_a_person_asked_for_now_goes_now_whatever_the_window(home, conn, server, monkeypatch):
    recorder, _ = server
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    counts = deliver(conn, "first", [item("jane@acme.io", zone="Australia/Sydney")], on_request=True, asked=True)
    assert counts["emails_sent"] == 1 and len(recorder.received) == 1


def test_a_retried_step_still_waits_for_the_prospects_window(home, conn, monkeypatch):
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    counts = deliver(conn, "first", [item("jane@acme.io", zone="Australia/Sydney")], on_request=True)
    assert (counts["emails_sent"], counts["steps_rescheduled"]) == (0, {"window": 1})


def test_an_address_the_mail_server_refuses_for_good_ends_the_sequence_as_bounced(home, conn, server, monkeypatch):
    recorder, _ = server
    recorder.replies["RCPT"] = "550 5.1.1 no such user"
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    counts = deliver(conn, "first", [item("jane@acme.io")])
    crm = LocalCRM(home / "crm.sqlite3")
    assert (counts["emails_bounced"], counts["emails_sent"], crm.get_tasks("jane@acme.io")) == (1, 0, [])
    assert crm.get_contacts(["jane@acme.io"])[0].fields["sequence_state"] == "bounced"
    assert runtime.ledger().unsubscribed("local", ["jane@acme.io"]) == {"jane@acme.io"}  # never mailed again
    assert scheduled(conn) == []  # no follow-up


def owned_by(owner, read):
    def get_contacts(self, emails=None, company_domain=None):
        return [contact.model_copy(update={"owner_id": owner}) for contact in read(self, emails, company_domain)]
    return get_contacts


def scheduled(conn):
    outreach = queue("outreach", conn)
    return [outreach.fetch_job(job_id) for job_id in outreach.scheduled_job_registry.get_job_ids()]
