"""Booking a meeting: the calendar event, the CRM meeting and the invite email, in that order.

Every step is keyed by the meeting's key (the Google event id or Graph transactionId, the CRM's `salesos_key`,
the invite's UID), so a job that dies halfway and runs again finishes the booking without doubling any of it.
Sending the invite, and stopping the sequence, are the caller's: the invite goes through the email channel and
its send ledger like any other message.
"""

from __future__ import annotations

from email.message import EmailMessage

from pydantic import BaseModel, ConfigDict

from agents.meetings import Meeting
from connector.calendar.base import Attendee, Calendar, CreatedEvent, EventRequest
from connector.channels.ics import invite_email
from crm_adapters.base import CRMAdapter, MeetingWrite, WriteResult


class Booking(BaseModel):
    """What booking made: the meeting (with the calendar's video link), the event, the CRM write, the invite."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    meeting: Meeting
    event: CreatedEvent | None
    crm: WriteResult
    invite: EmailMessage


def book(meeting: Meeting, *, crm: CRMAdapter, calendar: Calendar | None = None, calendar_id: str | None = None,
         owner_id: str | None = None, invite_attendees: bool = False) -> Booking:
    """Put the meeting on the owner's calendar (when one is connected), log it on the contact, build the invite.

    `invite_attendees` lists the prospect on the calendar event too; leave it False when SalesOS sends the
    invite (the default), or the prospect gets a second invitation, with another UID, from the calendar.
    Calendar errors (`connector.calendar.base.CalendarError`) propagate: nothing after them has happened.
    """
    event = None
    if calendar is not None:
        if not calendar_id:
            raise ValueError("calendar_id: required with a calendar")
        attendees = [Attendee(email=meeting.attendee_email, name=meeting.attendee_name)] if invite_attendees else []
        event = calendar.create_event(calendar_id, EventRequest(
            key=meeting.key, subject=meeting.subject, description=meeting.description, start=meeting.start,
            end=meeting.end, attendees=attendees, video=meeting.video_url is None))
        if event.video_url and meeting.video_url is None:
            meeting = meeting.model_copy(update={"video_url": event.video_url})
    written = crm.log_meetings([MeetingWrite(
        key=meeting.key, contact_email=meeting.attendee_email, owner_id=owner_id, subject=meeting.subject,
        start=meeting.start, end=meeting.end, location=meeting.location, video_url=meeting.video_url,
        body=meeting.description)])
    message = invite_email(meeting, meeting.organizer_email, sender_name=meeting.organizer_name)
    return Booking(meeting=meeting, event=event, crm=written, invite=message)
