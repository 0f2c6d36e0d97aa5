"""Throttle decisions: the warm-up ramp, each cap, when a refused send retries, and moving its sequence."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from agents.send_windows import SendWindow
from agents.sequences import TEMPLATES, reschedule, schedule
from agents.throttle import (
    SEND, Decision, Mailbox, Prospect, ThrottlePolicy, Usage, caps_for, daily_cap_for, decide, retry_at, summarise,
)
from connector.settings import Settings

NEW_YORK, SYDNEY = ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")
POLICY = ThrottlePolicy()
MAILBOX = Mailbox(zone="America/New_York")
NY_PROSPECT = Prospect(zone="America/New_York", country="US")
MONDAY = dt.date(2026, 11, 2)


def ny(month, day, hour, minute=0):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(("today", "cap"), [
    (dt.date(2026, 11, 2), 5),  # Monday: the warm-up's first day
    (dt.date(2026, 11, 3), 10),
    (dt.date(2026, 11, 4), 15),
    (dt.date(2026, 11, 5), 20),
    (dt.date(2026, 11, 6), 25),  # Friday
    (dt.date(2026, 11, 7), 25),  # the weekend adds nothing
    (dt.date(2026, 11, 8), 25),
    (dt.date(2026, 11, 9), 30),
    (dt.date(2026, 11, 10), 35),
    (dt.date(2026, 11, 11), 40),  # the eighth business day: the full daily cap
    (dt.date(2026, 11, 12), 40),  # and never more
    (dt.date(2027, 11, 12), 40),
])
def test_the_warm_up_ramp_adds_five_a_business_day_up_to_the_daily_cap(today, cap):
    assert daily_cap_for(POLICY, MONDAY, today) == cap


def test_a_warmed_up_mailbox_has_the_full_daily_cap():
    assert daily_cap_for(POLICY, None, MONDAY) == 40


def test_a_warm_up_that_starts_later_caps_the_mailbox_at_its_first_day_s_value():
    assert daily_cap_for(POLICY, MONDAY, MONDAY - dt.timedelta(days=3)) == 5


def test_the_ramp_follows_the_policy():
    policy = ThrottlePolicy(mailbox_daily_cap=50, warmup_start=10, warmup_step=20)
    assert [daily_cap_for(policy, MONDAY, MONDAY + dt.timedelta(days=n)) for n in range(4)] == [10, 30, 50, 50]


def test_a_warming_mailbox_s_hourly_cap_is_never_above_its_daily_cap():
    caps = caps_for(POLICY, Mailbox(zone="America/New_York", warmup_started=MONDAY), ny(11, 2, 9))
    assert (caps.daily, caps.hourly, caps.domain_daily) == (5, 5, 5)


def test_the_warm_up_day_is_the_mailbox_s_own_calendar_day():
    """Tuesday 01:00 UTC is still Monday in New York: the first day's cap."""
    mailbox = Mailbox(zone="America/New_York", warmup_started=MONDAY)
    assert caps_for(POLICY, mailbox, dt.datetime(2026, 11, 3, 1, tzinfo=dt.UTC)).daily == 5
    assert caps_for(POLICY, mailbox.model_copy(update={"zone": "UTC"}),
                    dt.datetime(2026, 11, 3, 1, tzinfo=dt.UTC)).daily == 10


def test_under_every_cap_in_an_open_window_the_email_goes():
    usage = Usage(hour=11, day=39, domain_day=4)
    assert decide(usage, POLICY, now=ny(12, 2, 10), mailbox=MAILBOX, prospect=NY_PROSPECT) == SEND


def test_the_hourly_cap_retries_at_the_next_clock_hour():
    decision = decide(Usage(hour=12), POLICY, now=ny(12, 2, 10, 40), mailbox=MAILBOX, prospect=NY_PROSPECT)
    assert decision == Decision(send=False, reason="hourly_cap", retry_at=ny(12, 2, 11))


def test_the_hourly_cap_at_the_window_s_last_hour_retries_at_the_next_window():
    decision = decide(Usage(hour=12), POLICY, now=ny(12, 4, 16, 40), mailbox=MAILBOX, prospect=NY_PROSPECT)
    assert (decision.reason, decision.retry_at) == ("hourly_cap", ny(12, 7, 8))  # Friday afternoon: Monday


