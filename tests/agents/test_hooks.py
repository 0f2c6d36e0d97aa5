"""Hooks read as sentences a rep would write, dated absolutely in the CRM and relatively in an email."""

import datetime as dt

import pytest

from agents.hooks import hook_from_point, hook_sentences, sentence, when_day, when_month
from agents.models import Evidence, Hook, IntentPoint

SENT = dt.date(2026, 11, 2)  # a Monday


def ev(date, title=None, source="job-board"):
    return Evidence(source=source, date=date, url="https://example.com/1", title=title)


def test_a_sales_leader_opening_names_the_role_the_day_and_a_known_board():
    text = sentence("Open VP/Head of Sales or CRO role", [ev(dt.date(2026, 10, 3), "VP of Sales", "greenhouse")])
    assert text == "you are hiring a VP of Sales (posted 3 October on Greenhouse)"


def test_an_internal_feed_name_is_left_out_of_the_sentence():
    assert sentence("Open SDR/BDR/sales development role", [ev(dt.date(2026, 10, 3), "SDR")]) == \
        "you are hiring an SDR (posted 3 October)"


def test_a_posting_last_week_reads_last_week_when_dated_for_the_send():
    assert sentence("Open VP/Head of Sales or CRO role", [ev(dt.date(2026, 10, 28), "Head of Sales")], SENT) == \
        "you are hiring a Head of Sales (posted last week)"


def test_a_round_reads_by_its_name_and_month():
    evidence = [ev(dt.date(2026, 9, 3), "Novahub Technologies raises Series B", "news")]
    assert sentence("Raised Series B or later", evidence) == "you raised a Series B in September"


def test_a_round_two_months_back_from_the_send_keeps_its_month():
    evidence = [ev(dt.date(2026, 9, 3), "Acme raises seed", "news")]
    assert sentence("Raised Seed or Series A", evidence, SENT) == "you raised a seed round in September"


def test_a_page_change_in_the_previous_month_reads_last_month():
    assert sentence("Pricing page changed", [ev(dt.date(2026, 10, 12), source="web-archive")], SENT) == \
        "your pricing page changed last month"


def test_several_sales_roles_are_counted():
    evidence = [ev(dt.date(2026, 10, day), "AE") for day in (20, 10, 5)]
    assert sentence("3 or more sales roles posted", evidence) == \
        "you have 3 sales roles open (the latest posted 20 October)"


def test_a_conference_is_named():
    assert sentence("Exhibited at a conference", [ev(dt.date(2026, 9, 9), "SaaStr Annual", "events")]) == \
        "you exhibited at SaaStr Annual in September"


def test_a_review_never_tells_the_prospect_it_was_negative():
    text = sentence("Negative review of a competitor", [ev(dt.date(2026, 9, 9), "Review of Outreach", "g2")])
    assert text == "your team has been reviewing sales tools in September"


def test_an_unknown_rule_still_reads_as_a_clause_with_its_month():
    assert sentence("Opened a London office", [ev(dt.date(2026, 9, 9))]) == "opened a London office in September"


def test_no_sentence_reads_like_a_rule_label():
    for rule in ("Open VP/Head of Sales or CRO role", "Raised Series B or later", "Demo page changed",
                 "Active in software reviews", "Partnership news", "Expansion news", "Attended a conference"):
        text = sentence(rule, [ev(dt.date(2026, 9, 9), "x" * 200)])
        assert ":" not in text and "/" not in text and "2026-" not in text and "xxx" not in text, text


@pytest.mark.parametrize(("date", "expected"), [
    (dt.date(2026, 11, 2), "today"), (dt.date(2026, 11, 1), "yesterday"), (dt.date(2026, 10, 29), "last week"),
    (dt.date(2026, 10, 20), "on 20 October"), (dt.date(2025, 10, 20), "on 20 October 2025"),
])
def test_days_are_relative_to_the_send_when_close(date, expected):
    assert when_day(date, SENT) == expected


def test_this_week_is_the_same_calendar_week():
    assert when_day(dt.date(2026, 11, 4), dt.date(2026, 11, 6)) == "this week"


def test_a_month_earlier_in_the_send_month_reads_earlier_this_month():
    assert when_month(dt.date(2026, 11, 3), dt.date(2026, 11, 27)) == "earlier this month"


def test_a_stored_hook_is_dated_again_for_the_send_and_an_old_one_keeps_its_text():
    point = IntentPoint(category="website", rule="Demo page changed", points=0.1,
                        evidence=[ev(dt.date(2026, 10, 30), source="web-archive")])
    hook = hook_from_point(point)
    assert hook.text == "your demo page changed in October"
    stored = Hook.model_validate_json(hook.model_dump_json())
    legacy = Hook(text="Raised Series B", evidence=[])
    assert hook_sentences([stored, legacy], SENT) == ["your demo page changed last week", "Raised Series B"]
