"""The engagement stage's reply job: a received message is classified, and its contact's sequence acts on it.

The classification and the action are `agents.replies` and `agents.reply_actions` (pure); this job reads the
CRM, records the stop in the ledger (inside the send guard, so no step goes out after it is committed), writes
the contact's `sequence_state` and the owner's task, and follows a referral.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from rq import get_current_job

from agents.consent_policy import may_cold_email
from agents.engagement import EngagementEvent
from agents.engagement_jobs import rescore
from agents.meetings import propose_slots, proposal_text
from agents.reply_actions import ReplyAction, action_for
from agents.replies import ReplyClassification, classify
from agents.sequences import TEMPLATES, schedule
from connector import runtime
from connector.calendar.base import CalendarError
from connector.channels.base import SendError
from connector.channels.email import render_reply
from connector.engagement_log import EngagementLog
from connector.inbound.base import InboundError, InboundMessage
from connector.inbound.cursors import InboundCursors
from connector.inbound.poll import poll_mailbox
from connector.inbound.queue import enqueue_inbound
from connector.queues import enqueue_once, job_id
from connector.unsubscribes import enqueue_sync
from crm_adapters.base import ActivityWrite, ContactWrite, TaskWrite

log = logging.getLogger(__name__)
BOUNCES = ("bounce_hard", "bounce_soft")
ABSENCE = "out of office"  # the hold reason of a pause an out-of-office reply made


def reply_job(payload: dict) -> dict:
    """Classify one received message and act on it for the contact it comes from (or, a bounce, is about)."""
    message = InboundMessage.model_validate(payload)
    found = classify(message.raw, received_at=message.received_at)
    email = (found.bounced_recipient if found.kind in BOUNCES else found.from_address) or ""
    crm = runtime.crm_for(message.tenant)
    contacts = crm.get_contacts([email]) if email else []
    if not contacts:
        log.info("a %s message in %s is from no contact of %s", found.kind, message.mailbox, message.tenant)
        return {"replies_unmatched": 1}
    contact, now = contacts[0], runtime.now()
    action = action_for(found, today=now.date())
    key = _reply_key(message)
    _stop_or_pause(message.tenant, email, action, found)
    fields = {"sequence_state": action.sequence_state} if action.sequence_state else {}
    if action.stop_sequence or action.suppress_address:
        fields["next_touch_at"] = None
    slots = _meeting_slots(message.tenant, contact, now) if action.offer_meeting_times else None
    proposed = _propose_times(message, contact, slots, now) if slots else False
    tasks = [_owner_task(key, email, action, slots, proposed)] if action.task else []
    crm.upsert_contacts([ContactWrite(email=email, fields=fields)] if fields else [])
    crm.create_tasks(tasks)
    hot = _engagement(message.tenant, email, key, found, now, crm, contact)
    referred = _follow_referral(message.tenant, crm, action, contact, now)
    return {f"replies_{found.kind}": 1, "referrals_sequenced": referred, "hot_leads": hot,
            "meeting_times_proposed": int(proposed)}


def resume_after_absence_job(payload: dict) -> dict:
    """An out-of-office contact is back: the hold ends and the steps that fell due meanwhile run now."""
    tenant, email = payload["tenant"], payload["email"]
    from agents.jobs import enqueue_steps  # the outreach job queues its steps; imported here to keep the stages apart

    ledger = runtime.ledger()
    if not (ledger.hold_reason(tenant, email) or "").startswith(ABSENCE):
        return {"absences_kept": 1}  # a rep paused it meanwhile (or resumed it): theirs to end
    parked = ledger.release_hold(tenant, email)
    if parked is None:
        return {"absences_kept": 1}
    resumed = enqueue_steps(tenant, [json.loads(item) for item in parked.values()], label=f"back-{email}|",
                            on_request=True)
    ledger.unpark(parked)
    if not (ledger.unsubscribed(tenant, [email]) or ledger.suppressed(tenant, [email])):
        runtime.crm_for(tenant).upsert_contacts([ContactWrite(email=email, fields={"sequence_state": "active"})])
    return {"sequences_resumed": 1, "steps_resumed": resumed}


def _stop_or_pause(tenant: str, email: str, action: ReplyAction, found: ReplyClassification) -> None:
    """A stop is a suppression in the ledger, which the send guard checks in the send's own transaction."""
    ledger = runtime.ledger()
    if action.sequence_state == "unsubscribed":  # asked to be removed (or hostile): an opt-out, written to the CRM
        ledger.unsubscribe_tokens(tenant, [email])
        ledger.unsubscribe_address(tenant, email)
        enqueue_sync(get_current_job().connection, ledger, tenant, [email])
    elif action.suppress_address:
        ledger.suppress(tenant, action.suppress_address, found.kind)
    if action.stop_sequence or action.suppress_address:
        ledger.suppress(tenant, email, found.kind if action.suppress_address else "replied")
    if action.resume_on and email.lower() not in ledger.held(tenant, [email]):  # a rep's own pause stands
        ledger.hold(tenant, email, f"{ABSENCE} until {action.resume_on}")
        at = dt.datetime.combine(action.resume_on, dt.time(0, 5), dt.UTC)
        enqueue_once(get_current_job().connection, "engagement", resume_after_absence_job,
                     {"tenant": tenant, "email": email}, job_key=job_id("back", tenant, f"{email}|{at:%Y-%m-%d}"),
                     at=at)


