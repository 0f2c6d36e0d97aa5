"""What a backend reads back from a finished message: its Message-ID and a few headers.

Only the header block is parsed (compat32, no body decoding): a backend needs
the ids for its receipt and the outbox name, never the content.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from connector.channels.base import MessageRejected

_PARSER = BytesHeaderParser(policy=compat32)


def parse_headers(message: bytes) -> Message:
    return _PARSER.parsebytes(message)


def header(headers: Message, name: str) -> str | None:
    """The header's value, unfolded and stripped, or None when it is absent or empty."""
    value = headers.get(name)
    if value is None:
        return None
    value = " ".join(str(value).split())
    return value or None


def message_id(headers: Message) -> str:
    """The Message-ID every SalesOS message carries: a receipt without one could never be matched to a reply."""
    value = header(headers, "Message-ID")
    if value is None or not (value.startswith("<") and value.endswith(">")):
        raise MessageRejected("the message has no Message-ID header of the form <id@domain>; "
                              "render it with connector.channels.email.render", code="message-id")
    return value
