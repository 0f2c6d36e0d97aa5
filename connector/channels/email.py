"""Email steps in local mode: a personalised RFC 5322 message in the outbox.

Every message carries one-click unsubscribe (RFC 8058: `List-Unsubscribe`
with an https URL plus `List-Unsubscribe-Post`), which Gmail and Yahoo
require of bulk senders, and the sender's postal address (CAN-SPAM).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agents.models import ObjectionAngle
from agents.sequences import TASK_COPY_KINDS
from connector.channels.templating import TemplateProblem, render_text, template_for
from connector.private_files import write_private


class Sender(BaseModel):
    name: str
    email: str
    postal_address: str


class Draft(BaseModel):
    """What a template needs to write one step's copy (an email, a LinkedIn note, a call script)."""

    key: str
    to_name: str
    to_email: str
    title: str
    company_name: str
    message_type: str
    hooks: list[str] = Field(description="sentences, strongest first (agents.hooks)")
    objections: list[ObjectionAngle] = Field(default_factory=list)


class EmailDraft(Draft):
    unsubscribe_url: str
    thread_key: str | None = None  # the step key of the sequence's first email, which a follow-up answers
    first_email_type: str | None = Field(default=None, description=(
        "a follow-up's thread: the message type of the sequence's first email; its subject becomes 'Re: <that "
        "email's subject>' (first_email_type() says which)"))


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str  # the plain text, footer included, as a rep would send it
    message: Message


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in any text editor, unlike base64
MAX_SUBJECT = 78  # one header line; inboxes cut longer subjects anyway
LINKEDIN_NOTE_LIMIT = 300  # LinkedIn's limit on a connection request's note
TaskCopy = Literal["linkedin_connection", "linkedin_message", "call_script"]
_DOUBLED_STOP = re.compile(r"(?<=[^\W\d_]\.)\.(?!\.)")  # "Acme Inc." + "." -> one full stop; "..." stays
_BLANK_RUNS = re.compile(r"\n{3,}")


def render(draft: EmailDraft, sender: Sender, sent_at: dt.datetime,
           templates: Mapping[str, str] | None = None, track: Callable[[str], str] | None = None) -> Rendered:
    """Render the step's template (the market's `templates` first, then the bundled one) into a complete message.

    Built with the compat32 MIME classes: the modern EmailMessage API parses
    every header it is given and costs ten times as much per message.
    A template's problem (a market's template that fails) is a TemplateProblem, a ValueError.
    """
    subject, body = _subject_and_body(draft, sender, templates, draft.message_type)
    if draft.first_email_type and draft.first_email_type != draft.message_type:
        first, _ = _subject_and_body(draft, sender, templates, draft.first_email_type)
        subject = f"Re: {first}"
    body = _without_closing_name(body, sender.name)
    text = (track(body) if track else body) + "\n" + footer(sender, draft.unsubscribe_url)  # the footer: untracked
    message = MIMEText(text, "plain", _UTF8_QP)
    message["From"] = formataddr((sender.name, sender.email), "utf-8")
    message["To"] = formataddr((draft.to_name, draft.to_email), "utf-8")
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id(draft.key, sender)
    if draft.thread_key:  # a follow-up: mail clients and CRMs put it, and the reply to it, in the first one's thread
        message["In-Reply-To"] = message["References"] = message_id(draft.thread_key, sender)
    message["List-Unsubscribe"] = f"<{draft.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-SalesOS-Step"] = draft.key
    return Rendered(subject=subject, body=text, message=message)


def render_reply(key: str, sender: Sender, to_name: str, to_email: str, subject: str, answering: str | None,
                 body: str, unsubscribe_url: str, sent_at: dt.datetime) -> Rendered:
    """A reply to a contact's message (`answering`: its Message-ID), in its thread, signed as every email is."""
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    text = body.strip() + "\n\n" + footer(sender, unsubscribe_url)
    message = MIMEText(text, "plain", _UTF8_QP)
    message["From"] = formataddr((sender.name, sender.email), "utf-8")
    message["To"] = formataddr((to_name, to_email), "utf-8")
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id(key, sender)
    if answering:
        message["In-Reply-To"] = message["References"] = answering
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-SalesOS-Step"] = key
    return Rendered(subject=subject, body=text, message=message)


def message_id(key: str, sender: Sender) -> str:
    """The Message-ID of a step's email; a follow-up's In-Reply-To/References name the first email's."""
    return f"<{_digest(key)}@{sender.email.rsplit('@', 1)[1]}>"


def first_email_type(steps: list[dict], index: int) -> str | None:
    """For the email step at `index` of a sequence (SequenceStep dumps), the message type of the sequence's first
    email when this step follows it (so it threads under it), else None."""
    emails = [step for step in steps[:index + 1] if step["channel"] == "email"]
    return emails[0]["message_type"] if len(emails) > 1 and steps[index]["channel"] == "email" else None


