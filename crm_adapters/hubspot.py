"""`CRMAdapter` on HubSpot's CRM v3/v4 APIs through hubspot-api-client.

Writes are batches of 100 (HubSpot's limit): companies upsert by the unique
`salesos_domain` property, contacts by email, associations and tasks by the
ids SalesOS remembers in its `RecordIndex`, so linking 3,000 contacts costs 30
calls and no lookups. A batch HubSpot refuses as a whole (400) is split in
halves until the bad records stand alone, so one invalid value never costs the
other 99; per-record errors of a 207 multi-status are retried when HubSpot
says they are transient and reported by key otherwise. Tasks, notes and emails
carry SalesOS's key in the unique `salesos_key` property, so a create repeated
after a lost answer or a killed worker is refused, and what the first one made
is found by that key instead of duplicated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Container
from typing import Any, TypeVar

from hubspot import HubSpot
from hubspot.crm.associations import v4 as assoc
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputUpsert, BatchReadInputSimplePublicObjectId, Filter, FilterGroup,
    PublicObjectSearchRequest, SimplePublicObjectBatchInputUpsert, SimplePublicObjectId, SimplePublicObjectInput,
)
from hubspot.crm.objects import tasks as task_models
from urllib3.exceptions import HTTPError as TransportError

from agents.validation import clip
from crm_adapters.base import (
    Account, AccountWrite, Activity, ActivityWrite, Association, Contact, ContactWrite, CRMAdapter, CRMMeeting,
    MeetingWrite, Task, TaskWrite, WriteResult,
)
from crm_adapters.batching import chunks, prepare, upsert_in_chunks
from crm_adapters.calls import CallPolicy, TokenSource, call, retry_after
from crm_adapters.fields import CustomField
from crm_adapters.errors import AuthExpired, CRMError, RateLimited, RequestRejected, Transient
from crm_adapters.hubspot_client import shared_connection_client
from crm_adapters.hubspot_map import (
    BATCH, COMPANIES, CONTACTS, CREATED_KEY_PROPERTY, EMAIL_OPT_OUT, EMAIL_TO_CONTACT, MEETING_SCHEDULED, OWNER,
    MEETING_TO_CONTACT, NOTE_TO_CONTACT, SEARCH_PAGE, TASK_KINDS, TASK_TO_CONTACT, TASK_TYPES, UNSUBSCRIBE_ALL,
    ObjectMap, from_hubspot, join_name, number, split_name, to_hubspot,
)
from crm_adapters.record_index import RecordIndex
from crm_adapters.values import check_domain, check_email, check_link, created_key, instant, normal_email

log = logging.getLogger(__name__)
T = TypeVar("T")
_TRANSIENT_CATEGORIES = {"RATE_LIMITS", "LOCKED", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}
_PER_RECORD_RETRIES = 3
_MISSING_OPT_OUT_SCOPE = (
    ". The app lacks the communication_preferences.write scope, which opting a contact out of email needs: "
    "re-install the SalesOS app in this portal to grant it (a private-app token: add that scope to the private "
    "app). Until then the contact's sequence shows stopped, SalesOS sends nothing, and the opt-out is retried")


class HubSpotCRM(CRMAdapter):
    name = "hubspot"

    def __init__(self, tokens: TokenSource, index: RecordIndex, *, host: str = "https://api.hubapi.com",
                 policy: CallPolicy | None = None) -> None:
        self._tokens, self._index, self._host = tokens, index, host.rstrip("/")
        self.policy = policy or CallPolicy()
        self._clients: dict[str, HubSpot] = {}

    # --- writes -------------------------------------------------------------

    def upsert_accounts(self, accounts: list[AccountWrite]) -> WriteResult:
        return self._upsert(COMPANIES, {a.domain: self._company_properties(a) for a in accounts}, check_domain)

    def upsert_contacts(self, contacts: list[ContactWrite]) -> WriteResult:
        """An opt-out goes first, through the communication preferences API (`hs_email_optout` is read-only).

        A contact HubSpot did not opt out is written all the same (a stopped sequence shows at once), and
        reported with why the opt-out was refused, not as written: so nothing records the opt-out as done,
        and it is tried again."""
        refused = self._unsubscribe_from_all({normal_email(c.email) for c in contacts if c.email_opt_out})
        result = self._upsert(CONTACTS, {c.email: self._contact_properties(c) for c in contacts}, check_email)
        for email, reason in refused.items():
            result.ids.pop(email, None)
            written = result.errors.get(email)
            result.errors[email] = reason if written in (None, reason) else f"{reason}; {written}"
        return result

    def opt_out(self, emails: list[str]) -> dict[str, str]:
        """HubSpot keeps the status per address, contact or not (a contact created later for it is opted out):
        the same unsubscribe from all as an upsert's, one call per address."""
        return self._unsubscribe_from_all({normal_email(email) for email in emails})

    def associate(self, links: list[Association]) -> WriteResult:
        result = WriteResult()
        pairs = {f"{normal_email(link.contact_email)}->{COMPANIES.normal_key(link.company_domain)}":
                 (normal_email(link.contact_email), COMPANIES.normal_key(link.company_domain)) for link in links}
        done = self._index.ids("link", pairs)
        result.unchanged = len(done)
        result.ids.update(done)
        todo = {key: pair for key, pair in pairs.items() if key not in done}
        contacts = self._ids(CONTACTS, {email for email, _ in todo.values()})
        companies = self._ids(COMPANIES, {domain for _, domain in todo.values()})
        ready = {}
        for key, (email, domain) in todo.items():
            if email not in contacts:
                result.errors[key] = f"no contact with email {email!r}"
            elif domain not in companies:
                result.errors[key] = f"no account with domain {domain!r}"
            else:
                ready[key] = (contacts[email], companies[domain])
        for chunk in chunks(list(ready.items()), BATCH):
            body = assoc.BatchInputPublicDefaultAssociationMultiPost(inputs=[
                assoc.PublicDefaultAssociationMultiPost(_from=assoc.PublicObjectId(id=cid),
                                                        to=assoc.PublicObjectId(id=aid))
                for _, (cid, aid) in chunk])
            response = self._call(lambda c: c.crm.associations.v4.batch_api.create_default(
                from_object_type="contacts", to_object_type="companies",
                batch_input_public_default_association_multi_post=body), "associate contacts")
            linked = {(str(r._from.id), str(r.to.id)) for r in (response.results or [])}
            written = {key: f"{cid}-{aid}" for key, (cid, aid) in chunk if (cid, aid) in linked}
            for key, _ in chunk:
                if key not in written:
                    result.errors[key] = _first_error(response) or "HubSpot did not confirm this association"
            self._index.remember("link", written)
            result.ids.update(written)
            result.created += len(written)
        return result

    def create_tasks(self, tasks: list[TaskWrite]) -> WriteResult:
        return self._create_once("task", "tasks", tasks, TASK_TO_CONTACT, lambda t: {
            "hs_task_subject": t.subject, "hs_task_body": t.body, "hs_task_status": "NOT_STARTED",
            "hs_task_type": TASK_TYPES.get(t.kind, "TODO"), "hs_timestamp": _ms(instant("due_at", t.due_at)),
        })

    def log_activities(self, activities: list[ActivityWrite]) -> WriteResult:
        emails = [a for a in activities if a.kind == "email"]
        notes = [a for a in activities if a.kind != "email"]
        result = self._create_once("activity", "emails", emails, EMAIL_TO_CONTACT, lambda a: {
            "hs_email_subject": a.subject, "hs_email_text": a.body, "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT", "hs_timestamp": _ms(instant("occurred_at", a.occurred_at)),
        })
        other = self._create_once("activity", "notes", notes, NOTE_TO_CONTACT, lambda a: {
            "hs_note_body": f"{a.kind}: {a.subject}\n\n{a.body}".strip(),
            "hs_timestamp": _ms(instant("occurred_at", a.occurred_at)),
        })
        return _merge(result, other)

    def log_meetings(self, meetings: list[MeetingWrite]) -> WriteResult:
        """Meeting engagements on their contacts (with the owner when given), created once per key like tasks."""
        return self._create_once("meeting", "meetings", meetings, MEETING_TO_CONTACT, _meeting_properties)

    # --- reads --------------------------------------------------------------

    def get_accounts(self, domains: list[str] | None = None) -> list[Account]:
        records = self._read(COMPANIES, domains)
        return [self._account(record) for record in records]

    def get_contacts(self, emails: list[str] | None = None, company_domain: str | None = None) -> list[Contact]:
        """By email, by company, or both (matching both); every SalesOS contact when neither."""
        contacts = [self._contact(record) for record in self._read(CONTACTS, emails)]
        if company_domain is not None:
            domain = COMPANIES.normal_key(company_domain)
            contacts = [c for c in contacts if c.company_domain == domain]
        return contacts

    def get_tasks(self, contact_email: str | None = None) -> list[Task]:
        records = self._read_created("task", "tasks", contact_email,
                                     ["hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_type", "hs_timestamp"])
        return [Task(id=crm_id, key=key, contact_email=email, kind=TASK_KINDS.get(p.get("hs_task_type") or "", "todo"),
                     subject=p.get("hs_task_subject") or "", body=p.get("hs_task_body") or "",
                     due_at=from_hubspot(_DATETIME, p.get("hs_timestamp")),
                     status="done" if p.get("hs_task_status") == "COMPLETED" else "open")
                for key, email, crm_id, p in records]

    def get_activities(self, contact_email: str | None = None) -> list[Activity]:
        emails = self._read_created("activity", "emails", contact_email,
                                    ["hs_email_subject", "hs_email_text", "hs_timestamp"])
        return [Activity(id=crm_id, key=key, contact_email=email, kind="email", subject=p.get("hs_email_subject") or "",
                         body=p.get("hs_email_text") or "", occurred_at=from_hubspot(_DATETIME, p.get("hs_timestamp")))
                for key, email, crm_id, p in emails]

    def get_meetings(self, contact_email: str | None = None) -> list[CRMMeeting]:
        records = self._read_created("meeting", "meetings", contact_email, list(_MEETING_PROPERTIES))
        return [CRMMeeting(id=crm_id, key=key, contact_email=email, owner_id=p.get("hubspot_owner_id") or None,
                           subject=p.get("hs_meeting_title") or "", body=p.get("hs_meeting_body") or "",
                           start=from_hubspot(_DATETIME, p.get("hs_meeting_start_time")),
                           end=from_hubspot(_DATETIME, p.get("hs_meeting_end_time")),
                           location=p.get("hs_meeting_location") or None,
                           video_url=p.get("hs_meeting_external_url") or None)
                for key, email, crm_id, p in records]

    def company_domain(self, crm_id: str) -> str | None:
        try:
            record = self._call(lambda c: c.crm.companies.basic_api.get_by_id(
                crm_id, properties=["domain", "salesos_domain"]), f"read company {crm_id}")
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise
        p = record.properties or {}
        return p.get("salesos_domain") or p.get("domain") or None

    def adopt_company(self, crm_id: str, domain: str) -> None:
        """Upserts go by `salesos_domain`, which a rep's company lacks: set it, or the upsert would duplicate it."""
        domain = COMPANIES.normal_key(domain)
        if self._index.ids(COMPANIES.kind, [domain]):
            return
        body = SimplePublicObjectInput(properties={"salesos_domain": domain})
        try:
            self._call(lambda c: c.crm.companies.basic_api.update(crm_id, body), f"adopt company {crm_id}")
        except RequestRejected as exc:  # another company already holds the domain: SalesOS keeps writing that one
            log.warning("company %s not adopted for %s: %s", crm_id, domain, exc)
            return
        self._index.remember(COMPANIES.kind, {domain: crm_id})

    # --- upserts ------------------------------------------------------------

    def _upsert(self, spec: ObjectMap, records: dict[str, Callable[[], dict[str, str]]],
                check: Callable[[str], None]) -> WriteResult:
        prepared, result = prepare(records.items(), spec.normal_key, check)
        return upsert_in_chunks(self._index, spec.kind, prepared, result, BATCH,
                                lambda chunk: self._upsert_chunk(spec, chunk, result, retries=_PER_RECORD_RETRIES))

    def _upsert_chunk(self, spec: ObjectMap, chunk: dict[str, dict[str, str]], result: WriteResult,
                      retries: int) -> None:
        body = BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(id=key, id_property=spec.id_property, properties=props,
                                               object_write_trace_id=key)
            for key, props in chunk.items()])
        try:
            response = self._call(lambda c: getattr(c.crm, spec.object_type).batch_api.upsert(body),
                                  f"upsert {len(chunk)} {spec.object_type}")
        except RequestRejected as exc:
            if len(chunk) == 1 or exc.status != 400:  # only a validation error can be one record's fault
                result.errors.update({key: str(exc) for key in chunk})
                return
            keys = list(chunk)
            half = len(keys) // 2
            log.info("HubSpot refused a batch of %d %s (%s); splitting it to find the bad records",
                     len(keys), spec.object_type, exc)
            for part in (keys[:half], keys[half:]):
                self._upsert_chunk(spec, {key: chunk[key] for key in part}, result, retries)
            return
        seen = set()
        for record in response.results or []:
            key = record.object_write_trace_id or spec.normal_key((record.properties or {}).get(spec.id_property) or "")
            if key not in chunk:
                continue
            seen.add(key)
            result.ids[key] = str(record.id)
            if getattr(record, "new", False):
                result.created += 1
            else:
                result.updated += 1
        retry: dict[str, dict[str, str]] = {}
        for error in getattr(response, "errors", None) or []:
            for key in _error_keys(error, chunk):
                if key in seen:
                    continue
                seen.add(key)
                if error.category in _TRANSIENT_CATEGORIES and retries > 0:
                    retry[key] = chunk[key]
                else:
                    result.errors[key] = f"{error.category}: {error.message}"
        for key in chunk:
            if key not in seen and key not in retry:
                result.errors[key] = "HubSpot returned no result for this record; it was not written"
        if retry:
            self.policy.sleep(self.policy.backoff(_PER_RECORD_RETRIES - retries))
            self._upsert_chunk(spec, retry, result, retries - 1)

    def _company_properties(self, account: AccountWrite) -> Callable[[], dict[str, str]]:
        def build() -> dict[str, str]:
            props = {"salesos_domain": COMPANIES.normal_key(account.domain),
                     "domain": COMPANIES.normal_key(account.domain)}
            for attr in ("name", "employee_count", "annual_revenue", "country", "industry"):
                value = getattr(account, attr)
                if value is not None:
                    props[COMPANIES.standard[attr]] = str(value)
            props.update(_custom(COMPANIES, account.fields))
            return props
        return build

    def _contact_properties(self, contact: ContactWrite) -> Callable[[], dict[str, str]]:
        def build() -> dict[str, str]:
            check_link("linkedin_url", contact.linkedin_url)
            props = {"email": normal_email(contact.email)}
            if contact.name:
                props["firstname"], props["lastname"] = split_name(contact.name)
            for attr in ("title", "phone", "country", "linkedin_url", "timezone", "company_domain"):
                value = getattr(contact, attr)
                if value is not None:
                    props[CONTACTS.standard[attr]] = COMPANIES.normal_key(value) if attr == "company_domain" else value
            props.update(_custom(CONTACTS, contact.fields))
            return props
        return build

    def _unsubscribe_from_all(self, emails: set[str]) -> dict[str, str]:
        """Opt each address out of all email, one call each (there is no batch form outside Marketing Hub
        Enterprise); returns why HubSpot refused any, by email. Repeating it is harmless, so it is retried."""
        refused = {}
        for email in sorted(emails):
            try:
                check_email(email)
                self._call(lambda c: c.communication_preferences.status_api.api_client.call_api(
                    UNSUBSCRIBE_ALL, "POST", path_params={"subscriberIdString": email},
                    query_params=[("channel", "EMAIL")], header_params={"Accept": "application/json"},
                    response_types_map={}, auth_settings=["oauth2"], _return_http_data_only=True),
                    "unsubscribe a contact from all email")
            except ValueError as exc:
                refused[email] = str(exc)
            except RequestRejected as exc:
                refused[email] = f"email_opt_out: {exc}" + (_MISSING_OPT_OUT_SCOPE if exc.status == 403 else "")
        return refused

    # --- created-once objects (tasks, emails, notes) --------------------------

    def _create_once(self, kind: str, object_type: str, items: list, association_type: int,
                     properties: Callable[[Any], dict[str, str]]) -> WriteResult:
        """Create each item once: a remembered key is not sent again, and each record carries its key (see
        `_create_chunk` for one whose id was never remembered)."""
        result = WriteResult()
        known = self._index.ids(kind, [item.key for item in items])
        result.ids.update(known)
        result.unchanged = len(known)
        fresh = {item.key: item for item in items if item.key not in known}
        contacts = self._ids(CONTACTS, {normal_email(item.contact_email) for item in fresh.values()})
        ready = []
        for key, item in fresh.items():
            email = normal_email(item.contact_email)
            try:
                check_email(item.contact_email)
                props = {**properties(item), CREATED_KEY_PROPERTY: created_key(kind, key)}
            except ValueError as exc:
                result.errors[key] = str(exc)
                continue
            if email not in contacts:
                result.errors[key] = f"no contact with email {email!r}"
                continue
            ready.append((key, email, task_models.SimplePublicObjectBatchInputForCreate(
                properties=props, object_write_trace_id=key, associations=[task_models.PublicAssociationsForObject(
                    to=task_models.PublicObjectId(id=contacts[email]),
                    types=[task_models.AssociationSpec(association_category="HUBSPOT_DEFINED",
                                                       association_type_id=association_type)])])))
        for chunk in chunks(ready, BATCH):
            self._create_chunk(kind, object_type, chunk, result)
        return result

    def _create_chunk(self, kind: str, object_type: str, chunk: list, result: WriteResult) -> None:
        """One batch create of (key, email, input) entries; the ids of what landed are remembered at once.

        HubSpot refuses a record whose `salesos_key` another holds: one an earlier attempt created before its
        worker died or its answer was lost, unknown to the index. Refused records, or a batch refused as a whole
        (400/409), are looked up by their key; those found are remembered, and the rest of the batch is sent again.
        Repeating the request is therefore harmless, so a failure after HubSpot acted is retried like any other.
        A batch refused as a whole that holds nothing created before has a bad record (HubSpot validates every
        input before it creates any): it is split in halves until the bad records stand alone, as upserts are.
        """
        body = task_models.BatchInputSimplePublicObjectBatchInputForCreate(inputs=[entry for _, _, entry in chunk])
        try:
            response = self._call(lambda c: getattr(c.crm.objects, object_type).batch_api.create(body),
                                  f"create {len(chunk)} {object_type}")
        except RequestRejected as exc:
            if exc.status not in (400, 409):  # the request's fault, not a record's (a missing scope): the job retries
                raise
            if self._found(kind, object_type, chunk, result):
                rest = [entry for entry in chunk if entry[0] not in result.ids]
                if rest:
                    self._create_chunk(kind, object_type, rest, result)
                return
            if exc.status == 409:
                raise
            if len(chunk) == 1:
                result.errors[chunk[0][0]] = str(exc)
                return
            log.info("HubSpot refused a batch of %d %s (%s); splitting it to find the bad records",
                     len(chunk), object_type, exc)
            half = len(chunk) // 2
            for part in (chunk[:half], chunk[half:]):
                self._create_chunk(kind, object_type, part, result)
            return
        failed = _errors_by_key(response, {key for key, _, _ in chunk})
        found = self._found(kind, object_type, [entry for entry in chunk if entry[0] in failed], result)
        result.errors.update({key: error for key, error in failed.items() if key not in found})
        created = [(key, email) for key, email, _ in chunk if key not in failed]
        ids = _created_ids(created, list(response.results or []))
        if ids is None:
            result.errors.update({key: "HubSpot's answer did not say which record is which; not recorded"
                                  for key, _ in created})
            return
        self._index.remember(kind, ids, parents={key: email for key, email in created if key in ids})
        result.ids.update(ids)
        result.created += len(ids)

    def _found(self, kind: str, object_type: str, entries: list, result: WriteResult) -> set[str]:
        """Keys of (key, email, input) entries HubSpot already holds a record for, read by `salesos_key` in one
        batch read (at most 100 entries); they are remembered and counted unchanged. A refused read finds none."""
        if not entries:
            return set()
        wanted = {entry.properties[CREATED_KEY_PROPERTY]: (key, email) for key, email, entry in entries}
        body = task_models.BatchReadInputSimplePublicObjectId(
            id_property=CREATED_KEY_PROPERTY, properties=[CREATED_KEY_PROPERTY],
            inputs=[task_models.SimplePublicObjectId(id=value) for value in wanted])
        try:
            response = self._call(lambda c: getattr(c.crm.objects, object_type).batch_api.read(body),
                                  f"find {len(entries)} {object_type} by key")
        except RequestRejected as exc:
            log.warning("%s could not be looked up by %s: %s", object_type, CREATED_KEY_PROPERTY, exc)
            return set()
        matches = [(wanted[value], str(record.id)) for record in response.results or []
                   if (value := (record.properties or {}).get(CREATED_KEY_PROPERTY)) in wanted]
        ids = {key: crm_id for (key, _), crm_id in matches}
        self._index.remember(kind, ids, parents={key: email for (key, email), _ in matches})
        result.ids.update(ids)
        result.unchanged += len(ids)
        return set(ids)

    def _read_created(self, kind: str, object_type: str, contact_email: str | None,
                      properties: list[str]) -> list[tuple[str, str, str, dict]]:
        parent = None if contact_email is None else normal_email(contact_email)
        known = self._index.children(kind, parent)
        if not known:
            return []
        by_id = {crm_id: key for key, crm_id in known.items()}
        emails = self._index.parents(kind, list(known))
        found = []
        for chunk in chunks(list(by_id), BATCH):
            body = task_models.BatchReadInputSimplePublicObjectId(
                inputs=[task_models.SimplePublicObjectId(id=crm_id) for crm_id in chunk], properties=properties)
            response = self._call(lambda c: getattr(c.crm.objects, object_type).batch_api.read(body),
                                  f"read {len(chunk)} {object_type}")
            for record in response.results or []:
                key = by_id.get(str(record.id))
                if key is not None:
                    found.append((key, emails.get(key, parent or ""), str(record.id), record.properties or {}))
        return sorted(found)

    # --- reads and ids ------------------------------------------------------

    def _ids(self, spec: ObjectMap, keys: set[str]) -> dict[str, str]:
        """HubSpot ids by natural key: remembered ones, then one batch read per 100 for the rest."""
        found = self._index.ids(spec.kind, keys)
        missing = [key for key in keys if key not in found]
        if missing:
            read = {spec.normal_key(r.properties.get(spec.id_property) or ""): str(r.id)
                    for r in self._batch_read(spec, missing, [spec.id_property])}
            self._index.remember(spec.kind, read)
            found.update(read)
        return found

    def _read(self, spec: ObjectMap, keys: list[str] | None) -> list:
        if keys is not None:
            return self._batch_read(spec, [spec.normal_key(key) for key in keys], spec.properties)
        return self._search_managed(spec)

    def _search_managed(self, spec: ObjectMap) -> list:
        """Every record SalesOS wrote, through the search API filtered on SalesOS's own properties.

        Pages go by ascending id (`hs_object_id > last`) rather than `after`,
        which the search API stops honouring at 10,000 results.
        """
        records, last = [], "0"
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[Filter(property_name=marker, operator="HAS_PROPERTY"),
                                                    Filter(property_name="hs_object_id", operator="GT", value=last)])
                               for marker in spec.markers],
                sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                properties=spec.properties, limit=SEARCH_PAGE)
            page = self._call(lambda c: getattr(c.crm, spec.object_type).search_api.do_search(
                public_object_search_request=request), f"search {spec.object_type}")
            results = list(page.results or [])
            records += results
            if len(results) < SEARCH_PAGE:
                return records
            last = str(results[-1].id)

    def _batch_read(self, spec: ObjectMap, keys: list[str], properties: list[str]) -> list:
        records = []
        for chunk in chunks(sorted(set(keys)), BATCH):
            body = BatchReadInputSimplePublicObjectId(
                id_property=spec.id_property, properties=properties,
                inputs=[SimplePublicObjectId(id=key) for key in chunk])
            response = self._call(lambda c: getattr(c.crm, spec.object_type).batch_api.read(body),
                                  f"read {len(chunk)} {spec.object_type}")
            records += list(response.results or [])
        return records

    def _account(self, record) -> Account:
        p = record.properties or {}
        return Account(
            id=str(record.id), domain=p.get("salesos_domain") or p.get("domain") or "", name=p.get("name") or None,
            industry=p.get("salesos_industry") or None, employee_count=number(p.get("numberofemployees"), True),
            annual_revenue=number(p.get("annualrevenue")), country=p.get("country") or None,
            fields=_fields(COMPANIES, p))

    def _contact(self, record) -> Contact:
        p = record.properties or {}
        values = {attr: p.get(name) or None for attr, name in CONTACTS.standard.items()}
        return Contact(id=str(record.id), email=normal_email(p.get("email") or ""),
                       name=join_name(p.get("firstname"), p.get("lastname")), fields=_fields(CONTACTS, p),
                       email_opt_out=p.get(EMAIL_OPT_OUT) == "true", owner_id=p.get(OWNER) or None, **values)

    # --- transport ----------------------------------------------------------

    def _call(self, request: Callable[[HubSpot], T], what: str) -> T:
        return call(self.policy, self._tokens, lambda token: request(self._client(token)), classify, what)

    def _client(self, token: str) -> HubSpot:
        client = self._clients.get(token)
        if client is None:
            self._clients = {token: shared_connection_client(token, self._host)}  # a refresh drops the old one
            client = self._clients[token]
        return client


