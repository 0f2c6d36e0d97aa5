"""Rep edits win: a CRM adapter wrapper that writes only what SalesOS changed, never over a person's edit.

Every value SalesOS writes is stamped (a hash, per record and field) in the
`RecordIndex`. On the next write of a record:
- a field whose new value matches its stamp is not sent (no change since
  SalesOS last wrote it; a record with nothing left to send costs no call);
- a field SalesOS wrote before and now wants to change is compared with the
  CRM's current value first: if that no longer matches the stamp, a person
  changed it after SalesOS did, and their value stays;
- a field SalesOS never wrote is written.
A consent stop (`ContactWrite.consent_stop`: an unsubscribe or an opt-out) is
the one write that wins over a person: its `sequence_state` and
`next_touch_at` are compared with the CRM's current values and written
whenever they differ, so a contact who opted out never shows as paused or in
progress because a rep had touched the sequence before. Its other fields are
guarded as usual. It never creates a record: one the CRM does not have (a rep
may have deleted it on the person's request) is not written, and is reported
as an error saying so.
The stamps also let the webhook layer recognise the echo of SalesOS's own
writes (`RecordIndex.is_echo`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pydantic import BaseModel

from crm_adapters.base import (
    Account, AccountWrite, Activity, ActivityWrite, Association, Contact, ContactWrite, CRMAdapter, CRMMeeting,
    MeetingWrite, Task, TaskWrite, WriteResult,
)
from crm_adapters.errors import CRMError
from crm_adapters.fields import fields_for
from crm_adapters.record_index import RecordIndex, value_hash
from crm_adapters.values import normal_domain, normal_email

ACCOUNT_ATTRS = ("name", "industry", "employee_count", "annual_revenue", "country")
CONTACT_ATTRS = ("name", "title", "phone", "linkedin_url", "country", "timezone", "company_domain", "email_opt_out")
assert not {f.name for f in fields_for("company")} & set(ACCOUNT_ATTRS)
assert not {f.name for f in fields_for("contact")} & set(CONTACT_ATTRS)
CONSENT_FIELDS = frozenset({"sequence_state", "next_touch_at"})  # what a consent stop writes over a person's edit
NOT_IN_CRM = "not in the CRM (deleted there?): a consent stop creates no record"


def written_values(record: BaseModel, attrs: tuple[str, ...]) -> dict[str, Any]:
    """What a write sets: standard attributes that are not None, and every custom field it names."""
    values = {attr: getattr(record, attr) for attr in attrs if getattr(record, attr) is not None}
    if "company_domain" in values:
        values["company_domain"] = normal_domain(values["company_domain"])
    return {**values, **record.fields}


def stored_values(record: BaseModel, attrs: tuple[str, ...]) -> dict[str, Any]:
    """What the CRM holds, in the same shape (a missing field is None)."""
    values = {attr: getattr(record, attr) for attr in attrs}
    return {**values, **record.fields}


class RepEditGuard(CRMAdapter):
    def __init__(self, inner: CRMAdapter, index: RecordIndex) -> None:
        self.inner, self.index = inner, index
        self.name = inner.name

    # --- guarded writes -----------------------------------------------------

    def upsert_accounts(self, accounts: list[AccountWrite]) -> WriteResult:
        return self._upsert("company", accounts, ACCOUNT_ATTRS, lambda a: normal_domain(a.domain),
                            self.inner.upsert_accounts, lambda keys: {a.domain: a for a in self.inner.get_accounts(keys)})

    def upsert_contacts(self, contacts: list[ContactWrite]) -> WriteResult:
        return self._upsert("contact", contacts, CONTACT_ATTRS, lambda c: normal_email(c.email),
                            self.inner.upsert_contacts, lambda keys: {c.email: c for c in self.inner.get_contacts(keys)})

    def _upsert(self, kind: str, records: list, attrs: tuple[str, ...], key_of: Callable[[Any], str],
                write: Callable[[list], WriteResult], read: Callable[[list[str]], dict[str, BaseModel]]) -> WriteResult:
        wanted: dict[str, tuple[Any, dict[str, Any]]] = {}
        passthrough = []  # malformed keys: the adapter reports them
        consent: dict[str, dict[str, Any]] = {}  # the stop of each key a consent stop names: it wins in the batch
        for record in records:
            key = key_of(record)
            if not key:
                passthrough.append(record)
                continue
            earlier = wanted.get(key, (None, {}))[1]
            wanted[key] = (record, {**earlier, **written_values(record, attrs), **consent.get(key, {})})
            if getattr(record, "consent_stop", False):
                consent[key] = {name: value for name, value in record.fields.items() if name in CONSENT_FIELDS}
                wanted[key][1].update(consent[key])
        known = self.index.ids(kind, wanted)
        stamps = self.index.stamps(kind, wanted)
        changes = {key: _changed(values, stamps.get(key, {})) if key in known else values
                   for key, (_, values) in wanted.items()}
        for key in consent.keys() & known.keys():  # checked against the CRM even when SalesOS last wrote the same
            changes[key].update({name: value for name, value in wanted[key][1].items() if name in CONSENT_FIELDS})
        kept, gone = self._keep_rep_edits(kind, wanted, changes, stamps, read, consent)
        for key in gone:
            del changes[key]
        unchanged = {key for key in known if key in changes and not changes[key]}
        outgoing = [_reduced(wanted[key][0], values, attrs) for key, values in changes.items() if key not in unchanged]
        try:
            result = write(outgoing + passthrough) if outgoing or passthrough else WriteResult()
        except CRMError as exc:  # stopped halfway: what did land is SalesOS's write, stamp it
            if exc.partial is not None:
                self.index.stamp(kind, {key: changes[key] for key in exc.partial.ids if key in changes})
            raise
        self.index.stamp(kind, {key: changes[key] for key in result.ids if key in changes})
        result.unchanged += len(unchanged)
        result.ids.update({key: known[key] for key in unchanged})
        result.kept_edits.update(kept)
        result.errors.update({key: NOT_IN_CRM for key in gone})
        return result

    def _keep_rep_edits(self, kind: str, wanted: dict[str, tuple[Any, dict[str, Any]]],
                        changes: dict[str, dict[str, Any]], stamps: dict[str, dict[str, str]],
                        read: Callable[[list[str]], dict[str, BaseModel]],
                        consent: Collection[str]) -> tuple[dict[str, list[str]], set[str]]:
        """Drop from `changes` every field a person edited after SalesOS wrote it; one batched read, which also
        looks for every record a consent stop names. Returns the fields kept by record, and the consent stops'
        records the CRM does not have.

        A consent stop's own fields are dropped only when the CRM already holds them. A record gone from the
        CRM is written whole again, as on its first write, unless its write is a consent stop: that one is
        returned as gone and never written, since writing it would create the record."""
        suspects = {key: [name for name in values if name in stamps.get(key, {})] for key, values in changes.items()}
        suspects = {key: names for key, names in suspects.items() if names or key in consent}
        if not suspects:
            return {}, set()
        attrs = ACCOUNT_ATTRS if kind == "company" else CONTACT_ATTRS
        current = {key: stored_values(record, attrs) for key, record in read(list(suspects)).items()}
        kept: dict[str, list[str]] = {}
        gone = set()
        for key, names in suspects.items():
            if key not in current:
                if key in consent:
                    gone.add(key)
                else:
                    changes[key] = dict(wanted[key][1])
                continue
            for name in names:
                now = value_hash(current[key].get(name))
                if key in consent and name in CONSENT_FIELDS:
                    if now == value_hash(changes[key][name]):
                        del changes[key][name]
                elif now != stamps[key][name]:
                    del changes[key][name]
                    kept.setdefault(key, []).append(name)
        return kept, gone

    # --- everything else passes through ---------------------------------------

    def associate(self, links: list[Association]) -> WriteResult:
        return self.inner.associate(links)

    def opt_out(self, emails: list[str]) -> dict[str, str]:
        return self.inner.opt_out(emails)

    def create_tasks(self, tasks: list[TaskWrite]) -> WriteResult:
        return self.inner.create_tasks(tasks)

    def log_activities(self, activities: list[ActivityWrite]) -> WriteResult:
        return self.inner.log_activities(activities)

    def log_meetings(self, meetings: list[MeetingWrite]) -> WriteResult:
        return self.inner.log_meetings(meetings)

    def get_meetings(self, contact_email: str | None = None) -> list[CRMMeeting]:
        return self.inner.get_meetings(contact_email)

    def get_accounts(self, domains: list[str] | None = None) -> list[Account]:
        return self.inner.get_accounts(domains)

    def get_contacts(self, emails: list[str] | None = None, company_domain: str | None = None) -> list[Contact]:
        return self.inner.get_contacts(emails, company_domain)

    def get_tasks(self, contact_email: str | None = None) -> list[Task]:
        return self.inner.get_tasks(contact_email)

    def get_activities(self, contact_email: str | None = None) -> list[Activity]:
        return self.inner.get_activities(contact_email)

    def company_domain(self, crm_id: str) -> str | None:
        return self.inner.company_domain(crm_id)

    def adopt_company(self, crm_id: str, domain: str) -> None:
        self.inner.adopt_company(crm_id, domain)

    def close(self) -> None:
        self.inner.close()


def _changed(values: dict[str, Any], stamps: dict[str, str]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if stamps.get(name) != value_hash(value)}


def _reduced(record: BaseModel, values: dict[str, Any], attrs: tuple[str, ...]) -> BaseModel:
    """The record with only `values` set: other standard attributes None, other custom fields left out."""
    update = {attr: values.get(attr) for attr in attrs}
    update["fields"] = {name: value for name, value in values.items() if name not in attrs}
    return record.model_copy(update=update)
