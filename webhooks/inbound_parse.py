"""SendGrid Inbound Parse: replies that arrive at a tenant's parse domain, posted as multipart/form-data.

POST /webhooks/sendgrid/inbound/<token>. SendGrid does not sign these
posts, so the URL's per-tenant token (`connector.tenant_credentials`,
`tenants inbound-parse-url` prints it) is the only credential: it is looked
up by digest before a byte of the body is read, and an unknown token and a
wrong one get the same 404.

With "Send Raw" on, the `email` field holds the whole MIME message; the
route checks it is there, wraps it as an `InboundMessage` (mailbox: the
envelope's first recipient) and enqueues a job on the "engagement" queue with
it, nothing more: classifying is the job's work. The job id is a digest of
the tenant and the message, so SendGrid's retry of a post that was queued
(it retries any non-2xx for up to three days) queues nothing new.

Bounds: the body is cut at SALESOS_INBOUND_MAX_BYTES (and 1 MiB for the other fields). A message larger than that is
acknowledged (200) and skipped with a log line, as the mailbox readers skip
one: refusing it would only make SendGrid send it again for three days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from email.utils import getaddresses

import redis
from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError
from pydantic_core import from_json
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser

from connector.inbound.base import InboundMessage
from connector.inbound.queue import INBOUND_JOB, enqueue_inbound
from connector.settings import Settings
from connector.tenant_credentials import INBOUND_PARSE
from connector.tenants import open_tenant_records

log = logging.getLogger(__name__)
inbound_parse = Blueprint("inbound_parse", __name__, url_prefix="/webhooks/sendgrid")

FIELDS_ALLOWANCE = 1024 * 1024  # SendGrid's other fields beside the message (headers, envelope, spam report)
FIELD_MAX_BYTES = 64 * 1024  # envelope, to: a few addresses
NOT_FOUND = {"error": "not found"}  # every unknown or wrong token, byte for byte


@inbound_parse.post("/inbound/<token>")
def receive(token: str):
    tenant = open_tenant_records(current_app.config["SALESOS_SETTINGS"]).by_url_token(INBOUND_PARSE, token)
    if tenant is None:
        log.warning("SendGrid inbound parse refused (404): the URL's token is no tenant's")
        return jsonify(NOT_FOUND), 404
    bound = body_bound(current_app.config["SALESOS_SETTINGS"])
    declared = request.content_length
    if declared is not None and declared > bound:
        return _skipped(tenant.id, f"{declared} bytes", bound)
    if request.mimetype != "multipart/form-data":
        return jsonify(error="expected multipart/form-data (SendGrid Inbound Parse)",
                       problems=["Content-Type: must be multipart/form-data"]), 400
    request.max_content_length = bound
    request.max_form_memory_size = bound
    request.form_data_parser_class = _BytesFormParser
    try:
        raw = _email_field(bound)
        envelope = _field("envelope")
        to = _field("to")
    except RequestEntityTooLarge:  # a chunked body that grew past the bound
        return _skipped(tenant.id, f"more than {bound} bytes", bound)
    if not raw:
        return jsonify(error="no raw message: turn on \"Send Raw\" in the SendGrid Inbound Parse settings",
                       problems=["email: required (the full MIME message SendGrid posts with Send Raw on)"]), 400
    mailbox = _recipient(envelope, to)
    if mailbox is None:
        return jsonify(error="no recipient", problems=["envelope: must name the recipient (to)"]), 400
    digest = hashlib.sha256(raw).hexdigest()
    try:
        message = InboundMessage(tenant=tenant.id, mailbox=mailbox, source="sendgrid_parse", provider_id=digest,
                                 raw=raw, received_at=dt.datetime.now(dt.UTC))
    except ValidationError as exc:
        return jsonify(error="malformed inbound message", problems=[str(e["loc"][0]) + ": " + e["msg"]
                                                                    for e in exc.errors()]), 400
    try:
        queued = enqueue_inbound(current_app.extensions.get("salesos_redis"), message,
                                 current_app.config.get("SALESOS_INBOUND_JOB", INBOUND_JOB))
    except redis.RedisError as exc:
        log.warning("SendGrid inbound parse for %s not queued (503, SendGrid retries): %s", tenant.id,
                    type(exc).__name__)
        return jsonify(error="cannot queue the message now; SendGrid will retry"), 503
    return jsonify(queued=int(queued), duplicates=1 - int(queued))


def body_bound(settings: Settings) -> int:
    """The largest post read: SALESOS_INBOUND_MAX_BYTES of message, and room for the other fields."""
    return settings.salesos_inbound_max_bytes + FIELDS_ALLOWANCE


def _email_field(bound: int) -> bytes:
    """The raw message: a form field (what SendGrid sends), or a file part, read no further than the bound."""
    upload = request.files.get("email")
    if upload is not None:
        return upload.stream.read(bound)
    return request.form.get("email", "").encode("latin-1")  # the bytes as posted (`_BytesFormParser`)


def _field(name: str) -> str:
    return request.form.get(name, "").encode("latin-1").decode("utf-8", "replace")


class _KeepBytes(MultiPartParser):
    """Reads every field as ISO-8859-1, which maps each byte to one character: the raw message keeps its exact
    bytes (werkzeug would decode it as UTF-8 and replace what is not, breaking an 8-bit body in another charset)."""

    def get_part_charset(self, headers) -> str:
        return "iso-8859-1"


class _BytesFormParser(FormDataParser):
    def _parse_multipart(self, stream, mimetype, content_length, options):
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        parser = _KeepBytes(stream_factory=self.stream_factory, max_form_memory_size=self.max_form_memory_size,
                            max_form_parts=self.max_form_parts, cls=self.cls)
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


def _recipient(envelope: str, to: str) -> str | None:
    """The envelope's first recipient (SendGrid's JSON {"to": [...], "from": ...}), else the To header's first."""
    if envelope and len(envelope) <= FIELD_MAX_BYTES:
        try:
            parsed = from_json(envelope)
        except ValueError:
            parsed = None
        recipients = parsed.get("to") if isinstance(parsed, dict) else None
        if isinstance(recipients, list) and recipients and isinstance(recipients[0], str) and "@" in recipients[0]:
            return recipients[0].strip().lower()[:320]
    if to and len(to) <= FIELD_MAX_BYTES:
        addresses = [address for _, address in getaddresses([to]) if "@" in address]
        if addresses:
            return addresses[0].lower()[:320]
    return None


def _skipped(tenant: str, size: str, bound: int):
    log.warning("SendGrid inbound parse for %s: a post of %s skipped (the bound is %d bytes); acknowledged so "
                "SendGrid does not send it again", tenant, size, bound)
    return jsonify(queued=0, skipped="too large"), 200