def classify(exc: Exception) -> CRMError | None:
    """A hubspot-api-client or urllib3 exception as a CRMError (every generated package has its own classes)."""
    status = getattr(exc, "status", None)
    if status is None:
        if isinstance(exc, TransportError):
            return Transient(f"HubSpot could not be reached ({type(exc).__name__})")
        return None
    headers = {name.lower(): value for name, value in (getattr(exc, "headers", None) or {}).items()}
    body = _body(getattr(exc, "body", None))
    message = body.get("message") or getattr(exc, "reason", "") or f"HTTP {status}"
    if status == 401:
        return AuthExpired(f"HubSpot refused the access token: {message}")
    if status == 429:
        daily = body.get("policyName") == "DAILY"
        wait = retry_after(headers)
        if wait is None and str(headers.get("x-hubspot-ratelimit-remaining", "")) == "0":
            interval = headers.get("x-hubspot-ratelimit-interval-milliseconds")
            wait = float(interval) / 1000 if interval else None
        return RateLimited(f"HubSpot rate limit ({body.get('policyName') or 'unknown policy'}): {message}",
                           retry_after=wait, daily=daily)
    if status in (423, 477) or status >= 500:
        return Transient(f"HubSpot answered {status}: {message}", retry_after=retry_after(headers))
    details = "; ".join(f"{e.get('in') or e.get('context') or ''} {e.get('message', '')}".strip()
                        for e in body.get("errors", []) if isinstance(e, dict))
    return RequestRejected(f"HubSpot refused the request ({status} {body.get('category', '')}): {message}"
                           + (f" [{details}]" if details else ""), status=status)


