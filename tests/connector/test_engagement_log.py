"""Engagement events are kept once per dedupe key, on either engine."""

from __future__ import annotations

import datetime as dt

from agents.engagement import EngagementEvent
from connector.engagement_log import EngagementLog

AT = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def click(minutes=0, **extra) -> EngagementEvent:
    return EngagementEvent(tenant="t", email="Ada@Acme.io", kind="click", at=AT + dt.timedelta(minutes=minutes),
                           step_key="s1", detail="https://acme.io", **extra)


def test_an_event_recorded_twice_is_kept_once_and_reads_back_as_recorded(state_url):
    log = EngagementLog(state_url)
    assert log.record([("k1", click()), ("k1", click())]) == 1
    assert log.record([("k1", click()), ("k2", click(5))]) == 1
    assert log.events("t", "ada@acme.io") == [click(), click(5)]


def test_opens_and_refusals_keep_their_flags(state_url):
    log = EngagementLog(state_url)
    log.record([("o", EngagementEvent(tenant="t", email="a@b.io", kind="open", at=AT, reliable=False)),
                ("r", EngagementEvent(tenant="t", email="a@b.io", kind="reply", at=AT, negative=True))])
    assert [(e.kind, e.reliable, e.negative) for e in log.events("t", "a@b.io")] == [
        ("open", False, False), ("reply", True, True)]


def test_a_large_batch_is_recorded_in_chunks(state_url):
    log = EngagementLog(state_url)
    assert log.record([(f"k{n}", click(n)) for n in range(501)]) == 501
