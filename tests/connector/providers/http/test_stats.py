"""Provider call stats on a real Redis: hourly buckets, two days kept, the last day's success rates."""

from __future__ import annotations

import datetime as dt

from connector.providers.http.stats import KEEP, RedisCallStats, bucket_key, success_rates

NOW = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)


def record(conn, provider, ok, failed, hours_ago=0.0):
    stats = RedisCallStats(conn, clock=lambda: NOW - dt.timedelta(hours=hours_ago))
    for outcome in [True] * ok + [False] * failed:
        stats.record(provider, outcome)


def test_calls_are_counted_per_provider(conn):
    record(conn, "apollo", 19, 1)
    record(conn, "hunter", 3, 0, hours_ago=5)
    rates = success_rates(conn, now=NOW)
    assert {name: (rate.ok, rate.failed, rate.rate) for name, rate in rates.items()} == {
        "apollo": (19, 1, 0.95), "hunter": (3, 0, 1.0)}


def test_the_last_day_is_the_last_24_hourly_buckets_this_one_included(conn):
    record(conn, "apollo", 1, 0, hours_ago=23)
    record(conn, "apollo", 0, 5, hours_ago=24)
    assert success_rates(conn, now=NOW)["apollo"].failed == 0
    assert success_rates(conn, hours=25, now=NOW)["apollo"].failed == 5


def test_each_hour_is_kept_two_days(conn):
    record(conn, "apollo", 1, 0)
    assert 0 < conn.ttl(bucket_key(NOW)) <= KEEP == 48 * 3600


def test_no_calls_no_rates(conn):
    assert success_rates(conn, now=NOW) == {}
