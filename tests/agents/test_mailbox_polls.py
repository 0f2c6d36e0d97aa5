"""The engagement stage reads each mailbox of the registry for replies and acts on them (a real IMAP server over
TLS, the vault, Redis and RQ)."""

import datetime as dt

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.reply_jobs import arm_mailbox_polls
from connector import runtime
from connector.inbound.base import ImapConfig
from connector.mailboxes import Mailbox, SmtpSettings
from connector.queues import queue
from connector.vault import new_key
from crm_adapters.base import ContactWrite
from crm_adapters.local import LocalCRM
from tests.fakes.imap_server import FakeImapServer
from tests.fakes.website import certificate_for

NOW = dt.datetime.now(dt.UTC)
REP = "rep@example.com"


@pytest.fixture
def imap(tmp_path):
    server_context, _ = certificate_for("localhost", tmp_path)
    with FakeImapServer(users={"rep@example.com": "s3cret"}, tls=server_context, implicit_tls=True) as fake:
        yield fake


@pytest.fixture
def home(tmp_path, monkeypatch, imap):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    runtime.settings.cache_clear()
    runtime.mailboxes().add(Mailbox(
        tenant="local", address=REP, backend="smtp",
        smtp=SmtpSettings(host="smtp.salesos.test", port=587, security="starttls", auth="password", username=REP),
        imap=ImapConfig(host="localhost", port=imap.port, username=REP, ca_file=str(tmp_path / "cert.pem"))),
        secret="s3cret")
    LocalCRM(tmp_path / "crm.sqlite3").upsert_contacts([ContactWrite(email="jane@acme.io",
                                                                      fields={"sequence_state": "active"})])
    yield tmp_path
    runtime.settings.cache_clear()


def run_the_poll_now(conn):
    """What the scheduler does when the poll's time comes."""
    engagement = queue("engagement", conn)
    [poll] = [engagement.fetch_job(i) for i in engagement.scheduled_job_registry.get_job_ids()]
    engagement.scheduled_job_registry.remove(poll)
    engagement.enqueue_job(poll)


def work(conn):
    SimpleWorker([queue("engagement", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)


def test_a_reply_in_a_mailbox_is_read_and_stops_its_contacts_sequence(home, conn, imap):
    imap.deliver(b"From: Jane Roe <jane@acme.io>\r\nTo: rep@salesos.test\r\nSubject: Re: Acme\r\n"
                 b"Message-ID: <r1@acme.io>\r\n\r\nNot interested, thanks.\r\n", NOW - dt.timedelta(minutes=5))
    arm_mailbox_polls(conn, "local", dt.datetime.now(dt.UTC))
    run_the_poll_now(conn)
    work(conn)  # the poll, then the reply job it queued
    [jane] = LocalCRM(home / "crm.sqlite3").get_contacts(["jane@acme.io"])
    assert jane.fields["sequence_state"] == "replied"
    assert imap.seen() == set()  # reading marks nothing as read in the rep's mailbox


def test_a_poll_arms_the_next_one(home, conn, imap):
    arm_mailbox_polls(conn, "local", dt.datetime.now(dt.UTC))
    run_the_poll_now(conn)
    work(conn)
    [following] = queue("engagement", conn).scheduled_job_registry.get_job_ids()
    assert following.startswith("poll")
