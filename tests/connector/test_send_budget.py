"""The send caps' counters in a real Redis: atomic across threads, per window, given back on release."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import redis

from agents.throttle import Caps, Prospect, Usage
from connector.send_budget import (
    DAY_TTL, HOUR_TTL, BudgetError, BudgetRequest, Refused, Reservation, SendBudget, counter_keys,
)

NEW_YORK = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 12, 2, 10, 15, tzinfo=NEW_YORK)  # a Wednesday morning
CAPS = Caps(hourly=12, daily=40, domain_daily=5, mailbox_zone="America/New_York")
WIDE = Caps(hourly=1000, daily=1000, domain_daily=1000, mailbox_zone="America/New_York")
PROSPECT = Prospect(zone="America/New_York", country="US")


def reserve(budget, caps, *, mailbox="ann@seller.io", domain="acme.io", now=NOW, tenant="t1"):
    return budget.reserve(tenant, mailbox, domain, now=now, caps=caps, prospect=PROSPECT)


def reserved(results) -> int:
    return sum(isinstance(result, Reservation) for result in results)


def test_reservations_stop_at_the_daily_cap_and_the_refusal_names_it_and_the_next_window(conn):
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"daily": 3})
    results = [reserve(budget, caps, domain=f"d{n}.io") for n in range(4)]
    assert reserved(results) == 3
    assert results[3] == Refused(reason="daily_cap", retry_at=dt.datetime(2026, 12, 3, 8, tzinfo=NEW_YORK))


def test_reservations_stop_at_the_hourly_cap_and_the_next_hour_is_fresh(conn):
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"hourly": 2})
    assert [isinstance(reserve(budget, caps, domain=f"d{n}.io"), Reservation) for n in range(3)] == [True, True,
                                                                                                    False]
    assert reserve(budget, caps, domain="d9.io").retry_at == NOW.replace(hour=11, minute=0)
    assert isinstance(reserve(budget, caps, domain="d9.io", now=NOW.replace(hour=11)), Reservation)


def test_the_domain_cap_counts_all_the_tenant_s_mailboxes_together(conn):
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"domain_daily": 2})
    assert isinstance(reserve(budget, caps, mailbox="ann@seller.io"), Reservation)
    assert isinstance(reserve(budget, caps, mailbox="bob@seller.io"), Reservation)
    refused = reserve(budget, caps, mailbox="cat@seller.io", domain="ACME.io")
    assert refused.reason == "domain_cap"
    assert isinstance(reserve(budget, caps, mailbox="cat@seller.io", domain="other.io"), Reservation)
    assert isinstance(reserve(budget, caps, mailbox="cat@seller.io", tenant="t2"), Reservation)


def test_a_domain_cap_scoped_per_mailbox_lets_each_mailbox_send_its_own(conn):
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"domain_daily": 1, "domain_scope": "mailbox"})
    assert isinstance(reserve(budget, caps, mailbox="ann@seller.io"), Reservation)
    assert reserve(budget, caps, mailbox="ann@seller.io").reason == "domain_cap"
    assert isinstance(reserve(budget, caps, mailbox="bob@seller.io"), Reservation)


def test_a_counter_of_another_day_is_not_counted(conn):
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"daily": 1})
    assert isinstance(reserve(budget, caps), Reservation)
    assert reserve(budget, caps).reason == "daily_cap"
    assert isinstance(reserve(budget, caps, now=NOW + dt.timedelta(days=1)), Reservation)


def test_the_day_is_the_mailbox_s_own_calendar_day(conn):
    """23:30 in New York is already tomorrow in UTC: it still counts against New York's today."""
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"daily": 1})
    assert isinstance(reserve(budget, caps, now=NOW.replace(hour=9)), Reservation)
    assert reserve(budget, caps, now=NOW.replace(hour=23, minute=30)).reason == "daily_cap"


