"""The engagement stage's booking job: a meeting with a contact, at a time they accepted.

The meeting goes on the owner's calendar (with the calendar's video link, when the owner's mailbox is a Gmail or
Microsoft 365 one), on the contact in the CRM with its owner, and to the contact as an ICS invite (METHOD:REQUEST,
a stable UID) from the owner's mailbox; the sequence stops (`meeting_booked`, recorded in the ledger the send
guard checks).
"""

from __future__ import annotations

import datetime as dt
import logging

from rq import get_current_job

from agents.engagement import EngagementEvent
from agents.meetings import Meeting
from connector import runtime
from connector.engagement_log import EngagementLog
from connector.channels.base import SendError
from connector.meetings import book
from connector.redis_conn import connect
from connector.sending import SendMarks
from crm_adapters.base import ContactWrite

log = logging.getLogger(__name__)

MEETING_MINUTES = 30


def book_meeting_job(payload: dict) -> dict:
    """Book `payload` (tenant, email, start ISO, minutes): calendar, CRM, invite; the sequence stops."""
    tenant, email = payload["tenant"], payload["email"].lower()
    start = dt.datetime.fromisoformat(payload["start"])
    crm = runtime.crm_for(tenant)
    contacts = crm.get_contacts([email])
    if not contacts:
        return {"meetings_without_contact": 1}
    contact = contacts[0]
    mailbox = runtime.mailbox_for(tenant, contact.owner_id)
    sender = runtime.sender(mailbox)
    meeting = Meeting(key=f"meeting:{tenant}:{email}:{start.astimezone(dt.UTC):%Y%m%dT%H%M}",
                      subject=f"{sender.name} / {contact.name or email}"[:255], start=start,
                      end=start + dt.timedelta(minutes=payload.get("minutes", MEETING_MINUTES)),
                      organizer_email=sender.email, organizer_name=sender.name, attendee_email=email,
                      attendee_name=contact.name or "", timezone=contact.timezone or "UTC")
    ledger = runtime.ledger()
    ledger.unsubscribe_tokens(tenant, [email])
    ledger.suppress(tenant, email, "meeting_booked")  # first: no step goes out from here on, whatever fails below
    calendar = runtime.calendar_for(mailbox)
    booking = book(meeting, crm=crm, calendar=calendar, calendar_id=mailbox.address if calendar else None,
                   owner_id=contact.owner_id)
    crm.upsert_contacts([ContactWrite(email=email, fields={"sequence_state": "meeting_booked", "next_touch_at": None})])
    invited = _send_invite(tenant, email, mailbox, booking.invite.as_bytes(), meeting.key)
    EngagementLog(runtime.settings().database_url).record([(meeting.key, EngagementEvent(
        tenant=tenant, email=email, kind="meeting", at=runtime.now()))])
    return {"meetings_booked": 1, "invites_sent": int(invited), "calendar_events": int(booking.event is not None)}


def _send_invite(tenant: str, email: str, mailbox, invite: bytes, key: str) -> bool:
    """The invite goes from the owner's mailbox, once per meeting (marked like a step), unless the contact opted
    out (a reply never blocks it); a mail system that refuses it is logged, and the booking stands."""
    if mailbox is None or mailbox.paused or email in runtime.ledger().unsubscribed(tenant, [email]):
        return False
    marks = _marks()
    if marks is not None and marks.begin(f"invite:{key}") is not True:
        return True  # an earlier attempt sent it (or may have: never twice)
    try:
        with runtime.channels(tenant, {mailbox.address: mailbox}) as channels:
            receipt = channels(mailbox.address).send(invite, mailbox.address, [email])
    except (SendError, ValueError) as exc:
        if marks is not None:
            marks.clear([f"invite:{key}"])
        log.error("the invite for %s of %s was not sent: %s", email, tenant, exc)
        return False
    if marks is not None:
        marks.sent(f"invite:{key}", receipt)
    return True


def _marks() -> SendMarks | None:
    """The shared send marks: the job's Redis, or REDIS_URL's from the command line (without one, a booking run
    twice by hand sends its invite twice, the same UID: calendars show one meeting)."""
    job = get_current_job()
    if job is not None:
        return SendMarks(job.connection, job.id)
    url = runtime.settings().redis_url
    return SendMarks(connect(url), "meeting book") if url else None
