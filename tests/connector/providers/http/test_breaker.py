"""The circuit breaker on a real Redis, with a clock moved by hand."""

from __future__ import annotations

import pytest

from connector.providers.http.breaker import IDLE_TTL, RedisBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def breaker(conn, clock):
    return RedisBreaker(conn, "t1", clock=clock)


def fail(breaker, times, provider="apollo"):
    for _ in range(times):
        breaker.failed(provider)


def test_five_failures_in_a_row_open_it(breaker):
    fail(breaker, 4)
    assert breaker.allow("apollo")
    fail(breaker, 1)
    assert not breaker.allow("apollo")


def test_a_success_starts_the_count_again(breaker):
    fail(breaker, 4)
    breaker.succeeded("apollo")
    fail(breaker, 4)
    assert breaker.allow("apollo")


def test_after_the_cool_down_exactly_one_trial_call_goes(breaker, clock):
    fail(breaker, 5)
    clock.now += 59.9
    assert not breaker.allow("apollo")
    clock.now += 0.1
    assert [breaker.allow("apollo") for _ in range(3)] == [True, False, False]


def test_a_trial_that_succeeds_closes_it(breaker, clock):
    fail(breaker, 5)
    clock.now += 60
    assert breaker.allow("apollo")
    breaker.succeeded("apollo")
    assert [breaker.allow("apollo") for _ in range(3)] == [True, True, True]
    fail(breaker, 4)
    assert breaker.allow("apollo")  # closed again: five more in a row to open it


def test_each_failed_trial_doubles_the_cool_down_up_to_fifteen_minutes(breaker, clock):
    fail(breaker, 5)
    clock.now += 60
    for wait in (120, 240, 480, 900, 900):
        assert breaker.allow("apollo")  # the trial
        breaker.failed("apollo")
        clock.now += wait - 0.1
        assert not breaker.allow("apollo")
        clock.now += 0.1
    assert breaker.allow("apollo")


def test_a_trial_that_never_reports_back_frees_the_trial_after_its_time(breaker, clock):
    fail(breaker, 5)
    clock.now += 60
    assert breaker.allow("apollo")  # its worker dies, or the request is refused: no success, no failure
    clock.now += 59
    assert not breaker.allow("apollo")
    clock.now += 1
    assert breaker.allow("apollo")


def test_failures_while_open_do_not_extend_the_cool_down(breaker, clock):
    fail(breaker, 5)
    clock.now += 30
    fail(breaker, 3)  # calls that were in flight when it opened
    clock.now += 30
    assert breaker.allow("apollo")


def test_each_provider_and_each_tenant_has_its_own_breaker(conn, breaker, clock):
    fail(breaker, 5, "apollo")
    assert breaker.allow("hunter")
    assert RedisBreaker(conn, "t2", clock=clock).allow("apollo")
    assert not breaker.allow("apollo")


def test_a_breaker_nobody_touches_for_a_day_is_forgotten(conn, breaker):
    fail(breaker, 1)
    assert 0 < conn.ttl("salesos:breaker:t1:apollo") <= IDLE_TTL
