"""The one interface every CRM adapter implements.

Writes are batches keyed by natural keys (company domain, contact email), so a
retried job updates instead of duplicating. Custom fields travel as a dict of
canonical names (see `fields.py`); JSON-valued ones as Python objects, which
each adapter stores as text.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator


class AccountWrite(BaseModel):
    domain: str
    name: str | None = None
    industry: str | None = None
    employee_count: int | None = None
    annual_revenue: float | None = None
    country: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class ContactWrite(BaseModel):
    email: str
    name: str | None = None
    title: str | None = None
    phone: str | None = None
    linkedin_url: str | None = None
    country: str | None = None
    timezone: str | None = None
    company_domain: str | None = None
    email_opt_out: Literal[True] | None = Field(default=None, description=(
        "True opts the person out of all email in the CRM (HubSpot's unsubscribe from all, Salesforce's "
        "HasOptedOutOfEmail); None leaves it alone. SalesOS never opts anyone back in."))
    consent_stop: bool = Field(default=False, description=(
        "A stop for consent (an unsubscribe, an opt-out): its `sequence_state: stopped` and `next_touch_at` are "
        "written over a rep's edit (`crm_adapters.guard`), so nobody who opted out shows as paused or in progress."))
    fields: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consent_only_stops(self) -> ContactWrite:
        if self.consent_stop and self.fields.get("sequence_state") != "unsubscribed":
            raise ValueError("consent_stop: a consent write stops the sequence (sequence_state 'stopped')")
        return self


class Association(BaseModel):
    contact_email: str
    company_domain: str


class TaskWrite(BaseModel):
    """A to-do for the rep; `key` makes creating it idempotent."""

    key: str
    contact_email: str
    kind: str = Field(description="linkedin, call, ...")
    subject: str
    body: str = ""
    due_at: dt.datetime


class ActivityWrite(BaseModel):
    """Something that happened (an email rendered to the local outbox); `key` makes logging it idempotent."""

    key: str
    contact_email: str
    kind: str
    subject: str
    body: str = ""
    occurred_at: dt.datetime


class MeetingWrite(BaseModel):
    """A booked meeting on the contact's record, with its owner; `key` (the meeting's stable key) makes logging
    it idempotent. `video_url` is the calendar's video link; `location` a place, when there is one."""

    key: str
    contact_email: str
    owner_id: str | None = Field(default=None, description="the CRM's id of the owner: a HubSpot owner id, a "
                                 "Salesforce User id; None leaves the CRM's default (the integration user)")
    subject: str
    start: dt.datetime
    end: dt.datetime
    location: str | None = None
    video_url: str | None = None
    body: str = ""


class Account(AccountWrite):
    id: str


class Contact(ContactWrite):
    id: str
    email_opt_out: bool = Field(default=False, description="opted out of email in the CRM, by the person or a rep")
    owner_id: str | None = Field(default=None, description="the CRM user who owns the contact (HubSpot owner id, "
                                 "Salesforce OwnerId); their mapped mailbox sends its email")


class Task(TaskWrite):
    id: str
    status: str = "open"


class Activity(ActivityWrite):
    id: str


class CRMMeeting(MeetingWrite):
    """A meeting as the CRM holds it."""

    id: str


class WriteResult(BaseModel):
    """Ids by natural key for what was written; errors by natural key for what was not."""

    ids: dict[str, str] = Field(default_factory=dict)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: dict[str, str] = Field(default_factory=dict)
    kept_edits: dict[str, list[str]] = Field(default_factory=dict, description="fields a person changed, left alone")


class CRMAdapter(ABC):
    """A CRM as SalesOS sees it."""

    name: str

    @abstractmethod
    def upsert_accounts(self, accounts: list[AccountWrite]) -> WriteResult: ...

    @abstractmethod
    def upsert_contacts(self, contacts: list[ContactWrite]) -> WriteResult: ...

    @abstractmethod
    def opt_out(self, emails: list[str]) -> dict[str, str]:
        """Record in the CRM's own consent that these addresses want no email, creating no record: HubSpot's
        unsubscribe from all (kept per address), Salesforce's HasOptedOutOfEmail on every Contact and unconverted
        Lead with the address. For an address whose contact is gone, which an upsert would create again.
        Returns, by email, why the CRM refused it; an address with nothing to opt out is not refused."""

    @abstractmethod
    def associate(self, links: list[Association]) -> WriteResult: ...

    @abstractmethod
    def create_tasks(self, tasks: list[TaskWrite]) -> WriteResult: ...

    @abstractmethod
    def log_activities(self, activities: list[ActivityWrite]) -> WriteResult: ...

    @abstractmethod
    def log_meetings(self, meetings: list[MeetingWrite]) -> WriteResult:
        """Log booked meetings on their contacts, once per key (a retry finds what the first attempt made).
        A meeting for an address with no contact is an error under its key; nothing is created for it."""

    @abstractmethod
    def get_accounts(self, domains: list[str] | None = None) -> list[Account]:
        """Accounts by domain; every account when `domains` is None."""

    @abstractmethod
    def get_contacts(
        self, emails: list[str] | None = None, company_domain: str | None = None
    ) -> list[Contact]:
        """Contacts by email or by company; every contact when both are None."""

    @abstractmethod
    def get_tasks(self, contact_email: str | None = None) -> list[Task]: ...

    @abstractmethod
    def get_activities(self, contact_email: str | None = None) -> list[Activity]: ...

    @abstractmethod
    def get_meetings(self, contact_email: str | None = None) -> list[CRMMeeting]:
        """Meetings SalesOS logged, for one contact or all."""

    def company_domain(self, crm_id: str) -> str | None:
        """The website domain of a company the CRM knows by id (one a rep created, which SalesOS never wrote).

        CRM events name records by id; None when this CRM cannot say.
        """
        return None

    def adopt_company(self, crm_id: str, domain: str) -> None:
        """Make a company a rep created the record SalesOS writes for `domain`, so prospecting it updates
        that record instead of creating a duplicate. Adapters that match companies by domain alone need nothing."""

    def close(self) -> None:
        """Release connections; adapters that hold none need not override."""
