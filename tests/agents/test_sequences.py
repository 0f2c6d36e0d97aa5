"""Sequence templates per tier, and scheduling on business days in the contact's zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agents.sequences import TEMPLATES, move_overdue, next_business_day, next_send_time, schedule

MONDAY = dt.date(2026, 11, 2)


def plan(tier="TIER_1", primary="email", start=MONDAY, tz="America/New_York", country="US", hour=9):
    return schedule(TEMPLATES[tier], primary, start, tz, country, hour)


@pytest.mark.parametrize(("tier", "touches", "days", "channels"), [
    ("TIER_1", 7, 21, {"email", "linkedin", "phone"}),
    ("TIER_2", 5, 18, {"email", "linkedin"}),
    ("TIER_3", 3, 14, {"email"}),
    ("TIER_4", 2, 30, {"email"}),
])
def test_each_tier_has_the_touches_days_and_channels_of_the_seed(tier, touches, days, channels):
    steps = plan(tier)
    assert len(steps) == touches
    assert steps[-1].day == days
    assert {step.channel for step in steps} == channels


def test_the_tier_1_sequence_reads_like_a_cadence():
    assert [(s.day, s.channel, s.action, s.message_type) for s in plan()] == [
        (0, "email", "send_cold_email", "problem_aware"),
        (2, "linkedin", "send_connection_request", "value_add"),
        (5, "email", "send_follow_up", "scarcity"),
        (7, "phone", "make_call", "direct_pitch"),
        (10, "email", "send_follow_up", "social_proof"),
        (14, "phone", "make_call", "final_offer"),
        (21, "email", "send_final", "win_back"),
    ]


def test_a_linkedin_first_contact_gets_linkedin_as_primary_and_email_second():
    steps = plan(primary="linkedin")
    assert [s.channel for s in steps[:3]] == ["linkedin", "email", "linkedin"]
    assert [s.action for s in steps[:3]] == ["send_connection_request", "send_cold_email", "send_message"]


def test_steps_happen_at_the_send_hour_in_the_contacts_zone():
    first = plan(tz="America/Los_Angeles", hour=10)[0]
    assert first.scheduled_at.isoformat() == "2026-11-02T10:00:00-08:00"


def test_offsets_follow_daylight_saving_time():
    march = plan(start=dt.date(2026, 3, 2))  # before US DST starts on 8 March
    assert march[0].scheduled_at.isoformat() == "2026-03-02T09:00:00-05:00"
    assert march[3].scheduled_at.isoformat() == "2026-03-09T09:00:00-04:00"


def test_a_step_on_a_weekend_moves_to_monday():
    steps = plan("TIER_3", start=dt.date(2026, 11, 4))  # Wednesday: day 5 is a Monday, day 14 a Wednesday
    friday_start = plan("TIER_1", start=dt.date(2026, 11, 6))
    assert friday_start[1].scheduled_at.date() == dt.date(2026, 11, 9)  # day 2 is Sunday
    assert [s.scheduled_at.date() for s in steps] == [dt.date(2026, 11, 4), dt.date(2026, 11, 9),
                                                     dt.date(2026, 11, 18)]


def test_a_step_on_a_public_holiday_moves_to_the_next_business_day():
    assert next_business_day(dt.date(2026, 11, 26), "US") == dt.date(2026, 11, 27)  # Thanksgiving
    assert next_business_day(dt.date(2026, 11, 26), "GB") == dt.date(2026, 11, 26)
    assert next_business_day(dt.date(2026, 12, 25), "GB") == dt.date(2026, 12, 29)  # Christmas, Boxing Day


def test_a_country_without_a_holiday_calendar_skips_weekends_only():
    assert next_business_day(dt.date(2026, 11, 7), None) == dt.date(2026, 11, 9)


def test_the_day_offset_stays_the_calendar_day_even_when_the_date_moves():
    steps = plan(start=dt.date(2026, 11, 6))
    assert steps[1].day == 2


NEW_YORK = ZoneInfo("America/New_York")
GRACE = dt.timedelta(hours=6)


def at(day: int, hour: int, minute: int = 0, zone=NEW_YORK) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=zone)


@pytest.mark.parametrize(("now", "window"), [
    (at(2, 8, 59), at(2, 9)),  # a Wednesday before the send hour: this morning
    (at(2, 9), at(3, 9)),  # at or after it: the next business day
    (at(4, 15), at(7, 9)),  # a Friday afternoon: Monday
    (at(24, 10), at(28, 9)),  # Christmas Eve: past Christmas Day and the weekend
    (dt.datetime(2026, 12, 2, 13, 30, tzinfo=dt.UTC), at(2, 9)),  # 08:30 in New York
])
def test_the_next_send_window_is_the_send_hour_of_the_contact_s_next_business_day(now, window):
    assert next_send_time(now, NEW_YORK, "US", 9) == window


def test_a_step_within_the_grace_stays_where_it_is():
    steps = plan(start=dt.date(2026, 11, 30))  # a Monday: first step at 09:00 New York time
    exactly_the_grace_late = dt.datetime(2026, 11, 30, 15, tzinfo=NEW_YORK)
    assert move_overdue(steps, 0, exactly_the_grace_late, GRACE, NEW_YORK, "US", 9) is None
    assert move_overdue(steps, 1, at(2, 15), GRACE, NEW_YORK, "US", 9) is None  # step 2 is due Wednesday 09:00


def test_an_overdue_step_and_its_followers_move_to_the_next_window_as_many_days_apart():
    steps = plan(start=MONDAY)  # Monday 2 November: every step due long before 2 December
    moved = move_overdue(steps, 2, at(2, 14), GRACE, NEW_YORK, "US", 9)
    assert moved[:2] == steps[:2]  # done already: unchanged
    assert [(s.day, s.scheduled_at) for s in moved[2:]] == [
        (5, at(3, 9)),  # Thursday: the next window after Wednesday 14:00
        (7, at(7, 9)),  # two days later is a Saturday: Monday
        (10, at(8, 9)),
        (14, at(14, 9)),  # eleven days later is a Sunday: Monday
        (21, at(21, 9)),
    ]
    assert [(s.channel, s.action) for s in moved] == [(s.channel, s.action) for s in steps]


def test_a_step_overdue_by_just_more_than_the_grace_moves():
    steps = plan(start=dt.date(2026, 12, 2))  # Wednesday 09:00
    assert move_overdue(steps, 0, at(2, 15, 1), GRACE, NEW_YORK, "US", 9)[0].scheduled_at == at(3, 9)
