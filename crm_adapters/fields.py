"""The canonical SalesOS custom fields, and their names in each CRM.

This list is the single source: the local CRM's columns, the HubSpot property
definitions and the Salesforce metadata are all generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ObjectKind = Literal["company", "contact", "engagement"]  # engagement: a task, note or email SalesOS creates
FieldType = Literal["number", "text", "json", "bool", "datetime", "enum"]


@dataclass(frozen=True)
class CustomField:
    name: str
    object: ObjectKind
    type: FieldType
    label: str
    description: str
    options: tuple[str, ...] = ()
    unique: bool = False
    crms: tuple[str, ...] = ("hubspot", "salesforce")

    @property
    def hubspot_name(self) -> str:
        """`salesos_<name>`; names that already start with `salesos_` are not prefixed twice."""
        return self.name if self.name.startswith("salesos_") else f"salesos_{self.name}"

    @property
    def salesforce_name(self) -> str:
        if self.name.startswith("salesos_"):
            words = self.name.removeprefix("salesos_").split("_")
        else:
            words = self.name.split("_")
        return "SalesOS_" + "_".join(word.capitalize() for word in words) + "__c"


TIERS = ("TIER_1", "TIER_2", "TIER_3", "TIER_4")
CHANNELS = ("email", "linkedin", "phone")
STAGES = ("sourced", "enriched", "contacts_found", "sequenced")
# active: steps run on time; paused: a rep or an out-of-office holds it; the rest end it. A rep pauses or stops a
# sequence by setting paused or finished (or any ending state) in the CRM, and resumes it by setting active.
SEQUENCE_STATES = ("active", "paused", "replied", "meeting_booked", "bounced", "unsubscribed", "finished")
ENDED_STATES = ("replied", "meeting_booked", "bounced", "unsubscribed", "finished")

FIELDS: tuple[CustomField, ...] = (
    CustomField("fit_score", "company", "number", "Fit score", "How well the company matches the market (0-1)."),
    CustomField("fit_breakdown", "company", "json", "Fit breakdown", "Points per fit factor, with what matched."),
    CustomField("intent_score", "company", "number", "Intent score", "Buying intent from dated signals (0-1)."),
    CustomField("intent_signals", "company", "json", "Intent signals", "Each intent point with its evidence."),
    CustomField("salesos_source", "company", "text", "SalesOS source", "Data sources the company was found in."),
    CustomField("salesos_market", "company", "text", "SalesOS market", "The market definition that found it."),
    CustomField("salesos_stage", "company", "enum", "SalesOS stage", "Furthest funnel stage reached.", STAGES),
    CustomField("prospect", "company", "bool", "Prospect with SalesOS",
                "Tick it and SalesOS researches this company and finds its buying team."),
    CustomField("priority_score", "contact", "number", "Priority score", "0.4 x fit + 0.6 x intent by default."),
    CustomField("priority_tier", "contact", "enum", "Priority tier", "TIER_1 (best) to TIER_4.", TIERS),
    CustomField("recommended_channel", "contact", "enum", "Recommended channel", "First channel to use.", CHANNELS),
    CustomField("sequencing", "contact", "json", "Sequence", "The planned touches with their times."),
    CustomField("buying_authority", "contact", "number", "Buying authority", "Authority to buy, from the title (0-1)."),
    CustomField("seniority", "contact", "number", "Seniority", "1 (individual contributor) to 10 (C-level)."),
    CustomField("role_relevance", "contact", "number", "Role relevance", "Match with the buying-team roles (0-1)."),
    CustomField("email_verified", "contact", "bool", "Email verified", "A mailbox verifier said the address is valid; risky and unknown addresses are false."),
    CustomField("next_touch_at", "contact", "datetime", "Next touch", "When the next sequence step is due."),
    CustomField("sequence_state", "contact", "enum", "Sequence state", "Where the contact is in its sequence.", SEQUENCE_STATES),
    CustomField("personalization_hooks", "contact", "json", "Personalisation hooks", "Up to 3 hooks with their evidence."),
    CustomField("objection_angles", "contact", "json", "Objection angles", "Likely objections and how to answer them."),
    CustomField("engagement_score", "contact", "number", "Engagement score",
                "0-100 from replies and meetings (most), clicks, opens (little: proxies open everything), decaying."),
)


# Fields that hold a record's identity or profile rather than a SalesOS
# decision. HubSpot can only upsert by a property with unique values, and its
# own `domain` is not one; Salesforce upserts by external-id fields, and its
# standard Email cannot be one. Profile fields with no fitting standard field
# (HubSpot's `industry` and `hs_timezone` are fixed enumerations) get a SalesOS
# field of their own.
COMPANY_KEY = CustomField("domain", "company", "text", "SalesOS domain",
                          "Registered domain; the key SalesOS upserts companies by.", unique=True)
CONTACT_KEY = CustomField("email", "contact", "text", "SalesOS email",
                          "Lower-cased email; the key SalesOS upserts contacts by.", unique=True,
                          crms=("salesforce",))
# What SalesOS creates rather than upserts (tasks, notes, emails) has no natural
# key in the CRM, so each carries the key SalesOS created it under
# (`created_key`): a create retried after a worker died before remembering the
# CRM's id finds the first record instead of making a second. HubSpot refuses a
# second record with the same value; Salesforce upserts Tasks by it, an External
# ID on Activity (Task and Event share their custom fields) and no more: an
# upsert needs nothing else (a key two records hold is refused, not duplicated
# again), and asking for uniqueness on an activity field risks the whole field.
ENGAGEMENT_KEY = CustomField("key", "engagement", "text", "SalesOS key",
                             "The key SalesOS created this record under; a retried create finds it instead of "
                             "creating it twice.", unique=True)
IDENTITY_FIELDS: tuple[CustomField, ...] = (
    COMPANY_KEY,
    CustomField("industry", "company", "text", "SalesOS industry", "Industry as the data providers name it.",
                crms=("hubspot",)),
    CONTACT_KEY,
    CustomField("company_domain", "contact", "text", "SalesOS company domain",
                "Domain of the contact's company, as SalesOS matched it."),
    CustomField("linkedin_url", "contact", "text", "SalesOS LinkedIn URL", "The contact's LinkedIn profile."),
    CustomField("timezone", "contact", "text", "SalesOS time zone", "IANA time zone used to time touches."),
    ENGAGEMENT_KEY,
)


def identity_fields(kind: ObjectKind, crm: str) -> tuple[CustomField, ...]:
    return tuple(field for field in IDENTITY_FIELDS if field.object == kind and crm in field.crms)


def fields_for(kind: ObjectKind) -> tuple[CustomField, ...]:
    return tuple(field for field in FIELDS if field.object == kind)


JSON_FIELDS = frozenset(field.name for field in FIELDS if field.type == "json")
