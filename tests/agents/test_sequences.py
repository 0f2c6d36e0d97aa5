"""Sequence templates per tier, and scheduling on business days in the contact's zone."""

import datetime as dt

import pytest

from agents.sequences import TEMPLATES, next_business_day, schedule

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
