"""Where Twilio calls back: status of texts and calls, and texts that come in (STOP above all).

`/webhooks/twilio/<token>/status` and `/webhooks/twilio/<token>/sms`, per
tenant (`connector.twilio_account`). Each request must carry a valid
`X-Twilio-Signature` made with the tenant's Auth Token over the URL Twilio
called. That URL is rebuilt from SALESOS_PUBLIC_URL, never from the Host
header or scheme the request arrived with: a proxy rewrites both, and a
caller who controls them must not choose what is signed. A token that is
nobody's and a bad signature get the same 403 and body, after the same work
(a vault secret is opened either way).

Inbound texts: Twilio's opt-out keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL,
END, QUIT, OPTOUT, REVOKE) revoke the number's SMS consent at once; START,
YES and UNSTOP restore consent the contact had before. The answer is always
empty TwiML: with Advanced Opt-Out on, Twilio sends the confirmation text
itself (and blocks further texts until START), so a reply from SalesOS would
be a second, unwanted message.
"""

from __future__ import annotations

import logging
import re
import secrets

import redis
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from agents.phone_steps import sms_keyword
from connector.channels.phone_numbers import to_e164
from connector.settings import Settings
from connector.sms_consent import SmsConsent
from connector.store import open_store
from connector.tenants import vault_keys
from connector.twilio_account import ACCOUNT, TwilioAccount, tenant_for_webhook
from connector.twilio_messages import TwilioMessages
from connector.twilio_signature import valid_signature
from connector.vault import Vault, VaultError

log = logging.getLogger(__name__)
twilio_webhooks = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks/twilio")

INBOUND_MEMORY_SECONDS = 90 * 86400  # how long a keyword's message sid is remembered
MAX_BODY_BYTES = 16 * 1024  # Twilio's callbacks are 1-3 KB; an inbound text is at most 1,600 characters
MAX_FIELDS = 64  # Twilio sends about 20-40 parameters (werkzeug's max_form_parts counts multipart only)
REFUSED = "refused: not signed by this URL's Twilio account\n"  # the one answer, whatever was wrong
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_MESSAGE_SID = re.compile(r"^(?:SM|MM)[0-9a-fA-F]{32}$")
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_STATUS = re.compile(r"^[a-z-]{1,20}$")
_ERROR_CODE = re.compile(r"^[0-9]{1,6}$")
_NO_TOKEN = secrets.token_hex(16)  # what a request is checked against when its URL is nobody's


@twilio_webhooks.post("/<token>/status")
def status(token: str):
    """A text's or call's status callback: recorded once, and only when further along than the stored one."""
    tenant = _verified(token)
    if isinstance(tenant, Response):
        return tenant
    form = request.form
    kind, sid, state = ("sms", form.get("MessageSid", ""), form.get("MessageStatus", "")) if "MessageSid" in form \
        else ("call", form.get("CallSid", ""), form.get("CallStatus", ""))
    if not (_MESSAGE_SID if kind == "sms" else _CALL_SID).match(sid) or not _STATUS.match(state):
        log.info("twilio status callback of %s without a readable sid and status: ignored", tenant)
        return Response(status=204)
    error_code = form.get("ErrorCode") or None
    if error_code is not None and not _ERROR_CODE.match(error_code):
        error_code = None
    TwilioMessages(_settings().database_url).record(tenant, sid, kind, state, error_code=error_code)
    return Response(status=204)


@twilio_webhooks.post("/<token>/sms")
def inbound_sms(token: str):
    """A text to the tenant's number: a keyword changes the sender's consent; the answer is always empty TwiML."""
    tenant = _verified(token)
    if isinstance(tenant, Response):
        return tenant
    keyword = sms_keyword(request.form.get("Body"), request.form.get("OptOutType"))
    if keyword == "start" and not _first_delivery(tenant, request.form.get("MessageSid", "")):
        log.info("twilio inbound START for %s: a repeated (or unnumbered) message, ignored", tenant)
        return _twiml()  # a STOP acts every time: revoking again is harmless, and one must never be lost
    if keyword in ("stop", "start"):
        try:
            phone = to_e164(request.form.get("From"), field="From")
        except ValueError:
            log.warning("twilio inbound %s keyword for %s from a sender that is no phone number: ignored",
                        keyword, tenant)
            return _twiml()
        consent = SmsConsent(_settings().database_url)
        changed = consent.revoke(tenant, phone, "sms_stop") if keyword == "stop" else consent.resubscribe(tenant, phone)
        log.info("twilio inbound %s for %s: consent %s", keyword.upper(), tenant, "changed" if changed else "unchanged")
    return _twiml()


def _first_delivery(tenant: str, sid: str) -> bool:
    """A START acts once per message: a replayed signed START (Twilio's signature carries no time) never undoes a
    later STOP. A message without a readable sid is not trusted to be new."""
    if not _MESSAGE_SID.match(sid):
        return False
    conn = current_app.extensions.get("salesos_redis")
    if conn is None:
        return True  # no Redis to remember it in
    try:
        return bool(conn.set(f"salesos:twilio:inbound:{tenant}:{sid}", 1, nx=True, ex=INBOUND_MEMORY_SECONDS))
    except redis.RedisError:
        return True


def _verified(token: str) -> str | Response:
    """The tenant whose signed request this is, or the one refusal (403) for any other."""
    request.max_content_length = MAX_BODY_BYTES
    settings = _settings()
    tenant = tenant_for_webhook(open_store(settings.database_url), token)
    try:
        stored = Vault(settings.database_url, vault_keys(settings)).get_evenly(tenant or "", ACCOUNT)
    except VaultError as exc:
        log.error("twilio callback not accepted (503): %s", exc)
        return Response("SalesOS cannot open its vault\n", status=503, mimetype="text/plain")
    auth_token = TwilioAccount.model_validate_json(stored).auth_token.get_secret_value() if stored else _NO_TOKEN
    try:
        params = list(request.form.items(multi=True))  # read within MAX_BODY_BYTES
    except RequestEntityTooLarge:
        return Response(f"larger than {MAX_BODY_BYTES} bytes\n", status=413, mimetype="text/plain")
    if len(params) > MAX_FIELDS:
        return Response(f"more than {MAX_FIELDS} fields\n", status=413, mimetype="text/plain")
    url = settings.salesos_public_url.rstrip("/") + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    if not valid_signature(url, params, request.headers.get("X-Twilio-Signature"), auth_token) or not stored:
        log.warning("twilio callback refused (403): %s", "the URL's token is nobody's" if tenant is None
                    else f"not signed with {tenant}'s Auth Token over {settings.salesos_public_url}")
        return Response(REFUSED, status=403, mimetype="text/plain")
    return tenant


def _twiml() -> Response:
    return Response(EMPTY_TWIML, status=200, content_type="text/xml; charset=utf-8")


def _settings() -> Settings:
    return current_app.config["SALESOS_SETTINGS"]