def _owner_task(key: str, email: str, action: ReplyAction, slots: MeetingSlots | None, proposed: bool) -> TaskWrite:
    body = action.task.body
    if slots is not None:
        told = "SalesOS answered with these times" if proposed else "Times you could offer"
        body += f"\n\n{told} ({slots.caveat}):\n{slots.text}"
    return TaskWrite(key=f"{key}:task", contact_email=email, kind="email", subject=action.task.subject[:255],
                     body=body, due_at=dt.datetime.combine(action.task.due, dt.time(9), dt.UTC))


@dataclass(frozen=True)
class MeetingSlots:
    text: str  # the times, on the contact's clock
    caveat: str  # whether they come from the owner's calendar


def _meeting_slots(tenant: str, contact, now: dt.datetime) -> MeetingSlots:
    """Times to offer: the owner's working hours, less their calendar's busy times when their mailbox reaches it."""
    zone = contact.timezone or runtime.settings().salesos_default_timezone
    mailbox = runtime.mailbox_for(tenant, contact.owner_id)
    calendar, busy = runtime.calendar_for(mailbox), []
    if calendar is not None:
        try:
            busy = calendar.free_busy(mailbox.address, now, now + dt.timedelta(days=7))
        except CalendarError as exc:  # the times are still offered, with the caveat
            log.warning("free/busy of %s not read: %s", mailbox.address, exc)
            calendar = None
    slots = propose_slots(busy, owner_zone=runtime.settings().salesos_mailbox_timezone, prospect_zone=zone, now=now,
                          prospect_country=contact.country)
    return MeetingSlots(proposal_text(slots, zone), "free in the owner's calendar" if calendar is not None
                        else "working hours; the owner's calendar is not connected")


def _propose_times(message: InboundMessage, contact, slots: MeetingSlots, now: dt.datetime) -> bool:
    """Answer an interested reply from the owner's mailbox, in its thread, with the times; once, however often
    the job runs (marked like a step). Not to a contact who opted out, nor without a mailbox to send from."""
    tenant, email = message.tenant, contact.email
    mailbox = runtime.mailbox_for(tenant, contact.owner_id)
    ledger = runtime.ledger()
    if mailbox is None or mailbox.paused or ledger.unsubscribed(tenant, [email]):
        return False
    key = f"{_reply_key(message)}:proposal"
    marks = runtime.send_marks()
    if marks.begin(key) is not True:
        return True  # proposed by an earlier run of this job
    headers = BytesHeaderParser().parsebytes(message.raw)
    first = (contact.name or "").split()[0] if (contact.name or "").strip() else "there"
    token = ledger.unsubscribe_tokens(tenant, [email])[email.lower()]
    reply = render_reply(key, runtime.sender(mailbox), contact.name or "", email, headers.get("Subject") or "our chat",
                         headers.get("Message-ID"), f"Thanks, {first}. A few times that work on my side:\n\n"
                         f"{slots.text}\n\nReply with the one that suits you, or suggest another.",
                         runtime.unsubscribe_url(token), now)
    try:
        with runtime.channels(tenant, {mailbox.address: mailbox}) as channels:
            receipt = channels(mailbox.address).send(reply.message.as_bytes(), mailbox.address, [email])
    except SendError as exc:
        marks.clear([key])
        log.error("meeting times for %s of %s not sent: %s", email, tenant, exc)
        return False
    marks.sent(key, receipt)
    runtime.crm_for(tenant).log_activities([ActivityWrite(
        key=key, contact_email=email, kind="email", subject=reply.subject, occurred_at=receipt.accepted_at,
        body=f"From: {mailbox.address}\nTo: {email}\nMessage-ID: {receipt.message_id}\n\n{reply.body}")])
    return True


