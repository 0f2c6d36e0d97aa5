"""Email steps in local mode: a personalised RFC 5322 message in the outbox.

Every message carries one-click unsubscribe (RFC 8058: `List-Unsubscribe`
with an https URL plus `List-Unsubscribe-Post`), which Gmail and Yahoo
require of bulk senders, and the sender's postal address (CAN-SPAM).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from pydantic import BaseModel

from connector.private_files import write_private

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "email"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # plain-text bodies
)


class Sender(BaseModel):
    name: str
    email: str
    postal_address: str


class EmailDraft(BaseModel):
    """What a template needs to write one step's message."""

    key: str
    to_name: str
    to_email: str
    title: str
    company_name: str
    message_type: str
    hooks: list[str]
    unsubscribe_url: str
    thread_key: str | None = None  # the step key of the sequence's first email, which a follow-up answers


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str  # the plain text, footer included, as a rep would send it
    message: Message


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in any text editor, unlike base64


def render(draft: EmailDraft, sender: Sender, sent_at: dt.datetime) -> Rendered:
    """Render the step's template into a complete message.

    Built with the compat32 MIME classes: the modern EmailMessage API parses
    every header it is given and costs ten times as much per message.
    """
    try:
        template = _TEMPLATES.get_template(f"{draft.message_type}.txt.j2")
    except TemplateNotFound:
        template = _TEMPLATES.get_template("generic.txt.j2")
    first_name = draft.to_name.split()[0] if draft.to_name.strip() else "there"
    text = template.render(draft=draft, first_name=first_name, sender=sender)
    first_line, _, body = text.partition("\n")
    subject = first_line.removeprefix("Subject:").strip()
    footer = f"\n--\n{sender.name}, {sender.postal_address}\nUnsubscribe: {draft.unsubscribe_url}\n"
    text = body.strip() + "\n" + footer
    message = MIMEText(text, "plain", _UTF8_QP)
    message["From"] = formataddr((sender.name, sender.email), "utf-8")
    message["To"] = formataddr((draft.to_name, draft.to_email), "utf-8")
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id(draft.key, sender.email)
    if draft.thread_key:  # a follow-up: mail clients and CRMs put it, and the reply to it, in the first one's thread
        message["In-Reply-To"] = message["References"] = message_id(draft.thread_key, sender.email)
    message["List-Unsubscribe"] = f"<{draft.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-SalesOS-Step"] = draft.key
    return Rendered(subject=subject, body=text, message=message)


def message_id(key: str, sender_email: str) -> str:
    """A step's Message-ID, the same on every attempt: a reply's In-Reply-To finds its step from it."""
    return f"<{_digest(key)}@{sender_email.rsplit('@', 1)[1]}>"


def write_eml(outbox: Path, key: str, message: bytes) -> Path:
    """Write atomically under a name derived from the step key.

    The same step always maps to the same file, so a retried job rewrites
    one file instead of adding a second message.
    """
    return write_private(outbox / f"{_digest(key)}.eml", message)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]
