"""The one interface every email backend implements, and its errors.

A backend gets a finished RFC 5322 message (Message-ID, threading and
unsubscribe headers already set by `connector.channels.email`) and hands it
to a mail system. It never decides whether to send: consent, caps and the
send ledger are checked before `send` is called.

Errors say what the caller must do, not what the wire said:
`TransientSendError` try again later, `RecipientRejected` suppress the
address (a bounce at send time), `MailboxAuthError` stop using the mailbox
until an admin fixes its credential, `MessageRejected` this message can
never be sent as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from pydantic import BaseModel


class SendError(Exception):
    """A message was not sent; the subclass says what to do about it."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # the backend's own status or error code, for the log and the run summary


class TransientSendError(SendError):
    """Nothing was sent and trying again later may work (a 4xx SMTP reply, HTTP 429 or 5xx, a dropped connection)."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after  # seconds, when the backend said


class RecipientRejected(SendError):
    """The recipient's address was refused for good (SMTP 5.1.x at RCPT): a hard bounce before sending."""


class MailboxAuthError(SendError):
    """The mailbox's credential was refused or revoked: nothing sends from it until an admin fixes it."""


class MessageRejected(SendError):
    """This message was refused for good (too big, malformed, policy): sending it again cannot help."""


class SendReceipt(BaseModel):
    """What the mail system said when it accepted the message."""

    message_id: str  # the RFC 5322 Message-ID the message went out with, angle brackets included
    provider_id: str | None = None  # the backend's own id (Gmail message id, SendGrid X-Message-Id), when it has one
    thread_id: str | None = None  # Gmail's threadId, so a follow-up lands on the same thread
    accepted_at: dt.datetime


class EmailChannel(Protocol):
    """Sends one finished message from one mailbox."""

    def send(self, message: bytes, sender: str, recipients: list[str], *, thread_id: str | None = None) -> SendReceipt:
        """Hand `message` (RFC 5322 bytes) to the mail system for `recipients`, from the envelope `sender`.

        `thread_id` is the provider's thread of an earlier step, for the backends that thread by id (Gmail);
        the others thread by the message's In-Reply-To and References headers.
        """
        ...

    def close(self) -> None:
        """Release connections (an SMTP session is kept open across a batch)."""
        ...
