"""Creating the SalesOS custom fields in a HubSpot portal or a Salesforce org through their APIs.

Every payload comes from `crm_adapters.manifests` (HubSpot property
definitions, Salesforce field metadata, the permission set), which is generated
from `crm_adapters.fields`. Nothing here retypes a name or a type, so what an
admin deploys from `manifest/` and what `connector provision` creates are one
definition; `tests/crm_adapters/test_provision.py` checks the requests against
the committed manifest files.

Provisioning is idempotent and never destructive. It reads what exists, creates
only what is missing, and reports a field that exists with another shape as a
conflict instead of changing it: the customer's data may already live in it,
and only their admin can decide what to do with that data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import requests
from hubspot import HubSpot
from pydantic import BaseModel, Field
from simple_salesforce import Salesforce

from crm_adapters.calls import CallPolicy, TokenSource, call
from crm_adapters.errors import RequestRejected, Transient
from crm_adapters.fields import CustomField
from crm_adapters.hubspot import classify as classify_hubspot
from crm_adapters.hubspot_client import shared_connection_client
from crm_adapters.manifests import (
    HUBSPOT_GROUP, SALESFORCE_API_VERSION, SALESFORCE_GRANTED_AS, SALESFORCE_OBJECT_ACCESS, SALESFORCE_PERMISSION_SET,
    SALESFORCE_STANDARD_FIELDS, hubspot_properties, salesforce_field_metadata, salesforce_fields, salesforce_grant_name,
)
from crm_adapters.salesforce import classify as classify_salesforce, describe

T = TypeVar("T")

SELF = "self"  # `assign_to`: the user the access token belongs to
COLLECTION = 200  # sObject Collections take at most 200 records a call
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class Conflict(BaseModel):
    """A field that exists with a shape SalesOS cannot write into; left untouched."""

    object: str
    field: str
    has: str
    needs: str


class ProvisionReport(BaseModel):
    """What one provisioning run found and did. Field keys are `object.field`."""

    crm: Literal["hubspot", "salesforce"]
    created: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    granted: list[str] = Field(default_factory=list)  # Salesforce fields granted access in this run
    changes: list[str] = Field(default_factory=list)  # groups, permission set, assignment created in this run

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.errors

    def summary(self) -> str:
        """Plain text for the CLI: counts first, then each thing an admin may have to act on."""
        name = {"hubspot": "HubSpot", "salesforce": "Salesforce"}[self.crm]
        lines = [f"{name}: {len(self.created)} fields created, {len(self.existing)} already there, "
                 f"{len(self.conflicts)} conflicts, {len(self.errors)} errors"]
        lines += [f"  created {change}" for change in self.changes]
        if self.granted:
            lines.append(f"  granted access to {len(self.granted)} fields "
                         f"(permission set {SALESFORCE_PERMISSION_SET['name']})")
        lines += [f"  conflict {c.object}.{c.field}: has {c.has}; SalesOS needs {c.needs}. Left as it is."
                  for c in self.conflicts]
        lines += [f"  error {key}: {message}" for key, message in self.errors.items()]
        if self.conflicts:
            lines.append("  Rename or delete each conflicting field in the CRM (its data stays yours to move), "
                         "then run provision again.")
        return "\n".join(lines)


# --- HubSpot -----------------------------------------------------------------


def provision_hubspot(tokens: TokenSource, *, host: str = "https://api.hubapi.com",
                      policy: CallPolicy | None = None) -> ProvisionReport:
    """Ensure the `salesos` property group and every SalesOS property on companies, contacts, tasks, notes,
    emails and meetings.

    Per object type: one group read (and create when missing), one batch read,
    and one batch create of the missing properties. A second run only reads.
    """
    portal = _Portal(tokens, host, policy or CallPolicy())
    report = ProvisionReport(crm="hubspot")
    for object_type, definitions in hubspot_properties().items():
        if portal.ensure_group(object_type):
            report.changes.append(f"property group {HUBSPOT_GROUP['name']} on {object_type}")
        found = portal.read_properties(object_type, [definition["name"] for definition in definitions])
        missing = []
        for definition in definitions:
            existing = found.get(definition["name"])
            if existing is None:
                missing.append(definition)
            elif conflict := hubspot_conflict(object_type, existing, definition):
                report.conflicts.append(conflict)
            else:
                report.existing.append(f"{object_type}.{definition['name']}")
        if missing:
            portal.create_properties(object_type, missing, report)
    return report


def hubspot_conflict(object_type: str, has: dict, needs: dict) -> Conflict | None:
    """Why an existing property cannot hold SalesOS values, or None when it can.

    Another type or field type; an enumeration lacking a value SalesOS writes
    (HubSpot rejects values outside the options); a key without unique values
    (upserts need `hasUniqueValue`). Labels, descriptions and groups may differ.
    """
    def conflict(has_text: str, needs_text: str) -> Conflict:
        return Conflict(object=object_type, field=needs["name"], has=has_text, needs=needs_text)

    if (has.get("type"), has.get("fieldType")) != (needs["type"], needs["fieldType"]):
        return conflict(f"type {has.get('type')}/{has.get('fieldType')}", f"type {needs['type']}/{needs['fieldType']}")
    if needs["type"] == "enumeration":
        values = [option.get("value") for option in has.get("options") or []]
        missing = [option["value"] for option in needs.get("options", []) if option["value"] not in values]
        if missing:
            return conflict(f"options {', '.join(map(str, values)) or '(none)'}",
                            f"options including {', '.join(missing)}")
    if needs.get("hasUniqueValue") and not has.get("hasUniqueValue"):
        return conflict("values that need not be unique", "unique values (hasUniqueValue): SalesOS upserts by it")
    return None


class _Portal:
    """hubspot-api-client calls through `call()`; bodies are sent and read as plain JSON.

    The manifest dicts go out as they are (the SDK serialises dicts unchanged), so
    HubSpot receives exactly the manifest; answers are read raw
    (`_preload_content=False`) because only a few keys matter here.
    """

    def __init__(self, tokens: TokenSource, host: str, policy: CallPolicy) -> None:
        self._tokens, self._host, self.policy = tokens, host.rstrip("/"), policy
        self._clients: dict[str, HubSpot] = {}

    def ensure_group(self, object_type: str) -> bool:
        """True when the group had to be created."""
        name = HUBSPOT_GROUP["name"]
        try:
            self._json(lambda c: c.crm.properties.groups_api.get_by_name(object_type, name, _preload_content=False),
                       f"read property group {name} of {object_type}")
            return False
        except RequestRejected as exc:
            if exc.status != 404:
                raise
        try:
            self._json(lambda c: c.crm.properties.groups_api.create(object_type, dict(HUBSPOT_GROUP),
                                                                    _preload_content=False),
                       f"create property group {name} on {object_type}")
        except RequestRejected as exc:
            if exc.status == 409:  # created meanwhile by a concurrent run
                return False
            raise
        return True

    def read_properties(self, object_type: str, names: list[str]) -> dict[str, dict]:
        body = {"archived": False, "inputs": [{"name": name} for name in names]}
        answer = self._json(lambda c: c.crm.properties.batch_api.read(object_type, body, _preload_content=False),
                            f"read {len(names)} {object_type} properties")
        return {result["name"]: result for result in answer.get("results", []) if "name" in result}

    def create_properties(self, object_type: str, definitions: list[dict], report: ProvisionReport) -> None:
        """One batch create; a refused batch or per-property error is reported against each property it names."""
        keys = {definition["name"]: f"{object_type}.{definition['name']}" for definition in definitions}
        try:
            answer = self._json(lambda c: c.crm.properties.batch_api.create(
                object_type, {"inputs": definitions}, _preload_content=False),
                f"create {len(definitions)} {object_type} properties")
        except (RequestRejected, Transient) as exc:
            report.errors.update({key: str(exc) for key in keys.values()})
            return
        for error in answer.get("errors", []):
            context = error.get("context") or {}
            named = context.get("name") or context.get("propertyName") or [
                name for name in keys if name in str(error.get("message", ""))]
            for name in named:
                if name in keys:
                    report.errors[keys[name]] = f"{error.get('category', 'error')}: {error.get('message', '')}"
        created = {result.get("name") for result in answer.get("results", [])}
        for name, key in keys.items():
            if name in created:
                report.created.append(key)
            elif key not in report.errors:
                report.errors[key] = "HubSpot did not confirm this property"

    def _json(self, request: Callable[[HubSpot], Any], what: str) -> dict:
        def run(token: str) -> dict:
            response = request(self._client(token))
            try:
                data = response.data
            finally:
                response.release_conn()
            return json.loads(data) if data else {}

        return call(self.policy, self._tokens, run, classify_hubspot, what)

    def _client(self, token: str) -> HubSpot:
        if token not in self._clients:
            self._clients = {token: shared_connection_client(token, self._host)}  # a refresh drops the old one
        return self._clients[token]


# --- Salesforce --------------------------------------------------------------


def provision_salesforce(tokens: TokenSource, *, instance_url: str, version: str = SALESFORCE_API_VERSION,
                         policy: CallPolicy | None = None, session: requests.Session | None = None,
                         assign_to: str | None = SELF) -> ProvisionReport:
    """Create the missing SalesOS fields on Account, Contact, Lead and Activity (Task's), then grant them through the
    permission set.

    Existing fields are read from the Tooling API's FieldDefinition (one query per
    object: it sees fields the token's user has no field-level security on, which
    describe would hide). Each missing field is one Tooling `CustomField` POST:
    the Tooling API has no bulk create, and one request per field keeps an error
    attached to its field while the others proceed. Fields are invisible to
    every user until granted, so the `SalesOS_Integration` permission set is
    created if needed, given read and edit on every usable field, the standard
    fields and Lead access an opt-out needs (as the committed permission set),
    and assigned to `assign_to` (a user Id; `SELF`, the token's user; None, nobody).
    """
    if assign_to not in (None, SELF) and not _SALESFORCE_ID.match(assign_to):
        raise ValueError(f"assign_to {assign_to!r} is not a Salesforce user Id")
    org = _Org(tokens, instance_url, version, policy or CallPolicy(), session)
    report = ProvisionReport(crm="salesforce")
    usable = []
    for sobject, fields in salesforce_fields().items():
        found = org.field_types(SALESFORCE_GRANTED_AS.get(sobject, sobject))  # Activity's fields are listed on Task
        for field in fields:
            payload = tooling_custom_field(sobject, field)
            key = salesforce_grant_name(sobject, field)
            has = found.get(field.salesforce_name)
            if has is None:
                try:
                    org.tooling("sobjects/CustomField", "POST", payload, f"create {key}")
                except (RequestRejected, Transient) as exc:
                    report.errors[key] = str(exc)
                    continue
                report.created.append(key)
            elif needs := salesforce_conflict(has, payload["Metadata"]):
                report.conflicts.append(Conflict(object=sobject, field=field.salesforce_name, has=has, needs=needs))
                continue
            else:
                report.existing.append(key)
            usable.append(key)
    try:
        _grant(org, {name: True for name in usable} | SALESFORCE_STANDARD_FIELDS, report, assign_to)
    except (RequestRejected, Transient) as exc:
        report.errors[f"permission set {SALESFORCE_PERMISSION_SET['name']}"] = str(exc)
    return report


def tooling_custom_field(sobject: str, field: CustomField) -> dict:
    """The Tooling API CustomField body: the manifest's metadata, with the object-qualified name as `FullName`.

    One spelling differs from the Metadata API XML: Tooling JSON calls a picklist
    value's API name `valueName`, since `fullName` there names the component.
    """
    metadata = salesforce_field_metadata(field)
    name = metadata.pop("fullName")
    if "valueSet" in metadata:
        definition = metadata["valueSet"]["valueSetDefinition"]
        values = [{("valueName" if key == "fullName" else key): item for key, item in value.items()}
                  for value in definition["value"]]
        metadata["valueSet"] = {**metadata["valueSet"], "valueSetDefinition": {**definition, "value": values}}
    return {"FullName": f"{sobject}.{name}", "Metadata": metadata}


_DATA_TYPES = {"Number": "Number", "Text": "Text", "LongTextArea": "Long Text Area", "Checkbox": "Checkbox",
               "DateTime": "Date/Time", "Picklist": "Picklist"}


def salesforce_conflict(data_type: str, metadata: dict) -> str | None:
    """What SalesOS needs, when the existing field (FieldDefinition.DataType, e.g. `Number(16, 2)`) cannot hold it.

    DataType is the Setup UI's wording. Another kind is a conflict; so are fewer
    decimal places (scores are 0-1), a shorter text, and a key field that is not
    an External ID (upserts go by it). Picklist values are not compared:
    FieldDefinition does not list them.
    """
    kind = "Picklist (Multi-Select)" if data_type.startswith("Picklist (Multi") else data_type.split("(", 1)[0].strip()
    sizes = [int(number) for number in re.findall(r"\d+", data_type)]
    needed = _DATA_TYPES[metadata["type"]]
    fits = kind == needed
    if fits and needed == "Number":
        fits = len(sizes) >= 2 and sizes[1] >= metadata["scale"]
    if fits and "length" in metadata:
        fits = bool(sizes) and sizes[0] >= metadata["length"]
    if fits and metadata.get("externalId"):
        fits = "External ID" in data_type
    if fits:
        return None
    needs = needed
    if needed == "Number":
        needs += f" with {metadata['scale']} decimal places"
    elif "length" in metadata:
        needs += f"({metadata['length']})"
    return needs + (" (External ID)" if metadata.get("externalId") else "")


def _grant(org: _Org, fields: dict[str, bool], report: ProvisionReport, assign_to: str | None) -> None:
    """Permission set, FieldPermissions on `fields` (`Object.Field`: read, and edit when True), the object
    access SalesOS needs, and its assignment."""
    spec = SALESFORCE_PERMISSION_SET
    found = org.query(f"SELECT Id FROM PermissionSet WHERE Name = '{spec['name']}'", "find the permission set")
    if found:
        parent = found[0]["Id"]
    else:
        parent = org.rest("sobjects/PermissionSet", "POST", {
            "Name": spec["name"], "Label": spec["label"], "Description": spec["description"]},
            f"create permission set {spec['name']}")["id"]
        report.changes.append(f"permission set {spec['name']}")
    objects = ", ".join(f"'{name}'" for name in sorted({name.split(".")[0] for name in fields}))
    current = {row["Field"]: row for row in org.query(
        f"SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
        f"WHERE ParentId = '{parent}' AND SobjectType IN ({objects})", "read field permissions")}
    def grant(name: str) -> dict[str, bool]:
        return {"PermissionsRead": True, "PermissionsEdit": fields[name]}

    new = [(name, {"attributes": {"type": "FieldPermissions"}, "ParentId": parent,
                   "SobjectType": name.split(".")[0], "Field": name, **grant(name)})
           for name in fields if name not in current]
    fix = [(name, {"attributes": {"type": "FieldPermissions"}, "Id": current[name]["Id"], **grant(name)})
           for name in fields if name in current and not (current[name]["PermissionsRead"]
                                                          and current[name]["PermissionsEdit"] >= fields[name])]
    for method, pairs in (("POST", new), ("PATCH", fix)):
        for start in range(0, len(pairs), COLLECTION):
            chunk = pairs[start:start + COLLECTION]
            results = org.rest("composite/sobjects", method, {"allOrNone": False, "records": [r for _, r in chunk]},
                               f"grant {len(chunk)} field permissions")
            results = list(results or [])
            for index, (name, _) in enumerate(chunk):
                result = results[index] if index < len(results) else {}
                if result.get("success"):
                    report.granted.append(name)
                else:
                    report.errors[f"{name} (field permission)"] = describe(result.get("errors") or [])
    _grant_objects(org, parent, report)
    if assign_to is None:
        return
    user = org.user_id() if assign_to == SELF else assign_to
    assigned = org.query(f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = '{parent}' "
                         f"AND AssigneeId = '{user}'", "read the permission set assignment")
    if not assigned:
        org.rest("sobjects/PermissionSetAssignment", "POST", {"PermissionSetId": parent, "AssigneeId": user},
                 f"assign permission set {spec['name']}")
        report.changes.append(f"assignment of {spec['name']} to user {user}")


def _grant_objects(org: _Org, parent: str, report: ProvisionReport) -> None:
    """ObjectPermissions of the permission set: SALESFORCE_OBJECT_ACCESS, added to whatever it grants already.

    A refusal is reported by object and stops nothing: the other objects are granted, and the permission set
    is still assigned (`_grant`), so the field grants made already reach the user."""
    objects = ", ".join(f"'{name}'" for name in SALESFORCE_OBJECT_ACCESS)
    try:
        current = {row["SobjectType"]: row for row in org.query(
            f"SELECT Id, SobjectType, {', '.join(_OBJECT_PERMISSIONS)} FROM ObjectPermissions "
            f"WHERE ParentId = '{parent}' AND SobjectType IN ({objects})", "read object permissions")}
    except (RequestRejected, Transient) as exc:
        report.errors[f"object access in {SALESFORCE_PERMISSION_SET['name']}"] = str(exc)
        return
    for sobject, allowed in SALESFORCE_OBJECT_ACCESS.items():
        wanted = {f"Permissions{name}": True for name in allowed}
        have = current.get(sobject)
        try:
            if have is None:
                org.rest("sobjects/ObjectPermissions", "POST",
                         {"ParentId": parent, "SobjectType": sobject, **wanted}, f"grant {sobject} access")
            elif not all(have.get(name) for name in wanted):
                org.rest(f"sobjects/ObjectPermissions/{have['Id']}", "PATCH", wanted, f"grant {sobject} access")
            else:
                continue
        except (RequestRejected, Transient) as exc:
            report.errors[f"{sobject} access (object permission)"] = str(exc)
            continue
        report.changes.append(f"{sobject} access ({', '.join(allowed)}) in {SALESFORCE_PERMISSION_SET['name']}")


_OBJECT_PERMISSIONS = ("PermissionsRead", "PermissionsEdit", "PermissionsCreate", "PermissionsDelete",
                       "PermissionsViewAllRecords", "PermissionsModifyAllRecords")


class _Org:
    """simple-salesforce calls through `call()`, with a client per access token (a refresh builds a new one)."""

    def __init__(self, tokens: TokenSource, instance_url: str, version: str, policy: CallPolicy,
                 session: requests.Session | None) -> None:
        self._tokens, self._instance_url, self._version, self.policy = tokens, instance_url, version, policy
        self._session = session
        self._clients: dict[str, Salesforce] = {}

    def field_types(self, sobject: str) -> dict[str, str]:
        """Every field of `sobject`: API name -> DataType."""
        soql = (f"SELECT QualifiedApiName, DataType FROM FieldDefinition "
                f"WHERE EntityDefinition.QualifiedApiName = '{sobject}'")

        def read(sf: Salesforce) -> list[dict]:
            answer = sf.toolingexecute("query/", params={"q": soql})
            records = list(answer.get("records", []))
            while not answer.get("done", True) and answer.get("nextRecordsUrl"):
                answer = sf.toolingexecute(answer["nextRecordsUrl"].split("/tooling/", 1)[1])
                records += answer.get("records", [])
            return records

        rows = self._call(read, f"read the fields of {sobject}")
        return {row["QualifiedApiName"]: row.get("DataType") or "" for row in rows}

    def query(self, soql: str, what: str) -> list[dict]:
        return self._call(lambda sf: sf.query_all(soql)["records"], what)

    def tooling(self, path: str, method: str, body: dict, what: str) -> Any:
        return self._call(lambda sf: sf.toolingexecute(path, method=method, data=body), what)

    def rest(self, path: str, method: str, body: dict, what: str) -> Any:
        return self._call(lambda sf: sf.restful(path, method=method, json=body), what)

    def user_id(self) -> str:
        return self._call(lambda sf: sf.oauth2("userinfo"), "find the token's user")["user_id"]

    def _call(self, request: Callable[[Salesforce], T], what: str) -> T:
        return call(self.policy, self._tokens, lambda token: request(self._client(token)), classify_salesforce, what)

    def _client(self, token: str) -> Salesforce:
        if token not in self._clients:
            self._clients = {token: Salesforce(instance_url=self._instance_url, session_id=token,
                                               version=self._version, session=self._session)}
        return self._clients[token]