def footer(sender: Sender, unsubscribe_url: str) -> str:
    """One signature block: the sender's name, the postal address (CAN-SPAM), the unsubscribe line.

    An address that starts with the sender's name ("SalesOS Demo, 1 Sample Street") does not repeat it.
    """
    address = sender.postal_address.strip()
    if address.casefold().startswith(sender.name.strip().casefold()):
        address = address[len(sender.name.strip()):].lstrip(" ,;\n") or address
    return f"-- \n{sender.name}\n{address}\nUnsubscribe: {unsubscribe_url}\n"


def render_task_copy(kind: TaskCopy, draft: Draft, sender: Sender | None = None,
                     templates: Mapping[str, str] | None = None) -> str:
    """The text a rep's task carries: a LinkedIn connection note (at most 300 characters: a note that would be
    longer with its hook is written without it), a LinkedIn message, or a call script."""
    text = render_text(template_for(kind, templates), _context(draft, sender))
    if kind == "linkedin_connection" and len(text.strip()) > LINKEDIN_NOTE_LIMIT and draft.hooks:
        text = render_text(template_for(kind, templates), _context(draft.model_copy(update={"hooks": []}), sender))
    text = _tidy(text).strip()
    if kind == "linkedin_connection" and len(text) > LINKEDIN_NOTE_LIMIT:
        raise TemplateProblem(f"{kind}.txt.j2", None, f"the note has {len(text)} characters; LinkedIn allows "
                                                      f"{LINKEDIN_NOTE_LIMIT}")
    return text


_SAMPLE_SENDER = Sender(name="Sam Sender", email="sam@example.com", postal_address="1 Sample Street, Springfield")
_SAMPLES = (
    EmailDraft(key="sample", to_name="Zoë Müller", to_email="zoe@example.com", title="VP Sales",
               company_name="Acme, Inc.", message_type="problem_aware", unsubscribe_url="https://example.com/u/t",
               hooks=["you are hiring a VP of Sales (posted 3 October)", "you raised a Series B in September",
                      "your pricing page changed last month"],
               objections=[ObjectionAngle(objection="Too expensive", angle="Hours back per rep per week")]),
    EmailDraft(key="sample", to_name="", to_email="info@example.com", title="", company_name="Example Ltd.",
               message_type="value_first", unsubscribe_url="https://example.com/u/t", hooks=[]),
)


def check_copy(templates: Mapping[str, str]) -> None:
    """A market's templates, checked at load: each compiles, stays in the sandbox's bounds, and renders for a
    contact with hooks and one without (a misspelt variable, or `hooks[0]` unguarded, fails here rather than at a
    prospect's send). The first problem is raised as a TemplateProblem naming the template and line."""
    for kind in templates:
        for sample in _SAMPLES:
            if kind in TASK_COPY_KINDS:
                render_task_copy(kind, sample, None, templates)  # type: ignore[arg-type]  # tasks: no sender
            else:
                _subject_and_body(sample, _SAMPLE_SENDER, templates, kind)


def _subject_and_body(draft: Draft, sender: Sender | None, templates: Mapping[str, str] | None,
                      kind: str) -> tuple[str, str]:
    template = template_for(kind, templates, fallback="generic")
    first_line, _, body = _tidy(render_text(template, _context(draft, sender))).partition("\n")
    if not first_line.startswith("Subject:") or not first_line.removeprefix("Subject:").strip():
        raise TemplateProblem(template.name or kind, 1, "an email template starts with a 'Subject: ...' line")
    return _clip(first_line.removeprefix("Subject:").strip()), body.strip()


def _context(draft: Draft, sender: Sender | None) -> dict:
    """The variables a template can use (the README lists them)."""
    return {
        "draft": draft, "sender": sender, "first_name": _first_name(draft.to_name), "company": draft.company_name,
        "title": draft.title, "hook": draft.hooks[0] if draft.hooks else None, "hooks": draft.hooks,
        "objections": draft.objections,
    }


def _first_name(name: str) -> str:
    return name.split()[0] if name.strip() else "there"


def _tidy(text: str) -> str:
    """No "Inc.." (a name ending in a full stop, then the template's), no runs of blank lines, no trailing spaces."""
    text = _DOUBLED_STOP.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text)


def _without_closing_name(body: str, name: str) -> str:
    """A (market's) template that signs off with the sender's name: the footer signs already, once."""
    lines = body.rstrip().split("\n")
    while lines and lines[-1].strip().rstrip(",").casefold() == name.strip().casefold():
        lines.pop()
    return "\n".join(lines).rstrip() + "\n"


def _clip(subject: str) -> str:
    if len(subject) <= MAX_SUBJECT:
        return subject
    return subject[:MAX_SUBJECT - 1].rsplit(" ", 1)[0].rstrip(" ,;:-") + "…"


def write_eml(outbox: Path, key: str, message: bytes) -> Path:
    """Write atomically under a name derived from the step key.

    The same step always maps to the same file, so a retried job rewrites
    one file instead of adding a second message.
    """
    return write_private(outbox / outbox_name(key), message)


def outbox_name(key: str) -> str:
    """The outbox file of a step's message (the local sink files it there)."""
    return f"{_digest(key)}.eml"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]