def test_the_daily_cap_retries_at_the_next_business_day_s_window():
    decision = decide(Usage(day=40), POLICY, now=ny(12, 2, 10), mailbox=MAILBOX, prospect=NY_PROSPECT)
    assert decision == Decision(send=False, reason="daily_cap", retry_at=ny(12, 3, 8))


def test_the_domain_cap_retries_at_the_next_business_day_s_window():
    decision = decide(Usage(domain_day=5), POLICY, now=ny(11, 25, 10), mailbox=MAILBOX, prospect=NY_PROSPECT)
    assert decision == Decision(send=False, reason="domain_cap", retry_at=ny(11, 27, 8))  # past Thanksgiving


def test_a_warming_mailbox_is_refused_at_its_ramp_s_cap():
    mailbox = Mailbox(zone="America/New_York", warmup_started=dt.date(2026, 11, 30))  # Monday: 10 on Tuesday
    assert decide(Usage(day=9), POLICY, now=ny(12, 1, 10), mailbox=mailbox, prospect=NY_PROSPECT).send
    assert decide(Usage(day=10), POLICY, now=ny(12, 1, 10), mailbox=mailbox, prospect=NY_PROSPECT).reason == \
        "daily_cap"


def test_a_closed_window_retries_at_its_next_start():
    decision = decide(Usage(), POLICY, now=ny(12, 2, 19), mailbox=MAILBOX, prospect=NY_PROSPECT)
    assert decision == Decision(send=False, reason="window", retry_at=ny(12, 3, 8))


def test_the_day_s_cap_is_named_before_the_hour_s_when_both_are_reached():
    decision = decide(Usage(hour=12, day=40), POLICY, now=ny(12, 2, 10), mailbox=MAILBOX, prospect=NY_PROSPECT)
    assert decision.reason == "daily_cap"


def test_a_prospect_in_sydney_retries_when_the_new_york_mailbox_s_next_day_starts_in_their_window():
    """16:30 on Monday in New York is 08:30 on Tuesday in Sydney. The mailbox's Tuesday starts at midnight in
    New York: 16:00 in Sydney, their window still open. The hour after 16:30 in New York is 09:00 there."""
    sydney = Prospect(zone="Australia/Sydney", country="AU")
    refused = decide(Usage(day=40), POLICY, now=ny(12, 7, 16, 30), mailbox=MAILBOX, prospect=sydney)
    assert refused.retry_at == dt.datetime(2026, 12, 8, 16, tzinfo=SYDNEY) and refused.retry_at.tzinfo == SYDNEY
    hourly = decide(Usage(hour=12), POLICY, now=ny(12, 7, 16, 30), mailbox=MAILBOX, prospect=sydney)
    assert hourly.retry_at == dt.datetime(2026, 12, 8, 9, tzinfo=SYDNEY)


def test_a_prospect_in_sydney_is_not_written_to_in_new_york_s_office_hours():
    sydney = Prospect(zone="Australia/Sydney", country="AU")
    decision = decide(Usage(), POLICY, now=ny(12, 7, 10), mailbox=MAILBOX, prospect=sydney)  # 02:00 in Sydney
    assert decision == Decision(send=False, reason="window", retry_at=dt.datetime(2026, 12, 8, 8, tzinfo=SYDNEY))


def test_the_hour_after_half_past_one_on_the_night_clocks_go_back_is_the_second_one_o_clock():
    anytime = Prospect(zone="America/New_York", window=SendWindow(start_hour=0, end_hour=24, days="every"))
    first_half_past_one = dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT
    at = retry_at("hourly_cap", first_half_past_one, "America/New_York", anytime)
    assert at.astimezone(dt.UTC) == dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)  # 01:00 EST


def test_the_mailbox_s_day_is_25_hours_long_when_clocks_go_back():
    """The daily cap frees at the mailbox's next midnight, even on a day with an hour more."""
    anytime = Prospect(zone="America/New_York", window=SendWindow(start_hour=0, end_hour=24, days="every"))
    at = retry_at("daily_cap", ny(11, 1, 0, 30), "America/New_York", anytime)
    elapsed = at.astimezone(dt.UTC) - ny(11, 1, 0, 30).astimezone(dt.UTC)  # same-zone subtraction is wall time
    assert at == ny(11, 2, 0) and elapsed == dt.timedelta(hours=24, minutes=30)


