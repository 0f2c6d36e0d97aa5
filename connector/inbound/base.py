"""What every inbound mail reader hands over, the interface it implements, and its errors.

A reader delivers raw messages; it never decides what they mean (the reply
classifier does). Each poll is bounded twice: at most `limit` messages, and no
message over `max_bytes` is loaded (it is skipped with a log line naming its
id, so one huge attachment cannot exhaust a worker's memory).

Errors say what the caller must do: `TransientInboundError` poll again later
(its `retry_after`, when the provider said), `InboundAuthError` stop polling
the mailbox until an admin fixes its credential, `InboundError` anything else
that trying again will not fix (a malformed answer, a bad configuration).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["imap", "gmail", "graph", "sendgrid_parse"]
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # replies are small; a 10 MB message is an attachment nobody classifies
DEFAULT_LIMIT = 100  # messages per poll
DEFAULT_LOOKBACK_DAYS = 2  # how far back a reader with no usable cursor looks


class InboundError(Exception):
    """Reading the mailbox failed, and polling again unchanged will not help."""


class InboundAuthError(InboundError):
    """The mailbox's credential was refused or revoked: stop polling it until an admin fixes it."""


class TransientInboundError(InboundError):
    """The mailbox could not be read now (a timeout, a dropped connection, HTTP 429 or 5xx): poll again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, when the provider said


class InboundMessage(BaseModel):
    """One received message, whole: the classifier parses `raw` itself."""

    # raw travels base64 in JSON (an RQ job's arguments), since a message is bytes, not always UTF-8
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    tenant: str = Field(min_length=1, max_length=200)
    mailbox: str = Field(min_length=3, max_length=320)  # the address the message was read from or sent to
    source: Source
    provider_id: str = Field(min_length=1, max_length=2000)  # IMAP "uidvalidity:uid", Gmail id, Graph id, digest
    raw: bytes = Field(min_length=1)  # the full RFC 5322 message as received
    received_at: dt.datetime


class MailboxReader(Protocol):
    """Reads one mailbox's new messages since a cursor the reader alone understands."""

    def fetch_new(self, cursor: str | None, limit: int) -> tuple[list[InboundMessage], str]:
        """At most `limit` messages that arrived after `cursor` (None: the reader's first poll), oldest first,
        and the cursor to pass next time. Keep the new cursor only once the messages are handled: passing the
        old one again reads them again."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class ImapConfig(BaseModel):
    """Where and how to reach the mailbox (its secret comes separately, from the vault)."""

    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)  # None: 993 for ssl, 143 for starttls
    security: Literal["ssl", "starttls"] = "ssl"
    username: str = Field(min_length=1, max_length=320)
    folder: str = Field(default="INBOX", min_length=1, max_length=200)
    timeout: float = Field(default=30, gt=0, le=300)  # seconds, for connecting and for each reply
    ca_file: str | None = Field(default=None, max_length=1000)  # a private CA the server's certificate is checked by
