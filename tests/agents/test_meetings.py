"""Proposing meeting times: inside both parties' hours, around the owner's busy times, over several days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from agents.meetings import Interval, Meeting, Slot, format_slot, meeting_uid, proposal_text, propose_slots, rescheduled

LONDON, NEW_YORK, LOS_ANGELES, TOKYO = (ZoneInfo(z) for z in ("Europe/London", "America/New_York",
                                                               "America/Los_Angeles", "Asia/Tokyo"))
MONDAY_EARLY = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)  # Mon 7 Dec 2026, before anyone's working day


def local(slot: Slot, zone: ZoneInfo) -> tuple[str, str]:
    start = slot.start.astimezone(zone)
    return f"{start:%a}", f"{start:%H:%M}"


def at(zone: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


def test_an_empty_calendar_gets_the_first_hour_of_three_different_days():
    slots = propose_slots([], owner_zone="Europe/London", prospect_zone="Europe/London", now=MONDAY_EARLY)
    assert [local(slot, LONDON) for slot in slots] == [("Mon", "09:00"), ("Tue", "09:00"), ("Wed", "09:00")]
    assert all(slot.end - slot.start == dt.timedelta(minutes=30) for slot in slots)
    assert all(slot.start.tzinfo == dt.UTC for slot in slots)


def test_busy_times_and_their_buffer_are_avoided():
    busy = [Interval(start=at(LONDON, 2026, 12, 7, 9, 0), end=at(LONDON, 2026, 12, 7, 10, 0))]
    [monday, *_] = propose_slots(busy, owner_zone="Europe/London", prospect_zone="Europe/London", now=MONDAY_EARLY)
    assert local(monday, LONDON) == ("Mon", "10:15")  # the meeting ends at 10:00, plus a 15-minute buffer


def test_a_fully_booked_day_is_skipped():
    busy = [Interval(start=at(LONDON, 2026, 12, 8, 0, 0), end=at(LONDON, 2026, 12, 9, 0, 0))]
    slots = propose_slots(busy, owner_zone="Europe/London", prospect_zone="Europe/London", now=MONDAY_EARLY)
    assert [day for day, _ in (local(slot, LONDON) for slot in slots)] == ["Mon", "Wed", "Thu"]


def test_weekends_and_the_owners_public_holidays_are_skipped():
    christmas_eve = dt.datetime(2026, 12, 24, 6, 0, tzinfo=dt.UTC)  # Thu; Fri 25 and Mon 28 Dec are GB holidays
    slots = propose_slots([], owner_zone="Europe/London", prospect_zone="Europe/London", now=christmas_eve,
                          country="GB")
    assert [slot.start.astimezone(LONDON).date().isoformat() for slot in slots] == [
        "2026-12-24", "2026-12-29", "2026-12-30"]


def test_no_slot_starts_before_the_notice_period():
    now = at(LONDON, 2026, 12, 7, 11, 5)
    [monday, *_] = propose_slots([], owner_zone="Europe/London", prospect_zone="Europe/London", now=now)
    assert local(monday, LONDON) == ("Mon", "13:15")


def test_times_fall_where_both_working_days_overlap():
    slots = propose_slots([], owner_zone="Europe/London", prospect_zone="America/New_York", now=MONDAY_EARLY)
    # London 9-17 meets New York 9-17 between 14:00 and 17:00 London time
    assert {local(slot, LONDON)[1] for slot in slots} == {"14:00"}
    assert {local(slot, NEW_YORK)[1] for slot in slots} == {"09:00"}


def test_a_prospect_eight_hours_away_gets_the_owners_hours_nearest_to_theirs():
    slots = propose_slots([], owner_zone="Europe/London", prospect_zone="America/Los_Angeles", now=MONDAY_EARLY)
    # No hour is shared: London's last slot (16:30) is 08:30 in Los Angeles, the nearest to a business hour
    assert [local(slot, LONDON) for slot in slots] == [("Mon", "16:30"), ("Tue", "16:30"), ("Wed", "16:30")]
    assert {local(slot, LOS_ANGELES)[1] for slot in slots} == {"08:30"}


def test_a_prospect_across_the_date_line_is_never_offered_their_weekend():
    friday = dt.datetime(2026, 12, 11, 6, 0, tzinfo=dt.UTC)
    slots = propose_slots([], owner_zone="America/Los_Angeles", prospect_zone="Asia/Tokyo", now=friday,
                          days_ahead=3)
    # Los Angeles Friday afternoon is Saturday morning in Tokyo: Friday is not offered
    assert all(slot.start.astimezone(TOKYO).weekday() < 5 for slot in slots)
    assert [local(slot, LOS_ANGELES)[0] for slot in slots][0] == "Mon"


def test_the_owners_working_day_keeps_its_local_hours_across_a_dst_change():
    friday = dt.datetime(2027, 3, 26, 6, 0, tzinfo=dt.UTC)  # UK clocks go forward on Sun 28 Mar 2027
    slots = propose_slots([], owner_zone="Europe/London", prospect_zone="Europe/London", now=friday, count=2)
    assert [local(slot, LONDON) for slot in slots] == [("Fri", "09:00"), ("Mon", "09:00")]
    assert [slot.start.hour for slot in slots] == [9, 8]  # 09:00 GMT, then 09:00 BST


def test_the_weeks_when_only_one_side_has_changed_clocks_shift_the_overlap():
    # US clocks go forward on 8 Mar 2026, UK clocks on 29 Mar: for three weeks New York is 4 hours behind London
    monday = dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC)
    [first, *_] = propose_slots([], owner_zone="America/New_York", prospect_zone="Europe/London", now=monday)
    assert local(first, NEW_YORK) == ("Mon", "09:00") and local(first, LONDON) == ("Mon", "13:00")


def test_when_free_days_run_short_more_times_are_offered_on_the_days_there_are():
    slots = propose_slots([], owner_zone="Europe/London", prospect_zone="Europe/London", now=MONDAY_EARLY,
                          days_ahead=1, count=3)
    assert [local(slot, LONDON) for slot in slots] == [("Mon", "09:00"), ("Mon", "09:45"), ("Mon", "10:30")]


def test_proposal_text_shows_the_times_on_the_prospects_clock():
    slots = propose_slots([], owner_zone="America/New_York", prospect_zone="Europe/London", now=MONDAY_EARLY)
    text = proposal_text(slots, "Europe/London")
    assert "- Mon 7 Dec, 14:00 (London time)" in text.splitlines()
    assert "30-minute" in text
    assert format_slot(slots[0], "America/New_York") == "Mon 7 Dec, 09:00 (New York time)"


def test_an_unknown_zone_or_bad_hours_are_named():
    with pytest.raises(ValueError, match="prospect_zone: 'Mars/Olympus' is not an IANA time zone"):
        propose_slots([], owner_zone="UTC", prospect_zone="Mars/Olympus", now=MONDAY_EARLY)
    with pytest.raises(ValueError, match="working_hours"):
        propose_slots([], owner_zone="UTC", prospect_zone="UTC", now=MONDAY_EARLY, working_hours=(17, 9))


def test_an_interval_must_end_after_it_starts():
    with pytest.raises(ValidationError, match="end"):
        Interval(start=MONDAY_EARLY, end=MONDAY_EARLY)


def meeting(**changes) -> Meeting:
    return Meeting(**{"key": "meeting:t1:jane@acme.io:r1", "subject": "Acme x SalesOS",
                      "start": at(LONDON, 2026, 12, 8, 10, 0), "end": at(LONDON, 2026, 12, 8, 10, 30),
                      "organizer_email": "sam@seller.io", "attendee_email": "jane@acme.io", **changes})


def test_a_rescheduled_meeting_keeps_its_uid_and_raises_its_sequence():
    first = meeting()
    moved = rescheduled(first, at(LONDON, 2026, 12, 9, 10, 0), at(LONDON, 2026, 12, 9, 10, 30))
    assert (moved.uid, moved.sequence) == (first.uid, 1)
    assert first.uid == meeting_uid("meeting:t1:jane@acme.io:r1") and first.uid.endswith("@salesos")


def test_a_meeting_refuses_a_video_link_that_is_not_http():
    with pytest.raises(ValidationError, match="video_url"):
        meeting(video_url="javascript:alert(1)")