def test_a_prospect_without_a_zone_is_written_to_in_the_tenant_s_default_zone():
    assert Prospect.of(None, "DE", SendWindow(), "Europe/Berlin").zone == "Europe/Berlin"
    assert Prospect.of("Asia/Tokyo", "JP", SendWindow(), "Europe/Berlin").zone == "Asia/Tokyo"


@pytest.mark.parametrize("model", [lambda: Prospect(zone="Nowhere/Town"), lambda: Mailbox(zone="Nowhere/Town")])
def test_an_unknown_zone_is_an_error_naming_the_field(model):
    with pytest.raises(ValidationError, match="zone"):
        model()


def test_a_negative_cap_is_an_error_naming_the_field():
    with pytest.raises(ValidationError, match="mailbox_daily_cap"):
        ThrottlePolicy(mailbox_daily_cap=-1)


def test_the_settings_policy_has_the_documented_defaults_and_reads_the_environment(monkeypatch):
    assert Settings().throttle_policy == ThrottlePolicy(mailbox_daily_cap=40, mailbox_hourly_cap=12,
                                                        domain_daily_cap=5, domain_cap_scope="tenant",
                                                        warmup_start=5, warmup_step=5)
    monkeypatch.setenv("SALESOS_MAILBOX_DAILY_CAP", "30")
    monkeypatch.setenv("SALESOS_DOMAIN_CAP_SCOPE", "mailbox")
    policy = Settings().throttle_policy
    assert (policy.mailbox_daily_cap, policy.domain_cap_scope) == (30, "mailbox")


def plan():
    """TIER_3 from Monday 30 November 2026: days 0, 5 and 14 -> Mon 30 Nov, Mon 7 Dec (Sat 5th moved), Mon 14 Dec."""
    return schedule(TEMPLATES["TIER_3"], "email", dt.date(2026, 11, 30), "America/New_York", "US", 9)


def test_a_refused_step_moves_to_its_retry_time_and_its_followers_keep_their_spacing():
    steps = plan()
    moved = reschedule(steps, 0, ny(12, 1, 8), NEW_YORK, "US", 9)  # the daily cap: Tuesday's window
    assert [s.scheduled_at for s in moved] == [ny(12, 1, 8), ny(12, 7, 9), ny(12, 15, 9)]  # +5 days: Sunday


def test_a_step_retried_later_the_same_day_leaves_its_followers_where_they_were():
    steps = plan()
    moved = reschedule(steps, 0, ny(11, 30, 11), NEW_YORK, "US", 9)  # the hourly cap
    assert moved[0].scheduled_at == ny(11, 30, 11) and moved[1:] == steps[1:]


def test_a_rescheduled_step_keeps_the_steps_before_it_and_every_step_s_content():
    steps = plan()
    moved = reschedule(steps, 1, ny(12, 8, 8), NEW_YORK, "US", 9)
    assert moved[0] == steps[0]
    assert [s.scheduled_at for s in moved[1:]] == [ny(12, 8, 8), ny(12, 17, 9)]  # +9 days
    assert [(s.day, s.channel, s.action) for s in moved] == [(s.day, s.channel, s.action) for s in steps]


def test_a_retry_time_in_another_zone_is_given_in_the_prospect_s_zone():
    moved = reschedule(plan(), 0, dt.datetime(2026, 12, 1, 13, tzinfo=dt.UTC), NEW_YORK, "US", 9)
    assert moved[0].scheduled_at.tzinfo == NEW_YORK and moved[0].scheduled_at == ny(12, 1, 8)


def test_the_summary_counts_refusals_by_reason_and_not_sends():
    decisions = [SEND, Decision(send=False, reason="daily_cap", retry_at=ny(12, 3, 8)),
                 Decision(send=False, reason="daily_cap", retry_at=ny(12, 3, 8)),
                 Decision(send=False, reason="window", retry_at=ny(12, 3, 8)), SEND]
    assert summarise(decisions) == {"daily_cap": 2, "window": 1}
    assert summarise([SEND]) == {}
