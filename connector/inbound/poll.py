"""One poll of one mailbox: read what is new, hand each message over, and only then move the cursor.

The cursor moves only after the handler has taken every message of the
poll, so a crash or an error half-way reads the same messages again next
time instead of losing them: the handler must be idempotent (key it on the
message's mailbox and `provider_id`, or its Message-ID).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from connector.inbound.base import InboundMessage, MailboxReader
from connector.inbound.cursors import InboundCursors

log = logging.getLogger(__name__)


def poll_mailbox(reader: MailboxReader, cursors: InboundCursors, tenant: str, address: str, limit: int,
                 handle: Callable[[InboundMessage], None]) -> list[InboundMessage]:
    """Read up to `limit` new messages of the mailbox, call `handle` on each in order, then store the new cursor.

    Raises what the reader raises (`InboundAuthError`, `TransientInboundError`, ...) and what `handle` raises,
    with the cursor unchanged either way. Returns the messages handled.
    """
    if limit < 1:
        raise ValueError(f"limit: must be at least 1 (got {limit})")
    cursor = cursors.get(tenant, address)
    messages, new_cursor = reader.fetch_new(cursor, limit)
    for message in messages:
        handle(message)
    if new_cursor != cursor and not cursors.put(tenant, address, new_cursor, expected=cursor):
        log.warning("inbound %s/%s: another poll moved the cursor meanwhile; its position stands", tenant, address)
    return messages