_DATETIME = CustomField("hs_timestamp", "contact", "datetime", "Timestamp", "When a task is due or an email was sent.")


_MEETING_PROPERTIES = ("hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time", "hs_meeting_end_time",
                       "hs_meeting_location", "hs_meeting_external_url", "hubspot_owner_id")


def _meeting_properties(meeting: MeetingWrite) -> dict[str, str]:
    """A meeting engagement: hs_timestamp is when it happens (where HubSpot's timeline puts it)."""
    check_link("video_url", meeting.video_url)
    start, end = _ms(instant("start", meeting.start)), _ms(instant("end", meeting.end))
    if meeting.end <= meeting.start:
        raise ValueError(f"end: {end} is not after start {start}")
    props = {"hs_timestamp": start, "hs_meeting_title": meeting.subject, "hs_meeting_body": meeting.body,
             "hs_meeting_start_time": start, "hs_meeting_end_time": end, "hs_meeting_outcome": MEETING_SCHEDULED}
    if meeting.location or meeting.video_url:
        props["hs_meeting_location"] = meeting.location or meeting.video_url or ""
    if meeting.video_url:
        props["hs_meeting_external_url"] = meeting.video_url
    if meeting.owner_id:
        props["hubspot_owner_id"] = meeting.owner_id
    return props


