"""The engagement score: replies and meetings weigh most, opens least and capped, everything fades with age."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from agents.engagement import EngagementConfig, EngagementEvent, engagement_score, hot_lead_task, turned_hot

NOW = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def event(kind, days_ago=0.0, **extra) -> EngagementEvent:
    return EngagementEvent(tenant="t", email="Ada@Acme.io", kind=kind, at=NOW - dt.timedelta(days=days_ago), **extra)


def score(*events, config=None) -> float:
    return engagement_score(list(events), NOW, config)


def test_no_events_score_zero():
    assert score() == 0


def test_a_meeting_outweighs_a_reply_which_outweighs_a_click_which_outweighs_an_open():
    assert score(event("meeting")) > score(event("reply")) > score(event("click")) > score(event("open")) > 0


def test_opens_are_capped_however_many_proxies_fetch_the_pixel():
    assert score(*[event("open", reliable=False) for _ in range(100)]) == EngagementConfig().open_cap


def test_an_event_counts_half_after_one_half_life():
    assert score(event("reply", days_ago=14)) == pytest.approx(score(event("reply")) / 2, abs=0.01)


def test_the_score_never_exceeds_100():
    assert score(*[event("meeting") for _ in range(5)]) == 100


def test_a_complaint_ends_engagement():
    assert score(event("meeting"), event("complaint")) == 0


def test_bounces_and_refusing_replies_add_nothing():
    assert score(event("bounce"), event("reply", negative=True)) == 0


def test_weights_come_from_config():
    config = EngagementConfig(weights={"click": 30.0})
    assert score(event("click"), config=config) == 30 and score(event("reply"), config=config) == 0


def test_a_negative_weight_is_refused_naming_it():
    with pytest.raises(ValidationError, match="weights.click"):
        EngagementConfig(weights={"click": -1})


def test_an_event_time_without_a_zone_is_refused():
    with pytest.raises(ValidationError, match="time zone"):
        EngagementEvent(tenant="t", email="a@b.io", kind="click", at=dt.datetime(2026, 1, 1))


def test_a_lead_turns_hot_when_it_crosses_the_threshold_upwards_only():
    assert turned_hot(40, 55, 50)
    assert not turned_hot(55, 70, 50)  # already hot: no second task
    assert not turned_hot(55, 40, 50)
    assert turned_hot(49.9, 50, 50)


def test_the_hot_lead_task_says_who_why_and_is_keyed_by_contact_and_day():
    events = [event("click", days_ago=1, detail="https://acme.io/pricing"), event("reply")]
    task = hot_lead_task("t", "Ada@Acme.io", 72.4, events, NOW, name="Ada Lovelace")
    assert task.subject == "Hot lead: Ada Lovelace (score 72)"
    assert task.body.index("replied") < task.body.index("clicked a link (https://acme.io/pricing)")
    assert (task.key, task.contact_email, task.due_at) == ("hot:t:ada@acme.io:2026-03-02", "ada@acme.io", NOW)


def test_the_hot_lead_task_is_a_crm_task_as_it_is():
    from crm_adapters.base import TaskWrite

    task = hot_lead_task("t", "ada@acme.io", 60, [event("reply")], NOW)
    assert TaskWrite(**task.model_dump()).kind == "hot_lead"
