"""`CRMAdapter` on Salesforce's REST API through simple-salesforce.

Writes go through sObject Collections, 200 records a call: accounts and
contacts upsert by the SalesOS external-id fields, so a re-run updates instead
of duplicating, and a contact carries its account as an external-id reference,
so linking it costs no call of its own. Tasks and activities are created once
per key: remembered in the `RecordIndex`, and upserted by that key (an
External ID on Task) so a create repeated after a lost answer or a killed
worker finds the Task the first one made. Per-record errors are reported by key
after retrying the ones Salesforce calls transient (a locked row), and every
response's `Sforce-Limit-Info` sets the budget's allowance to the org's own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote_plus

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.util import exception_handler

from agents.validation import clip
from crm_adapters.base import (
    Account, AccountWrite, Activity, ActivityWrite, Association, Contact, ContactWrite, CRMAdapter, CRMMeeting,
    MeetingWrite, Task, TaskWrite, WriteResult,
)
from crm_adapters.batching import chunks, prepare, upsert_in_chunks
from crm_adapters.calls import Budget, CallPolicy, TokenSource, call, retry_after
from crm_adapters.errors import AuthExpired, CRMError, RateLimited, RequestRejected, Transient
from crm_adapters.record_index import RecordIndex
from crm_adapters.salesforce_map import (
    ACCOUNT_REFERENCE, ACCOUNTS, ACTIVITY_SUBTYPES, BATCH, CONTACTS, EMAIL_OPT_OUT, EVENT_FIELDS, EVENT_LOCATION_MAX,
    EVENT_OBJECT, EVENTS, IN_CHUNK, IN_CHUNK_URL_BYTES, OWNER, LEAD_FIELDS, LEAD_OBJECT, SUBTYPE_KINDS, TASK_DONE,
    TASK_FIELDS, TASK_OBJECT, TASK_OPEN, TASK_SUBTYPES, TASKS, ObjectMap, datetime_text, from_salesforce, join_name,
    number, parse_datetime, split_name, stand_in_last_name, to_salesforce,
)
from crm_adapters.values import check_domain, check_email, check_link, created_key, instant, normal_domain, normal_email

log = logging.getLogger(__name__)
T = TypeVar("T")
Record = dict[str, Any]
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW"}
_PER_RECORD_RETRIES = 3


class SalesforceCRM(CRMAdapter):
    name = "salesforce"

    def __init__(self, tokens: TokenSource, index: RecordIndex, *, instance_url: str | Callable[[], str],
                 version: str = "59.0", policy: CallPolicy | None = None,
                 session: requests.Session | None = None) -> None:
        """`instance_url` may be a function: a token refresh can move an org, and each new token re-reads it."""
        self._tokens, self._index = tokens, index
        self._instance_url, self._version = instance_url, version
        self.policy = policy or CallPolicy()
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._clients: dict[str, Salesforce] = {}

    # --- writes -------------------------------------------------------------

    def upsert_accounts(self, accounts: list[AccountWrite]) -> WriteResult:
        return self._upsert(ACCOUNTS, [(a.domain, self._account_fields(a)) for a in accounts], check_domain)

    def upsert_contacts(self, contacts: list[ContactWrite]) -> WriteResult:
        """Each contact whose account SalesOS knows carries it as a reference: upsert and link in one call.

        An opt-out (HasOptedOutOfEmail) rides in the same upsert, and also reaches the Leads and other Contacts
        a rep keeps for that address (`opt_out`); until it has, the contact is reported as an error, so it is
        written again."""
        domains = {normal_domain(c.company_domain) for c in contacts if c.company_domain}
        accounts = self._index.ids(ACCOUNTS.kind, domains)
        linked = {normal_email(c.email): normal_domain(c.company_domain) for c in contacts
                  if c.company_domain and normal_domain(c.company_domain) in accounts}
        result = self._upsert(CONTACTS, [(c.email, self._contact_fields(c, accounts)) for c in contacts], check_email)
        accounts = self._index.ids(ACCOUNTS.kind, domains)  # less any found deleted during the upsert
        self._remember_links({f"{email}->{domain}": (email, f"{result.ids[email]}-{accounts[domain]}")
                              for email, domain in linked.items() if email in result.ids and domain in accounts})
        opted_out = {normal_email(c.email) for c in contacts if c.email_opt_out} & set(result.ids)
        for email, reason in self.opt_out(sorted(opted_out)).items():
            result.errors[email] = reason
            del result.ids[email]
        return result

    def opt_out(self, emails: list[str]) -> dict[str, str]:
        """Tick HasOptedOutOfEmail on every Contact (a rep's own too, not only SalesOS's) and unconverted Lead
        with these addresses, creating nothing: one query per 200 addresses and object, one collections update
        per 200 records. Returns, by email, why an address or one of its records could not be opted out."""
        failed: dict[str, str] = {}
        valid = set()
        for email in emails:
            try:
                check_email(email)
            except ValueError as exc:
                failed[email] = str(exc)
                continue
            valid.add(normal_email(email))
        records = [(CONTACTS.sobject, r) for r in self._select(CONTACTS.sobject, ("Id", "Email", EMAIL_OPT_OUT), [],
                                                               "Email", sorted(valid)) if not r.get(EMAIL_OPT_OUT)]
        records += [(LEAD_OBJECT, r) for r in self._select(LEAD_OBJECT, LEAD_FIELDS, [], "Email", sorted(valid))
                    if not r.get(EMAIL_OPT_OUT) and not r.get("IsConverted")]
        for chunk in chunks(records, BATCH):
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": sobject}, "Id": r["Id"], EMAIL_OPT_OUT: True} for sobject, r in chunk]}
            outcomes = self._call(lambda sf: self._send(sf, "PATCH", "composite/sobjects", json=body),
                                  f"opt out {len(chunk)} contacts and leads")
            if not isinstance(outcomes, list) or len(outcomes) != len(chunk):
                outcomes = [{}] * len(chunk)  # an answer that does not match: nothing is taken as done
            for (sobject, record), outcome in zip(chunk, outcomes):
                if not outcome.get("success"):
                    failed[normal_email(record["Email"])] = (f"{sobject} {record['Id']}: "
                                                             f"{describe(outcome.get('errors') or [])}")
        return failed

    def associate(self, links: list[Association]) -> WriteResult:
        """Write the links not already made (by a contact upsert or an earlier call) as contact upserts."""
        result = WriteResult()
        keys = [f"{normal_email(link.contact_email)}->{normal_domain(link.company_domain)}" for link in links]
        pairs = {key: (normal_email(link.contact_email), normal_domain(link.company_domain))
                 for key, link in zip(keys, links)}
        done = self._index.ids("link", pairs)
        todo = {key: pair for key, pair in pairs.items() if key not in done}
        contacts = self._ids(CONTACTS, {email for email, _ in todo.values()})
        accounts = self._ids(ACCOUNTS, {domain for _, domain in todo.values()})
        ready: dict[str, tuple[str, str]] = {}  # email -> (link key, domain)
        for key, (email, domain) in todo.items():
            if email not in contacts:
                result.errors[key] = f"no contact with email {email!r}"
            elif domain not in accounts:
                result.errors[key] = f"no account with domain {domain!r}"
            elif email in ready:
                result.errors[key] = (f"a Salesforce contact has one account; {email} is linked to "
                                      f"{ready[email][1]!r} in this batch")
            else:
                ready[email] = (key, domain)
        written = WriteResult()
        for chunk in chunks(list(ready.items()), BATCH):
            self._upsert_chunk(CONTACTS, {email: {CONTACTS.id_field: email,
                                                  ACCOUNT_REFERENCE: {ACCOUNTS.id_field: domain}}
                                          for email, (_, domain) in chunk}, written, _PER_RECORD_RETRIES,
                               may_create=False)
        links = {key: (email, f"{written.ids[email]}-{accounts[domain]}")
                 for email, (key, domain) in ready.items() if email in written.ids}
        self._remember_links(links)
        result.errors.update({ready[email][0]: message for email, message in written.errors.items()})
        result.ids = {**done, **{key: link_id for key, (_, link_id) in links.items()}}
        result.created = len(links)
        result.unchanged = sum(key in result.ids for key in pairs) - result.created
        return result

    def create_tasks(self, tasks: list[TaskWrite]) -> WriteResult:
        return self._create_once("task", tasks, lambda t: {
            "Subject": t.subject, "Description": t.body, "Status": TASK_OPEN,
            "TaskSubtype": TASK_SUBTYPES.get(t.kind, "Task"), **_when(instant("due_at", t.due_at), reminder=True),
        })

    def log_activities(self, activities: list[ActivityWrite]) -> WriteResult:
        return self._create_once("activity", activities, lambda a: {
            "Subject": a.subject, "Description": a.body, "Status": TASK_DONE,
            "TaskSubtype": ACTIVITY_SUBTYPES.get(a.kind, "Task"),
            **_when(instant("occurred_at", a.occurred_at), reminder=False),
        })

    def log_meetings(self, meetings: list[MeetingWrite]) -> WriteResult:
        """Events on their contacts (WhoId) with the owner (OwnerId) when given, upserted by key like tasks."""
        return self._create_once("meeting", meetings, _event_fields, EVENTS)

    # --- reads --------------------------------------------------------------

    def get_accounts(self, domains: list[str] | None = None) -> list[Account]:
        keys = None if domains is None else [ACCOUNTS.normal_key(domain) for domain in domains]
        return [self._account(record) for record in self._read(ACCOUNTS, keys, [])]

    def get_contacts(self, emails: list[str] | None = None, company_domain: str | None = None) -> list[Contact]:
        """By email, by company, or both (matching both); every SalesOS contact when neither."""
        keys = None if emails is None else [CONTACTS.normal_key(email) for email in emails]
        conditions = []
        if company_domain is not None:
            conditions.append(f"{CONTACTS.standard['company_domain']} = {soql_quote(normal_domain(company_domain))}")
        return [self._contact(record) for record in self._read(CONTACTS, keys, conditions)]

    def get_tasks(self, contact_email: str | None = None) -> list[Task]:
        return [Task(id=r["Id"], key=key, contact_email=email, kind=SUBTYPE_KINDS.get(r.get("TaskSubtype"), "todo"),
                     subject=r.get("Subject") or "", body=r.get("Description") or "", due_at=_instant_of(r),
                     status="done" if r.get("Status") == TASK_DONE else "open")
                for key, email, r in self._read_created("task", contact_email)]

    def get_activities(self, contact_email: str | None = None) -> list[Activity]:
        return [Activity(id=r["Id"], key=key, contact_email=email,
                         kind=SUBTYPE_KINDS.get(r.get("TaskSubtype"), "other"), subject=r.get("Subject") or "",
                         body=r.get("Description") or "", occurred_at=_instant_of(r))
                for key, email, r in self._read_created("activity", contact_email)]

    def get_meetings(self, contact_email: str | None = None) -> list[CRMMeeting]:
        meetings = []
        for key, email, r in self._read_created("meeting", contact_email, EVENT_OBJECT, EVENT_FIELDS):
            body, video_url = _split_video(r.get("Description") or "")
            location = r.get("Location") or None
            meetings.append(CRMMeeting(
                id=r["Id"], key=key, contact_email=email, owner_id=r.get("OwnerId") or None,
                subject=r.get("Subject") or "", body=body, start=parse_datetime(r["StartDateTime"]),
                end=parse_datetime(r["EndDateTime"]), video_url=video_url,
                location=None if location == video_url else location))
        return meetings

    def company_domain(self, crm_id: str) -> str | None:
        """The Account's website (or the domain SalesOS gave it): a rep's own account, named by an event's id."""
        found = self._query(f"SELECT Website, {ACCOUNTS.id_field} FROM Account WHERE Id = {soql_quote(crm_id)}")
        return (found[0].get(ACCOUNTS.id_field) or found[0].get("Website")) if found else None

    def adopt_company(self, crm_id: str, domain: str) -> None:
        """Upserts go by SalesOS_Domain__c, which a rep's account lacks: set it, or the upsert would duplicate it."""
        domain = ACCOUNTS.normal_key(domain)
        if self._index.ids(ACCOUNTS.kind, [domain]):
            return
        try:
            self._call(lambda sf: self._send(sf, "PATCH", f"sobjects/Account/{crm_id}",
                                             json={ACCOUNTS.id_field: domain}), f"adopt account {crm_id}")
        except RequestRejected as exc:  # DUPLICATE_VALUE: another account holds the domain, SalesOS keeps that one
            log.warning("account %s not adopted for %s: %s", crm_id, domain, exc)
            return
        self._index.remember(ACCOUNTS.kind, {domain: crm_id})

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # --- upserts ------------------------------------------------------------

    def _upsert(self, spec: ObjectMap, items: list[tuple[str, Callable[[], Record]]],
                check: Callable[[str], None]) -> WriteResult:
        prepared, result = prepare(items, spec.normal_key, check)
        return upsert_in_chunks(self._index, spec.kind, prepared, result, BATCH,
                                lambda chunk: self._upsert_chunk(spec, chunk, result, _PER_RECORD_RETRIES))

    def _upsert_chunk(self, spec: ObjectMap, chunk: dict[str, Record], result: WriteResult, retries: int,
                      may_create: bool = True) -> None:
        """One collections upsert; per-record results come back in the order the records were sent.

        `may_create=False` (linking existing contacts) never names a record so Salesforce would create it."""
        body = {"allOrNone": False, "records": [{"attributes": {"type": spec.sobject}, **r} for r in chunk.values()]}
        path = f"composite/sobjects/{spec.sobject}/{spec.id_field}"
        try:
            outcomes = self._call(lambda sf: self._send(sf, "PATCH", path, json=body),
                                  f"upsert {len(chunk)} {spec.sobject}")
        except RequestRejected as exc:  # the request as a whole (a field not installed, no access): every record
            result.errors.update({key: str(exc) for key in chunk})
            return
        if not isinstance(outcomes, list) or len(outcomes) != len(chunk):
            result.errors.update({key: "Salesforce's answer did not match the batch; not recorded"
                                  for key in chunk})
            return
        retry, locked = {}, 0
        for (key, record), outcome in zip(chunk.items(), outcomes):
            errors = outcome.get("errors") or []
            if outcome.get("success"):
                result.ids[key] = outcome["id"]
                if outcome.get("created"):
                    result.created += 1
                else:
                    result.updated += 1
            elif may_create and (named := _with_stand_in_name(spec, key, record, errors)) is not None:
                retry[key] = named
            elif may_create and (unlinked := _without_missing_account(record, errors)) is not None:
                self._index.forget(ACCOUNTS.kind, [record[ACCOUNT_REFERENCE][ACCOUNTS.id_field]])
                retry[key] = unlinked
            elif retries > 0 and any(e.get("statusCode") in _TRANSIENT_CODES for e in errors):
                retry[key], locked = record, locked + 1
            else:
                result.errors[key] = describe(errors)
        if locked:
            log.info("Salesforce could not lock %d %s records; retrying them", locked, spec.sobject)
            self.policy.sleep(self.policy.backoff(_PER_RECORD_RETRIES - retries))
        if retry:
            self._upsert_chunk(spec, retry, result, retries - 1, may_create)

    def _account_fields(self, account: AccountWrite) -> Callable[[], Record]:
        def build() -> Record:
            record = {ACCOUNTS.id_field: ACCOUNTS.normal_key(account.domain)}
            for attr in ("name", "industry", "employee_count", "annual_revenue", "country"):
                value = getattr(account, attr)
                if value is not None:
                    record[ACCOUNTS.standard[attr]] = value
            record.update(_custom(ACCOUNTS, account.fields))
            return record
        return build

    def _contact_fields(self, contact: ContactWrite, accounts: dict[str, str]) -> Callable[[], Record]:
        """A name only when given: a nameless update keeps the name a person typed in Salesforce."""
        def build() -> Record:
            check_link("linkedin_url", contact.linkedin_url)
            email = normal_email(contact.email)
            record: Record = {CONTACTS.id_field: email, "Email": email}
            if contact.name and contact.name.strip():
                first, record["LastName"] = split_name(contact.name)
                if first:
                    record["FirstName"] = first
            for attr in ("title", "phone", "country", "linkedin_url", "timezone", "company_domain"):
                value = getattr(contact, attr)
                if value is not None:
                    record[CONTACTS.standard[attr]] = normal_domain(value) if attr == "company_domain" else value
            if contact.email_opt_out:
                record[EMAIL_OPT_OUT] = True
            domain = normal_domain(contact.company_domain or "")
            if domain in accounts:
                record[ACCOUNT_REFERENCE] = {ACCOUNTS.id_field: domain}
            record.update(_custom(CONTACTS, contact.fields))
            return record
        return build

    def _remember_links(self, links: dict[str, tuple[str, str]]) -> None:
        """Link key -> (email, link id). A Salesforce contact has one account, so a new link forgets the old one."""
        self._index.relink("link", {key: link_id for key, (_, link_id) in links.items()},
                           parents={key: email for key, (email, _) in links.items()})

    # --- created-once records (tasks, activities) -----------------------------

    def _create_once(self, kind: str, items: list, fields: Callable[[Any], Record],
                     spec: ObjectMap = TASKS) -> WriteResult:
        """Create each item once: a remembered key is not sent again, and the rest are upserted by their key.

        A Task an earlier attempt created, its id never remembered (the worker killed in between, the answer
        lost), is found by the upsert and written again in place (counted updated): one Task per key, and the
        request may be repeated like any other. The ids are remembered chunk by chunk, as they land."""
        result = WriteResult()
        known = self._index.ids(kind, [item.key for item in items])
        fresh: dict[str, tuple[str, Record]] = {}  # key -> (email, record); the first of a key twice wins
        for item in items:
            if item.key in known or item.key in fresh or item.key in result.errors:
                continue
            try:
                check_email(item.contact_email)
                fresh[item.key] = (normal_email(item.contact_email), fields(item))
            except ValueError as exc:
                result.errors[item.key] = str(exc)
        contacts = self._ids(CONTACTS, {email for email, _ in fresh.values()})
        ready: dict[str, Record] = {}
        for key, (email, record) in fresh.items():
            if email in contacts:
                ready[key] = {spec.id_field: created_key(kind, key), "WhoId": contacts[email], **record}
            else:
                result.errors[key] = f"no contact with email {email!r}"
        for chunk in chunks(list(ready.items()), BATCH):
            written = WriteResult()
            self._upsert_chunk(spec, dict(chunk), written, _PER_RECORD_RETRIES)
            self._index.remember(kind, written.ids, parents={key: fresh[key][0] for key in written.ids})
            known.update(written.ids)
            result.errors.update(written.errors)
            result.created += written.created
            result.updated += written.updated
        result.ids = {item.key: known[item.key] for item in items if item.key in known}
        result.unchanged = sum(item.key in known for item in items) - result.created - result.updated
        return result

    def _read_created(self, kind: str, contact_email: str | None, sobject: str = TASK_OBJECT,
                      fields: Iterable[str] = TASK_FIELDS) -> list[tuple[str, str, Record]]:
        parent = None if contact_email is None else normal_email(contact_email)
        known = self._index.children(kind, parent)
        by_id = {crm_id: key for key, crm_id in known.items()}
        emails = self._index.parents(kind, list(known))
        records = self._select(sobject, fields, [], "Id", list(by_id)) if by_id else []
        return [(by_id[r["Id"]], emails.get(by_id[r["Id"]]) or parent or "", r) for r in records if r["Id"] in by_id]

    # --- reads and ids ------------------------------------------------------

    def _ids(self, spec: ObjectMap, keys: set[str]) -> dict[str, str]:
        """Salesforce ids by natural key: remembered ones, then one SOQL query per 200 for the rest."""
        found = self._index.ids(spec.kind, keys)
        missing = [key for key in keys if key not in found]
        if missing:
            read = {spec.normal_key(r[spec.id_field]): r["Id"]
                    for r in self._select(spec.sobject, ["Id", spec.id_field], [], spec.id_field, missing)}
            self._index.remember(spec.kind, read)
            found.update(read)
        return found

    def _read(self, spec: ObjectMap, keys: list[str] | None, conditions: list[str]) -> list[Record]:
        """SalesOS-managed records (their key field is set), all of them or by key."""
        if keys is None:
            conditions = [f"{spec.id_field} != null", *conditions]
        return self._select(spec.sobject, spec.fields, conditions, spec.id_field, keys)

    def _select(self, sobject: str, fields: Iterable[str], conditions: list[str], column: str,
                values: list[str] | None) -> list[Record]:
        """`SELECT fields FROM sobject WHERE conditions [AND column IN values]`, one query per chunk of values."""
        if values is not None and not values:
            return []
        chunks = [None] if values is None else list(_in_chunks(sorted(set(values))))
        records: list[Record] = []
        for chunk in chunks:
            where = conditions + ([] if chunk is None else [f"{column} IN ({', '.join(map(soql_quote, chunk))})"])
            records += self._query(f"SELECT {', '.join(fields)} FROM {sobject}"
                                   + (f" WHERE {' AND '.join(where)}" if where else ""))
        return sorted(records, key=lambda record: record["Id"])

    def _query(self, soql: str) -> list[Record]:
        """Every page of a query; each page is a call of its own, so each is counted and budgeted."""
        page = self._call(lambda sf: self._send(sf, "GET", "query/", params={"q": soql}), "query")
        records = list(page["records"])
        while not page.get("done", True):
            page = self._call(lambda sf: self._send(sf, "GET", page["nextRecordsUrl"]), "query more")
            records += page["records"]
        return records

    def _account(self, r: Record) -> Account:
        return Account(id=r["Id"], domain=r[ACCOUNTS.id_field], name=r.get("Name") or "",
                       industry=r.get("Industry") or None, employee_count=number(r.get("NumberOfEmployees"), True),
                       annual_revenue=number(r.get("AnnualRevenue")), country=r.get("BillingCountry") or None,
                       fields=_fields(ACCOUNTS, r))

    def _contact(self, r: Record) -> Contact:
        values = {attr: r.get(name) or None for attr, name in CONTACTS.standard.items() if attr != "email"}
        return Contact(id=r["Id"], email=normal_email(r[CONTACTS.id_field]),
                       name=join_name(r.get("FirstName"), r.get("LastName")), fields=_fields(CONTACTS, r),
                       email_opt_out=bool(r.get(EMAIL_OPT_OUT)), owner_id=r.get(OWNER) or None,
                       **values)

    # --- transport ----------------------------------------------------------

    def _call(self, request: Callable[[Salesforce], T], what: str) -> T:
        return call(self.policy, self._tokens, lambda token: request(self._client(token)), classify, what)

    def _client(self, token: str) -> Salesforce:
        client = self._clients.get(token)
        if client is None:
            instance_url = self._instance_url() if callable(self._instance_url) else self._instance_url
            client = Salesforce(instance_url=instance_url, session_id=token, version=self._version,
                                session=self._session)
            self._clients = {token: client}  # a refresh drops the old one
        return client

    def _send(self, sf: Salesforce, method: str, path: str, **kwargs: Any) -> Any:
        """One REST request with simple-salesforce's session and headers, read here so that
        `Sforce-Limit-Info` is seen on every answer and `Retry-After` survives into the exception."""
        url = f"https://{sf.sf_instance}{path}" if path.startswith("/") else sf.base_url + path
        response = sf.session.request(method, url, headers=sf.headers, **kwargs)
        note_api_usage(self.policy.budget, response.headers.get("Sforce-Limit-Info"))
        if response.status_code >= 300:
            try:
                exception_handler(response, name=path)
            except SalesforceError as exc:
                exc.headers = dict(response.headers)  # simple-salesforce keeps the body, not the headers
                raise
        return None if response.status_code == 204 or not response.content else response.json()


