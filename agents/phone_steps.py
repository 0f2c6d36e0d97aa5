"""What a phone step does, what an SMS says, and what an inbound text means: pure decisions, no I/O.

A phone step is a call by default. With a Twilio account and the owning rep's
phone on file, SalesOS rings the rep and connects the prospect
(click-to-call); otherwise the rep gets a call task in the CRM, with the
number and the talking points. An SMS step texts only a contact whose
consent is on record; without it the step is skipped (never turned into a
text to someone who did not agree), and the reason says so.

SMS bodies stay within one GSM-7 segment (160 characters) where they can:
a text in GSM-7 costs one segment, while a single character outside it (an
emoji, a curly quote) makes the whole text UCS-2, 70 characters a segment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from agents.models import Contact, SequenceStep

PhonePlan = Literal["click_to_call", "call_task", "sms", "skip_sms_no_consent"]
SmsKeyword = Literal["stop", "start", "help"]

# Twilio's default keywords for long codes (twilio.com/docs/messaging/tutorials/advanced-opt-out), matched on the
# whole trimmed body, case-insensitively, as Twilio matches them.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
_TRIM = " \t\r\n.!?,;:'\"()"
OPT_OUT_NOTICE = "Reply STOP to opt out"
SMS_SEGMENT = 160
UCS2_SEGMENT = 70
# GSM 03.38 basic set, and the extension characters that take two septets
_GSM = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
                 "¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
# what a text often holds that GSM-7 lacks, and its GSM stand-in
_TO_GSM = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                         "\u2026": "...", "\u00a0": " "})


class PhoneDecision(BaseModel):
    plan: PhonePlan
    reason: str


def phone_step_plan(step: SequenceStep, contact: Contact, *, twilio_configured: bool, rep_phone: str | None,
                    sms_consent: bool) -> PhoneDecision:
    """What to do for a phone or SMS step of `contact` (an SMS step is a phone-channel step whose action is
    `send_sms`)."""
    if step.action == "send_sms":
        if not sms_consent:
            return PhoneDecision(plan="skip_sms_no_consent",
                                 reason="no SMS consent on record for this contact: texts go only to contacts who "
                                        "agreed (form, rep or import), and none who replied STOP")
        if not contact.phone:
            return PhoneDecision(plan="skip_sms_no_consent", reason="the contact has no phone number to text")
        if not twilio_configured:
            return PhoneDecision(plan="skip_sms_no_consent",
                                 reason="no Twilio account is configured (`python -m connector twilio set`)")
        return PhoneDecision(plan="sms", reason="consent on record and a Twilio account configured")
    if not contact.phone:
        return PhoneDecision(plan="call_task", reason="the contact has no phone number: the task asks the rep to "
                                                      "find one")
    if not twilio_configured:
        return PhoneDecision(plan="call_task", reason="no Twilio account is configured: the rep calls from the task")
    if not rep_phone:
        return PhoneDecision(plan="call_task", reason="the rep's phone is not on file (`python -m connector twilio "
                                                      "rep-phone`): the rep calls from the task")
    return PhoneDecision(plan="click_to_call", reason="Twilio rings the rep, then connects the contact")


def is_gsm7(text: str) -> bool:
    return all(char in _GSM or char in _GSM_EXTENDED for char in text)


def sms_length(text: str) -> int:
    """Characters as a segment counts them: GSM-7 extension characters take two."""
    return sum(2 if char in _GSM_EXTENDED else 1 for char in text)


def sms_body(message: str, *, sender: str) -> str:
    """The text of an SMS: `sender` names who is texting, then `message`, then how to opt out.

    Quotes, dashes and ellipses are swapped for their GSM-7 twins so the text stays one encoding; when the whole
    does not fit one segment, the message is cut at a word and marked "..." so sender and opt-out notice always
    fit. Text that must stay outside GSM-7 (a name in another script) is kept whole in UCS-2 segments, cut the same
    way to one 70-character segment where it can be; the opt-out notice is never cut."""
    message = " ".join(message.translate(_TO_GSM).split())
    sender = " ".join(sender.translate(_TO_GSM).split())
    head, tail = f"{sender}: " if sender else "", f" {OPT_OUT_NOTICE}"
    whole = head + message + tail
    limit = SMS_SEGMENT if is_gsm7(whole) else UCS2_SEGMENT
    if sms_length(whole) <= limit:
        return whole
    room = limit - sms_length(head) - sms_length(tail) - 3
    if room < 20:  # the notice and sender leave no room to say anything: spend a second segment instead
        return whole
    cut = message[:room]
    while sms_length(cut) > room:
        cut = cut[:-1]
    if " " in cut:
        cut = cut[:cut.rindex(" ")]
    return head + cut.rstrip(" ,;:.-") + "..." + tail


def sms_keyword(body: str | None, opt_out_type: str | None = None) -> SmsKeyword | None:
    """Which of Twilio's keywords an inbound text is: the whole body, trimmed of spaces and punctuation ("Stop!"
    counts: honouring an opt-out Twilio might not have matched harms nobody), any case. Twilio's own verdict
    (`OptOutType`, sent when Advanced Opt-Out is on, including custom keywords) wins when present."""
    if opt_out_type and opt_out_type.strip().upper() in ("STOP", "START", "HELP"):
        return opt_out_type.strip().lower()  # type: ignore[return-value]
    word = (body or "").strip().strip(_TRIM).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
