"""The Microsoft Graph backend: `sendMail` with the finished message in MIME format.

POST https://graph.microsoft.com/v1.0/users/{address}/sendMail with the
message base64-encoded as the body and `Content-Type: text/plain` (Graph's
MIME form); 202 Accepted with no body. Graph gives no id back, so the receipt
carries the message's own Message-ID only (Exchange keeps it as the
internetMessageId). The token needs Mail.Send; refreshing it is not done
here: an expired one is a MailboxAuthError. A mailbox Graph does not know
(404) is the mailbox's problem too.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx

from connector.channels.base import MailboxAuthError, SendError, SendReceipt
from connector.channels.headers import message_id, parse_headers
from connector.channels.http import DEFAULT_TIMEOUT, HttpChannel, error_text, now, status_error

BASE_URL = "https://graph.microsoft.com"


class GraphChannel(HttpChannel):
    name = "Microsoft Graph"

    def __init__(self, address: str, access_token: str, *, timeout: float = DEFAULT_TIMEOUT,
                 client: httpx.Client | None = None) -> None:
        super().__init__(access_token, base_url=BASE_URL, timeout=timeout, client=client)
        self._path = f"/v1.0/users/{quote(address, safe='@')}/sendMail"

    def send(self, message: bytes, sender: str, recipients: list[str], *, thread_id: str | None = None) -> SendReceipt:
        """Graph reads the recipients from the message's headers; `thread_id` is unused (threads by headers)."""
        own_id = message_id(parse_headers(message))
        self._post(self._path, content=base64.b64encode(message), headers={"Content-Type": "text/plain"})
        return SendReceipt(message_id=own_id, accepted_at=now())

    def _error(self, response: httpx.Response) -> SendError:
        if response.status_code == 404:
            return MailboxAuthError(f"Microsoft Graph answered 404 for the mailbox: {error_text(response)}",
                                    code="404")
        return status_error(self.name, response)