def note_api_usage(budget: Budget | None, limit_info: str | None) -> None:
    """`Sforce-Limit-Info: api-usage=18/5000` names the org's daily allowance; SalesOS's share is taken of that."""
    if budget is None or not limit_info:
        return
    usage = Salesforce.parse_api_usage(limit_info).get("api-usage")
    if usage is not None and usage.total > 0:
        budget.allowance = usage.total


def classify(exc: Exception) -> CRMError | None:
    """A simple-salesforce or requests exception as a CRMError."""
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return Transient(f"Salesforce could not be reached ({type(exc).__name__})")
    status = getattr(exc, "status", None)
    if not isinstance(exc, SalesforceError) or status is None:
        return None
    headers = getattr(exc, "headers", None)
    code, message = _error(exc.content)
    if status == 401:
        return AuthExpired(f"Salesforce refused the access token: {message}")
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        # The same code covers the concurrent long-request limit, which passes in seconds, not at midnight.
        daily = "concurrent" not in message.lower()
        return RateLimited(f"Salesforce API limit ({code}): {message}", retry_after=retry_after(headers), daily=daily)
    if status == 429 or status >= 500:
        return Transient(f"Salesforce answered {status}: {message}", retry_after=retry_after(headers))
    return RequestRejected(f"Salesforce refused the request ({' '.join(filter(None, (str(status), code)))}): {message}",
                           status=status)


