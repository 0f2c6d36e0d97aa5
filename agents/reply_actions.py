"""What the outreach job does about a classified reply: one action per class, as data the job carries out.

Any reply a person wrote ends the automated sequence (state "replied"): nobody who answered should get the next
automated touch, whatever they said. What differs is who acts next: the owner (a CRM task), the job (a new
contact to find, a date to resume), or nobody. Machines are treated as machines: an auto-reply changes
nothing, an out-of-office note pauses, a soft bounce is retried and counted, a hard bounce suppresses.

Decision on hostile replies: a not-interested reply that calls the mail spam, swears, or asks how we got the
address is treated as an opt-out (suppress, state "unsubscribed"), not only a stop. Under PECR and GDPR an
objection to marketing is an opt-out whatever words it uses, and a person that angry is one spam complaint
away from hurting the sending domain; losing a lead who would never buy costs less than either.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agents.replies import Referral, ReplyClassification

ActionKind = Literal[
    "stop_and_hand_over", "stop", "stop_and_task", "follow_referral", "pause_until", "suppress", "retry_later",
    "ignore", "hand_over",
]
SequenceState = Literal["active", "paused", "replied", "meeting_booked", "bounced", "unsubscribed", "finished"]
OOO_DEFAULT_PAUSE = dt.timedelta(days=14)  # no return date given: resume after two weeks (Unify's default)


class OwnerTask(BaseModel):
    """A CRM task for the contact's owner."""

    model_config = ConfigDict(frozen=True)

    subject: str
    body: str
    due: dt.date


class ReplyAction(BaseModel):
    """What to do. `sequence_state` None leaves the state as it is; `suppress_address` goes on the global
    suppression list (the job also suppresses the contact's own address when they differ)."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    sequence_state: SequenceState | None
    stop_sequence: bool = False
    resume_on: dt.date | None = None  # pause_until: the day the next step may run
    recontact_after: dt.date | None = None  # stop_and_task (timing): when the owner may try again
    suppress_address: str | None = None
    counts_as_bounce: bool = False  # toward the sending mailbox's bounce rate
    offer_meeting_times: bool = False  # interested: the job answers with meeting times
    new_contact: Referral | None = None  # follow_referral: find, verify, check consent, then sequence
    task: OwnerTask | None = None
    reason: str


def action_for(classification: ReplyClassification, *, today: dt.date) -> ReplyAction:
    """The action for one classified reply, decided on `today` (the day the reply is processed)."""
    kind, who = classification.kind, classification.from_address or "the contact"
    excerpt = classification.excerpt or "(no text of its own)"
    if kind == "interested":
        return ReplyAction(kind="stop_and_hand_over", sequence_state="replied", stop_sequence=True,
                           offer_meeting_times=True, reason="interested: the owner takes over",
                           task=OwnerTask(subject=f"Interested reply from {who}: follow up today", body=excerpt,
                                          due=today))
    if kind == "not_interested":
        if classification.hostile:
            return ReplyAction(kind="suppress", sequence_state="unsubscribed", stop_sequence=True,
                               suppress_address=classification.from_address,
                               reason="not interested and hostile: treated as an opt-out")
        return ReplyAction(kind="stop", sequence_state="replied", stop_sequence=True, reason="not interested")
    if kind == "objection":
        objection = (classification.objection or "other").replace("_", " ")
        due = classification.recontact_after or today
        return ReplyAction(kind="stop_and_task", sequence_state="replied", stop_sequence=True,
                           recontact_after=classification.recontact_after, reason=f"objection: {objection}",
                           task=OwnerTask(subject=f"Objection ({objection}) from {who}", body=excerpt, due=due))
    if kind == "referral":
        referral = classification.referral
        named = (referral.name or referral.email) if referral else "someone"
        return ReplyAction(kind="follow_referral", sequence_state="replied", stop_sequence=True,
                           new_contact=referral, reason=f"referral to {named}",
                           task=OwnerTask(subject=f"{who} referred you to {named}", body=excerpt, due=today))
    if kind == "out_of_office":
        if classification.return_date is not None:
            resume_on = max(classification.return_date + dt.timedelta(days=1), today)
            why = f"out of office until {classification.return_date}"
        else:
            resume_on, why = today + OOO_DEFAULT_PAUSE, "out of office, no return date: 14 days"
        return ReplyAction(kind="pause_until", sequence_state="paused", resume_on=resume_on, reason=why)
    if kind == "unsubscribe":
        return ReplyAction(kind="suppress", sequence_state="unsubscribed", stop_sequence=True,
                           suppress_address=classification.from_address, reason="asked to be removed")
    if kind == "bounce_hard":
        return ReplyAction(kind="suppress", sequence_state="bounced", stop_sequence=True, counts_as_bounce=True,
                           suppress_address=classification.bounced_recipient,
                           reason=f"hard bounce {classification.status or ''}".strip())
    if kind == "bounce_soft":
        return ReplyAction(kind="retry_later", sequence_state=None, counts_as_bounce=True,
                           reason=f"soft bounce {classification.status or ''}".strip())
    if kind == "auto_reply":
        return ReplyAction(kind="ignore", sequence_state=None, reason="auto-reply")
    return ReplyAction(kind="hand_over", sequence_state="replied", stop_sequence=True,
                       reason="a reply no rule recognised: the owner reads it",
                       task=OwnerTask(subject=f"Read the reply from {who}", body=excerpt, due=today))
