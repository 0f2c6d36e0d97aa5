"""Reading a Microsoft 365 mailbox's Inbox through Microsoft Graph, by delta query.

A delta round on the Inbox (`mailFolders/inbox/messages/delta`, only
`changeType=created`, only `id` and `receivedDateTime`) lists what arrived;
each message's MIME comes from `messages/{id}/$value`, streamed and abandoned
past the size bound. The cursor is the URL to GET next: the round's
`@odata.deltaLink` once it is complete, or the `@odata.nextLink` of the page
a poll stopped before (its limit reached), so the next poll resumes there.

A first poll starts a round filtered to the last `lookback_days` (delta
accepts `$filter` on receivedDateTime only), so it never walks the whole
Inbox. A delta token Graph no longer knows gets 410 Gone, and the reader
starts such a round again.

The cursor is sent with the mailbox's access token, so it must be a URL on
the configured Graph host: a stored cursor pointing anywhere else is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

import httpx

from connector.inbound.base import DEFAULT_LOOKBACK_DAYS, DEFAULT_MAX_BYTES, InboundError, InboundMessage
from connector.inbound.http_api import ApiSession, Expired, TooLarge

log = logging.getLogger(__name__)
GRAPH_API = "https://graph.microsoft.com/v1.0"
PAGE_SIZE = 50  # Prefer: odata.maxpagesize (Graph's default page of messages is 10)
MAX_PAGES = 20  # delta pages per poll


class GraphReader:
    """A `MailboxReader` for one Exchange Online mailbox (Mail.Read, delegated or application)."""

    def __init__(self, tenant: str, address: str, access_token: Callable[[], str], *,
                 client: httpx.Client | None = None, base_url: str = GRAPH_API, max_bytes: int = DEFAULT_MAX_BYTES,
                 lookback_days: int = DEFAULT_LOOKBACK_DAYS,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.tenant, self.address = tenant, address
        self._api = ApiSession("Microsoft Graph", access_token, client)
        self._base = base_url.rstrip("/")
        self._user = f"{self._base}/users/{quote(address, safe='@')}"
        self.max_bytes, self.lookback_days, self._now = max_bytes, lookback_days, now

    def close(self) -> None:
        self._api.close()

    def fetch_new(self, cursor: str | None, limit: int) -> tuple[list[InboundMessage], str]:
        if cursor is not None and not cursor.startswith(f"{self._base}/"):
            raise ValueError(f"cursor: not a URL on {self._base} (a Graph delta or next link); refused, since the "
                             "mailbox's access token would be sent to it")
        try:
            return self._round(cursor or self._start(), limit)
        except Expired:
            if cursor is None:
                raise InboundError(f"Microsoft Graph: no Inbox for {self.address}") from None
            log.warning("Graph %s: the delta token has expired; reading the Inbox of the last %d days again",
                        self.address, self.lookback_days)
            return self._round(self._start(), limit)

    def _start(self) -> str:
        since = (self._now() - dt.timedelta(days=self.lookback_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = urlencode({"changeType": "created", "$select": "id,receivedDateTime",
                           "$filter": f"receivedDateTime ge {since}"}, safe="$,:", quote_via=quote)
        return f"{self._user}/mailFolders/inbox/messages/delta?{query}"

    def _round(self, url: str, limit: int) -> tuple[list[InboundMessage], str]:
        messages: list[InboundMessage] = []
        headers = {"Prefer": f"odata.maxpagesize={min(PAGE_SIZE, max(limit, 1))}"}
        taken = 0
        for _ in range(MAX_PAGES):
            page = self._api.get_json(url, headers=headers)
            items = [item for item in page.get("value") or []
                     if isinstance(item, dict) and "@removed" not in item and item.get("id")]
            if taken and taken + len(items) > limit:
                return messages, url  # this page is for the next poll
            taken += len(items)
            messages.extend(message for message in map(self._message, items) if message is not None)
            if page.get("@odata.nextLink"):
                url = self._own(page["@odata.nextLink"])
            elif page.get("@odata.deltaLink"):
                return messages, self._own(page["@odata.deltaLink"])
            else:
                raise InboundError("Microsoft Graph: a delta page came with neither @odata.nextLink nor "
                                   "@odata.deltaLink")
        return messages, url

    def _own(self, link: object) -> str:
        if not isinstance(link, str) or not link.startswith(f"{self._base}/"):
            raise InboundError(f"Microsoft Graph: a delta link outside {self._base}; not followed")
        return link

    def _message(self, item: dict) -> InboundMessage | None:
        message_id = str(item["id"])
        url = f"{self._user}/messages/{quote(message_id, safe='')}/$value"
        try:
            raw = self._api.get_bytes(url, self.max_bytes)
        except TooLarge:
            log.warning("Graph %s: message %s skipped, larger than %d bytes", self.address, message_id,
                        self.max_bytes)
            return None
        except Expired:
            log.info("Graph %s: message %s was deleted or moved before it was read", self.address, message_id)
            return None
        if not raw:
            log.warning("Graph %s: message %s has no MIME content; skipped", self.address, message_id)
            return None
        return InboundMessage(tenant=self.tenant, mailbox=self.address, source="graph", provider_id=message_id,
                              raw=raw, received_at=_received(item.get("receivedDateTime")) or self._now())


def _received(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
