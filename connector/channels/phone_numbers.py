"""Phone numbers in E.164 (+14155552671), the only form Twilio, the consent table and the webhooks compare.

A CRM holds numbers as reps typed them ("(415) 555-2671", "0171 1234567"): a
number without a country prefix is read in the contact's country, and one
that cannot be a phone number is refused with the field it came from, never
sent to Twilio to fail there.
"""

from __future__ import annotations

import phonenumbers

from agents.validation import quote

MAX_INPUT = 64  # characters: a phone number with extension and punctuation fits many times over


class InvalidPhoneNumber(ValueError):
    """A value that is no dialable phone number; the message names the field and the rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.rule = field, message


def to_e164(number: str | None, *, field: str, region: str | None = None) -> str:
    """`number` in E.164; `region` (ISO 3166 alpha-2, e.g. the contact's country) reads a number without +prefix."""
    if not number or not number.strip():
        raise InvalidPhoneNumber(field, "no phone number given")
    if len(number) > MAX_INPUT:
        raise InvalidPhoneNumber(field, f"a phone number has at most {MAX_INPUT} characters (got {len(number)})")
    default = region.upper() if region else None
    try:
        parsed = phonenumbers.parse(number, default)
    except phonenumbers.NumberParseException:
        hint = "" if default or number.strip().startswith("+") else " (no country known: write it with +country code)"
        raise InvalidPhoneNumber(field, f"{quote(number)} is not a phone number{hint}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(field, f"{quote(number)} is not a valid phone number"
                                        f"{' in ' + default if default and not number.strip().startswith('+') else ''}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
