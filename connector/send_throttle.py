"""Which emails of a batch may go now: the prospect's send window, then the mailbox's and the domain's caps.

The decisions are `agents.throttle`'s; the counters are `connector.send_budget`'s, one Redis round trip per
batch. An email refused here is not dropped: the outreach job moves its step (and the steps after it) to the
time the refusal names, and the run summary counts the moves by reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from agents.throttle import Decision, Mailbox, Prospect, caps_for, window_decision
from connector.mailboxes import Mailbox as RegisteredMailbox
from connector.send_budget import BudgetRequest, Refused, Reservation, SendBudget
from connector.sending import Outgoing
from connector.settings import Settings


@dataclass(frozen=True)
class Recipient:
    zone: str | None
    country: str | None


@dataclass
class Admission:
    reservations: dict[str, Reservation] = field(default_factory=dict)  # by step key: give back what is not sent
    refused: dict[str, Decision] = field(default_factory=dict)  # by step key: why not now, and when


def admit(budget: SendBudget, settings: Settings, tenant: str, outgoing: list[Outgoing],
          mailboxes: dict[str, RegisteredMailbox], recipients: dict[str, Recipient], *, now: dt.datetime,
          on_request: bool) -> Admission:
    """Reserve a place under the caps for each email whose window is open.

    `on_request` (send-now, a rep's resume) skips the window: a person asked for it now. The local sink is
    not a real mailbox, so no cap counts its mail.
    """
    admission, requests, asking = Admission(), [], []
    for item in outgoing:
        recipient = recipients[item.key]
        prospect = Prospect.of(recipient.zone, recipient.country, settings.send_window,
                               settings.salesos_default_timezone)
        if not on_request:
            decision = window_decision(now, prospect)
            if not decision.send:
                admission.refused[item.key] = decision
                continue
        mailbox = mailboxes[item.mailbox]
        if mailbox.backend == "sink":
            continue
        requests.append(BudgetRequest(mailbox=item.mailbox, recipient_domain=item.email,
                                      caps=_caps(settings, mailbox, now), prospect=prospect))
        asking.append(item.key)
    for key, result in zip(asking, budget.reserve_many(tenant, requests, now=now), strict=True):
        if isinstance(result, Refused):
            admission.refused[key] = result
        else:
            admission.reservations[key] = result
    return admission


def _caps(settings: Settings, mailbox: RegisteredMailbox, now: dt.datetime):
    policy = settings.throttle_policy
    overrides = {name: value for name, value in (("mailbox_daily_cap", mailbox.daily_cap),
                                                 ("mailbox_hourly_cap", mailbox.hourly_cap)) if value}
    if overrides:
        policy = policy.model_copy(update=overrides)
    return caps_for(policy, Mailbox(zone=settings.salesos_mailbox_timezone, warmup_started=mailbox.warmup_start), now)
