"""One action per reply class, and the sequence state each sets."""

import datetime as dt

from agents.replies import Referral, ReplyClassification
from agents.reply_actions import OOO_DEFAULT_PAUSE, action_for

TODAY = dt.date(2026, 1, 5)


def reply(kind: str, **facts) -> ReplyClassification:
    return ReplyClassification(kind=kind, from_address="alex@prospect.example", excerpt="their words", **facts)


def test_an_interested_reply_stops_the_sequence_and_hands_it_to_the_owner_with_meeting_times():
    action = action_for(reply("interested"), today=TODAY)
    assert (action.kind, action.sequence_state, action.stop_sequence, action.offer_meeting_times) == (
        "stop_and_hand_over", "replied", True, True)
    assert (action.task.due, action.task.body) == (TODAY, "their words")


def test_not_interested_stops_without_suppressing():
    action = action_for(reply("not_interested"), today=TODAY)
    assert (action.kind, action.sequence_state, action.suppress_address, action.task) == (
        "stop", "replied", None, None)


def test_a_hostile_refusal_suppresses_the_sender_as_an_opt_out():
    action = action_for(reply("not_interested", hostile=True), today=TODAY)
    assert (action.kind, action.sequence_state, action.suppress_address) == (
        "suppress", "unsubscribed", "alex@prospect.example")


def test_an_objection_stops_and_gives_the_owner_a_task_due_when_they_may_try_again():
    action = action_for(reply("objection", objection="timing", recontact_after=dt.date(2026, 7, 1)), today=TODAY)
    assert (action.kind, action.sequence_state, action.recontact_after) == (
        "stop_and_task", "replied", dt.date(2026, 7, 1))
    assert action.task.due == dt.date(2026, 7, 1)
    assert "timing" in action.task.subject


def test_an_objection_without_a_date_is_a_task_due_today():
    action = action_for(reply("objection", objection="budget"), today=TODAY)
    assert (action.task.due, action.recontact_after) == (TODAY, None)
    assert "budget" in action.task.subject


def test_a_referral_stops_this_contact_and_names_the_new_one_to_find():
    referred = Referral(name="Jane Doe", email="jane@prospect.example")
    action = action_for(reply("referral", referral=referred), today=TODAY)
    assert (action.kind, action.sequence_state, action.stop_sequence, action.new_contact) == (
        "follow_referral", "replied", True, referred)


def test_out_of_office_pauses_until_the_day_after_the_return_date():
    action = action_for(reply("out_of_office", return_date=dt.date(2026, 1, 14)), today=TODAY)
    assert (action.kind, action.sequence_state, action.resume_on, action.stop_sequence) == (
        "pause_until", "paused", dt.date(2026, 1, 15), False)


def test_out_of_office_without_a_return_date_pauses_for_14_days():
    action = action_for(reply("out_of_office"), today=TODAY)
    assert action.resume_on == TODAY + OOO_DEFAULT_PAUSE == dt.date(2026, 1, 19)


def test_out_of_office_with_a_return_date_already_past_resumes_today():
    action = action_for(reply("out_of_office", return_date=dt.date(2026, 1, 1)), today=TODAY)
    assert action.resume_on == TODAY


def test_an_unsubscribe_suppresses_the_sender():
    action = action_for(reply("unsubscribe"), today=TODAY)
    assert (action.kind, action.sequence_state, action.stop_sequence, action.suppress_address) == (
        "suppress", "unsubscribed", True, "alex@prospect.example")


def test_a_hard_bounce_suppresses_the_bounced_address_and_counts_as_a_bounce():
    bounce = ReplyClassification(kind="bounce_hard", from_address="mailer-daemon@mx.example",
                                 bounced_recipient="bob@prospect.example", status="5.1.1")
    action = action_for(bounce, today=TODAY)
    assert (action.kind, action.sequence_state, action.suppress_address, action.counts_as_bounce) == (
        "suppress", "bounced", "bob@prospect.example", True)


def test_a_soft_bounce_changes_nothing_but_counts_toward_the_bounce_rate():
    action = action_for(ReplyClassification(kind="bounce_soft", status="4.2.2"), today=TODAY)
    assert (action.kind, action.sequence_state, action.stop_sequence, action.counts_as_bounce) == (
        "retry_later", None, False, True)


def test_an_auto_reply_is_ignored():
    action = action_for(reply("auto_reply"), today=TODAY)
    assert (action.kind, action.sequence_state, action.stop_sequence, action.task) == ("ignore", None, False, None)


def test_an_unclear_reply_ends_the_sequence_and_asks_the_owner_to_read_it():
    action = action_for(reply("unclear"), today=TODAY)
    assert (action.kind, action.sequence_state, action.stop_sequence) == ("hand_over", "replied", True)
    assert (action.task.due, action.task.body) == (TODAY, "their words")
