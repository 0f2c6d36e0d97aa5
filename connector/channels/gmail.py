"""The Gmail API backend: `users.messages.send` with the finished message as `raw`.

POST https://gmail.googleapis.com/gmail/v1/users/me/messages/send with
`{"raw": base64url(message), "threadId": ...}`; the answer is a Message
resource whose `id` and `threadId` the receipt keeps, so a follow-up step can
join the thread (Gmail also wants its In-Reply-To/References and the same
Subject, which `connector.channels.email` sets). Gmail keeps the Message-ID it
is given. The access token needs the gmail.send scope; refreshing it is not
done here: an expired one is a MailboxAuthError, like a revoked one.
Gmail answers some rate limits with 403 and a reason: those are transient.
"""

from __future__ import annotations

import base64

import httpx

from connector.channels.base import SendError, SendReceipt, TransientSendError
from connector.channels.headers import message_id, parse_headers
from connector.channels.http import DEFAULT_TIMEOUT, HttpChannel, error_text, now, status_error
from crm_adapters.calls import retry_after_seconds

BASE_URL = "https://gmail.googleapis.com"
_RATE_LIMITS = {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded"}


class GmailChannel(HttpChannel):
    name = "Gmail"

    def __init__(self, access_token: str, *, user: str = "me", timeout: float = DEFAULT_TIMEOUT,
                 client: httpx.Client | None = None) -> None:
        super().__init__(access_token, base_url=BASE_URL, timeout=timeout, client=client)
        self._path = f"/gmail/v1/users/{user}/messages/send"

    def send(self, message: bytes, sender: str, recipients: list[str], *, thread_id: str | None = None) -> SendReceipt:
        """Gmail reads sender and recipients from the message's headers; the envelope arguments are not sent."""
        own_id = message_id(parse_headers(message))
        body = {"raw": base64.urlsafe_b64encode(message).decode()}
        if thread_id:
            body["threadId"] = thread_id
        answer = self._post(self._path, json=body).json()
        return SendReceipt(message_id=own_id, provider_id=answer.get("id"), thread_id=answer.get("threadId"),
                           accepted_at=now())

    def _error(self, response: httpx.Response) -> SendError:
        if response.status_code == 403 and _reasons(response) & _RATE_LIMITS:
            return TransientSendError(f"Gmail answered 403: {error_text(response)}", code="403",
                                      retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        return status_error(self.name, response)


def _reasons(response: httpx.Response) -> set[str]:
    try:
        errors = response.json()["error"]["errors"]
        return {str(item.get("reason")) for item in errors if isinstance(item, dict)}
    except (ValueError, KeyError, TypeError):
        return set()
