"""A received reply changes its contact's sequence: stopped, paused until the return date, suppressed, or followed
to the person it names (real Redis, RQ worker, ledger and local CRM)."""

import datetime as dt
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.reply_jobs import reply_job
from connector import runtime
from connector.inbound.base import InboundMessage
from connector.queues import enqueue_once, queue
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests import reply_set

NOW = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)  # a Monday
JANE = "jane@acme.io"


@pytest.fixture
def crm(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setattr(runtime, "now", lambda: NOW)
    runtime.settings.cache_clear()
    local = LocalCRM(tmp_path / "crm.sqlite3")
    local.upsert_contacts([ContactWrite(email=JANE, name="Jane Roe", country="US", timezone="America/New_York",
                                        company_domain="acme.io",
                                        fields={"sequence_state": "active", "priority_tier": "TIER_3"})])
    yield local
    runtime.settings.cache_clear()


def reply(body: str, *, sender: str = f"Jane Roe <{JANE}>", subject: str = "Re: Acme and your pipeline",
          **headers) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "demo@salesos.example", subject
    message["Message-ID"] = "<r1@acme.io>"
    message["In-Reply-To"] = "<step0@salesos.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return bytes(message)


def deliver(conn, raw: bytes, key: str = "r1", provider_id: str = "1000:7") -> dict:
    message = InboundMessage(tenant="local", mailbox="demo@salesos.example", source="imap", provider_id=provider_id,
                             raw=raw, received_at=NOW)
    enqueue_once(conn, "engagement", reply_job, message.model_dump(mode="json"), job_key=key)
    SimpleWorker([queue("engagement", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    return queue("engagement", conn).fetch_job(key).return_value()


def state(crm: LocalCRM, email: str = JANE):
    [contact] = crm.get_contacts([email])
    return contact.fields.get("sequence_state")


def test_an_interested_reply_stops_the_sequence_and_hands_the_contact_to_the_owner(crm, conn):
    counts = deliver(conn, reply("Sounds interesting - happy to talk next week. What times work for you?"))
    assert counts["replies_interested"] == 1 and state(crm) == "replied"
    [task] = crm.get_tasks(JANE)
    assert "SalesOS answered with these times" in task.body and "(New York time)" in task.body


def test_an_interested_reply_is_answered_once_in_its_thread_with_meeting_times(crm, conn, tmp_path):
    deliver(conn, reply("Sounds interesting - happy to talk next week. What times work for you?"))
    deliver(conn, reply("Sounds interesting - happy to talk next week. What times work for you?"),
            key="read-again")  # the same message, read again after a poll that failed
    [eml] = (tmp_path / "outbox").glob("*.eml")
    answer = message_from_bytes(eml.read_bytes())
    assert (answer["To"], answer["In-Reply-To"], answer["Subject"]) == (
        "Jane Roe <jane@acme.io>", "<r1@acme.io>", "Re: Acme and your pipeline")
    assert "(New York time)" in answer.get_payload(decode=True).decode()


def test_once_a_reply_is_recorded_no_step_may_be_sent_to_the_contact(crm, conn):
    deliver(conn, reply("Not interested, thanks."))
    with runtime.ledger().sending("local", [JANE]) as allowed:
        assert allowed == set()


def test_an_out_of_office_reply_pauses_the_sequence_until_the_day_after_the_return_date(crm, conn):
    counts = deliver(conn, reply("I am out of the office until 16 November with limited access to email.",
                                 subject="Automatic reply: Acme and your pipeline", Auto_Submitted="auto-replied"))
    assert counts["replies_out_of_office"] == 1 and state(crm) == "paused"
    assert runtime.ledger().held("local", [JANE]) == {JANE}
    [back] = [queue("engagement", conn).fetch_job(i) for i in queue("engagement", conn).scheduled_job_registry
              .get_job_ids()]
    assert back.func_name == "agents.reply_jobs.resume_after_absence_job"


def test_a_hard_bounce_marks_the_contact_bounced_and_suppresses_the_address(crm, conn):
    [gmail_dsn] = [item for item in reply_set.load("dev") if item.id == "dev-bh-gmail-1"]
    bounced = gmail_dsn.expect.bounced_recipient
    crm.upsert_contacts([ContactWrite(email=bounced, fields={"sequence_state": "active"})])
    counts = deliver(conn, gmail_dsn.raw())
    assert counts["replies_bounce_hard"] == 1 and state(crm, bounced) == "bounced"
    assert runtime.ledger().suppressed("local", [bounced])


def test_a_referral_becomes_a_sequenced_contact_at_the_same_company(crm, conn):
    counts = deliver(conn, reply("I'm not the right person for this. Please contact Mark Lee (mark.lee@acme.io), "
                                 "he runs our sales team."))
    assert counts["referrals_sequenced"] == 1 and state(crm) == "replied"
    [mark] = crm.get_contacts(["mark.lee@acme.io"])
    assert (mark.company_domain, mark.fields["sequence_state"]) == ("acme.io", "active")
    outreach = queue("outreach", conn)
    assert any(outreach.fetch_job(i).args[0]["items"][0]["email"] == "mark.lee@acme.io"
               for i in outreach.scheduled_job_registry.get_job_ids())


def test_a_message_from_nobody_in_the_crm_changes_nothing(crm, conn):
    counts = deliver(conn, reply("Interested!", sender="Stranger <someone@elsewhere.example>"))
    assert counts == {"replies_unmatched": 1} and state(crm) == "active"


def test_a_reply_asking_to_be_removed_opts_the_contact_out_in_the_crm(crm, conn):
    counts = deliver(conn, reply("Please remove me from your list."))
    assert counts["replies_unsubscribe"] == 1
    SimpleWorker([queue("engagement", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)  # the sync
    [jane] = crm.get_contacts([JANE])
    assert jane.email_opt_out is True and jane.fields["sequence_state"] == "unsubscribed"


def test_an_out_of_office_reply_never_lifts_a_reps_own_pause(crm, conn):
    from agents.reply_jobs import resume_after_absence_job

    runtime.ledger().hold("local", JANE, "paused in the CRM")
    deliver(conn, reply("I am out of the office until 16 November.", subject="Automatic reply: Acme",
                        Auto_Submitted="auto-replied"))
    assert resume_after_absence_job({"tenant": "local", "email": JANE}) == {"absences_kept": 1}
    assert runtime.ledger().hold_reason("local", JANE) == "paused in the CRM"