def _custom(spec: ObjectMap, values: dict[str, Any]) -> dict[str, str]:
    props = {}
    for name, value in values.items():
        field = spec.custom.get(name)
        if field is None:
            raise ValueError(f"unknown field {name!r}")
        props[field.hubspot_name] = to_hubspot(field, value)
    return props


def _fields(spec: ObjectMap, properties: dict[str, str]) -> dict[str, Any]:
    values = {name: from_hubspot(field, properties.get(field.hubspot_name)) for name, field in spec.custom.items()}
    return {name: value for name, value in values.items() if value is not None}


def _error_keys(error, chunk: Container[str]) -> list[str]:
    context = getattr(error, "context", None) or {}
    keys = list(context.get("objectWriteTraceId") or []) + list(context.get("ids") or [])
    return [key for key in keys if key in chunk]


def _created_ids(created: list[tuple[str, str]], results: list) -> dict[str, str] | None:
    """Ids by key: from each result's `objectWriteTraceId`, or by position when HubSpot leaves it out."""
    keys = {key for key, _ in created}
    if results and all(r.object_write_trace_id in keys for r in results):
        return {r.object_write_trace_id: str(r.id) for r in results}
    if len(results) != len(created):
        return None
    return {key: str(record.id) for (key, _), record in zip(created, results)}


def _errors_by_key(response, keys: set[str]) -> dict[str, str]:
    """Each failed record's own error, from the `objectWriteTraceId` context of a 207 answer."""
    return {key: f"{error.category}: {error.message}"
            for error in getattr(response, "errors", None) or [] for key in _error_keys(error, keys)}


def _first_error(response) -> str | None:
    errors = getattr(response, "errors", None) or []
    return f"{errors[0].category}: {errors[0].message}" if errors else None


def _body(raw: Any) -> dict:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": clip(str(raw), 300)}
    return parsed if isinstance(parsed, dict) else {}


def _ms(iso: str) -> str:
    return iso.replace("+00:00", "Z")


def _merge(first: WriteResult, second: WriteResult) -> WriteResult:
    return WriteResult(ids={**first.ids, **second.ids}, created=first.created + second.created,
                       updated=first.updated + second.updated, unchanged=first.unchanged + second.unchanged,
                       errors={**first.errors, **second.errors})

