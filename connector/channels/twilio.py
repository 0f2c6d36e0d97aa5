"""Twilio's REST API for the phone steps: one SMS, one click-to-call.

`TwilioClient` speaks Twilio's 2010-04-01 API (HTTP Basic with the account SID
and Auth Token, form bodies, JSON answers). It never decides whether to send:
consent (`connector.sms_consent`), the send ledger and the step plan
(`agents.phone_steps`) are checked before it is called.

Click-to-call rings the rep first, so nobody hears dead air: Twilio calls the
rep's phone, and when the rep answers it runs the inline TwiML
`<Response><Dial callerId=...>prospect</Dial></Response>`, which dials the
prospect showing the company's caller id.

Errors are keyed on Twilio's HTTP status and numeric code, never on its
message text (which varies between API versions and locales). They extend
the channel errors of `connector.channels.base`, so a send loop can treat an
SMS like an email: `TwilioRateLimited` and `TwilioUnavailable` are
`TransientSendError`s (try later), `InvalidNumber` and `RecipientOptedOut`
are `RecipientRejected` (stop texting that number), `TwilioAuthError` is a
`MailboxAuthError` (stop using the account until an admin fixes it).
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import httpx
from pydantic import BaseModel

from connector.channels.base import MailboxAuthError, RecipientRejected, SendError, TransientSendError
from connector.channels.phone_numbers import to_e164
from crm_adapters.calls import retry_after_seconds

API_BASE = "https://api.twilio.com/2010-04-01"
MAX_BODY = 1600  # characters Twilio accepts in one message Body
MAX_ANSWER_BYTES = 64 * 1024  # a Message or Call resource is ~1-2 KB; a bigger answer is not Twilio's
TIMEOUT_S = 10.0
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")

AUTH_CODES = frozenset({20003})  # "Authenticate": wrong SID or token
RATE_LIMIT_CODES = frozenset({20429})
INVALID_NUMBER_CODES = frozenset({21211, 21614})  # 'To' is not a valid number / not a mobile number
OPTED_OUT_CODES = frozenset({21610})  # the recipient replied STOP to this sender


class TwilioError(SendError):
    """Twilio refused the request; `status` is the HTTP status, `code` Twilio's error code (as text), if any."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 retry_after: float | None = None) -> None:
        SendError.__init__(self, message, code=None if code is None else str(code))
        self.status = status
        self.twilio_code = code
        self.retry_after = retry_after


class TwilioAuthError(TwilioError, MailboxAuthError):
    """The account SID or Auth Token was refused (HTTP 401, code 20003): nothing goes out until an admin fixes it."""


class TwilioRateLimited(TwilioError, TransientSendError):
    """Too many requests (HTTP 429, code 20429); `retry_after` is seconds when Twilio said."""


