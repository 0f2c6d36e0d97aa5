"""No message goes out after an opt-out or a reply is committed, however sends, unsubscribes and replies race.

Senders run `send_all` over one contact set, round after round, through a real
SMTP server that notes the moment each message's DATA arrives. Meanwhile an
unsubscriber (`Ledger.unsubscribe`, the link's token) and a replier
(`Ledger.suppress(..., "replied")`, what the engagement stage records) stop
two thirds of the contacts, each as soon as the contact's first message has
arrived, and note the moment their call returned, that is after it committed.
The senders go on until every stop is in, then once more, so every stopped
contact has sends attempted after its stop. The check: no message to a
contact arrived after its stop was committed.

Why it holds, and why the check is sound: `send_all` sends inside the hold
that checked consent (`Ledger.sending`), and a stop waits for that hold, so it
returns after every message the hold sent has arrived; any later hold sees
the stop. Noting the stop when the call returns is later than its commit, so
the check can only be lenient, never flag a correct send. The last test
proves it is not blind: a ledger that checks consent in a transaction of its
own, then sends, is caught when a stop commits in between (the interleaving
forced with events, so it is caught every time; left to chance in the race
above, that ledger let 8 to 15 messages through after their stop per run).

Every wait is on an event or a barrier, with a bound; nothing sleeps.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser

import pytest

from connector.channels.smtp import SmtpChannel
from connector.ledger import Ledger, effect_key
from connector.sending import Outgoing, SendMarks, send_all
from tests.connector.channels.smtp_servers import message, smtp_server

TENANT = "acme"
MAILBOX = "rep@acme.example"
CONTACTS = [f"p{n}@prospect{n % 7}.example" for n in range(30)]
UNSUBSCRIBING = CONTACTS[0::3]
REPLYING = CONTACTS[1::3]
SENDERS = 2
MAX_ROUNDS = 200  # a bound on the senders: far more rounds than the stops take
WAIT = 60  # seconds any one wait may take on a loaded machine before the test fails


@dataclass
class Deliveries:
    """The SMTP server's side: each message's recipient, step and arrival moment, and who has had one."""

    arrived: list[tuple[str, str, float]] = field(default_factory=list)  # (recipient, step key, monotonic seconds)
    first: dict[str, threading.Event] = field(default_factory=lambda: {email: threading.Event() for email in CONTACTS})

    async def handle_DATA(self, server, session, envelope):
        at = time.monotonic()
        step = BytesHeaderParser().parsebytes(envelope.original_content)["X-SalesOS-Step"]
        for recipient in envelope.rcpt_tos:
            self.arrived.append((recipient.lower(), step, at))
            self.first[recipient.lower()].set()
        return "250 OK"


def sent_after_stop(arrived: list[tuple[str, str, float]], stopped_at: dict[str, float]) -> list[str]:
    """The steps whose message reached a contact after the contact's stop was committed."""
    return sorted(step for email, step, at in arrived if email in stopped_at and at > stopped_at[email])


def outgoing(email: str, step: str) -> Outgoing:
    key = effect_key("outreach", TENANT, email, step)
    return Outgoing(key=key, email=email, data=message(key).replace(b"ada@example.com", email.encode()),
                    mailbox=MAILBOX)


@pytest.fixture
def server():
    deliveries = Deliveries()
    with smtp_server(deliveries) as controller:
        yield deliveries, controller


@dataclass
class Race:
    """The racers' shared record: stop commits by contact, and what each sender's `send_all` reported."""

    stopped_at: dict[str, float] = field(default_factory=dict)
    stopped_sends: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    stops_done: threading.Event = field(default_factory=threading.Event)


