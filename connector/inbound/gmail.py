"""Reading a Gmail mailbox's INBOX through the Gmail API, by history.

The cursor is a Gmail historyId. A first poll (no cursor) only records the
mailbox's current historyId (users.getProfile) and returns nothing: what is
already there was there before SalesOS looked. Later polls list what was
added to INBOX since (users.history.list, historyTypes=messageAdded) and get
each new message whole (users.messages.get?format=raw, base64url).

A historyId is valid for about a week (sometimes hours); an older one gets
404, and the reader falls back to the INBOX messages of the last
`lookback_days` (messages.list?q=newer_than:Nd), taking the new historyId
from users.getProfile *before* listing, so nothing that arrives meanwhile is
missed. A poll stops at a whole history record, so the cursor it returns
never falls inside one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Callable
from urllib.parse import quote

import httpx

from connector.inbound.base import DEFAULT_LOOKBACK_DAYS, DEFAULT_MAX_BYTES, InboundError, InboundMessage
from connector.inbound.http_api import ApiSession, Expired, TooLarge

log = logging.getLogger(__name__)
GMAIL_API = "https://gmail.googleapis.com/gmail/v1"
MAX_PAGES = 20  # history pages per poll: a poll is bounded in time as well as in messages


class GmailReader:
    """A `MailboxReader` for one Gmail or Workspace mailbox (scope gmail.readonly is enough)."""

    def __init__(self, tenant: str, address: str, access_token: Callable[[], str], *,
                 client: httpx.Client | None = None, base_url: str = GMAIL_API, max_bytes: int = DEFAULT_MAX_BYTES,
                 lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> None:
        self.tenant, self.address = tenant, address
        self._api = ApiSession("Gmail", access_token, client)
        self._user = f"{base_url.rstrip('/')}/users/me"
        self.max_bytes, self.lookback_days = max_bytes, lookback_days

    def close(self) -> None:
        self._api.close()

    def fetch_new(self, cursor: str | None, limit: int) -> tuple[list[InboundMessage], str]:
        if cursor is not None and not cursor.isdigit():
            raise ValueError(f"cursor: {cursor[:60]!r} is not a Gmail historyId (a number)")
        try:
            if cursor is None:
                return [], self._current_history_id()
            try:
                ids, cursor = self._added_since(cursor, limit)
            except Expired:
                log.warning("Gmail %s: historyId %s has expired; reading the INBOX of the last %d days again",
                            self.address, cursor, self.lookback_days)
                ids, cursor = self._recent(limit)
        except Expired as exc:  # the profile or the message list itself is not found: no such mailbox
            raise InboundError(f"{exc}: no mailbox {self.address} for this token") from exc
        messages = [message for message in map(self._message, ids) if message is not None]
        return messages, cursor

    def _current_history_id(self) -> str:
        history_id = self._api.get_json(f"{self._user}/profile").get("historyId")
        if not str(history_id or "").isdigit():
            raise InboundError("Gmail: users.getProfile answered without a historyId")
        return str(history_id)

    def _added_since(self, start: str, limit: int) -> tuple[list[str], str]:
        """The ids added to INBOX after `start`, oldest first, up to `limit` (whole history records), and the
        history id to start from next time."""
        ids: dict[str, None] = {}
        params = {"startHistoryId": start, "historyTypes": "messageAdded", "labelId": "INBOX",
                  "maxResults": min(500, max(limit, 1))}
        done = start
        for _ in range(MAX_PAGES):
            page = self._api.get_json(f"{self._user}/history", params=params)
            for record in page.get("history") or []:
                added = [entry["message"]["id"] for entry in record.get("messagesAdded") or []
                         if isinstance(entry, dict) and isinstance(entry.get("message"), dict)
                         and entry["message"].get("id")]
                if ids and len(ids) + len(added) > limit:
                    return list(ids), done
                ids.update(dict.fromkeys(added))
                done = str(record.get("id") or done)
            token = page.get("nextPageToken")
            if not token:
                return list(ids), str(page.get("historyId") or done)
            params = {**params, "pageToken": token}
        return list(ids), done

    def _recent(self, limit: int) -> tuple[list[str], str]:
        history_id = self._current_history_id()
        page = self._api.get_json(f"{self._user}/messages", params={
            "q": f"newer_than:{self.lookback_days}d", "labelIds": "INBOX", "maxResults": min(500, max(limit, 1))})
        newest_first = [entry["id"] for entry in page.get("messages") or [] if entry.get("id")]
        if page.get("nextPageToken"):
            log.warning("Gmail %s: more than %d messages in the last %d days; the oldest are not read",
                        self.address, limit, self.lookback_days)
        return list(reversed(newest_first[:limit])), history_id

    def _message(self, message_id: str) -> InboundMessage | None:
        # base64url makes 3 bytes 4; the rest of the JSON (ids, labels, snippet) is small
        bound = self.max_bytes * 4 // 3 + 64 * 1024
        url = f"{self._user}/messages/{quote(message_id, safe='')}"
        try:
            body = json.loads(self._api.get_bytes(url, bound, params={"format": "raw"}))
        except TooLarge:
            log.warning("Gmail %s: message %s skipped, larger than %d bytes", self.address, message_id, self.max_bytes)
            return None
        except Expired:
            log.info("Gmail %s: message %s was deleted before it was read", self.address, message_id)
            return None
        except ValueError as exc:
            raise InboundError(f"Gmail: message {message_id} answered with malformed JSON") from exc
        raw = _decode(body.get("raw"), message_id)
        if len(raw) > self.max_bytes:
            log.warning("Gmail %s: message %s skipped, %d bytes", self.address, message_id, len(raw))
            return None
        return InboundMessage(tenant=self.tenant, mailbox=self.address, source="gmail", provider_id=message_id,
                              raw=raw, received_at=_received(body.get("internalDate")))


def _decode(raw: object, message_id: str) -> bytes:
    if not isinstance(raw, str) or not raw:
        raise InboundError(f"Gmail: message {message_id} came without its raw form (format=raw)")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InboundError(f"Gmail: message {message_id}'s raw form is not base64url") from exc


def _received(internal_date: object) -> dt.datetime:
    """internalDate is epoch milliseconds as a string: when Gmail received the message."""
    if isinstance(internal_date, (str, int)) and str(internal_date).isdigit():
        return dt.datetime.fromtimestamp(int(internal_date) / 1000, dt.UTC)
    return dt.datetime.now(dt.UTC)
