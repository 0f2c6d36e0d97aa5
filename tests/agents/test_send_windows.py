"""Send windows: local hours on the prospect's business days, weekends and public holidays skipped."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from agents.send_windows import SendWindow, next_window_start, window_open, zone_of
from connector.settings import Settings

NEW_YORK, LONDON, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Europe/Berlin")
WINDOW = SendWindow()  # 08-17 on business days


def local(zone, month, day, hour, minute=0):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=zone)


@pytest.mark.parametrize(("hour", "minute", "open_"), [
    (7, 59, False), (8, 0, True), (12, 30, True), (16, 59, True), (17, 0, False), (23, 0, False),
])
def test_the_window_opens_at_its_start_hour_and_closes_at_its_end_hour(hour, minute, open_):
    assert window_open(local(NEW_YORK, 12, 2, hour, minute), NEW_YORK, "US", WINDOW) is open_  # a Wednesday


def test_the_window_is_judged_on_the_prospect_s_clock_not_the_caller_s():
    assert window_open(dt.datetime(2026, 12, 2, 13, 30, tzinfo=dt.UTC), NEW_YORK, "US", WINDOW)  # 08:30 there
    assert not window_open(dt.datetime(2026, 12, 2, 12, 30, tzinfo=dt.UTC), NEW_YORK, "US", WINDOW)  # 07:30 there


def test_the_window_is_closed_all_weekend():
    assert not window_open(local(NEW_YORK, 12, 5, 10), NEW_YORK, "US", WINDOW)  # Saturday
    assert not window_open(local(NEW_YORK, 12, 6, 10), NEW_YORK, "US", WINDOW)  # Sunday


@pytest.mark.parametrize(("country", "zone", "open_"), [("DE", BERLIN, False), ("GB", LONDON, True),
                                                         ("US", NEW_YORK, True)])
def test_labour_day_closes_the_window_in_germany_only(country, zone, open_):
    assert window_open(local(zone, 5, 1, 10), zone, country, WINDOW) is open_  # Friday 1 May 2026


@pytest.mark.parametrize(("now", "zone", "country", "start"), [
    (local(LONDON, 5, 1, 17, 30), LONDON, "GB", local(LONDON, 5, 5, 8)),  # weekend, then the May Day bank holiday
    (local(BERLIN, 4, 30, 18), BERLIN, "DE", local(BERLIN, 5, 4, 8)),  # Labour Day, then the weekend
    (local(NEW_YORK, 11, 25, 17), NEW_YORK, "US", local(NEW_YORK, 11, 27, 8)),  # Thanksgiving
    (local(LONDON, 12, 24, 17), LONDON, "GB", local(LONDON, 12, 29, 8)),  # Christmas, weekend, Boxing Day observed
])
def test_the_next_window_skips_weekends_and_the_country_s_public_holidays(now, zone, country, start):
    assert next_window_start(now, zone, country, WINDOW) == start


def test_the_next_window_is_this_morning_s_when_it_has_not_opened_yet():
    assert next_window_start(local(NEW_YORK, 12, 2, 6), NEW_YORK, "US", WINDOW) == local(NEW_YORK, 12, 2, 8)


def test_an_open_window_can_be_sent_in_now():
    now = local(NEW_YORK, 12, 2, 9, 15)
    assert next_window_start(now, NEW_YORK, "US", WINDOW) == now


def test_the_next_window_is_given_in_the_prospect_s_zone():
    start = next_window_start(dt.datetime(2026, 12, 2, 23, tzinfo=dt.UTC), BERLIN, "DE", WINDOW)
    assert start.tzinfo == BERLIN and start == local(BERLIN, 12, 3, 8)


def test_the_window_keeps_its_local_hours_across_the_spring_clock_change():
    """New York moves to EDT on Sunday 8 March 2026: Monday's 08:00 is 12:00 UTC, the Monday before's 13:00."""
    start = next_window_start(local(NEW_YORK, 3, 6, 18), NEW_YORK, "US", WINDOW)
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC)
    assert window_open(dt.datetime(2026, 3, 9, 12, 30, tzinfo=dt.UTC), NEW_YORK, "US", WINDOW)
    assert not window_open(dt.datetime(2026, 3, 2, 12, 30, tzinfo=dt.UTC), NEW_YORK, "US", WINDOW)


def test_the_window_keeps_its_local_hours_across_the_autumn_clock_change():
    """Berlin goes back to CET on Sunday 25 October 2026: Monday's 16:30 is 15:30 UTC, still inside."""
    assert window_open(dt.datetime(2026, 10, 26, 15, 30, tzinfo=dt.UTC), BERLIN, "DE", WINDOW)
    assert not window_open(dt.datetime(2026, 10, 23, 15, 30, tzinfo=dt.UTC), BERLIN, "DE", WINDOW)  # 17:30 CEST


def test_a_window_on_every_day_sends_at_weekends_and_on_holidays():
    every = SendWindow(days="every")
    assert window_open(local(NEW_YORK, 12, 5, 10), NEW_YORK, "US", every)
    assert window_open(local(NEW_YORK, 11, 26, 10), NEW_YORK, "US", every)


def test_a_window_on_weekdays_sends_on_holidays_but_not_at_weekends():
    weekdays = SendWindow(days="weekdays")
    assert window_open(local(NEW_YORK, 11, 26, 10), NEW_YORK, "US", weekdays)
    assert not window_open(local(NEW_YORK, 12, 5, 10), NEW_YORK, "US", weekdays)


def test_a_prospect_without_a_zone_is_written_to_in_the_tenant_s_default_zone():
    assert zone_of(None, "Europe/Berlin") == BERLIN
    assert zone_of("America/New_York", "Europe/Berlin") == NEW_YORK


def test_an_unknown_zone_name_is_an_error_naming_the_rule():
    with pytest.raises(ValueError, match="IANA name"):
        zone_of("Mars/Olympus_Mons", "UTC")


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        window_open(dt.datetime(2026, 12, 2, 10), NEW_YORK, "US", WINDOW)


def test_the_window_is_read_from_its_start_end_form():
    assert SendWindow.parse("09-18") == SendWindow(start_hour=9, end_hour=18)
    assert SendWindow.parse(" 7 - 24 ", "every") == SendWindow(start_hour=7, end_hour=24, days="every")


@pytest.mark.parametrize("text", ["17-08", "8to17", "08-25", "08-08", ""])
def test_a_window_that_is_not_start_before_end_is_an_error(text):
    with pytest.raises(ValueError, match="START-END"):
        SendWindow.parse(text)


def test_a_window_ending_before_it_starts_is_refused_by_the_model_too():
    with pytest.raises(ValidationError, match="end_hour must be after start_hour"):
        SendWindow(start_hour=17, end_hour=8)


def test_the_settings_default_window_is_eight_to_five_on_business_days():
    assert Settings().send_window == SendWindow(start_hour=8, end_hour=17, days="business")


def test_the_settings_window_comes_from_salesos_send_window(monkeypatch):
    monkeypatch.setenv("SALESOS_SEND_WINDOW", "09-18")
    monkeypatch.setenv("SALESOS_SEND_DAYS", "weekdays")
    assert Settings().send_window == SendWindow(start_hour=9, end_hour=18, days="weekdays")


def test_a_bad_salesos_send_window_names_the_variable(monkeypatch):
    monkeypatch.setenv("SALESOS_SEND_WINDOW", "nine-to-five")
    with pytest.raises(ValidationError, match="SALESOS_SEND_WINDOW"):
        Settings()
