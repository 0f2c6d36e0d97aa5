"""A stateful fake of the Salesforce REST endpoints SalesOS calls, served through `responses`.

Small but honest: it stores records, upserts by external id (case-insensitively,
as the SalesOS external-id fields are installed; Tasks by their SalesOS key,
the Activity field Task shares), assigns 18-character ids with
Salesforce's case-checksum suffix, answers in the documented shapes with a
`Sforce-Limit-Info` header, pages query results, and refuses what an org
refuses: a missing LastName or Name on create, an unknown field, a number
outside its field's range, a value outside a restricted picklist, a URL too
long. Field names
and types come from `crm_adapters.fields`, as the installed metadata does.

Tests inject failures: `revoke(token)` (401), `limit_exceeded()` (403
REQUEST_LIMIT_EXCEEDED), `unavailable()` (503), `fail_next()` for any other
answer, `fail_record(key, ...)` for a per-record error on one key, and
`lose_next_answer()` for a request carried out whose answer never arrives.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from crm_adapters.fields import COMPANY_KEY, CONTACT_KEY, ENGAGEMENT_KEY, fields_for, identity_fields

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
Record = dict[str, Any]


@dataclass(frozen=True)
class _Field:
    type: str  # text, long, number, int, currency, bool, datetime, date, picklist, id
    label: str
    options: tuple[str, ...] = ()
    target: str | None = None  # the object an id field points to


_CUSTOM_TYPES = {"number": "number", "text": "text", "json": "long", "bool": "bool", "datetime": "datetime",
                 "enum": "picklist"}
_TEXT = {"text": 255, "long": 131072}
_DIGITS = {"number": 14, "int": 8, "currency": 18}  # Number(18,4), Number(8,0), Currency(18,0): digits before the point


def _custom(kind: str) -> dict[str, _Field]:
    return {f.salesforce_name: _Field(_CUSTOM_TYPES[f.type], f.label, f.options)
            for f in identity_fields(kind, "salesforce") + fields_for(kind)}


SCHEMAS: dict[str, dict[str, _Field]] = {
    "Account": {"Name": _Field("text", "Account Name"), "Industry": _Field("text", "Industry"),
                "Website": _Field("text", "Website"),
                "NumberOfEmployees": _Field("int", "Employees"), "AnnualRevenue": _Field("currency", "Annual Revenue"),
                "BillingCountry": _Field("text", "Billing Country"), **_custom("company")},
    "Contact": {"FirstName": _Field("text", "First Name"), "LastName": _Field("text", "Last Name"),
                "Email": _Field("text", "Email"), "Title": _Field("text", "Title"), "Phone": _Field("text", "Phone"),
                "MailingCountry": _Field("text", "Mailing Country"), "HasOptedOutOfEmail": _Field("bool", "Email Opt Out"),
                "OwnerId": _Field("text", "Owner ID"),
                "AccountId": _Field("id", "Account ID", target="Account"), **_custom("contact")},
    "Lead": {"FirstName": _Field("text", "First Name"), "LastName": _Field("text", "Last Name"),
             "Company": _Field("text", "Company"), "Email": _Field("text", "Email"),
             "HasOptedOutOfEmail": _Field("bool", "Email Opt Out"), "IsConverted": _Field("bool", "Converted"),
             "OwnerId": _Field("text", "Owner ID"),
             **_custom("contact")},
    "Task": {"Subject": _Field("text", "Subject"), "Description": _Field("long", "Comments"),
             "ActivityDate": _Field("date", "Due Date Only"),
             "ReminderDateTime": _Field("datetime", "Reminder Date/Time"),
             "IsReminderSet": _Field("bool", "Reminder Set"), "Status": _Field("text", "Status"),
             "TaskSubtype": _Field("text", "Task Subtype"), "WhoId": _Field("id", "Name ID", target="Contact"),
             **_custom("engagement")},
    # Event shares Activity's custom fields with Task. OwnerId names a User, which this fake keeps no store of.
    "Event": {"Subject": _Field("text", "Subject"), "Description": _Field("long", "Description"),
              "StartDateTime": _Field("datetime", "Start"), "EndDateTime": _Field("datetime", "End"),
              "Location": _Field("text", "Location"), "OwnerId": _Field("text", "Assigned To ID"),
              "WhoId": _Field("id", "Name ID", target="Contact"), **_custom("engagement")},
}
REQUIRED = {"Account": ("Name",), "Contact": ("LastName",), "Lead": ("LastName", "Company"), "Task": (),
            "Event": ("StartDateTime", "EndDateTime")}
EXTERNAL_IDS = {"Account": {COMPANY_KEY.salesforce_name}, "Contact": {CONTACT_KEY.salesforce_name},
                "Task": {ENGAGEMENT_KEY.salesforce_name}, "Event": {ENGAGEMENT_KEY.salesforce_name}}
RELATIONSHIPS = {"Contact": {"Account": "AccountId"}}  # relationship name -> id field, for external-id references
PREFIXES = {"Account": "001", "Contact": "003", "Lead": "00Q", "Task": "00T", "Event": "00U"}
MAX_RECORDS = 200
MAX_URI_BYTES = 16_384  # with the headers, in fact; the URI alone is what a query's IN list grows


class _Refused(Exception):
    """A whole request refused: answered as Salesforce's error array."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SalesforceFake:
    def __init__(self, instance_url: str = "https://salesos-test.my.salesforce.com", *, daily_limit: int = 100_000,
                 page_size: int = 2000) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.daily_limit, self.page_size = daily_limit, page_size
        self.accounts: dict[str, Record] = {}
        self.contacts: dict[str, Record] = {}
        self.tasks: dict[str, Record] = {}
        self.leads: dict[str, Record] = {}
        self.events: dict[str, Record] = {}
        self.calls = 0  # every API request received, failed ones included
        self.requests: list[tuple[str, str]] = []  # (method, path) of each
        self.api_usage = 0  # what Sforce-Limit-Info reports as used
        self.revoked: set[str] = set()
        self._stores = {"Account": self.accounts, "Contact": self.contacts, "Lead": self.leads, "Task": self.tasks,
                        "Event": self.events}
        self._canned: list[tuple[int, Any, dict[str, str]]] = []
        self._lost_answers = 0
        self._record_failures: dict[str, list[dict]] = {}
        self._cursors: dict[str, tuple[list[Record], int]] = {}
        self._numbers = itertools.count(1)

    # --- use ----------------------------------------------------------------

    @contextmanager
    def active(self) -> Iterator[SalesforceFake]:
        """Route every `requests` call to the instance's REST API here while the block runs."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.register(mock)
            yield self

    def register(self, mock: responses.RequestsMock) -> None:
        """Answer this instance's REST API within `mock` (several orgs can share one)."""
        pattern = re.compile(re.escape(self.instance_url) + r"/services/data/")
        for method in (responses.GET, responses.POST, responses.PATCH, responses.DELETE):
            mock.add_callback(method, pattern, callback=self._handle, content_type="application/json")

    def account(self, domain: str) -> Record | None:
        return self._find("Account", COMPANY_KEY.salesforce_name, domain)

    def contact(self, email: str) -> Record | None:
        return self._find("Contact", CONTACT_KEY.salesforce_name, email)

    def add_lead(self, email: str, converted: bool = False, opted_out: bool = False) -> str:
        """A Lead a rep created (SalesOS writes Contacts only); returns its id."""
        crm_id = salesforce_id(PREFIXES["Lead"], next(self._numbers))
        self.leads[crm_id] = {"Id": crm_id, "LastName": email.partition("@")[0], "Company": "Acme", "Email": email,
                              "HasOptedOutOfEmail": opted_out, "IsConverted": converted}
        return crm_id

    def add_contact(self, email: str, opted_out: bool = False) -> str:
        """A Contact a rep created, without SalesOS's external id; returns its id."""
        crm_id = salesforce_id(PREFIXES["Contact"], next(self._numbers))
        self.contacts[crm_id] = {"Id": crm_id, "LastName": email.partition("@")[0], "Email": email,
                                 "HasOptedOutOfEmail": opted_out}
        return crm_id

    def links(self) -> set[tuple[str, str]]:
        """(contact email, account domain) for every contact with an account."""
        return {(c[CONTACT_KEY.salesforce_name], self.accounts[c["AccountId"]][COMPANY_KEY.salesforce_name])
                for c in self.contacts.values() if c.get("AccountId") in self.accounts}

    # --- failures -------------------------------------------------------------

    def revoke(self, token: str) -> None:
        """Requests bearing `token` are answered 401 INVALID_SESSION_ID from now on."""
        self.revoked.add(token)

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self._canned += [(status, body, headers or {})] * times

    def limit_exceeded(self) -> None:
        """The org's daily API allowance is spent: 403 REQUEST_LIMIT_EXCEEDED."""
        self.fail_next(403, json.loads((FIXTURES / "salesforce_error_request_limit_exceeded_403.json").read_text()))

    def unavailable(self, times: int = 1, retry_after: float | None = None) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self.fail_next(503, [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}], headers, times)

    def lose_next_answer(self, times: int = 1) -> None:
        """Carry out the next `times` requests, then answer each 503, as when the answer was lost on the way back."""
        self._lost_answers += times

    def fail_record(self, key: str, status_code: str, message: str, fields: tuple[str, ...] = (),
                    times: int = 1) -> None:
        """The next `times` writes of the record with this external id (or, for an update by id, this id) fail
        with this error, the rest land."""
        error = {"statusCode": status_code, "message": message, "fields": list(fields)}
        self._record_failures[key.lower()] = [error] * times

    # --- HTTP -----------------------------------------------------------------

    def _handle(self, request) -> tuple[int, dict[str, str], str]:
        self.calls += 1
        url = urlsplit(request.url)
        self.requests.append((request.method, url.path))
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if not token or token in self.revoked:
            return 401, {}, json.dumps([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        self.api_usage += 1
        headers = {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}"}
        if len(request.url) > MAX_URI_BYTES:
            return 414, headers, "URI Too Long"
        if self._canned:
            status, body, extra = self._canned.pop(0)
            return status, {**headers, **extra}, json.dumps(body)
        try:
            body = json.loads(request.body) if request.body else None
            status, answer = self._route(request.method, url.path, parse_qs(url.query), body)
        except _Refused as refused:
            status, answer = refused.status, [{"message": refused.message, "errorCode": refused.code}]
        if self._lost_answers:
            self._lost_answers -= 1
            status, answer = 503, [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        return status, headers, "" if status == 204 else json.dumps(answer)

    def _route(self, method: str, path: str, params: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        match = re.fullmatch(r"/services/data/v(\d+\.\d)/(.*)", path)
        if match is None:
            raise _Refused(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = match.groups()
        upsert = re.fullmatch(r"composite/sobjects/(\w+)/(\w+)", rest)
        if method == "PATCH" and upsert:
            return 200, self._upsert(*upsert.groups(), body)
        if method == "POST" and rest == "composite/sobjects":
            return 200, self._create(body)
        if method == "PATCH" and rest == "composite/sobjects":
            return 200, self._update_by_id(body)
        record = re.fullmatch(r"sobjects/(\w+)/(\w{15,18})", rest)
        if method == "PATCH" and record:
            return self._update(*record.groups(), body)
        if method == "GET" and rest in ("query", "query/"):
            return 200, self._query(version, params.get("q", [""])[0])
        if method == "GET" and rest.startswith("query/") and rest.removeprefix("query/") in self._cursors:
            return 200, self._page(version, rest.removeprefix("query/"))
        raise _Refused(404, "NOT_FOUND", "The requested resource does not exist")

    # --- writes ---------------------------------------------------------------

    def _update(self, sobject: str, record_id: str, body: Any) -> tuple[int, Any]:
        """PATCH sobjects/{type}/{id}: 204; an external id another record holds is DUPLICATE_VALUE (400)."""
        store = self._stores[sobject]
        if record_id not in store:
            raise _Refused(404, "NOT_FOUND", "The requested resource does not exist")
        for name, value in body.items():
            if name in EXTERNAL_IDS.get(sobject, ()) and (holder := self._find(sobject, name, value)) is not None \
                    and holder["Id"] != record_id:
                raise _Refused(400, "DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record "
                                                       f"with id: {holder['Id']}")
        store[record_id].update(body)
        return 204, None

    def _upsert(self, sobject: str, field: str, body: Any) -> list[Record]:
        if sobject not in EXTERNAL_IDS:
            raise _Refused(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        if field not in EXTERNAL_IDS[sobject]:
            raise _Refused(400, "INVALID_FIELD", f"Field {field} is not an External ID or indexed field for {sobject}")
        records = self._records(body, {sobject})
        snapshot = self._snapshot()
        keys = [str(record.get(field) or "").lower() for record in records]
        counts = Counter(keys)
        results = []
        for key, record in zip(keys, records):
            if not key:
                errors = [_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{field}]", [field])]
            elif counts[key] > 1:
                errors = [_error("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}", [field])]
            elif self._record_failures.get(key):
                errors = [self._record_failures[key].pop(0)]
            else:
                existing = self._find(sobject, field, key)
                saved = self._save(sobject, record, None if existing is None else existing["Id"])
                if isinstance(saved, tuple):
                    results.append({"id": saved[0], "success": True, "errors": [], "created": saved[1]})
                    continue
                errors = saved
            results.append({"success": False, "errors": errors})
        return self._all_or_none(body, results, snapshot)

    def _update_by_id(self, body: Any) -> list[Record]:
        """PATCH composite/sobjects: update records named by Id; a converted Lead cannot be updated."""
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _Refused(400, "JSON_PARSER_ERROR", "The request body must hold a records list")
        snapshot, results = self._snapshot(), []
        for record in body["records"]:
            sobject = (record.get("attributes") or {}).get("type")
            fields = {name: value for name, value in record.items() if name not in ("attributes", "Id")}
            self._records({"records": [{"attributes": {"type": sobject}, **fields}]}, set(SCHEMAS))
            existing = self._stores[sobject].get(record.get("Id") or "")
            if existing is not None and self._record_failures.get(existing["Id"].lower()):
                results.append({"id": existing["Id"], "success": False,
                                "errors": [self._record_failures[existing["Id"].lower()].pop(0)]})
            elif existing is None:
                results.append({"success": False, "errors": [_error("ENTITY_IS_DELETED", "entity is deleted", [])]})
            elif existing.get("IsConverted"):
                results.append({"id": existing["Id"], "success": False, "errors": [_error(
                    "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])]})
            else:
                saved = self._save(sobject, {"attributes": record["attributes"], **fields}, existing["Id"])
                results.append({"id": existing["Id"], "success": True, "errors": []} if isinstance(saved, tuple)
                               else {"id": existing["Id"], "success": False, "errors": saved})
        return self._all_or_none(body, results, snapshot)

    def _create(self, body: Any) -> list[Record]:
        records, snapshot, results = self._records(body, set(SCHEMAS)), self._snapshot(), []
        for record in records:
            saved = self._save(record["attributes"]["type"], record, None)
            if isinstance(saved, tuple):
                results.append({"id": saved[0], "success": True, "errors": []})
            else:
                results.append({"success": False, "errors": saved})
        return self._all_or_none(body, results, snapshot)

    def _snapshot(self) -> dict[str, dict[str, Record]]:
        return {sobject: {crm_id: dict(r) for crm_id, r in store.items()} for sobject, store in self._stores.items()}

    def _all_or_none(self, body: Record, results: list[Record], snapshot: dict[str, dict[str, Record]]) -> list[Record]:
        """With allOrNone true, one failed record rolls the whole request back."""
        if not body.get("allOrNone") or all(r["success"] for r in results):
            return results
        for sobject, store in self._stores.items():
            store.clear()
            store.update(snapshot[sobject])
        rolled_back = _error("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were "
                             "valid and the request was using AllOrNone header", [])
        return [{"success": False, "errors": r["errors"] or [rolled_back]} for r in results]

    def _records(self, body: Any, types: set[str]) -> list[Record]:
        """The request's records, refused as a whole when malformed (as Salesforce answers 400)."""
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _Refused(400, "JSON_PARSER_ERROR", "The request body must hold a records list")
        records = body["records"]
        if len(records) > MAX_RECORDS:
            raise _Refused(400, "EXCEEDED_ID_LIMIT",
                           f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call")
        for record in records:
            sobject = (record.get("attributes") or {}).get("type")
            if sobject not in types:
                raise _Refused(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported here")
            for name, value in record.items():
                if name == "attributes" or name in RELATIONSHIPS.get(sobject, {}):
                    continue
                if name == "Id" or name not in SCHEMAS[sobject]:
                    raise _Refused(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")
                _check_json_type(SCHEMAS[sobject][name], name, value)
        return records

    def _save(self, sobject: str, record: Record, existing: str | None) -> tuple[str, bool] | list[dict]:
        """Write one record: (id, created), or its errors with nothing written."""
        values, errors = {}, []
        for name, value in record.items():
            if name == "attributes":
                continue
            if name in RELATIONSHIPS.get(sobject, {}):
                [(field, key)] = value.items()
                target = self._find(name, field, key)
                if target is None:
                    errors.append(_error("INVALID_FIELD", f"Foreign key external ID: {key} not found for field "
                                                          f"{field} in entity {name}", []))
                else:
                    values[RELATIONSHIPS[sobject][name]] = target["Id"]
                continue
            stored, error = self._value(SCHEMAS[sobject][name], name, value)
            if error:
                errors.append(error)
            values[name] = stored
        if existing is None:
            missing = [name for name in REQUIRED[sobject] if values.get(name) in (None, "")]
            if missing:
                errors.append(_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                                     missing))
        if errors:
            return errors
        store = self._stores[sobject]
        if existing is not None:
            store[existing].update(values)
            return existing, False
        crm_id = salesforce_id(PREFIXES[sobject], next(self._numbers))
        unchecked = {name: False for name, f in SCHEMAS[sobject].items() if f.type == "bool"}
        store[crm_id] = {"Id": crm_id, **unchecked, **values}
        return crm_id, True

    def _value(self, field: _Field, name: str, value: Any) -> tuple[Any, dict | None]:
        """The value as Salesforce stores it, or the per-record error it answers."""
        if value is None:
            return (False if field.type == "bool" else None), None
        if field.type in _TEXT and len(value) > _TEXT[field.type]:
            return None, _error("STRING_TOO_LONG", f"{field.label}: data value too large: {value[:40]} "
                                                   f"(max length={_TEXT[field.type]})", [name])
        if field.type in _DIGITS:
            if abs(value) >= 10 ** _DIGITS[field.type]:
                return None, _error("NUMBER_OUTSIDE_VALID_RANGE",
                                    f"{field.label}: value outside of valid range on numeric field: {value}", [name])
            return (int(value) if field.type == "int" else round(float(value), 4)), None
        if field.type == "picklist" and value not in field.options:
            return None, _error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                f"{field.label}: bad value for restricted picklist field: {value}", [name])
        if field.type == "datetime":
            moment = dt.datetime.fromisoformat(value).astimezone(dt.UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000", None
        if field.type == "id" and value not in self._stores[field.target]:
            return None, _error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
        return value, None

    def _find(self, sobject: str, field: str, key: str) -> Record | None:
        wanted = key.strip().lower()
        return next((r for r in self._stores[sobject].values() if str(r.get(field) or "").lower() == wanted), None)

    # --- queries --------------------------------------------------------------

    def _query(self, version: str, soql: str) -> Record:
        fields, sobject, conditions = parse_soql(soql)
        schema = SCHEMAS.get(sobject)
        if schema is None:
            raise _Refused(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        for name in [*fields, *(name for name, _, _ in conditions)]:
            if name != "Id" and name not in schema:
                raise _Refused(400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'")
        rows = [{"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}"},
                 **{name: r.get(name) for name in fields}}
                for r in self._stores[sobject].values() if all(_holds(r, *condition) for condition in conditions)]
        locator = f"01gDn00000{len(self._cursors):05d}"
        self._cursors[locator] = (rows, 0)
        return self._page(version, locator)

    def _page(self, version: str, cursor: str) -> Record:
        rows, offset = self._cursors.pop(cursor)
        page = {"totalSize": len(rows), "done": offset + self.page_size >= len(rows),
                "records": rows[offset:offset + self.page_size]}
        if not page["done"]:
            following = f"{cursor.partition('-')[0]}-{offset + self.page_size}"
            self._cursors[following] = (rows, offset + self.page_size)
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{following}"
        return page


_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op>!=|=|,|\(|\))|(?P<word>[A-Za-z_][\w.]*))")


def parse_soql(soql: str) -> tuple[list[str], str, list[tuple[str, str, list[str | None]]]]:
    """The SOQL SalesOS emits: SELECT fields FROM object [WHERE cond AND cond ...] with conditions
    `F IN ('a', 'b')`, `F = 'a'` and `F != null`. Anything else is refused as MALFORMED_QUERY."""
    tokens = _tokenize(soql)

    def take(kind: str, text: str | None = None) -> str:
        if not tokens or tokens[0][0] != kind or (text is not None and tokens[0][1].upper() != text):
            raise _Refused(400, "MALFORMED_QUERY", f"expected {text or kind} in: {soql}")
        return tokens.pop(0)[1]

    def at(text: str) -> bool:
        return bool(tokens) and tokens[0][1].upper() == text

    take("word", "SELECT")
    fields = [take("word")]
    while at(","):
        take("op", ",")
        fields.append(take("word"))
    take("word", "FROM")
    sobject = take("word")
    conditions = []
    if at("WHERE"):
        take("word", "WHERE")
        while True:
            name = take("word")
            if at("IN"):
                take("word", "IN")
                take("op", "(")
                values = [take("string")]
                while at(","):
                    take("op", ",")
                    values.append(take("string"))
                take("op", ")")
                conditions.append((name, "IN", values))
            else:
                op = take("op")
                if tokens and tokens[0][0] == "string":
                    conditions.append((name, op, [take("string")]))
                else:
                    take("word", "NULL")
                    conditions.append((name, op, [None]))
            if not at("AND"):
                break
            take("word", "AND")
    if tokens:
        raise _Refused(400, "MALFORMED_QUERY", f"unexpected {tokens[0][1]!r} in: {soql}")
    return fields, sobject, conditions


def _tokenize(soql: str) -> list[tuple[str, str]]:
    tokens, position, text = [], 0, soql.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _Refused(400, "MALFORMED_QUERY", f"unexpected text at {text[position:position + 20]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _holds(record: Record, name: str, op: str, values: list[str | None]) -> bool:
    """Text compares case-insensitively in SOQL, as the external-id fields are installed."""
    value = record.get(name)
    stored = None if value is None else str(value).lower()
    wanted = {None if v is None else v.lower() for v in values}
    if op == "!=":
        return stored not in wanted
    return stored in wanted


def _check_json_type(field: _Field, name: str, value: Any) -> None:
    """A value of the wrong JSON type fails the whole request's parsing, as it does in Salesforce."""
    if value is None:
        return
    expected = bool if field.type == "bool" else (int, float) if field.type in _DIGITS else str
    wrong = not isinstance(value, expected) or (field.type != "bool" and isinstance(value, bool))
    if not wrong and field.type in ("datetime", "date"):
        try:
            dt.datetime.fromisoformat(value) if field.type == "datetime" else dt.date.fromisoformat(value)
        except ValueError:
            wrong = True
    if wrong:
        raise _Refused(400, "JSON_PARSER_ERROR", f"Cannot deserialize {field.type} for {name} from {value!r}")


def _error(status_code: str, message: str, fields: list[str]) -> dict:
    return {"statusCode": status_code, "message": message, "fields": fields}


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character id: 15 case-sensitive characters plus the suffix Salesforce derives from their case."""
    base = f"{prefix}Dn00000{number:05d}"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = "".join(alphabet[sum(1 << i for i, ch in enumerate(base[start:start + 5]) if ch.isupper())]
                     for start in range(0, 15, 5))
    return base + suffix
