"""An SMS step is texted through the tenant's Twilio account only with consent on record, once (Twilio via respx)."""

import datetime as dt
import json
from pathlib import Path

import pytest
import respx
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import outreach_job
from connector import runtime
from connector.queues import enqueue_once, queue
from connector.sms_consent import SmsConsent
from connector.tenants import vault_keys
from connector.twilio_account import TwilioAccount, set_account
from connector.vault import Vault, new_key
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.agents.test_outreach_job import STEP, item

SID = "AC" + "a" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
CREATED = json.loads((Path(__file__).parents[1] / "fixtures" / "providers" / "twilio_message_create_201.json")
                     .read_text())
SMS = STEP | {"day": 1, "channel": "phone", "action": "send_sms", "message_type": "value_add",
              "scheduled_at": "2026-11-03T09:00:00-05:00"}
PHONE = "+14155550123"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    monkeypatch.setattr(runtime, "now", lambda: dt.datetime(2026, 11, 3, 14, 5, tzinfo=dt.UTC))
    runtime.settings.cache_clear()
    settings = runtime.settings()
    set_account(Vault(settings.database_url, vault_keys(settings)), "local",
                TwilioAccount(account_sid=SID, auth_token="secret-auth-token", caller_id="+14155550100"))
    LocalCRM(tmp_path / "crm.sqlite3").upsert_contacts([ContactWrite(email="jane@acme.io", phone=PHONE)])
    yield tmp_path
    runtime.settings.cache_clear()


def deliver(conn, key):
    enqueue_once(conn, "outreach", outreach_job, {"tenant": "local", "items": [
        item(step_index=1, sequence=(STEP, SMS))]}, job_key=key)
    SimpleWorker([queue("outreach", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)


def test_a_contact_with_sms_consent_is_texted_once_and_the_crm_logs_it(home, conn):
    SmsConsent(runtime.settings().database_url).grant("local", PHONE, source="form", email="jane@acme.io")
    with respx.mock(assert_all_called=False) as router:
        texted = router.post(MESSAGES).respond(201, json=CREATED)
        deliver(conn, "sms")
        deliver(conn, "sms-again")
    assert texted.call_count == 1 and "Reply STOP to opt out" in texted.calls.last.request.content.decode() \
        .replace("+", " ")
    [activity] = LocalCRM(home / "crm.sqlite3").get_activities("jane@acme.io")
    assert activity.kind == "sms"


def test_a_contact_without_sms_consent_is_never_texted(home, conn):
    with respx.mock(assert_all_called=False) as router:
        texted = router.post(MESSAGES).respond(201, json=CREATED)
        deliver(conn, "sms")
    assert not texted.called and LocalCRM(home / "crm.sqlite3").get_activities("jane@acme.io") == []
    assert runtime.ledger().is_done("outreach:local:jane@acme.io:1")  # skipped, not retried forever


def test_a_text_twilio_puts_off_waits_for_a_retry_and_the_batch_goes_on(home, conn):
    SmsConsent(runtime.settings().database_url).grant("local", PHONE, source="form", email="jane@acme.io")
    with respx.mock(assert_all_called=False) as router:
        router.post(MESSAGES).respond(429, json={"code": 20429, "message": "Too Many Requests", "status": 429},
                                      headers={"Retry-After": "30"})
        deliver(conn, "sms")
    assert not runtime.ledger().is_done("outreach:local:jane@acme.io:1")
    outreach = queue("outreach", conn)
    [retry] = [outreach.fetch_job(i) for i in outreach.scheduled_job_registry.get_job_ids()]
    assert retry.args[0]["items"][0]["step_index"] == 1  # the SMS step itself, queued again


def test_a_contact_who_replied_is_not_texted(home, conn):
    SmsConsent(runtime.settings().database_url).grant("local", PHONE, source="form", email="jane@acme.io")
    runtime.ledger().unsubscribe_tokens("local", ["jane@acme.io"])
    runtime.ledger().suppress("local", "jane@acme.io", "replied")
    with respx.mock(assert_all_called=False) as router:
        texted = router.post(MESSAGES).respond(201, json=CREATED)
        deliver(conn, "sms")
    assert not texted.called
