"""Bounces and complaints stop every later send, like an unsubscribe, on either engine."""

from __future__ import annotations

import threading
import time

from connector.ledger import Ledger


def test_a_suppressed_address_is_left_out_of_the_next_send(state_url):
    ledger = Ledger(state_url)
    ledger.unsubscribe_tokens("local", ["ada@acme.io"])
    assert ledger.suppress("local", "Ada@Acme.io", "bounce")
    with ledger.sending("local", ["ada@acme.io", "bob@acme.io"]) as allowed:
        assert allowed == {"bob@acme.io"}


def test_a_suppressed_address_counts_as_unsubscribed_for_its_tenant_only(tmp_path):
    ledger = Ledger(tmp_path / "state.sqlite3")
    ledger.suppress("local", "ada@acme.io", "complaint")
    assert ledger.unsubscribed("local", ["ada@acme.io", "bob@acme.io"]) == {"ada@acme.io"}
    assert ledger.unsubscribed("hubspot-1", ["ada@acme.io"]) == set()


def test_suppressing_twice_keeps_the_first_reason(state_url):
    ledger = Ledger(state_url)
    assert ledger.suppress("local", "ada@acme.io", "bounce")
    assert not ledger.suppress("local", "ada@acme.io", "complaint")
    assert ledger.suppressed("local", ["ADA@acme.io", "bob@acme.io"]) == {"ada@acme.io": "bounce"}


def test_a_suppression_is_not_an_unsubscribe_waiting_for_the_crm(tmp_path):
    ledger = Ledger(tmp_path / "state.sqlite3")
    ledger.suppress("local", "ada@acme.io", "bounce")
    assert ledger.waiting_unsubscribes("local", ["ada@acme.io"]) == []


def test_an_unsubscribe_by_address_stops_sends_and_waits_for_its_crm_write(state_url):
    ledger = Ledger(state_url)
    assert ledger.unsubscribe_address("local", "Ada@Acme.io")
    assert not ledger.unsubscribe_address("local", "ada@acme.io")
    with ledger.sending("local", ["ada@acme.io"]) as allowed:
        assert allowed == set()
    assert ledger.waiting_unsubscribes("local", ["ada@acme.io"]) == ["ada@acme.io"]


def test_a_suppression_arriving_during_a_send_commits_only_after_it(state_url):
    ledger = Ledger(state_url)
    ledger.unsubscribe_tokens("local", ["ada@acme.io"])
    committed = threading.Event()
    moments: dict[str, float] = {}

    def suppress() -> None:
        ledger.suppress("local", "ada@acme.io", "complaint")
        moments["committed"] = time.monotonic()
        committed.set()

    suppressor = threading.Thread(target=suppress)
    with ledger.sending("local", ["ada@acme.io"]) as allowed:
        assert allowed == {"ada@acme.io"}
        suppressor.start()
        committed.wait(timeout=0.3)  # a suppression that did not wait for the lock would commit here
        moments["sent"] = time.monotonic()
    suppressor.join(timeout=60)
    assert moments["sent"] < moments["committed"]
