"""The SendGrid backend: v3 `mail/send`, the finished message turned into SendGrid's JSON.

SendGrid builds the MIME itself, so the message is taken apart: From, To and
Subject go to their fields, the text (and any HTML) part to `content`, and the
headers SalesOS relies on to `headers`: List-Unsubscribe and
List-Unsubscribe-Post (one-click unsubscribe, RFC 8058), In-Reply-To and
References (threading), X-SalesOS-Step. SendGrid refuses its reserved headers
there (To, From, Subject, Reply-To, Cc, Bcc, Content-Type,
Content-Transfer-Encoding, DKIM-Signature, Received, x-sg-id, x-sg-eid), and
none of these is one.

SendGrid sets the Message-ID of what it delivers, so the receipt's
`message_id` is the Message-ID SalesOS rendered (its own key for the step),
not the one on the wire; `provider_id` is SendGrid's X-Message-Id, which its
Event Webhook reports as the start of `sg_message_id`. Answers: 202 with
X-Message-Id; 401/403 the API key; 429 and 5xx transient; 400 this message.
"""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr

import httpx

from connector.channels.base import MessageRejected, SendReceipt
from connector.channels.headers import header, message_id
from connector.channels.http import DEFAULT_TIMEOUT, HttpChannel, now

BASE_URL = "https://api.sendgrid.com"  # EU subusers: https://api.eu.sendgrid.com
PASSED_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To", "References", "X-SalesOS-Step")


class SendGridChannel(HttpChannel):
    name = "SendGrid"

    def __init__(self, api_key: str, *, base_url: str = BASE_URL, timeout: float = DEFAULT_TIMEOUT,
                 client: httpx.Client | None = None) -> None:
        super().__init__(api_key, base_url=base_url, timeout=timeout, client=client)

    def send(self, message: bytes, sender: str, recipients: list[str], *, thread_id: str | None = None) -> SendReceipt:
        """Sends to `recipients` (the envelope) from the message's From; `thread_id` is unused."""
        parsed = BytesParser(policy=compat32).parsebytes(message)
        own_id = message_id(parsed)
        response = self._post("/v3/mail/send", json=mail_send_body(parsed, recipients))
        return SendReceipt(message_id=own_id, provider_id=response.headers.get("X-Message-Id"), accepted_at=now())


def mail_send_body(parsed: Message, recipients: list[str]) -> dict:
    """SendGrid's JSON for a parsed message: one personalization with the envelope's recipients."""
    if not recipients:
        raise MessageRejected("no recipients", code="recipients")
    name, address = parseaddr(_decoded(parsed.get("From", "")))
    if not address:
        raise MessageRejected("the message has no From address", code="from")
    names = {addr.lower(): to_name for to_name, addr in getaddresses([_decoded(value)
                                                                      for value in parsed.get_all("To", [])])}
    to = [{"email": addr, **({"name": names[addr.lower()]} if names.get(addr.lower()) else {})}
          for addr in recipients]
    content = _content(parsed)
    body = {
        "personalizations": [{"to": to}],
        "from": {"email": address, **({"name": name} if name else {})},
        "subject": _decoded(parsed.get("Subject", "")) or "(no subject)",
        "content": content,
        "headers": {name: value for name in PASSED_HEADERS if (value := header(parsed, name)) is not None},
    }
    if not body["headers"]:
        del body["headers"]
    step = header(parsed, "X-SalesOS-Step")
    if step and step.count(":") >= 3:  # "<stage>:<tenant>:<email>:<step>": the event webhook finds its step
        body["custom_args"] = {"salesos_tenant": step.split(":", 2)[1], "salesos_step": step}
    return body


def _content(parsed: Message) -> list[dict]:
    """text/plain first, then text/html, as SendGrid requires; other parts (attachments) are not sent."""
    parts = {}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in parts and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            parts[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    if not parts:
        raise MessageRejected("the message has no text/plain or text/html part", code="content")
    return [{"type": kind, "value": parts[kind]} for kind in ("text/plain", "text/html") if kind in parts]


def _decoded(value) -> str:
    """An RFC 2047 header (=?utf-8?...?=) as text."""
    return str(make_header(decode_header(str(value)))) if value else ""