def test_counters_expire_a_little_after_their_window(conn):
    budget = SendBudget(conn)
    reserve(budget, CAPS)
    hour, day, domain = counter_keys("t1", "ann@seller.io", "acme.io", now=NOW, caps=CAPS)
    assert 3600 < conn.ttl(hour) <= HOUR_TTL <= 3600 + 600
    assert 25 * 3600 < conn.ttl(day) <= DAY_TTL and 25 * 3600 < conn.ttl(domain) <= DAY_TTL
    conn.expire(day, 100)  # a later reservation in the same window does not push the expiry out
    reserve(budget, CAPS, domain="other.io")
    assert conn.ttl(day) <= 100


def test_release_gives_the_place_back(conn):
    budget = SendBudget(conn)
    caps = WIDE.model_copy(update={"daily": 1})
    reservation = reserve(budget, caps)
    assert reserve(budget, caps).reason == "daily_cap"
    budget.release(reservation)
    assert budget.usage("t1", "ann@seller.io", "acme.io", now=NOW, caps=caps) == Usage(hour=0, day=0, domain_day=0)
    assert isinstance(reserve(budget, caps), Reservation)


def test_releasing_after_the_window_ended_creates_no_counter(conn):
    budget = SendBudget(conn)
    reservation = reserve(budget, CAPS)
    conn.delete(*reservation.keys)  # expired
    budget.release(reservation)
    assert conn.exists(*reservation.keys) == 0


def test_usage_reports_what_is_counted(conn):
    budget = SendBudget(conn)
    reserve(budget, CAPS)
    reserve(budget, CAPS, domain="other.io")
    assert budget.usage("t1", "ann@seller.io", "acme.io", now=NOW, caps=CAPS) == Usage(hour=2, day=2, domain_day=1)


def test_a_batch_is_reserved_in_one_round_trip_each_email_seeing_those_before_it(conn):
    budget = SendBudget(conn)
    requests = [BudgetRequest(mailbox="ann@seller.io", recipient_domain=f"p{n}@d{n}.io", caps=CAPS,
                              prospect=PROSPECT) for n in range(50)]
    reserve(budget, CAPS, domain="warm.io")  # loads the script
    conn.config_resetstat()
    results = budget.reserve_many("t1", requests, now=NOW)
    assert _calls(conn, "evalsha") == 1 and _calls(conn, "eval") == 0
    assert reserved(results) == 11  # the hourly cap of 12, one used already
    assert {result.reason for result in results[11:]} == {"hourly_cap"}


def test_an_empty_batch_asks_redis_nothing(conn):
    assert SendBudget(conn).reserve_many("t1", [], now=NOW) == []


@pytest.mark.parametrize("batch", [1, 10])
def test_caps_hold_exactly_under_concurrent_reservations(redis_url, batch):
    """Eight threads, each with its own connection, race for one mailbox's 40 daily places."""
    caps = WIDE.model_copy(update={"daily": 40})
    start, counts = threading.Barrier(8), []

    def worker() -> None:
        client = redis.Redis.from_url(redis_url)
        budget, mine = SendBudget(client), 0
        start.wait()
        for round_ in range(30 // batch):
            requests = [BudgetRequest(mailbox="ann@seller.io", recipient_domain=f"d{round_}-{n}.io", caps=caps,
                                      prospect=PROSPECT) for n in range(batch)]
            mine += reserved(budget.reserve_many("t1", requests, now=NOW))
        counts.append(mine)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counts) == 8 and sum(counts) == 40


@pytest.mark.parametrize(("field", "value"), [("recipient_domain", "acme.io:extra"), ("recipient_domain", ""),
                                              ("mailbox", "ann seller"), ("tenant", "t*")])
def test_a_name_that_could_forge_a_key_is_an_error_naming_the_field(conn, field, value):
    names = {"tenant": "t1", "mailbox": "ann@seller.io", "recipient_domain": "acme.io", field: value}
    with pytest.raises(BudgetError, match=field):
        counter_keys(names["tenant"], names["mailbox"], names["recipient_domain"], now=NOW, caps=CAPS)


def test_the_recipient_domain_may_be_given_as_an_address():
    assert counter_keys("t1", "Ann@Seller.io", "Pat@ACME.io.", now=NOW, caps=CAPS) == counter_keys(
        "t1", "ann@seller.io", "acme.io", now=NOW, caps=CAPS)


def _calls(conn, command: str) -> int:
    return int(conn.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))
