"""Who may get a first cold email: a per-country table (`consent_policy.yaml` beside this file), decided purely.

Email law differs by the recipient's country: the US lets anyone email a
business contact until they opt out; the UK lets you email corporate
subscribers but not sole traders; Germany and Austria want prior consent even
from businesses. The table is data, so an admin (with counsel) can replace it
(SALESOS_CONSENT_POLICY); `connector.consent_policy_file` loads it. A contact
whose country is unknown gets the table's `unknown` rule, which the admin
chooses.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Rule = Literal["opt_out", "corporate_only", "consent", "never"]
Subscriber = Literal["corporate", "individual"]
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class CountryRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Rule
    law: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)


class ConsentPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unknown: Rule = "consent"
    default: Rule = "consent"
    countries: dict[str, CountryRule] = Field(default_factory=dict, max_length=300)

    @field_validator("countries", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        for code in value:
            if not isinstance(code, str) or not _COUNTRY.match(code):
                raise ValueError(f"countries: {code!r} is not an upper-case ISO 3166-1 alpha-2 code (quote \"NO\")")
        return value


class Verdict(BaseModel):
    allowed: bool
    rule: str  # "<country>:<rule>", e.g. "DE:consent", or "unknown:consent"
    reason: str


def may_cold_email(country: str | None, *, has_consent: bool, subscriber: Subscriber | None,
                   policy: ConsentPolicy) -> Verdict:
    """Whether a first cold email may go to a contact in `country` (ISO alpha-2; None or "" when unknown)."""
    code = (country or "").strip().upper()
    if not code:
        row, where = CountryRule(rule=policy.unknown, note="the contact's country is not known"), "unknown"
    elif code in policy.countries:
        row, where = policy.countries[code], code
    else:
        row, where = CountryRule(rule=policy.default, note="no row for this country: the policy's default"), code
    law = f"{row.law}: " if row.law else ""
    label = f"{where}:{row.rule}"
    if row.rule == "never":
        return Verdict(allowed=False, rule=label, reason=f"{law}no cold email to {where} contacts. {row.note}".strip())
    if has_consent:
        return Verdict(allowed=True, rule=label, reason=f"{law}the contact's consent is recorded")
    if row.rule == "opt_out":
        return Verdict(allowed=True, rule=label, reason=f"{law}allowed with identification and opt-out. {row.note}"
                       .strip())
    if row.rule == "corporate_only":
        if subscriber == "corporate":
            return Verdict(allowed=True, rule=label, reason=f"{law}a corporate subscriber may be emailed. {row.note}"
                           .strip())
        who = "an individual subscriber" if subscriber == "individual" else "a subscriber of unknown type"
        return Verdict(allowed=False, rule=label, reason=f"{law}{who} needs prior consent. {row.note}".strip())
    return Verdict(allowed=False, rule=label, reason=f"{law}prior consent is required. {row.note}".strip())
