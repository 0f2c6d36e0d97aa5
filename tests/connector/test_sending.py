"""send_all: the consent check and the sends in one hold, each send marked first (real SMTP, ledger and Redis)."""

from __future__ import annotations

import itertools

import pytest

from connector.channels.smtp import SmtpChannel
from connector.ledger import Ledger
from connector.sending import HOLD_SECONDS, Outgoing, SendMarks, send_all
from tests.connector.channels.smtp_servers import Recorder, message, smtp_server

TENANT = "local"
MAILBOX = "rep@example.com"


@pytest.fixture
def ledger(tmp_path):
    return Ledger(f"sqlite:///{tmp_path / 'state.sqlite3'}")


@pytest.fixture
def server():
    recorder = Recorder()
    with smtp_server(recorder) as controller:
        yield recorder, controller


@pytest.fixture
def marks(conn):
    return SendMarks(conn, "worker-1")


def outgoing(email: str, step: int = 0) -> Outgoing:
    key = f"outreach:{TENANT}:{email}:{step}"
    return Outgoing(key=key, email=email, data=message(key), mailbox=MAILBOX)


def channels(controller):
    channel = SmtpChannel(controller.hostname, controller.port, security="none")
    return lambda address: channel


def test_an_unsubscribe_committed_before_the_hold_stops_the_send(ledger, server, marks):
    recorder, controller = server
    tokens = ledger.unsubscribe_tokens(TENANT, ["ada@example.com", "bob@example.com"])
    ledger.unsubscribe(tokens["ada@example.com"])
    outcome = send_all(ledger, TENANT, [outgoing("ada@example.com"), outgoing("bob@example.com")],
                       channels(controller), marks)
    assert outcome.stopped == ["outreach:local:ada@example.com:0"]
    assert list(outcome.sent) == ["outreach:local:bob@example.com:0"] and len(recorder.received) == 1


def test_a_reply_recorded_as_a_suppression_stops_the_send(ledger, server, marks):
    recorder, controller = server
    ledger.unsubscribe_tokens(TENANT, ["ada@example.com"])
    ledger.suppress(TENANT, "ada@example.com", "replied")
    outcome = send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)
    assert outcome.stopped == ["outreach:local:ada@example.com:0"] and recorder.received == []


def test_a_step_a_killed_worker_was_sending_is_never_sent_again(ledger, server, marks, conn):
    recorder, controller = server
    ledger.unsubscribe_tokens(TENANT, ["ada@example.com"])
    assert SendMarks(conn, "worker-killed").begin("outreach:local:ada@example.com:0")
    outcome = send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)
    assert outcome.uncertain == ["outreach:local:ada@example.com:0"] and recorder.received == []


def test_a_step_a_killed_worker_had_sent_counts_as_sent_and_is_not_sent_again(ledger, server, marks, conn):
    recorder, controller = server
    ledger.unsubscribe_tokens(TENANT, ["ada@example.com"])
    send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), SendMarks(conn, "worker-killed"))
    outcome = send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)  # the retry
    assert list(outcome.sent) == ["outreach:local:ada@example.com:0"] and not outcome.uncertain
    assert len(recorder.received) == 1


def test_a_sent_step_keeps_its_mark_until_the_ledger_records_it(ledger, server, marks, conn):
    recorder, controller = server
    ledger.unsubscribe_tokens(TENANT, ["ada@example.com"])
    send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)
    assert conn.exists("salesos:sending:outreach:local:ada@example.com:0")
    marks.clear(["outreach:local:ada@example.com:0"])
    assert not conn.exists("salesos:sending:outreach:local:ada@example.com:0")


def test_a_send_the_server_puts_off_waits_and_can_be_sent_later(ledger, server, marks):
    recorder, controller = server
    ledger.unsubscribe_tokens(TENANT, ["ada@example.com"])
    recorder.replies["MAIL"] = "451 4.7.1 try again later"
    outcome = send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)
    assert list(outcome.deferred) == ["outreach:local:ada@example.com:0"] and not outcome.sent
    del recorder.replies["MAIL"]
    again = send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)
    assert list(again.sent) == ["outreach:local:ada@example.com:0"]  # its mark was cleared: nothing went out


def test_a_recipient_the_server_refuses_for_good_is_a_bounce(ledger, server, marks):
    recorder, controller = server
    ledger.unsubscribe_tokens(TENANT, ["ada@example.com"])
    recorder.replies["RCPT"] = "550 5.1.1 no such user"
    outcome = send_all(ledger, TENANT, [outgoing("ada@example.com")], channels(controller), marks)
    assert list(outcome.bounced) == ["outreach:local:ada@example.com:0"] and "5.1.1" in outcome.bounced[
        "outreach:local:ada@example.com:0"]


def test_a_refused_credential_puts_off_the_rest_of_its_mailbox_without_trying_them(ledger, server, marks):
    recorder, controller = server
    emails = ["ada@example.com", "bob@example.com", "cy@example.com"]
    ledger.unsubscribe_tokens(TENANT, emails)
    recorder.replies["MAIL"] = "530 5.7.0 authentication required"
    outcome = send_all(ledger, TENANT, [outgoing(email) for email in emails], channels(controller), marks)
    assert len(outcome.deferred) == 3 and MAILBOX in outcome.broken and not outcome.sent


def test_a_hold_ends_after_its_time_so_an_unsubscribe_waiting_for_it_stops_the_next_send(tmp_path, server, marks):
    recorder, controller = server
    emails = ["ada@example.com", "bob@example.com"]

    class UnsubscribedBetweenHolds(Ledger):
        holds = 0

        def sending(self, tenant, emails):
            self.holds += 1
            if self.holds == 2:  # what an unsubscribe waiting on the first hold commits once it ends
                self.unsubscribe(tokens["bob@example.com"])
            return super().sending(tenant, emails)

    ledger = UnsubscribedBetweenHolds(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    tokens = ledger.unsubscribe_tokens(TENANT, emails)
    ticks = itertools.count(step=HOLD_SECONDS)  # every send takes a whole hold's time
    outcome = send_all(ledger, TENANT, [outgoing(e) for e in emails], channels(controller), marks,
                       clock=lambda: next(ticks))
    assert list(outcome.sent) == ["outreach:local:ada@example.com:0"]
    assert outcome.stopped == ["outreach:local:bob@example.com:0"] and ledger.holds == 2
