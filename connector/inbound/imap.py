"""Reading a mailbox's INBOX over IMAP (IMAPClient), without changing it.

Each poll is one session: TLS (implicit on 993, or STARTTLS; never a
password in plain text), LOGIN or XOAUTH2, EXAMINE INBOX (read only), UID
SEARCH for what is new, UID FETCH RFC822.SIZE, then BODY.PEEK[] of the
messages within the size bound: PEEK, so reading never marks mail as seen
and the rep's unread replies stay unread.

The cursor is "<UIDVALIDITY>:<last UID read>". UIDs only mean something
under one UIDVALIDITY; when the server changes it (the folder was rebuilt)
the old UIDs are worthless, so the reader starts again from the messages of
the last `lookback_days` (by the server's internal date), never from the
folder's beginning. A first poll (no cursor) does the same.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import logging
import ssl
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError

from connector.inbound.base import (
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_MAX_BYTES,
    ImapConfig,
    InboundAuthError,
    InboundError,
    InboundMessage,
    TransientInboundError,
)

log = logging.getLogger(__name__)
FETCH_BYTES = 16 * 1024 * 1024  # one UID FETCH of bodies asks for at most about this much (and at least one message)


class ImapReader:
    """A `MailboxReader` for one IMAP mailbox; give it a password or an OAuth2 access-token source, not both."""

    def __init__(self, tenant: str, address: str, config: ImapConfig, *, password: str | None = None,
                 access_token: Callable[[], str] | None = None, ssl_context: ssl.SSLContext | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, lookback_days: int = DEFAULT_LOOKBACK_DAYS,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        if (password is None) == (access_token is None):
            raise ValueError("ImapReader needs exactly one of password and access_token")
        self.tenant, self.address, self.config = tenant, address, config
        self._password, self._access_token = password, access_token
        self._ssl_context = ssl_context or ssl.create_default_context(cafile=config.ca_file)
        self.max_bytes, self.lookback_days, self._now = max_bytes, lookback_days, now

    def fetch_new(self, cursor: str | None, limit: int) -> tuple[list[InboundMessage], str]:
        position = parse_cursor(cursor)
        try:
            client = self._connect()
            try:
                return self._read(client, position, limit)
            finally:
                _logout(client)
        except InboundError:
            raise
        except LoginError as exc:
            raise InboundAuthError(f"IMAP login to {self.config.host} as {self.config.username} refused: "
                                   f"{_text(exc)}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise InboundError(f"IMAP server {self.config.host}: its TLS certificate is not trusted "
                               f"({exc.verify_message})") from exc
        except CapabilityError as exc:
            raise InboundError(f"IMAP server {self.config.host} offers no STARTTLS: SalesOS never logs in "
                               "without TLS (use security 'ssl' on port 993 if the server has it)") from exc
        except (OSError, imaplib.IMAP4.abort) as exc:  # refused, timed out, reset, TLS failed, connection dropped
            raise TransientInboundError(f"IMAP server {self.config.host}: {type(exc).__name__}: {_text(exc)}") from exc
        except imaplib.IMAP4.error as exc:  # a NO or BAD to a command
            raise InboundError(f"IMAP server {self.config.host} refused a command: {_text(exc)}") from exc

    def close(self) -> None:
        """Nothing is kept open between polls."""

    def _connect(self) -> IMAPClient:
        config = self.config
        implicit = config.security == "ssl"
        client = IMAPClient(config.host, port=config.port or (993 if implicit else 143), ssl=implicit,
                            ssl_context=self._ssl_context if implicit else None, timeout=config.timeout)
        try:
            client.normalise_times = False  # INTERNALDATE with its offset, not naive local time
            if not implicit:
                client.starttls(self._ssl_context)
            if self._password is not None:
                client.login(config.username, self._password)
            else:
                client.oauth2_login(config.username, self._access_token())
        except BaseException:
            _close_quietly(client)
            raise
        return client

    def _read(self, client: IMAPClient, position: tuple[int, int] | None,
              limit: int) -> tuple[list[InboundMessage], str]:
        folder = client.select_folder(self.config.folder, readonly=True)  # EXAMINE: nothing here can change flags
        validity = int(folder[b"UIDVALIDITY"])
        if position is not None and position[0] == validity:
            last = position[1]
            uids = [uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last]  # n:* matches the top UID
        else:
            if position is not None:
                log.warning("IMAP %s: UIDVALIDITY changed (%s to %s); reading the last %d days again",
                            self.address, position[0], validity, self.lookback_days)
            since = (self._now() - dt.timedelta(days=self.lookback_days)).date()
            uids = client.search(["SINCE", since])
            last = _top_uid(client, folder) if not uids else 0
        uids = sorted(uids)[:limit]
        if not uids:
            return [], f"{validity}:{last}"
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        wanted: list[int] = []
        for uid in uids:
            size = sizes.get(uid, {}).get(b"RFC822.SIZE")
            if size is None or size > self.max_bytes:
                log.warning("IMAP %s: message %s:%s skipped, %s bytes (the bound is %d)", self.address, validity, uid,
                            size if size is not None else "unknown", self.max_bytes)
            else:
                wanted.append(uid)
        messages = [message for batch in _batches(wanted, sizes) for message in self._bodies(client, validity, batch)]
        return messages, f"{validity}:{uids[-1]}"

    def _bodies(self, client: IMAPClient, validity: int, uids: list[int]) -> list[InboundMessage]:
        fetched = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        messages = []
        for uid in uids:
            data = fetched.get(uid)
            raw = data.get(b"BODY[]") if data else None
            if not raw:
                log.warning("IMAP %s: message %s:%s vanished before it was read", self.address, validity, uid)
                continue
            if len(raw) > self.max_bytes:  # its RFC822.SIZE understated it
                log.warning("IMAP %s: message %s:%s skipped, %d bytes", self.address, validity, uid, len(raw))
                continue
            received = data.get(b"INTERNALDATE")
            messages.append(InboundMessage(
                tenant=self.tenant, mailbox=self.address, source="imap", provider_id=f"{validity}:{uid}", raw=raw,
                received_at=received if isinstance(received, dt.datetime) else self._now()))
        return messages


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """"<uidvalidity>:<uid>" as two numbers; a cursor of another shape is a clear error, never a silent restart."""
    if cursor is None:
        return None
    validity, _, uid = cursor.partition(":")
    if not (validity.isdigit() and uid.isdigit()):
        raise ValueError(f"cursor: {cursor[:60]!r} is not an IMAP cursor (<UIDVALIDITY>:<UID>, both numbers)")
    return int(validity), int(uid)


def _top_uid(client: IMAPClient, folder: dict) -> int:
    """The highest UID now in the folder, so the next poll reads only what arrives after this one."""
    uidnext = folder.get(b"UIDNEXT")
    if uidnext:
        return int(uidnext) - 1
    return max(client.search(["ALL"]), default=0)


def _batches(uids: list[int], sizes: dict) -> list[list[int]]:
    """Consecutive runs of about FETCH_BYTES, so one FETCH never pulls a whole poll's worth of large messages."""
    batches: list[list[int]] = []
    total = FETCH_BYTES
    for uid in uids:
        size = sizes[uid][b"RFC822.SIZE"]
        if total + size > FETCH_BYTES:
            batches.append([])
            total = 0
        batches[-1].append(uid)
        total += size
    return batches


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        _close_quietly(client)


def _close_quietly(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except OSError:
        pass


def _text(exc: BaseException) -> str:
    return str(exc)[:300]
