"""An SMS step of a sequence: texted through the tenant's Twilio account only to a contact whose consent is on
record, marked like an email so a retried job never texts twice (`connector.sending.SendMarks`)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from agents.phone_steps import sms_body
from connector.channels.phone_numbers import InvalidPhoneNumber
from connector.channels.sms import NoSmsConsent, send_consented_sms
from connector.channels.base import (
    MailboxAuthError, MessageRejected, RecipientRejected, SendReceipt, TransientSendError,
)
from connector.channels.twilio import SmsReceipt, TwilioError, TwilioUnavailable
from connector.sending import SendMarks
from connector.sms_consent import SmsConsent
from connector.store import open_store
from connector.tenants import vault_keys
from connector.twilio_account import get_account, twilio_for, webhook_token, webhook_urls
from connector.twilio_messages import TwilioMessages
from connector.vault import Vault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsOutcome:
    receipt: SmsReceipt | None = None  # texted
    skipped: str | None = None  # why not (no consent, no account, no phone, a STOP): the step is done all the same
    wait: tuple[str, float | None] | None = None  # Twilio said "later": why, and after how many seconds


def text_step(settings, tenant: str, key: str, phone: str | None, country: str | None, message: str,
              sender: str, marks: SendMarks) -> SmsOutcome:
    """Text `message` for step `key`; Twilio's transient errors propagate (the job retries the step)."""
    keys = vault_keys(settings)
    vault = Vault(settings.database_url, keys) if keys else None
    client, account = (twilio_for(tenant, vault), get_account(vault, tenant)) if vault else (None, None)
    if client is None or account is None:
        return SmsOutcome(skipped="no Twilio account for this tenant")
    if not phone:
        return SmsOutcome(skipped="the contact has no phone number")
    begun = marks.begin(key)
    if begun is not True:  # an earlier attempt got this far: its text, if Twilio took it, is the step's
        return SmsOutcome(receipt=SmsReceipt(sid=begun.provider_id or begun.message_id, status="sent")) if begun \
            else SmsOutcome(skipped="a worker that stopped was texting this step: it is not texted again")
    store = open_store(settings.database_url)
    token = webhook_token(vault, tenant)
    try:
        receipt = send_consented_sms(client, SmsConsent(store), TwilioMessages(store), tenant, phone,
                                     sms_body(message, sender=sender), region=country,
                                     status_callback=webhook_urls(settings.salesos_public_url, token)["status"]
                                     if token else None, **account.sender())
    except (NoSmsConsent, RecipientRejected, InvalidPhoneNumber, MessageRejected, MailboxAuthError) as exc:
        marks.clear([key])  # refused for good (a STOP, a number it cannot text, the account's credential)
        return SmsOutcome(skipped=str(exc))
    except TwilioUnavailable as exc:
        if exc.maybe_sent:  # Twilio may have texted before the answer was lost: a missed touch beats a double
            return SmsOutcome(skipped=f"Twilio did not answer in time and may have texted: not texted again ({exc})")
        marks.clear([key])
        return SmsOutcome(wait=(str(exc), exc.retry_after))
    except TransientSendError as exc:  # rate limited
        marks.clear([key])
        return SmsOutcome(wait=(str(exc), exc.retry_after))
    except TwilioError as exc:  # refused for good, for a reason of its own: skipped, said in the log
        marks.clear([key])
        return SmsOutcome(skipped=str(exc))
    marks.sent(key, SendReceipt(message_id=receipt.sid, provider_id=receipt.sid, accepted_at=dt.datetime.now(dt.UTC)))
    return SmsOutcome(receipt=receipt)
