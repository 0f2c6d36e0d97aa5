"""The cost ledger on a real Redis: per tenant, run and provider; run and monthly caps; workers at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import redis

from connector.providers.http.costs import MONTH_TTL, CostLedger, month_costs, month_key, run_costs, run_key
from connector.providers.http.errors import CapReached
from connector.queues import RUN_TTL

DECEMBER = dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)


def ledger(conn, run_id="run-1", *, tenant="t1", run_cap=25.0, monthly_cap=500.0, now=DECEMBER):
    return CostLedger(conn, tenant, run_id, run_cap=run_cap, monthly_cap=monthly_cap, clock=lambda: now)


def paid_call(meter, provider="apollo", price=0.1, cost=None):
    """What the client does for a paid call that is answered: check, then charge what it cost."""
    meter.check(provider, "enrich", price)
    cost = price if cost is None else cost
    meter.charge(provider, "enrich", cost * 10, cost, cached=False, held=price)


def row(calls=0, cached=0, credits=0.0, dollars=0.0, capped=0):
    return {"calls": calls, "cached": cached, "credits": credits, "dollars": dollars, "capped": capped}


def test_calls_are_counted_per_provider_in_the_run_and_in_the_tenants_month(conn):
    meter = ledger(conn)
    paid_call(meter, "apollo", 0.1)
    paid_call(meter, "apollo", 0.1)
    meter.charge("greenhouse", "jobs", 0, 0, cached=False)
    expected = {"apollo": row(calls=2, credits=2.0, dollars=0.2), "greenhouse": row(calls=1)}
    assert run_costs(conn, "t1", "run-1") == expected
    assert month_costs(conn, "t1", "2026-12") == expected == month_costs(conn, "t1", now=DECEMBER)


def test_cached_answers_are_counted_apart_and_cost_nothing(conn):
    meter = ledger(conn)
    meter.charge("hunter", "email_verifier", 0, 0, cached=True)
    assert run_costs(conn, "t1", "run-1") == {"hunter": row(cached=1)}


def test_the_run_cap_refuses_the_call_that_would_pass_it_naming_the_cap_and_the_amounts(conn):
    meter = ledger(conn, run_cap=0.25)
    paid_call(meter)
    paid_call(meter)
    with pytest.raises(CapReached) as caught:
        meter.check("apollo", "enrich", 0.1)
    assert caught.value.reason == ("the run cost cap of $0.25 is reached: $0.20 spent or in flight, "
                                   "and the next call costs $0.10")
    assert (caught.value.provider, caught.value.kind) == ("apollo", "capped")
    assert run_costs(conn, "t1", "run-1")["apollo"]["capped"] == 1


def test_a_call_that_lands_exactly_on_the_cap_is_allowed(conn):
    meter = ledger(conn, run_cap=0.3)
    for _ in range(3):
        paid_call(meter)
    assert run_costs(conn, "t1", "run-1")["apollo"]["dollars"] == 0.3


def test_the_monthly_cap_counts_every_run_of_the_tenant_that_month(conn):
    paid_call(ledger(conn, "run-1"), price=0.3)
    with pytest.raises(CapReached) as caught:
        ledger(conn, "run-2", monthly_cap=0.35).check("apollo", "enrich", 0.1)
    assert caught.value.reason == ("the monthly cost cap (2026-12) of $0.35 is reached: $0.30 spent or in flight, "
                                   "and the next call costs $0.10")


def test_a_new_month_starts_from_nothing(conn):
    paid_call(ledger(conn, "run-1", monthly_cap=0.3), price=0.3)
    january = DECEMBER + dt.timedelta(hours=2)
    paid_call(ledger(conn, "run-2", monthly_cap=0.3, now=january), price=0.3)
    assert month_costs(conn, "t1", "2027-01")["apollo"]["dollars"] == 0.3


@pytest.mark.parametrize("caps, name", [({"run_cap": 0}, "run"), ({"monthly_cap": 0}, "monthly")])
def test_a_cap_of_zero_refuses_every_paid_call_even_an_unpriced_one(conn, caps, name):
    with pytest.raises(CapReached) as caught:
        ledger(conn, **caps).check("apollo", "enrich", 0.0)
    assert caught.value.reason == f"paid calls are off: the {name} cost cap is $0"
    assert run_costs(conn, "t1", "run-1")["apollo"]["capped"] == 1


def test_free_calls_are_counted_whatever_the_caps(conn):
    meter = ledger(conn, run_cap=0, monthly_cap=0)
    meter.charge("wayback", "cdx", 0, 0, cached=False)
    assert run_costs(conn, "t1", "run-1") == {"wayback": row(calls=1)}


def test_a_price_held_by_one_worker_counts_against_the_cap_for_the_others_until_released(conn):
    first, second = ledger(conn), ledger(conn)
    first.run_cap = second.run_cap = 0.15
    first.check("apollo", "enrich", 0.1)  # in flight
    with pytest.raises(CapReached, match=r"\$0.10 spent or in flight"):
        second.check("apollo", "enrich", 0.1)
    first.release("apollo", "enrich", 0.1)  # it ended without an answer
    second.check("apollo", "enrich", 0.1)


def test_workers_checking_at_once_never_pass_the_cap(redis_url):
    """Eight workers, each with its own connection, spend $0.10 a call against a $1.00 cap until refused."""
    refused = []

    def worker():
        conn = redis.Redis.from_url(redis_url)
        meter = ledger(conn, run_cap=1.0)
        try:
            while True:
                paid_call(meter)
        except CapReached:
            refused.append(1)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conn = redis.Redis.from_url(redis_url)
    assert (len(refused), run_costs(conn, "t1", "run-1")["apollo"]["calls"]) == (8, 10)
    assert conn.hget(run_key("t1", "run-1"), "_held") == b"0"
    conn.close()


def test_a_call_charged_per_record_overshoots_the_cap_by_at_most_its_own_cost(conn):
    meter = ledger(conn, run_cap=0.25)
    paid_call(meter, price=0.1, cost=0.4)  # priced at one record, ten came back: known only from the answer
    with pytest.raises(CapReached, match=r"\$0.40 spent"):
        meter.check("apollo", "enrich", 0.1)


def test_each_tenant_has_its_own_ledger_and_caps(conn):
    paid_call(ledger(conn, tenant="t1", run_cap=0.1))
    paid_call(ledger(conn, tenant="t2", run_cap=0.1))
    assert run_costs(conn, "t1", "run-1") == run_costs(conn, "t2", "run-1") == {
        "apollo": row(calls=1, credits=1.0, dollars=0.1)}


def test_the_run_ledger_lives_as_long_as_the_run_and_the_month_a_year_and_more(conn):
    paid_call(ledger(conn))
    assert conn.ttl(run_key("t1", "run-1")) == RUN_TTL
    assert conn.ttl(month_key("t1", "2026-12")) == MONTH_TTL


def test_an_unknown_run_costs_nothing(conn):
    assert run_costs(conn, "t1", "no-such-run") == {}
