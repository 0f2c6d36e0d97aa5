"""How SalesOS records map onto HubSpot objects: data, plus the few value conversions HubSpot needs.

HubSpot property values travel as strings: numbers in decimal, booleans as
"true"/"false", datetimes as ISO 8601 in UTC, JSON as text, and "" clears a
property.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from crm_adapters.fields import ENGAGEMENT_KEY, CustomField, fields_for, identity_fields
from crm_adapters.values import encode, normal_domain, normal_email

BATCH = 100  # HubSpot's batch limit for object and association endpoints
SEARCH_PAGE = 200  # the search API's largest page

# Association type ids (HUBSPOT_DEFINED, unlabelled), from HubSpot's associations v4 docs.
TASK_TO_CONTACT = 204
EMAIL_TO_CONTACT = 198
NOTE_TO_CONTACT = 202
MEETING_TO_CONTACT = 200
MEETING_SCHEDULED = "SCHEDULED"  # hs_meeting_outcome of a meeting booked and not yet held

# "Unsubscribed from all email": read-only, set by HubSpot when the person or a rep opts the contact out (the
# communication preferences API does it for SalesOS: `UNSUBSCRIBE_ALL`, one call per contact, with the
# communication_preferences.write scope; its batch form needs Marketing Hub Enterprise).
EMAIL_OPT_OUT = "hs_email_optout"
OWNER = "hubspot_owner_id"  # the contact's owner: SalesOS sends from the mailbox an admin mapped to them
UNSUBSCRIBE_ALL = "/communication-preferences/v4/statuses/{subscriberIdString}/unsubscribe-all"

# Tasks, notes and emails carry the key SalesOS created them under, a property with unique values: a second
# create of one key is refused, and the first is found by it (batch read with it as `idProperty`).
CREATED_KEY_PROPERTY = ENGAGEMENT_KEY.hubspot_name

TASK_TYPES = {"call": "CALL", "email": "EMAIL", "linkedin": "TODO"}  # HubSpot has EMAIL, CALL, TODO
TASK_KINDS = {value: key for key, value in TASK_TYPES.items()}


@dataclass(frozen=True)
class ObjectMap:
    """One SalesOS record kind on one HubSpot object type."""

    kind: str  # "company" | "contact"
    object_type: str  # "companies" | "contacts"
    id_property: str  # the unique property batch upserts go by
    standard: dict[str, str]  # model attribute -> HubSpot property
    custom: dict[str, CustomField]  # canonical name -> field
    markers: tuple[str, ...]  # properties only SalesOS sets: a record with any of them is SalesOS's

    def normal_key(self, value: str) -> str:
        return normal_domain(value) if self.kind == "company" else normal_email(value)

    @property
    def properties(self) -> list[str]:
        """Every property SalesOS reads back."""
        names = {self.id_property, *self.standard.values(), *(f.hubspot_name for f in self.custom.values())}
        if self.kind == "contact":
            names |= {"firstname", "lastname", EMAIL_OPT_OUT, OWNER}
        return sorted(names)


def _identity(kind: str) -> dict[str, str]:
    return {field.name: field.hubspot_name for field in identity_fields(kind, "hubspot")}


COMPANIES = ObjectMap(
    kind="company", object_type="companies", id_property="salesos_domain",
    standard={"name": "name", "employee_count": "numberofemployees", "annual_revenue": "annualrevenue",
              "country": "country", **_identity("company")},
    custom={field.name: field for field in fields_for("company")},
    markers=("salesos_domain",),
)
CONTACTS = ObjectMap(
    kind="contact", object_type="contacts", id_property="email",
    standard={"title": "jobtitle", "phone": "phone", "country": "country", **_identity("contact")},
    custom={field.name: field for field in fields_for("contact")},
    markers=("salesos_company_domain", "salesos_priority_tier", "salesos_sequence_state"),
)


def to_hubspot(field: CustomField, value: Any) -> str:
    """A canonical value as the string HubSpot stores; raises ValueError naming the field and the rule."""
    if value is None:
        return ""
    stored = encode(field, value)  # checks the value against the field's type
    if field.type == "bool":
        return "true" if stored else "false"
    if field.type == "number":
        return repr(float(stored)) if isinstance(stored, float) else str(stored)
    if field.type == "datetime":
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return stored


def from_hubspot(field: CustomField, text: str | None) -> Any:
    """A HubSpot string as the canonical value; None when unset."""
    if text is None or text == "":
        return None
    if field.type == "json":
        return json.loads(text)
    if field.type == "bool":
        return text == "true"
    if field.type == "number":
        return float(text)
    if field.type == "datetime":
        return dt.datetime.fromisoformat(text)
    return text


def split_name(name: str) -> tuple[str, str]:
    """HubSpot keeps first and last name apart; the first word is the first name."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def join_name(first: str | None, last: str | None) -> str | None:
    joined = " ".join(part for part in (first, last) if part)
    return joined or None


def number(text: str | None, integer: bool = False) -> float | int | None:
    if text in (None, ""):
        return None
    value = float(text)
    return int(value) if integer else value
