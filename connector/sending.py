"""Sending rendered emails: the consent check and the sends in one held transaction, each send marked first.

`send_all` holds the send guard (`Ledger.sending`) around the sends themselves, so an unsubscribe, a
suppression or a reply committed before a send is seen by it, and one arriving during it waits for the
message already on the wire. A hold ends after `HOLD_SECONDS` or `HOLD_EMAILS`, whichever comes first: an
unsubscribe never waits longer than that.

Each send is marked in Redis just before the mail system is called, and the mark says "sent" (with the
Message-ID) once it accepted the message. A worker killed before the ledger records the step leaves the mark:
the retry finds it and never sends again. A "sent" mark counts as sent; a mark still "sending" (killed during
the call itself) makes the step uncertain, for the owner to check their Sent folder. A prospect may miss a
step; they never get one twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from connector.channels.base import (
    EmailChannel,
    MailboxAuthError,
    MessageRejected,
    RecipientRejected,
    SendError,
    SendReceipt,
    TransientSendError,
)
from connector.ledger import Ledger

log = logging.getLogger(__name__)
HOLD_SECONDS = 0.5  # the longest an unsubscribe waits for sends already under way
HOLD_EMAILS = 50
MARK_TTL = dt.timedelta(days=30)  # longer than any step is retried for
MAILBOX_RETRY = 3600.0  # seconds before steps of a mailbox whose credential was refused are tried again


@dataclass(frozen=True)
class Outgoing:
    key: str  # the step's ledger key
    email: str  # the recipient
    data: bytes  # the finished RFC 5322 message
    mailbox: str  # the sending mailbox's address (the envelope sender)


@dataclass
class SendOutcome:
    sent: dict[str, SendReceipt] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)  # the contact opted out, was suppressed or replied first
    uncertain: list[str] = field(default_factory=list)  # a killed worker may have sent these: never sent again
    deferred: dict[str, tuple[str, float | None]] = field(default_factory=dict)  # (reason, retry after seconds)
    bounced: dict[str, str] = field(default_factory=dict)  # the recipient was refused for good: suppress
    failed: dict[str, str] = field(default_factory=dict)  # this message can never be sent as it is
    broken: dict[str, str] = field(default_factory=dict)  # mailboxes whose credential was refused, with why


class SendMarks:
    """Redis marks of sends under way, shared by every worker on every host."""

    def __init__(self, conn, owner: str) -> None:
        self._conn, self._owner = conn, owner

    def begin(self, key: str) -> bool | SendReceipt:
        """Mark `key` as being sent: True. When a mark is already there, an earlier attempt got this far: its
        receipt if the mail system accepted the message, else False (it may or may not have)."""
        if self._conn.set(_mark(key), f"{_SENDING}{self._owner}", nx=True, ex=MARK_TTL):
            return True
        found = (self._conn.get(_mark(key)) or b"").decode()
        return SendReceipt.model_validate_json(found.removeprefix(_SENT)) if found.startswith(_SENT) else False

    def sent(self, key: str, receipt: SendReceipt) -> None:
        """The mail system accepted it: a retry after a kill counts it as sent instead of uncertain."""
        self._conn.set(_mark(key), f"{_SENT}{receipt.model_dump_json()}", ex=MARK_TTL)

    def clear(self, keys: Sequence[str]) -> None:
        """Nothing was sent (or the ledger now records it done): the marks go."""
        if keys:
            self._conn.delete(*(_mark(key) for key in keys))


def send_all(ledger: Ledger, tenant: str, items: Sequence[Outgoing], channel_for: Callable[[str], EmailChannel],
             marks: SendMarks, *, clock: Callable[[], float] = time.monotonic) -> SendOutcome:
    """Send each item through its mailbox's channel, under the send guard; returns what became of each."""
    outcome, pending = SendOutcome(), list(items)
    broken = outcome.broken
    unavailable: dict[str, tuple[str, float | None]] = {}
    for mailbox in dict.fromkeys(item.mailbox for item in items):  # built before any hold or mark: a token
        try:                                                      # refresh or a vault read is never held
            channel_for(mailbox)
        except TransientSendError as exc:  # its token endpoint is down, say: the steps wait, the mailbox stays
            unavailable[mailbox] = (f"the mailbox {mailbox} cannot send now: {exc}", exc.retry_after)
        except (SendError, ValueError) as exc:  # ValueError: a mailbox this worker cannot open (no vault key)
            broken[mailbox] = f"the mailbox {mailbox} cannot send: {exc}; an admin must fix it"
    while pending:
        batch = pending[:HOLD_EMAILS]
        with ledger.sending(tenant, [item.email for item in batch]) as allowed:
            started, done = clock(), 0
            for item in batch:
                if done and clock() - started >= HOLD_SECONDS:
                    break  # the rest wait for the next hold: an unsubscribe gets its turn
                done += 1
                if item.email.lower() not in allowed:
                    outcome.stopped.append(item.key)
                elif item.mailbox in broken:
                    outcome.deferred[item.key] = (broken[item.mailbox], MAILBOX_RETRY)
                elif item.mailbox in unavailable:
                    outcome.deferred[item.key] = unavailable[item.mailbox]
                elif (begun := marks.begin(item.key)) is True:
                    _send_one(item, channel_for, marks, outcome, broken)
                elif begun:
                    outcome.sent[item.key] = begun  # a stopped worker's send the mail system had accepted
                else:
                    log.error("step %s was being sent by a worker that stopped: it is not sent again", item.key)
                    outcome.uncertain.append(item.key)
        pending = pending[done:]
    return outcome


def _send_one(item: Outgoing, channel_for: Callable[[str], EmailChannel], marks: SendMarks, outcome: SendOutcome,
              broken: dict[str, str]) -> None:
    try:
        outcome.sent[item.key] = channel_for(item.mailbox).send(item.data, item.mailbox, [item.email])
        marks.sent(item.key, outcome.sent[item.key])
        return
    except TransientSendError as exc:
        outcome.deferred[item.key] = (f"{item.mailbox}: {exc}", exc.retry_after)
    except RecipientRejected as exc:
        outcome.bounced[item.key] = str(exc)
    except MailboxAuthError as exc:
        broken[item.mailbox] = f"the mailbox {item.mailbox} refused SalesOS's credential ({exc}); an admin must fix it"
        outcome.deferred[item.key] = (broken[item.mailbox], MAILBOX_RETRY)
    except (MessageRejected, SendError) as exc:
        outcome.failed[item.key] = f"{type(exc).__name__}: {exc}"
    marks.clear([item.key])  # nothing went out: a later attempt may send it


_SENDING, _SENT = "sending|", "sent|"


def _mark(key: str) -> str:
    return f"salesos:sending:{key}"