class TwilioUnavailable(TwilioError, TransientSendError):
    """Twilio answered 5xx, or did not answer at all. `maybe_sent`: the request may have reached Twilio and been
    acted on (a timeout after it was sent), so resending risks a second text."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 maybe_sent: bool = False) -> None:
        super().__init__(message, status=status, code=code)
        self.maybe_sent = maybe_sent


class InvalidNumber(TwilioError, RecipientRejected):
    """Twilio says the destination is no valid (21211) or no SMS-capable (21614) number."""


class RecipientOptedOut(TwilioError, RecipientRejected):
    """The recipient replied STOP to this sender (21610): Twilio refuses every text until they reply START."""


class SmsReceipt(BaseModel):
    sid: str  # SM... (or MM... for MMS)
    status: str  # queued, accepted or scheduled: Twilio sends no callback for this first status


class CallReceipt(BaseModel):
    sid: str  # CA...
    status: str  # queued, ringing, ...


def dial_twiml(prospect_phone: str, caller_id: str) -> str:
    """The TwiML run when the rep answers: dial the prospect, showing `caller_id` (both XML-escaped)."""
    return f"<Response><Dial callerId={quoteattr(caller_id)}>{escape(prospect_phone)}</Dial></Response>"


class TwilioClient:
    """One Twilio account's Messages and Calls endpoints."""

    def __init__(self, account_sid: str, auth_token: str, *, base_url: str = API_BASE,
                 http: httpx.Client | None = None, timeout: float = TIMEOUT_S) -> None:
        if not _ACCOUNT_SID.match(account_sid or ""):
            raise ValueError("account_sid: a Twilio account SID is AC followed by 32 hexadecimal digits")
        if not auth_token:
            raise ValueError("auth_token: empty")
        self.account_sid = account_sid
        self._base = f"{base_url.rstrip('/')}/Accounts/{account_sid}"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self._timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"TwilioClient({self.account_sid!r})"

    def send_sms(self, to: str, body: str, *, from_: str | None = None, messaging_service_sid: str | None = None,
                 status_callback: str | None = None, region: str | None = None) -> SmsReceipt:
        """Send `body` to `to` from a number (`from_`) or a Messaging Service (whose Advanced Opt-Out answers STOP).

        `region` is the contact's country (ISO alpha-2), for a number written without its country code."""
        if (from_ is None) == (messaging_service_sid is None):
            raise ValueError("from_ / messaging_service_sid: give exactly one (the sender number or the service)")
        if not body or len(body) > MAX_BODY:
            raise ValueError(f"body: 1 to {MAX_BODY} characters (got {len(body or '')})")
        form = {"To": to_e164(to, field="to", region=region), "Body": body}
        if from_ is not None:
            form["From"] = to_e164(from_, field="from_")
        else:
            if not _SERVICE_SID.match(messaging_service_sid or ""):
                raise ValueError("messaging_service_sid: MG followed by 32 hexadecimal digits")
            form["MessagingServiceSid"] = messaging_service_sid
        if status_callback:
            form["StatusCallback"] = status_callback
        answer = self._post("Messages.json", form)
        return SmsReceipt(sid=answer["sid"], status=answer["status"])

    def click_to_call(self, rep_phone: str, prospect_phone: str, *, caller_id: str,
                      status_callback: str | None = None, region: str | None = None) -> CallReceipt:
        """Ring the rep at `rep_phone`; once they answer, dial `prospect_phone` showing `caller_id` (a number of the
        account, or one verified with it). `region` reads numbers written without their country code."""
        rep = to_e164(rep_phone, field="rep_phone", region=region)
        prospect = to_e164(prospect_phone, field="prospect_phone", region=region)
        caller = to_e164(caller_id, field="caller_id", region=region)
        form = {"To": rep, "From": caller, "Twiml": dial_twiml(prospect, caller)}
        if status_callback:
            form["StatusCallback"] = status_callback
            form["StatusCallbackEvent"] = "completed"  # the outcome; ringing and answered are only noise here
        answer = self._post("Calls.json", form)
        return CallReceipt(sid=answer["sid"], status=answer["status"])

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        try:
            with self._http.stream("POST", f"{self._base}/{path}", data=form, auth=self._auth,
                                   timeout=self._timeout) as streamed:
                content = _read_bounded(streamed)
                response = httpx.Response(streamed.status_code, headers=streamed.headers, content=content)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TwilioUnavailable(f"cannot reach Twilio ({type(exc).__name__})") from None
        except httpx.RequestError as exc:  # sent, but no (whole) answer: Twilio may have acted on it
            raise TwilioUnavailable(f"no answer from Twilio ({type(exc).__name__})", maybe_sent=True) from None
        if response.status_code in (200, 201):
            answer = _json(response)
            if not isinstance(answer, dict) or not isinstance(answer.get("sid"), str) \
                    or not isinstance(answer.get("status"), str):
                raise TwilioUnavailable(f"Twilio answered {response.status_code} without a sid and status",
                                        status=response.status_code, maybe_sent=True)
            return answer
        raise _error(response)


def _read_bounded(streamed: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in streamed.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise httpx.DecodingError(f"answer over {MAX_ANSWER_BYTES} bytes")  # a RequestError: maybe sent
    return bytes(body)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _error(response: httpx.Response) -> TwilioError:
    """The error for a non-2xx answer, chosen by status and Twilio's code; the message quotes neither the request
    (which holds the recipient's number and the text) nor Twilio's free text."""
    status = response.status_code
    body = _json(response)
    code = body.get("code") if isinstance(body, dict) and isinstance(body.get("code"), int) else None
    what = f"Twilio answered {status}" + (f" with error {code} (https://www.twilio.com/docs/errors/{code})"
                                          if code is not None else "")
    if status == 401 or code in AUTH_CODES:
        return TwilioAuthError(f"{what}: the account SID or Auth Token was refused", status=status, code=code)
    if status == 429 or code in RATE_LIMIT_CODES:
        return TwilioRateLimited(f"{what}: too many requests", status=status, code=code,
                                 retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    if code in OPTED_OUT_CODES:
        return RecipientOptedOut(f"{what}: the recipient replied STOP to this sender", status=status, code=code)
    if code in INVALID_NUMBER_CODES:
        return InvalidNumber(f"{what}: the number cannot receive this message", status=status, code=code)
    if status >= 500:
        return TwilioUnavailable(f"{what}: try again later", status=status, code=code)
    return TwilioError(what, status=status, code=code)


