"""Review before send: per market and tier, and the task a rep approves the draft with."""

import pytest
from pydantic import ValidationError

from agents.market import MarketDefinition
from agents.review import APPROVAL, needs_review, review_task

MARKET = dict(industry="B2B SaaS", company_size="10-500")


def test_review_is_off_by_default():
    assert not needs_review(MarketDefinition(**MARKET), "TIER_1")


def test_review_applies_to_the_tiers_the_market_lists_only():
    market = MarketDefinition(**MARKET, review_before_send=["TIER_1", "TIER_2"])
    assert [needs_review(market, tier) for tier in ("TIER_1", "TIER_2", "TIER_3", "TIER_4")] == [
        True, True, False, False]


def test_an_unknown_tier_is_refused_at_load():
    with pytest.raises(ValidationError, match="review_before_send"):
        MarketDefinition(**MARKET, review_before_send=["TIER_9"])


def test_the_task_says_how_to_approve_and_carries_the_email_in_full():
    body = "Hi Jane,\n\nI noticed you raised a Series B in September.\n\n-- \nDana\n1 High St\nUnsubscribe: u\n"
    task = review_task("Jane Doe", "jane@acme.io", "Acme, Inc.", "problem_aware", "Finding accounts", body)
    assert task.subject == "Review email to Jane Doe (Acme, Inc.): Finding accounts"
    assert task.body.splitlines()[1] == APPROVAL == "Approve: complete this task; to skip, delete it."
    assert "To: Jane Doe <jane@acme.io>\nSubject: Finding accounts\n\n" + body in task.body


def test_a_long_subject_fits_salesforces_task_subject():
    task = review_task("", "jane@acme.io", "Acme", "nurture", "x" * 400, "Hi")
    assert len(task.subject) == 255 and task.subject.startswith("Review email to jane@acme.io (Acme): ")
