"""Meeting invites as iCalendar (RFC 5545) in iTIP (RFC 5546) over email (iMIP, RFC 6047), built with `icalendar`.

One meeting keeps one UID for its whole life (`agents.meetings.meeting_uid`, from its key), so a resent invite
updates the event in the prospect's calendar instead of adding a second one; a change of time is the same UID
with SEQUENCE raised (`agents.meetings.rescheduled`), and a cancellation is METHOD:CANCEL with the UID. Times go
out in UTC, which every client shows on its reader's own clock and which needs no VTIMEZONE block. Line
endings (CRLF) and folding at 75 octets are the library's.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from agents.meetings import Meeting, zone_label

PRODID = "-//SalesOS//Meetings//EN"


def invite(meeting: Meeting, *, stamp: dt.datetime | None = None) -> bytes:
    """The METHOD:REQUEST calendar for `meeting`: what a calendar client offers to accept or decline."""
    return _calendar(meeting, "REQUEST", "CONFIRMED", stamp)


def cancel(meeting: Meeting, *, stamp: dt.datetime | None = None) -> bytes:
    """The METHOD:CANCEL calendar that removes `meeting` from the attendee's calendar.

    RFC 5546 wants a cancel's SEQUENCE above the request's, so pass the meeting with its sequence raised
    (`meeting.model_copy(update={"sequence": meeting.sequence + 1})`) when the request went out at this one.
    """
    return _calendar(meeting, "CANCEL", "CANCELLED", stamp)


def invite_email(meeting: Meeting, sender: str, *, sender_name: str = "", text: str | None = None,
                 method: str = "REQUEST", stamp: dt.datetime | None = None, domain: str | None = None) -> EmailMessage:
    """The invite as an email: multipart/alternative of a text part and `text/calendar; method=REQUEST`.

    `text` is the body a reader without a calendar client sees (by default the time, on the attendee's
    clock, and the video link). `method` CANCEL sends the cancellation instead. The caller adds the
    threading headers (In-Reply-To, References) of the conversation the meeting came from.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"method: {method!r} is not REQUEST or CANCEL")
    calendar = (invite if method == "REQUEST" else cancel)(meeting, stamp=stamp).decode("utf-8")
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender))
    message["To"] = formataddr((meeting.attendee_name, meeting.attendee_email))
    message["Subject"] = ("Invitation: " if method == "REQUEST" else "Cancelled: ") + meeting.subject
    message["Message-ID"] = make_msgid(domain=domain or sender.rpartition("@")[2] or None)
    message.set_content(text if text is not None else _text(meeting, method))
    # A str part keeps the calendar readable in the source and takes charset=utf-8; CRLFs are the message's own.
    message.add_alternative(calendar, subtype="calendar", params={"method": method})
    return message


def _calendar(meeting: Meeting, method: str, status: str, stamp: dt.datetime | None) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", meeting.uid)
    event.add("dtstamp", (stamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    event.add("dtstart", meeting.start.astimezone(dt.UTC))
    event.add("dtend", meeting.end.astimezone(dt.UTC))
    event.add("sequence", meeting.sequence)
    event.add("status", status)
    event.add("summary", meeting.subject)
    event.add("description", _description(meeting))
    if meeting.location or meeting.video_url:
        event.add("location", meeting.location or meeting.video_url)
    if meeting.video_url:
        event.add("url", meeting.video_url)
    event.add("organizer", _address(meeting.organizer_email, meeting.organizer_name))
    attendee = _address(meeting.attendee_email, meeting.attendee_name)
    attendee.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
    event.add("attendee", attendee)
    calendar.add_component(event)
    return calendar.to_ical()


def _address(email: str, name: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = vText(name)
    return address


def _description(meeting: Meeting) -> str:
    parts = [meeting.description.strip()] if meeting.description.strip() else []
    if meeting.video_url:
        parts.append(f"Join: {meeting.video_url}")
    return "\n\n".join(parts)


def _text(meeting: Meeting, method: str) -> str:
    start = meeting.start.astimezone(ZoneInfo(meeting.timezone))
    when = f"{start:%a} {start.day} {start:%b %Y}, {start:%H:%M} ({zone_label(meeting.timezone)} time)"
    if method == "CANCEL":
        return f"{meeting.subject} on {when} is cancelled.\n"
    lines = [f"{meeting.subject}", f"When: {when}"]
    if meeting.video_url:
        lines.append(f"Join: {meeting.video_url}")
    if meeting.description.strip():
        lines += ["", meeting.description.strip()]
    return "\n".join(lines) + "\n"
