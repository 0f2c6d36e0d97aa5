"""When a scheduled market's ticks fall due, and what a tick due at one time does when it runs at another."""

import datetime as dt

import pytest
from pydantic import ValidationError

from agents.market import MarketDefinition, MarketSchedule
from agents.market_schedule import (
    due_work, last_point, left_this_month, month_of, next_point, next_tick, tick_time,
)
from agents.validation import describe

TENANT = "local"  # ticks at 05:06 UTC


def at(day: str, time: str = "05:06") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}+00:00")


def schedule(**kinds) -> MarketSchedule:
    return MarketSchedule(**kinds)


def test_every_tenant_ticks_at_its_own_time_between_four_and_six_utc():
    times = {tick_time(f"hubspot-{n}") for n in range(200)}
    assert min(times) >= dt.time(4, 0) and max(times) < dt.time(6, 0)
    assert len(times) > 50  # spread, so tenants' runs do not all start at one instant
    assert tick_time(TENANT) == dt.time(5, 6) == tick_time(TENANT)


def test_a_monthly_point_is_the_first_of_the_next_month():
    assert next_point("monthly", TENANT, at("2026-11-02", "12:00")) == at("2026-12-01")


def test_a_monthly_point_crosses_the_year():
    assert next_point("monthly", TENANT, at("2026-12-15")) == at("2027-01-01")


def test_a_monthly_point_later_the_same_day_is_still_this_months():
    assert next_point("monthly", TENANT, at("2026-12-01", "01:00")) == at("2026-12-01")


def test_the_next_point_is_strictly_after_the_given_time():
    assert next_point("monthly", TENANT, at("2026-12-01")) == at("2027-01-01")
    assert next_point("weekly", TENANT, at("2026-11-02")) == at("2026-11-09")


def test_a_weekly_point_is_the_next_monday():
    assert next_point("weekly", TENANT, at("2026-11-04", "20:00")) == at("2026-11-09")  # a Wednesday
    assert next_point("weekly", TENANT, at("2026-11-02", "05:05")) == at("2026-11-02")  # Monday, a minute before


def test_a_weekly_point_crosses_month_and_year_ends():
    assert next_point("weekly", TENANT, at("2026-12-29")) == at("2027-01-04")


def test_the_last_point_of_a_month_before_its_first_tick_is_last_months():
    assert last_point("monthly", TENANT, at("2027-01-01", "03:00")) == at("2026-12-01")
    assert last_point("monthly", TENANT, at("2026-03-31")) == at("2026-03-01")


def test_both_kinds_tick_at_the_earlier_of_their_points():
    both = schedule(source="monthly", rescore="weekly")
    assert next_tick(both, TENANT, at("2026-11-27")) == at("2026-11-30")  # Monday before the 1st
    assert next_tick(both, TENANT, at("2026-11-30")) == at("2026-12-01")


def test_a_schedule_with_nothing_in_it_has_no_tick():
    assert next_tick(schedule(), TENANT, at("2026-11-02")) is None


def test_a_tick_on_time_does_what_is_due_at_its_point_only():
    both = schedule(source="monthly", rescore="weekly")
    assert due_work(both, TENANT, at("2026-12-01"), at("2026-12-01")) == {"source": at("2026-12-01")}
    assert due_work(both, TENANT, at("2026-12-07"), at("2026-12-07", "05:07")) == {"rescore": at("2026-12-07")}


def test_a_day_where_both_fall_due_does_both_in_one_tick():
    both = schedule(source="monthly", rescore="weekly")
    assert due_work(both, TENANT, at("2027-02-01"), at("2027-02-01")) == {  # the 1st is a Monday
        "source": at("2027-02-01"), "rescore": at("2027-02-01")}


def test_a_tick_that_runs_late_does_each_kind_that_fell_due_since_once():
    both = schedule(source="monthly", rescore="weekly")
    work = due_work(both, TENANT, at("2026-11-30"), at("2026-12-15"))  # the workers were down two weeks
    assert work == {"source": at("2026-12-01"), "rescore": at("2026-12-14")}


def test_after_a_late_tick_the_next_is_the_first_point_after_it_ran_not_the_ones_it_missed():
    both = schedule(source="monthly", rescore="weekly")
    assert next_tick(both, TENANT, at("2026-12-15")) == at("2026-12-21")


def test_a_tick_of_a_schedule_since_changed_does_nothing_off_its_grid():
    weekly = schedule(rescore="weekly")
    assert due_work(weekly, TENANT, at("2026-12-01"), at("2026-12-01")) == {}  # a Tuesday: the old monthly point


def test_a_full_month_moves_weekly_sourcing_to_the_next_month():
    weekly = schedule(source="weekly")
    assert next_tick(weekly, TENANT, at("2026-11-09")) == at("2026-11-16")
    assert next_tick(weekly, TENANT, at("2026-11-09"), month_full=True) == at("2026-12-07")


def test_a_full_month_keeps_weekly_rescoring():
    both = schedule(source="weekly", rescore="weekly")
    assert next_tick(both, TENANT, at("2026-11-09"), month_full=True) == at("2026-11-16")


def test_a_full_month_before_the_first_tick_of_the_month_skips_that_tick_too():
    monthly = schedule(source="monthly")
    assert next_tick(monthly, TENANT, at("2026-12-01", "01:00"), month_full=True) == at("2027-01-01")


def test_what_is_left_of_the_target_is_never_negative_and_no_target_is_no_limit():
    assert left_this_month(500, 120) == 380
    assert left_this_month(500, 620) == 0
    assert left_this_month(None, 620) is None


def test_the_month_is_the_utc_month():
    assert month_of(dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == "2026-11"
    assert month_of(dt.date(2026, 11, 2)) == "2026-11"


# --- the schedule in the market definition ----------------------------------------------------------


def market(**fields) -> MarketDefinition:
    return MarketDefinition(industry="B2B SaaS", company_size="10-500", **fields)


def test_a_market_has_no_schedule_unless_it_says_so():
    assert market().schedule is None


def test_a_schedule_names_each_kind_and_its_cadence_in_any_case():
    assert market(schedule={"source": "Monthly", "rescore": "weekly"}).schedule.kinds() == {
        "source": "monthly", "rescore": "weekly"}
    assert market(schedule={"rescore": "weekly"}).schedule.kinds() == {"rescore": "weekly"}


@pytest.mark.parametrize(("given", "problem"), [
    ({"source": "daily"}, "schedule.source: Input should be 'weekly' or 'monthly' (got 'daily')"),
    ({"rescore": 7}, "schedule.rescore: Input should be 'weekly' or 'monthly' (got 7)"),
    ({"resource": "weekly"}, "schedule.resource: unknown field (value 'weekly')"),
])
def test_an_unknown_schedule_value_is_refused_naming_the_field_and_the_allowed_ones(given, problem):
    with pytest.raises(ValidationError) as caught:
        market(schedule=given)
    assert describe(caught.value) == [problem]


def test_a_scheduled_market_survives_its_round_trip_through_the_state_database():
    scheduled = market(schedule={"source": "monthly"}, monthly_target=50)
    assert MarketDefinition.model_validate_json(scheduled.model_dump_json()) == scheduled
    assert MarketDefinition.model_validate_json(market().model_dump_json()).schedule is None