def racer(race: Race, start: threading.Barrier, work: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        try:
            start.wait(WAIT)
            work()
        except BaseException as exc:  # reported by the test, not lost in the thread
            race.errors.append(exc)
            race.stops_done.set()  # the senders must not wait for stops that will never come

    return threading.Thread(target=run, daemon=True)


def test_no_message_reaches_a_contact_after_their_unsubscribe_or_reply_is_committed(state_url, server, conn):
    deliveries, controller = server
    ledger = Ledger(state_url)
    tokens = ledger.unsubscribe_tokens(TENANT, CONTACTS)
    race, start = Race(), threading.Barrier(SENDERS + 2)

    def stopper(emails: list[str], stop: Callable[[str], object], seed: int) -> Callable[[], None]:
        def work() -> None:
            for email in random.Random(seed).sample(emails, len(emails)):
                assert deliveries.first[email].wait(WAIT), f"no message to {email} arrived"
                stop(email)
                race.stopped_at[email] = time.monotonic()  # the call returned: the stop is committed
        return work

    def sender(number: int) -> Callable[[], None]:
        def work() -> None:
            channel = SmtpChannel(controller.hostname, controller.port, security="none")
            marks, order = SendMarks(conn, f"sender-{number}"), random.Random(number)
            try:
                for round_ in range(MAX_ROUNDS):
                    last = race.stops_done.is_set()  # every stop is in: this round must find them all
                    batch = [outgoing(email, f"{number}.{round_}") for email in order.sample(CONTACTS, len(CONTACTS))]
                    outcome = send_all(ledger, TENANT, batch, lambda _address: channel, marks)
                    race.stopped_sends.extend(outcome.stopped)
                    assert not (outcome.deferred or outcome.failed or outcome.uncertain), outcome
                    if last:
                        return
                raise AssertionError(f"the stops took more than {MAX_ROUNDS} rounds of sends")
            finally:
                channel.close()
        return work

    stoppers = [racer(race, start, stopper(UNSUBSCRIBING, lambda email: ledger.unsubscribe(tokens[email]), 1)),
                racer(race, start, stopper(REPLYING, lambda email: ledger.suppress(TENANT, email, "replied"), 2))]
    senders = [racer(race, start, sender(number)) for number in range(SENDERS)]
    threads = stoppers + senders
    for thread in threads:
        thread.start()
    for thread in stoppers:
        thread.join(WAIT)
    race.stops_done.set()
    for thread in senders:
        thread.join(WAIT)
    assert not race.errors, race.errors
    assert not any(thread.is_alive() for thread in threads)

    assert set(race.stopped_at) == set(UNSUBSCRIBING + REPLYING)
    assert sent_after_stop(deliveries.arrived, race.stopped_at) == []
    # The race was run, not just the sends: every stopped contact had sends refused after its stop...
    refused = {key.split(":")[2] for key in race.stopped_sends}
    assert refused == set(UNSUBSCRIBING + REPLYING)
    # ...and the contacts nobody stopped got every message sent to them.
    arrived = {step for _, step, _ in deliveries.arrived}
    kept = CONTACTS[2::3]
    assert all(any(step.split(":")[2] == email for step in arrived) for email in kept)
    assert not any(key in arrived for key in race.stopped_sends)


class CheckedOutsideTheHold(Ledger):
    """The bug the send guard exists to prevent: consent checked in a transaction of its own, the sends after it.
    `between(allowed)` runs in the gap, where a stop can commit unseen."""

    def __init__(self, target, between: Callable[[set[str]], None]) -> None:
        super().__init__(target)
        self.between = between

    @contextmanager
    def sending(self, tenant: str, emails) -> Iterator[set[str]]:
        with super().sending(tenant, emails) as allowed:
            pass
        self.between(allowed)
        yield allowed


def test_the_check_catches_a_send_whose_consent_was_checked_outside_the_hold(state_url, server, conn):
    deliveries, controller = server
    victim = CONTACTS[0]
    checked, committed, stopped_at = threading.Event(), threading.Event(), {}

    def between(allowed: set[str]) -> None:  # the sender, after its check: it lets the unsubscribe in first
        assert victim in allowed
        checked.set()
        assert committed.wait(WAIT), "the unsubscribe did not return"

    ledger = CheckedOutsideTheHold(state_url, between)
    tokens = ledger.unsubscribe_tokens(TENANT, CONTACTS[:3])

    def unsubscribe() -> None:
        if checked.wait(WAIT):
            ledger.unsubscribe(tokens[victim])
            stopped_at[victim] = time.monotonic()
        committed.set()

    unsubscriber = threading.Thread(target=unsubscribe, daemon=True)
    unsubscriber.start()
    channel = SmtpChannel(controller.hostname, controller.port, security="none")
    try:
        outcome = send_all(ledger, TENANT, [outgoing(email, "0") for email in CONTACTS[:3]],
                           lambda _address: channel, SendMarks(conn, "sender"))
    finally:
        channel.close()
    unsubscriber.join(WAIT)

    assert len(outcome.sent) == 3 and victim in stopped_at
    assert sent_after_stop(deliveries.arrived, stopped_at) == [effect_key("outreach", TENANT, victim, "0")]
