"""Review before send: which emails a rep approves in the CRM first, and the task that asks them to.

A market switches review on per tier (`review_before_send: [TIER_1]`): the
accounts worth the most are the ones where a clumsy sentence costs the most.
The drafted email lands in the CRM as a task carrying the whole message as it
would be sent; completing the task approves it (the lead wires the CRM side),
deleting it skips the step.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agents.market import MarketDefinition
from agents.models import Tier

APPROVAL = "Approve: complete this task; to skip, delete it."
SUBJECT_LIMIT = 255  # Salesforce's Task.Subject; HubSpot's hs_task_subject takes more


class ReviewTask(BaseModel):
    subject: str = Field(max_length=SUBJECT_LIMIT)
    body: str


def needs_review(market: MarketDefinition, tier: Tier) -> bool:
    """True when the market holds this tier's emails for a rep's approval."""
    return tier in market.review_before_send


def review_task(to_name: str, to_email: str, company_name: str, message_type: str, subject: str,
                body: str) -> ReviewTask:
    """The review task's subject and body: what to do first, then the drafted email in full (headers a rep
    checks, and the body with its signature and unsubscribe line, exactly as it would go out)."""
    who = to_name.strip() or to_email
    kind = message_type.replace("_", "-")
    return ReviewTask(
        subject=f"Review email to {who} ({company_name}): {subject}"[:SUBJECT_LIMIT],
        body=(f"SalesOS drafted this {kind} email and holds it until you approve it.\n{APPROVAL}\n\n"
              f"To: {who} <{to_email}>\nSubject: {subject}\n\n{body.rstrip()}\n"),
    )
