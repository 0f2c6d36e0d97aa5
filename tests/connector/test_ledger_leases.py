"""The send ledger's claims are leases: one holder per key, renewed while it works, taken over once lapsed."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from connector.ledger import Ledger, effect_key

KEYS = [effect_key("outreach", "local", f"p{n}@acme.io", 0) for n in range(40)]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_key_leased_by_one_owner_is_busy_for_another(state_url):
    ledger = Ledger(state_url)
    assert ledger.claim(KEYS[:2], "worker-1").held == KEYS[:2]
    second = ledger.claim(KEYS[:3], "worker-2")
    assert second.held == [KEYS[2]]
    assert set(second.busy) == set(KEYS[:2])


def test_a_done_key_is_neither_held_nor_busy(state_url):
    ledger = Ledger(state_url)
    ledger.claim([KEYS[0]], "worker-1")
    ledger.complete([KEYS[0]], "worker-1")
    again = ledger.claim([KEYS[0]], "worker-2")
    assert (again.held, again.busy) == ([], {})
    assert ledger.is_done(KEYS[0])


def test_a_lapsed_lease_is_taken_over(state_url):
    clock = Clock()
    ledger = Ledger(state_url, clock=clock, lease_seconds=60)
    ledger.claim([KEYS[0]], "crashed-worker")
    clock.now += dt.timedelta(seconds=59)
    assert ledger.claim([KEYS[0]], "worker-2").held == []
    clock.now += dt.timedelta(seconds=2)
    assert ledger.claim([KEYS[0]], "worker-2").held == [KEYS[0]]


def test_only_the_holder_marks_a_key_done(state_url):
    clock = Clock()
    ledger = Ledger(state_url, clock=clock, lease_seconds=60)
    ledger.claim([KEYS[0]], "slow-worker")
    clock.now += dt.timedelta(seconds=61)
    ledger.claim([KEYS[0]], "worker-2")
    ledger.complete([KEYS[0]], "slow-worker")  # its lease lapsed and was taken over: its mark does not count
    assert not ledger.is_done(KEYS[0])
    ledger.complete([KEYS[0]], "worker-2")
    assert ledger.is_done(KEYS[0])


def test_a_released_key_is_free_at_once(state_url):
    ledger = Ledger(state_url)
    ledger.claim([KEYS[0]], "worker-1")
    ledger.release([KEYS[0]], "worker-1")
    assert ledger.claim([KEYS[0]], "worker-2").held == [KEYS[0]]


def test_a_renewal_by_a_lapsed_holder_renews_nothing(state_url):
    clock = Clock()
    ledger = Ledger(state_url, clock=clock, lease_seconds=60)
    ledger.claim([KEYS[0]], "slow-worker")
    clock.now += dt.timedelta(seconds=61)
    ledger.claim([KEYS[0]], "worker-2")
    assert ledger.renew([KEYS[0]], "slow-worker") == set()


def test_a_lease_is_renewed_while_its_work_runs(state_url):
    ledger = Ledger(state_url, lease_seconds=0.6)
    with ledger.lease([KEYS[0]], "worker-1") as lease:
        assert lease.held == [KEYS[0]]
        first_expiry = ledger.claimed()[0][2]
        wait_until(lambda: ledger.claimed()[0][2] > first_expiry + dt.timedelta(seconds=0.5))
        assert ledger.claim([KEYS[0]], "worker-2").busy  # renewed past its first expiry: still held


def test_a_lease_releases_what_its_work_did_not_complete(state_url):
    ledger = Ledger(state_url)
    with pytest.raises(RuntimeError), ledger.lease(KEYS[:3], "worker-1") as lease:
        lease.complete([KEYS[0]])
        raise RuntimeError("the CRM went away")
    assert ledger.claimed() == []
    assert ledger.is_done(KEYS[0])
    assert ledger.claim(KEYS[1:3], "worker-2").held == KEYS[1:3]


def _race(url: str, owner: str, start, held) -> None:
    start.wait()
    held.put((owner, Ledger(url).claim(KEYS, owner).held))


def test_processes_racing_for_the_same_keys_never_both_hold_one(state_url):
    Ledger(state_url).claimed()  # the schema exists before the race
    context = multiprocessing.get_context("spawn")
    start, held = context.Event(), context.Queue()
    racers = [context.Process(target=_race, args=(state_url, f"worker-{n}", start, held)) for n in range(4)]
    for racer in racers:
        racer.start()
    start.set()
    results = dict(held.get(timeout=120) for _ in racers)
    for racer in racers:
        racer.join(timeout=60)
    taken = [key for keys in results.values() for key in keys]
    assert sorted(taken) == sorted(KEYS)  # every key held once, by exactly one racer


HOLD_AND_WAIT = """
import sys, time
from connector.ledger import Ledger
ledger = Ledger(sys.argv[1], lease_seconds=float(sys.argv[2]))
lease = ledger.lease(sys.argv[3:], "doomed-worker").__enter__()
print("held", len(lease.held), flush=True)
time.sleep(3600)
"""


def test_a_worker_killed_while_holding_keys_loses_them_when_its_lease_lapses(state_url):
    worker = subprocess.Popen([sys.executable, "-c", HOLD_AND_WAIT, state_url, "10", *KEYS[:5]],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert worker.stdout.readline().split() == ["held", "5"]
        ledger = Ledger(state_url)
        assert ledger.claim(KEYS[:5], "worker-2").held == []  # alive and renewing
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    wait_until(lambda: ledger.claim(KEYS[:5], "worker-2").held == KEYS[:5], timeout=120)
    assert [owner for _key, owner, _expiry in ledger.claimed()] == ["worker-2"] * 5
