"""A market may hold a tier's emails for a rep's approval; tracked links and the rep's LinkedIn copy ride along."""

import datetime as dt
import sqlite3
from pathlib import Path
from email import message_from_bytes

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import outreach_job
from agents.review_jobs import review_check_job
from connector import runtime
from connector.markets import load_market
from connector.queues import enqueue_once, queue
from connector.vault import new_key
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.agents.test_outreach_job import STEP, item

DUE = dt.datetime(2026, 11, 2, 14, 5, tzinfo=dt.UTC)
LINKEDIN = STEP | {"day": 2, "channel": "linkedin", "action": "send_connection_request", "message_type": "value_add",
                   "scheduled_at": "2026-11-04T09:00:00-05:00"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())  # tracked links are signed with the vault's key
    monkeypatch.setattr(runtime, "now", lambda: DUE)
    runtime.settings.cache_clear()
    market = load_market(Path("examples/market.yaml"))
    market.templates["problem_aware"] = ("Subject: {{ company }} and your pipeline\nHi {{ first_name }},\n\n"
                                         "Our two-minute tour: https://salesos.example/tour\n")
    runtime.tenant_markets().set("local", market.model_copy(update={"review_before_send": ["TIER_1"]}), "test")
    LocalCRM(tmp_path / "crm.sqlite3").upsert_contacts([ContactWrite(email="jane@acme.io")])
    yield tmp_path
    runtime.settings.cache_clear()


def run(conn, queue_name, func, payload, key):
    enqueue_once(conn, queue_name, func, payload, job_key=key)
    SimpleWorker([queue(queue_name, conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    return queue(queue_name, conn).fetch_job(key).return_value()


def tier(name):
    return item() | {"tier": name}


def test_a_tier_held_for_review_gets_a_task_holding_the_draft_and_no_email(home, conn):
    counts = run(conn, "outreach", outreach_job, {"tenant": "local", "items": [tier("TIER_1")]}, "first")
    assert (counts["emails_for_review"], counts["emails_sent"]) == (1, 0)
    [task] = LocalCRM(home / "crm.sqlite3").get_tasks("jane@acme.io")
    assert "Approve: complete this task; to skip, delete it." in task.body
    assert list((home / "outbox").glob("*.eml")) == []


def test_a_completed_review_task_sends_the_email(home, conn):
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [tier("TIER_1")]}, "first")
    with sqlite3.connect(home / "crm.sqlite3") as db:  # the rep approves it in the CRM
        db.execute("UPDATE tasks SET status = 'done'")
    assert run(conn, "engagement", review_check_job, {"tenant": "local"}, "check") == {"reviews_approved": 1,
                                                                                       "reviews_skipped": 0}
    outreach = queue("outreach", conn)
    [approved] = [outreach.fetch_job(i) for i in outreach.scheduled_job_registry.get_job_ids()]  # due: its time passed
    outreach.scheduled_job_registry.remove(approved)
    outreach.enqueue_job(approved)
    SimpleWorker([outreach], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert len(list((home / "outbox").glob("*.eml"))) == 1


def test_a_held_email_is_neither_done_nor_followed_by_its_next_step_until_approved(home, conn):
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [tier("TIER_1")]}, "first")
    assert not runtime.ledger().is_done("outreach:local:jane@acme.io:0")
    assert queue("outreach", conn).scheduled_job_registry.get_job_ids() == []


def test_a_tier_not_held_for_review_is_sent_with_its_links_tracked(home, conn):
    counts = run(conn, "outreach", outreach_job, {"tenant": "local", "items": [tier("TIER_2")]}, "first")
    [eml] = (home / "outbox").glob("*.eml")
    body = message_from_bytes(eml.read_bytes()).get_payload(decode=True).decode()
    assert counts["emails_sent"] == 1 and "https://salesos.example/tour" not in body and "/t/c/" in body
    assert "/unsubscribe/" in body  # the unsubscribe link is never rewritten


def test_a_linkedin_step_is_a_task_carrying_the_drafted_connection_note(home, conn):
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item(step_index=1, sequence=(STEP, LINKEDIN))]},
        "linkedin")
    [task] = LocalCRM(home / "crm.sqlite3").get_tasks("jane@acme.io")
    note = task.body.split("\n\n", 1)[1]
    assert task.kind == "linkedin" and 0 < len(note) <= 300


def test_a_call_task_links_to_click_to_call_when_twilio_and_the_owners_phone_are_set(home, conn, monkeypatch):
    from connector.tenants import vault_keys
    from connector.twilio_account import TwilioAccount, set_account, set_rep_phone
    from connector.vault import Vault
    from tests.agents.test_outreach_job import CALL
    from tests.agents.test_outreach_sending import owned_by

    vault = Vault(runtime.settings().database_url, vault_keys(runtime.settings()))
    set_account(vault, "local", TwilioAccount(account_sid="AC" + "a" * 32, auth_token="t", caller_id="+14155550100"))
    set_rep_phone(vault, "local", "owner-7", "+14155550123")
    LocalCRM(home / "crm.sqlite3").upsert_contacts([ContactWrite(email="jane@acme.io", phone="+442079460958")])
    monkeypatch.setattr(LocalCRM, "get_contacts", owned_by("owner-7", LocalCRM.get_contacts))
    run(conn, "outreach", outreach_job, {"tenant": "local", "items": [item(step_index=1, sequence=(STEP, CALL))]},
        "call")
    [task] = LocalCRM(home / "crm.sqlite3").get_tasks("jane@acme.io")
    assert "Click to call (your phone rings first): http://127.0.0.1:5000/calls/" in task.body
