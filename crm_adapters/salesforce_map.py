"""How SalesOS records map onto Salesforce objects: data, plus the few value conversions Salesforce needs.

Field API names come from `fields.py` (`CustomField.salesforce_name`), the same
source the installed metadata is generated from. Salesforce's JSON keeps
types: numbers as numbers, checkboxes as booleans, datetimes as ISO 8601 in
UTC, JSON fields as text in a long text area, and null clears a field.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from crm_adapters.fields import COMPANY_KEY, CONTACT_KEY, ENGAGEMENT_KEY, CustomField, fields_for, identity_fields
from crm_adapters.values import encode, normal_domain, normal_email

BATCH = 200  # sObject Collections take at most 200 records a call
# Keys per SOQL `IN (...)`, and the bytes they may take in the query's URL: Salesforce refuses a request
# whose URI and headers pass 16,384 bytes (414/431), so a list of long emails is split sooner.
IN_CHUNK = 200
IN_CHUNK_URL_BYTES = 10_000

ACCOUNT_REFERENCE = "Account"  # Contact's relationship to Account, set by external id in an upsert

# Email opt-out, on the Contact SalesOS writes and on any Lead a rep keeps for the same address.
EMAIL_OPT_OUT = "HasOptedOutOfEmail"
OWNER = "OwnerId"  # the contact's owner: SalesOS sends from the mailbox an admin mapped to them
LEAD_OBJECT = "Lead"
LEAD_FIELDS = ("Id", "Email", EMAIL_OPT_OUT, "IsConverted")

# Tasks. Task's only writable date-time is ReminderDateTime: it keeps the exact
# due (or sent) instant beside the day in ActivityDate, and for a to-do also
# reminds the rep at that time.
TASK_OBJECT = "Task"
TASK_OPEN, TASK_DONE = "Not Started", "Completed"
TASK_SUBTYPES = {"call": "Call"}  # anything else is a plain "Task"
ACTIVITY_SUBTYPES = {"call": "Call", "email": "Email"}
SUBTYPE_KINDS = {"Call": "call", "Email": "email"}
TASK_FIELDS = ("Id", "Subject", "Description", "ActivityDate", "ReminderDateTime", "Status", "TaskSubtype", "WhoId")


@dataclass(frozen=True)
class ObjectMap:
    """One SalesOS record kind on one Salesforce object."""

    kind: str  # "company" | "contact" | "engagement"
    sobject: str  # "Account" | "Contact" | "Task"
    id_field: str  # the external-id field upserts go by
    standard: dict[str, str]  # model attribute -> Salesforce field
    custom: dict[str, CustomField]  # canonical name -> field

    def normal_key(self, value: str) -> str:
        return normal_domain(value) if self.kind == "company" else normal_email(value)

    @property
    def fields(self) -> list[str]:
        """Every field SalesOS reads back."""
        names = {"Id", self.id_field, *self.standard.values(), *(f.salesforce_name for f in self.custom.values())}
        if self.kind == "contact":
            names |= {"FirstName", "LastName", "Email", EMAIL_OPT_OUT, OWNER}
        return sorted(names)


def _identity(kind: str) -> dict[str, str]:
    return {field.name: field.salesforce_name for field in identity_fields(kind, "salesforce")}


ACCOUNTS = ObjectMap(
    kind="company", sobject="Account", id_field=COMPANY_KEY.salesforce_name,
    standard={"name": "Name", "industry": "Industry", "employee_count": "NumberOfEmployees",
              "annual_revenue": "AnnualRevenue", "country": "BillingCountry", **_identity("company")},
    custom={field.name: field for field in fields_for("company")},
)
CONTACTS = ObjectMap(
    kind="contact", sobject="Contact", id_field=CONTACT_KEY.salesforce_name,
    standard={"title": "Title", "phone": "Phone", "country": "MailingCountry", **_identity("contact")},
    custom={field.name: field for field in fields_for("contact")},
)
# Tasks SalesOS creates (to-dos and logged activities alike) upsert by the key they were created under, an External
# ID, so a create repeated after a lost answer or a killed worker updates the first one instead of adding another.
TASKS = ObjectMap(kind="engagement", sobject=TASK_OBJECT, id_field=ENGAGEMENT_KEY.salesforce_name, standard={},
                  custom={})
# Meetings are Events, keyed the same way: the SalesOS key is an Activity field, so Event has it as Task does.
# Location holds 255 characters and a Teams link can be longer, so the video link rides in the Description.
EVENT_OBJECT = "Event"
EVENT_FIELDS = ("Id", "Subject", "Description", "StartDateTime", "EndDateTime", "Location", "OwnerId", "WhoId")
EVENT_LOCATION_MAX = 255
EVENTS = ObjectMap(kind="engagement", sobject=EVENT_OBJECT, id_field=ENGAGEMENT_KEY.salesforce_name, standard={},
                   custom={})


def to_salesforce(field: CustomField, value: Any) -> Any:
    """A canonical value as Salesforce's JSON takes it; raises ValueError naming the field and the rule.

    A checkbox has no empty state in Salesforce: clearing one unchecks it."""
    if value is None:
        return False if field.type == "bool" else None
    stored = encode(field, value)  # checks the value against the field's type
    if field.type == "bool":
        return bool(stored)
    if field.type == "datetime":
        return datetime_text(value)
    return stored


def from_salesforce(field: CustomField, value: Any) -> Any:
    """A value Salesforce returned as the canonical value; None when unset.

    A checkbox is never unset: one SalesOS never wrote reads as False."""
    if value is None or value == "":
        return None
    if field.type == "json":
        return json.loads(value)
    if field.type == "number":
        return float(value)
    if field.type == "datetime":
        return parse_datetime(value)
    return value


def datetime_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime(text: str) -> dt.datetime:
    """Salesforce answers `2026-11-02T09:00:00.000+0000`; Python 3.11 reads that form directly."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def split_name(name: str) -> tuple[str | None, str]:
    """LastName is the one required name on a Contact, so a single word goes there."""
    first, _, last = name.strip().partition(" ")
    return (first, last.strip()) if last.strip() else (None, first)


def join_name(first: str | None, last: str | None) -> str | None:
    joined = " ".join(part for part in (first, last) if part)
    return joined or None


def stand_in_last_name(email: str) -> str:
    """A contact created without a name is named by its email's local part."""
    return normal_email(email).partition("@")[0]


def number(value: Any, integer: bool = False) -> float | int | None:
    if value in (None, ""):
        return None
    return int(value) if integer else float(value)
