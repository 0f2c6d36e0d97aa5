"""No message goes out after the contact's unsubscribe is committed, whichever host takes it."""

from __future__ import annotations

import threading
import time

from connector.ledger import Ledger

EMAILS = [f"p{n}@acme.io" for n in range(60)]


def test_a_send_is_refused_once_the_unsubscribe_is_committed(state_url):
    ledger = Ledger(state_url)
    token = ledger.unsubscribe_tokens("local", ["ada@acme.io"])["ada@acme.io"]
    with ledger.sending("local", ["Ada@Acme.io", "bob@acme.io"]) as allowed:
        assert allowed == {"ada@acme.io", "bob@acme.io"}
    ledger.unsubscribe(token)
    with ledger.sending("local", ["ada@acme.io", "bob@acme.io"]) as allowed:
        assert allowed == {"bob@acme.io"}


def test_an_unsubscribe_arriving_during_a_send_commits_only_after_it(state_url):
    """The sender holds its guard open and invites an unsubscribe in: it must wait for the send to finish."""
    ledger = Ledger(state_url)
    token = ledger.unsubscribe_tokens("local", ["ada@acme.io"])["ada@acme.io"]
    committed = threading.Event()
    moments: dict[str, float] = {}

    def unsubscribe() -> None:
        ledger.unsubscribe(token)
        moments["committed"] = time.monotonic()
        committed.set()

    unsubscriber = threading.Thread(target=unsubscribe)
    with ledger.sending("local", ["ada@acme.io"]) as allowed:
        assert allowed == {"ada@acme.io"}
        unsubscriber.start()
        committed.wait(timeout=1)  # a guard that did not lock would let it commit here, before the send
        moments["sent"] = time.monotonic()
    unsubscriber.join(timeout=60)
    assert moments["sent"] < moments["committed"]
    with ledger.sending("local", ["ada@acme.io"]) as allowed:
        assert allowed == set()


def test_sends_racing_unsubscribes_never_send_after_an_unsubscribe_committed(state_url):
    ledger = Ledger(state_url)
    tokens = ledger.unsubscribe_tokens("local", EMAILS)
    sent: dict[str, float] = {}
    committed: dict[str, float] = {}
    start = threading.Barrier(2)

    def send_all() -> None:
        start.wait()
        for _round in range(3):
            for batch in (EMAILS[start:start + 7] for start in range(0, len(EMAILS), 7)):
                with ledger.sending("local", batch) as allowed:
                    for email in allowed:
                        sent[email] = time.monotonic()  # the send happens here, inside the guard

    def unsubscribe_all() -> None:
        start.wait()
        for email in reversed(EMAILS):
            ledger.unsubscribe(tokens[email])
            committed[email] = time.monotonic()

    threads = [threading.Thread(target=send_all), threading.Thread(target=unsubscribe_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(committed) == len(EMAILS)
    late = [email for email in EMAILS if email in sent and sent[email] > committed[email]]
    assert late == []