def describe(errors: list[dict]) -> str:
    """Per-record errors as one line: `SalesOS_Fit_Score__c: Fit score: value outside of valid range on numeric
    field: 1e+15 (NUMBER_OUTSIDE_VALID_RANGE)`."""
    if not errors:
        return "Salesforce did not write this record and gave no reason"
    lines = []
    for error in errors:
        fields = ", ".join(error.get("fields") or [])
        lines.append(f"{fields + ': ' if fields else ''}{error.get('message', '')} ({error.get('statusCode', '')})")
    return "; ".join(lines)


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and single quote are escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _with_stand_in_name(spec: ObjectMap, key: str, record: Record, errors: list[dict]) -> Record | None:
    """A new contact without a name fails on LastName, which Salesforce requires; it is sent again named by its
    email, so an update never overwrites a name with the stand-in."""
    missing = any(e.get("statusCode") == "REQUIRED_FIELD_MISSING" and "LastName" in (e.get("fields") or [])
                  for e in errors)
    if spec is CONTACTS and missing and "LastName" not in record:
        return {**record, "LastName": stand_in_last_name(key)}
    return None


def _without_missing_account(record: Record, errors: list[dict]) -> Record | None:
    """A contact whose account was deleted in Salesforce is still written, unlinked; `associate` reports the link."""
    missing = any(e.get("statusCode") == "INVALID_FIELD" and "Foreign key external ID" in (e.get("message") or "")
                  for e in errors)
    if missing and ACCOUNT_REFERENCE in record:
        return {name: value for name, value in record.items() if name != ACCOUNT_REFERENCE}
    return None