def _engagement(tenant: str, email: str, key: str, found: ReplyClassification, now: dt.datetime, crm,
                contact) -> int:
    """A human reply weighs most in the engagement score; a lead that turns hot gets its owner a task."""
    if found.kind in (*BOUNCES, "auto_reply", "out_of_office"):
        return 0
    EngagementLog(runtime.settings().database_url).record([(key, EngagementEvent(
        tenant=tenant, email=email, kind="reply", at=now, negative=found.kind in ("not_interested", "unsubscribe")))])
    return rescore(tenant, crm, contact, now)["hot_leads"]


def _follow_referral(tenant: str, crm, action: ReplyAction, referrer, now: dt.datetime) -> int:
    """The person a reply points to becomes a contact at the referrer's company, sequenced on the referrer's tier
    (a contact the CRM already has keeps what it has)."""
    person = action.new_contact
    if person is None or not person.email or crm.get_contacts([person.email]):
        return 0
    if runtime.ledger().unsubscribed(tenant, [person.email]):
        return 0
    corporate = person.email.rsplit("@", 1)[-1].lower() == (referrer.company_domain or "").lower()
    verdict = may_cold_email(referrer.country, has_consent=False, subscriber="corporate" if corporate else None,
                             policy=runtime.consent_policy())
    if not verdict.allowed:  # the same country policy as any first cold email
        log.info("referral %s of %s not sequenced: %s", person.email, tenant, verdict.reason)
        return 0
    tier = referrer.fields.get("priority_tier") or "TIER_3"
    steps = schedule(TEMPLATES[tier], referrer.fields.get("recommended_channel") or "email", now.date(),
                     referrer.timezone or "UTC", referrer.country, runtime.settings().salesos_send_hour)
    sequence = [step.model_dump(mode="json") for step in steps]
    crm.upsert_contacts([ContactWrite(email=person.email, name=person.name, country=referrer.country,
                                      timezone=referrer.timezone, company_domain=referrer.company_domain,
                                      fields={"priority_tier": tier, "sequencing": sequence, "sequence_state": "active",
                                              "next_touch_at": steps[0].scheduled_at})])
    from agents.jobs import enqueue_steps

    first = {"email": person.email, "name": person.name or person.email, "title": None,
             "company_name": referrer.company_domain or "", "company_domain": referrer.company_domain,
             "step_index": 0, "sequence": sequence, "hooks": [], "objections": [],
             "timezone": referrer.timezone or "UTC", "country": referrer.country}
    enqueue_steps(tenant, [first], label="referral|")
    return 1


def _reply_key(message: InboundMessage) -> str:
    digest = hashlib.sha256(f"{message.tenant}\x1f{message.mailbox}\x1f{message.provider_id}".encode()).hexdigest()
    return f"reply:{message.tenant}:{digest[:32]}"


def poll_mailboxes_job(payload: dict) -> dict:
    """Read each of the tenant's mailboxes for new mail and queue a reply job per message, then come back in
    SALESOS_INBOUND_POLL_SECONDS. A mailbox whose credential is refused is skipped (and says so in the log)
    until an admin fixes it; the others are read."""
    tenant = payload["tenant"]
    settings, conn = runtime.settings(), get_current_job().connection
    registry, cursors = runtime.mailboxes(), InboundCursors(settings.database_url)
    counts = {"mailboxes_read": 0, "messages_queued": 0, "mailboxes_failed": 0}
    for mailbox in registry.list(tenant):
        try:
            reader = registry.reader(mailbox, max_bytes=settings.salesos_inbound_max_bytes,
                                     lookback_days=settings.salesos_inbound_lookback_days)
            if reader is None:
                continue
            try:
                read = poll_mailbox(reader, cursors, tenant, mailbox.address, settings.salesos_inbound_poll_limit,
                                    lambda message: enqueue_inbound(conn, message))
            finally:
                reader.close()
        except (InboundError, SendError) as exc:  # SendError: the mailbox's secret is missing
            log.error("mailbox %s of %s not read: %s", mailbox.address, tenant, exc)
            counts["mailboxes_failed"] += 1
            continue
        counts["mailboxes_read"] += 1
        counts["messages_queued"] += len(read)
    arm_mailbox_polls(conn, tenant, runtime.now() + dt.timedelta(seconds=settings.salesos_inbound_poll_seconds))
    return counts


def arm_mailbox_polls(conn, tenant: str, at: dt.datetime) -> None:
    """Queue the tenant's next poll at `at` (one job per tenant and minute, however many arm it)."""
    enqueue_once(conn, "engagement", poll_mailboxes_job, {"tenant": tenant},
                 job_key=job_id("poll", tenant, f"{at:%Y-%m-%dT%H:%M}"), at=at)
