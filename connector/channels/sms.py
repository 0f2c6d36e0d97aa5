"""One SMS, sent only with consent on record: the send path the outreach job calls.

Consent is checked immediately before Twilio is called, not in a transaction
held across the call. Holding one would hold SQLite's database-wide write
lock (or the consent row's lock, which an inbound STOP waits on) for as long
as Twilio takes to answer, up to the client's timeout: every webhook and
worker would queue behind a slow API. The revoke still wins the race:

- a revoke committed before the check stops the send (the check reads it);
- a STOP texted while the send is in flight reached Twilio first, and Twilio
  records an opt-out before it forwards the STOP to SalesOS, so Twilio refuses
  the text itself (error 21610, `RecipientOptedOut`); that refusal revokes
  consent here too, in case the STOP webhook was lost;
- a rep's revoke committed during the few milliseconds of the HTTP call is
  ordered after a send that had already begun, as if it came a moment later.

The text's sid and first status are recorded once Twilio accepted it, so
status callbacks find it (`connector.twilio_messages`).
"""

from __future__ import annotations

from connector.channels.base import SendError
from connector.channels.phone_numbers import to_e164
from connector.channels.twilio import RecipientOptedOut, SmsReceipt, TwilioClient
from connector.sms_consent import SmsConsent
from connector.twilio_messages import TwilioMessages


class NoSmsConsent(SendError):
    """No consent to text this number is on record (never given, or revoked): nothing was sent."""


def send_consented_sms(client: TwilioClient, consent: SmsConsent, messages: TwilioMessages, tenant: str, to: str,
                       body: str, *, from_: str | None = None, messaging_service_sid: str | None = None,
                       status_callback: str | None = None, region: str | None = None) -> SmsReceipt:
    """Text `body` to `to` if the contact's consent is on record; raises NoSmsConsent (nothing sent) otherwise,
    and the client's errors (`connector.channels.twilio`) when Twilio refuses."""
    phone = to_e164(to, field="to", region=region)
    if not consent.has_consent(tenant, phone):
        raise NoSmsConsent("no SMS consent on record for this number: texted only after the contact agreed",
                           code="no_consent")
    try:
        receipt = client.send_sms(phone, body, from_=from_, messaging_service_sid=messaging_service_sid,
                                  status_callback=status_callback)
    except RecipientOptedOut:
        consent.revoke(tenant, phone, "twilio_opt_out")
        raise
    messages.record(tenant, receipt.sid, "sms", receipt.status, phone=phone)
    return receipt