def _custom(spec: ObjectMap, values: dict[str, Any]) -> Record:
    record = {}
    for name, value in values.items():
        field = spec.custom.get(name)
        if field is None:
            raise ValueError(f"unknown field {name!r}")
        record[field.salesforce_name] = to_salesforce(field, value)
    return record


def _fields(spec: ObjectMap, record: Record) -> dict[str, Any]:
    values = {name: from_salesforce(field, record.get(field.salesforce_name)) for name, field in spec.custom.items()}
    return {name: value for name, value in values.items() if value is not None}


def _when(iso: str, reminder: bool) -> Record:
    """The day in ActivityDate, the instant in ReminderDateTime (Task's only writable date-time)."""
    moment = parse_datetime(iso)
    return {"ActivityDate": moment.date().isoformat(), "ReminderDateTime": datetime_text(moment),
            "IsReminderSet": reminder}


_JOIN = "\n\nJoin: "


def _event_fields(meeting: MeetingWrite) -> Record:
    """An Event: its own start and end instants; the video link in Location when it fits, and in Description."""
    check_link("video_url", meeting.video_url)
    start, end = parse_datetime(instant("start", meeting.start)), parse_datetime(instant("end", meeting.end))
    if end <= start:
        raise ValueError(f"end: {datetime_text(end)} is not after start {datetime_text(start)}")
    location = meeting.location or (meeting.video_url if meeting.video_url and
                                    len(meeting.video_url) <= EVENT_LOCATION_MAX else None)
    record: Record = {"Subject": meeting.subject, "StartDateTime": datetime_text(start),
                      "EndDateTime": datetime_text(end), "Location": location,
                      "Description": meeting.body + (f"{_JOIN}{meeting.video_url}" if meeting.video_url else "")}
    if meeting.owner_id:
        record["OwnerId"] = meeting.owner_id
    return record


def _split_video(description: str) -> tuple[str, str | None]:
    """(body, video link) of an Event's Description as `_event_fields` wrote it."""
    body, found, link = description.rpartition(_JOIN)
    if found and link.startswith(("https://", "http://")) and "\n" not in link:
        return body, link
    return description, None


def _instant_of(record: Record) -> dt.datetime:
    if record.get("ReminderDateTime"):
        return parse_datetime(record["ReminderDateTime"])
    return parse_datetime(f"{record['ActivityDate']}T00:00:00+00:00")


def _error(content: Any) -> tuple[str, str]:
    """(errorCode, message) from a REST error body: usually `[{"message", "errorCode"}]`."""
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, dict):
        return str(first.get("errorCode") or ""), str(first.get("message") or "")
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    return "", clip(str(first or ""), 300)


def _in_chunks(values: list[str]) -> Iterator[list[str]]:
    """Values for `IN (...)` lists: at most IN_CHUNK a query, and few enough bytes for the query's URL."""
    chunk: list[str] = []
    size = 0
    for value in values:
        cost = len(quote_plus(soql_quote(value) + ", "))
        if chunk and (len(chunk) == IN_CHUNK or size + cost > IN_CHUNK_URL_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(value)
        size += cost
    if chunk:
        yield chunk
