"""`connector provision`: the SalesOS fields created through the CRM APIs, from the same manifests an admin deploys.

HubSpot runs against the local fake portal (hubspot-api-client uses urllib3,
which `responses` cannot see); Salesforce against a small stateful org built on
`responses` (simple-salesforce uses requests). The drift tests compare what
provisioning sends with the committed files under manifest/, which
test_manifests.py in turn ties to crm_adapters/fields.py.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import pytest
import responses

from crm_adapters.calls import StaticToken
from crm_adapters.manifests import HUBSPOT_GROUP, hubspot_properties, salesforce_field_grants, salesforce_fields
from crm_adapters.market_object import SALESFORCE_MARKET_OBJECT
from crm_adapters.provision import Conflict, ProvisionReport, provision_hubspot, provision_salesforce
from tests.crm_adapters.backends import no_wait_policy
from tests.fakes.hubspot_server import FakeHubSpot, Server

MANIFEST = Path(__file__).resolve().parents[2] / "manifest"
NS = "{http://soap.sforce.com/2006/04/metadata}"
HUBSPOT_READS = {"groups/salesos", "batch/read"}  # the paths a run that changes nothing may call


# --- HubSpot -----------------------------------------------------------------


@pytest.fixture
def portal() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot(provisioned=False)
    server = Server(fake)
    try:
        yield fake
    finally:
        server.stop()


def provision_portal(fake: FakeHubSpot) -> ProvisionReport:
    return provision_hubspot(StaticToken(fake.token), host=fake.url, policy=no_wait_policy())


def all_property_keys() -> list[str]:
    return [f"{object_type}.{p['name']}" for object_type, props in hubspot_properties().items() for p in props]


def test_an_empty_portal_gets_the_salesos_group_and_every_property(portal):
    report = provision_portal(portal)

    assert report.created == all_property_keys()
    assert report.ok and report.existing == []
    for object_type, definitions in hubspot_properties().items():
        assert HUBSPOT_GROUP["name"] in portal.groups[object_type]
        assert {d["name"] for d in definitions} <= set(portal.properties[object_type])
    assert report.changes == [f"property group salesos on {object_type}" for object_type in hubspot_properties()]
    assert list(hubspot_properties()) == ["companies", "contacts", "tasks", "notes", "emails", "meetings"]


def test_hubspot_receives_exactly_the_committed_manifest_in_one_batch_per_object_type(portal):
    provision_portal(portal)

    committed = json.loads((MANIFEST / "hubspot/properties.json").read_text())
    assert committed["properties"] == hubspot_properties()
    for object_type, definitions in committed["properties"].items():
        # the fake stores each posted definition as HubSpot received it
        assert [portal.properties[object_type][d["name"]] for d in definitions] == definitions
        assert portal.groups[object_type][committed["group"]["name"]] == committed["group"]
        assert portal.calls[f"/crm/v3/properties/{object_type}/batch/create"] == 1


def test_a_second_run_creates_nothing_and_only_reads(portal):
    provision_portal(portal)
    before = Counter(portal.calls)

    report = provision_portal(portal)

    called = portal.calls - before
    assert report.created == [] and report.changes == [] and report.ok
    assert report.existing == all_property_keys()
    assert {path.split("/", 5)[-1] for path in called} == HUBSPOT_READS


def test_a_property_with_another_type_is_reported_and_left_as_it_was(portal):
    theirs = {"name": "salesos_fit_score", "label": "Fit", "type": "string", "fieldType": "text",
              "groupName": "companyinformation"}
    portal.properties["companies"]["salesos_fit_score"] = dict(theirs)

    report = provision_portal(portal)

    assert report.conflicts == [Conflict(object="companies", field="salesos_fit_score", has="type string/text",
                                         needs="type number/number")]
    assert portal.properties["companies"]["salesos_fit_score"] == theirs
    assert "companies.salesos_fit_score" not in report.created + report.existing
    assert len(report.created) == len(all_property_keys()) - 1


def test_an_enumeration_missing_a_salesos_option_is_a_conflict(portal):
    tier = next(p for p in hubspot_properties()["contacts"] if p["name"] == "salesos_priority_tier")
    portal.properties["contacts"]["salesos_priority_tier"] = {**tier, "options": tier["options"][:3]}

    [conflict] = provision_portal(portal).conflicts

    assert (conflict.field, conflict.has) == ("salesos_priority_tier", "options TIER_1, TIER_2, TIER_3")
    assert "TIER_4" in conflict.needs


def test_a_company_key_without_unique_values_is_a_conflict(portal):
    key = next(p for p in hubspot_properties()["companies"] if p["name"] == "salesos_domain")
    portal.properties["companies"]["salesos_domain"] = {k: v for k, v in key.items() if k != "hasUniqueValue"}

    [conflict] = provision_portal(portal).conflicts

    assert conflict.field == "salesos_domain" and "hasUniqueValue" in conflict.needs


def test_a_refused_batch_is_reported_against_its_properties_and_the_other_object_type_proceeds(portal):
    portal.fail("/crm/v3/properties/companies/batch/create", 400,
                {"status": "error", "category": "VALIDATION_ERROR", "message": "Property group is read-only"})

    report = provision_portal(portal)

    companies = [key for key in all_property_keys() if key.startswith("companies.")]
    assert sorted(report.errors) == sorted(companies)
    assert "Property group is read-only" in report.errors["companies.salesos_fit_score"]
    assert report.created == [key for key in all_property_keys() if not key.startswith("companies.")]


# --- Salesforce --------------------------------------------------------------

INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
USER = "005000000000001AAA"


def ui_data_type(metadata: dict) -> str:
    """FieldDefinition.DataType as Setup words it (Number shows digits before the point, then decimals)."""
    kind = metadata["type"]
    text = {"Number": f"Number({metadata.get('precision', 18) - metadata.get('scale', 0)}, {metadata.get('scale')})",
            "Text": f"Text({metadata.get('length')})", "LongTextArea": f"Long Text Area({metadata.get('length')})",
            "Checkbox": "Checkbox", "DateTime": "Date/Time", "Picklist": "Picklist"}[kind]
    return (text + (" (External ID)" if metadata.get("externalId") else "")
            + (" (Unique Case Insensitive)" if metadata.get("unique") else ""))


class FakeOrg:
    """Just enough of an org's REST and Tooling APIs: fields by object, one permission set, its grants."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.fields = {"Account": {"Name": "Name", "Industry": "Picklist"},
                       "Contact": {"LastName": "Text(80)", "HasOptedOutOfEmail": "Checkbox"},
                       "Lead": {"LastName": "Text(80)", "Email": "Email", "HasOptedOutOfEmail": "Checkbox"},
                       "Task": {"Subject": "Picklist"}, "Event": {"Subject": "Picklist"}}
        self.refuse: dict[str, str] = {}  # FullName -> message of a 400
        self.refuse_object_access: dict[str, str] = {}  # SobjectType -> message of a 400 to its ObjectPermissions
        self.created_fields: list[dict] = []
        self.permission_sets: dict[str, dict] = {}
        self.field_permissions: dict[str, dict] = {}
        self.object_permissions: dict[str, dict] = {}
        self.assignments: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)
        routes = {
            ("GET", f"{API}/tooling/query/"): self._field_definitions,
            ("POST", f"{API}/tooling/sobjects/CustomField"): self._create_field,
            ("GET", f"{API}/query/"): self._query,
            ("POST", f"{API}/sobjects/PermissionSet"): self._create_permission_set,
            ("POST", f"{API}/sobjects/PermissionSetAssignment"): self._assign,
            ("POST", f"{API}/composite/sobjects"): self._create_field_permissions,
            ("PATCH", f"{API}/composite/sobjects"): self._update_field_permissions,
            ("POST", f"{API}/sobjects/ObjectPermissions"): self._create_object_permission,
            ("GET", f"{INSTANCE}/services/oauth2/userinfo"): lambda request: {"user_id": USER},
        }
        for (method, url), handler in routes.items():
            rsps.add_callback(method, url, callback=self._answer(handler), content_type="application/json")
        rsps.add_callback("PATCH", re.compile(rf"{re.escape(API)}/sobjects/ObjectPermissions/\w+"),
                          callback=self._update_object_permission)

    def calls_since(self, start: int) -> list[tuple[str, str]]:
        return [(c.request.method, urlparse(c.request.url).path) for c in self.rsps.calls[start:]]

    def _answer(self, handler):
        def callback(request):
            result = handler(request)
            status, body = result if isinstance(result, tuple) else (200, result)
            return status, {}, json.dumps(body)
        return callback

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):015d}"

    @staticmethod
    def _soql(request) -> str:
        return parse_qs(urlparse(request.url).query)["q"][0]

    def _field_definitions(self, request):
        sobject = re.search(r"EntityDefinition\.QualifiedApiName = '(\w+)'", self._soql(request)).group(1)
        records = [{"attributes": {"type": "FieldDefinition"}, "QualifiedApiName": name, "DataType": data_type}
                   for name, data_type in self.fields[sobject].items()]
        return {"size": len(records), "totalSize": len(records), "done": True, "records": records}

    def _create_field(self, request):
        body = json.loads(request.body)
        self.created_fields.append(body)
        sobject, name = body["FullName"].split(".")
        if body["FullName"] in self.refuse:
            return 400, [{"message": self.refuse[body["FullName"]], "errorCode": "FIELD_INTEGRITY_EXCEPTION"}]
        shown_on = ("Task", "Event") if sobject == "Activity" else (sobject,)  # Task and Event share Activity's
        if name in self.fields[shown_on[0]]:
            return 400, [{"message": "duplicate developer name", "errorCode": "DUPLICATE_DEVELOPER_NAME"}]
        for listed in shown_on:
            self.fields[listed][name] = ui_data_type(body["Metadata"])
        return 201, {"id": self._new_id("00N"), "success": True, "errors": []}

    def _query(self, request):
        soql = self._soql(request)
        if "FROM PermissionSetAssignment" in soql:
            parent, user = re.findall(r"'(\w+)'", soql)
            records = [{"Id": "0Pa1"}] if (parent, user) in self.assignments else []
        elif "FROM PermissionSet " in soql:
            name = re.search(r"Name = '(\w+)'", soql).group(1)
            records = [{"Id": id_} for id_, ps in self.permission_sets.items() if ps["Name"] == name]
        elif "FROM FieldPermissions" in soql:
            parent = re.search(r"ParentId = '(\w+)'", soql).group(1)
            records = [dict(fp) for fp in self.field_permissions.values() if fp["ParentId"] == parent]
        elif "FROM ObjectPermissions" in soql:
            parent = re.search(r"ParentId = '(\w+)'", soql).group(1)
            records = [dict(op) for op in self.object_permissions.values() if op["ParentId"] == parent]
        else:
            raise AssertionError(f"unexpected query {soql}")
        return {"totalSize": len(records), "done": True, "records": records}

    def _create_permission_set(self, request):
        id_ = self._new_id("0PS")
        self.permission_sets[id_] = json.loads(request.body)
        return 201, {"id": id_, "success": True, "errors": []}

    def _assign(self, request):
        body = json.loads(request.body)
        self.assignments.add((body["PermissionSetId"], body["AssigneeId"]))
        return 201, {"id": self._new_id("0Pa"), "success": True, "errors": []}

    def _create_field_permissions(self, request):
        results = []
        for record in json.loads(request.body)["records"]:
            sobject, name = record["Field"].split(".")
            if name not in self.fields[sobject]:
                results.append({"success": False, "errors": [
                    {"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "bad value for Field"}]})
                continue
            id_ = self._new_id("01k")
            self.field_permissions[id_] = {"Id": id_, **{k: v for k, v in record.items() if k != "attributes"}}
            results.append({"id": id_, "success": True, "errors": []})
        return results

    def _create_object_permission(self, request):
        body = json.loads(request.body)
        if body["SobjectType"] in self.refuse_object_access:
            return 400, [{"message": self.refuse_object_access[body["SobjectType"]], "errorCode": "INVALID_INPUT"}]
        id_ = self._new_id("110")
        self.object_permissions[id_] = {"Id": id_, **body}
        return 201, {"id": id_, "success": True, "errors": []}

    def _update_object_permission(self, request):
        self.object_permissions[request.url.rsplit("/", 1)[1]].update(json.loads(request.body))
        return 204, {}, ""

    def _update_field_permissions(self, request):
        results = []
        for record in json.loads(request.body)["records"]:
            self.field_permissions[record["Id"]].update({k: v for k, v in record.items() if k != "attributes"})
            results.append({"id": record["Id"], "success": True, "errors": []})
        return results


@pytest.fixture
def org() -> Iterator[FakeOrg]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeOrg(rsps)


def provision_org(**options) -> ProvisionReport:
    return provision_salesforce(StaticToken("00D!session"), instance_url=INSTANCE, version="59.0",
                                policy=no_wait_policy(), **options)


def xml_as_data(element: ElementTree.Element) -> dict:
    """Metadata XML as a dict of text; `value` (CustomValue[] in the Metadata API schema) is always a list."""
    data: dict = {}
    for child in element:
        tag = child.tag.removeprefix(NS)
        value = xml_as_data(child) if len(child) else child.text
        if tag == "value":
            data.setdefault(tag, []).append(value)
        else:
            data[tag] = value
    return data


def as_xml_text(value):
    """JSON metadata as the XML spells it: booleans true/false, numbers as text, `valueName` as `fullName`."""
    if isinstance(value, dict):
        return {("fullName" if key == "valueName" else key): as_xml_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_xml_text(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_a_fresh_org_gets_every_field_through_one_tooling_post_each(org):
    report = provision_org()

    expected = salesforce_field_grants()
    assert [body["FullName"] for body in org.created_fields] == [
        f"{sobject}.{field.salesforce_name}" for sobject, fields in salesforce_fields().items() for field in fields]
    assert org.created_fields[-1]["FullName"] == "Activity.SalesOS_Key__c"  # Task's fields are Activity's
    assert report.created == expected and report.ok and expected[-1] == "Task.SalesOS_Key__c"
    assert len(expected) == sum(len(fields) for fields in salesforce_fields().values())


def test_each_tooling_payload_is_the_committed_field_manifest(org):
    provision_org()

    for body in org.created_fields:
        sobject, name = body["FullName"].split(".")
        path = MANIFEST / f"salesforce/force-app/main/default/objects/{sobject}/fields/{name}.field-meta.xml"
        committed = xml_as_data(ElementTree.fromstring(path.read_bytes()))
        assert {"fullName": name, **as_xml_text(body["Metadata"])} == committed, body["FullName"]


def test_a_fresh_org_gets_the_permission_set_granting_every_field_to_the_token_user(org):
    report = provision_org()

    [(parent, permission_set)] = org.permission_sets.items()
    assert permission_set["Name"] == "SalesOS_Integration"
    committed = ElementTree.fromstring((MANIFEST / "salesforce/force-app/main/default/permissionsets/"
                                        "SalesOS_Integration.permissionset-meta.xml").read_bytes())
    assert permission_set["Label"] == committed.find(f"{NS}label").text
    granted = {fp["Field"]: (fp["PermissionsRead"], fp["PermissionsEdit"]) for fp in org.field_permissions.values()
               if fp["ParentId"] == parent}
    committed_fields = {p.find(f"{NS}field").text: (p.find(f"{NS}readable").text == "true",
                                                    p.find(f"{NS}editable").text == "true")
                        for p in committed.findall(f"{NS}fieldPermissions")}
    # the market object is deployed with the metadata (`sf project deploy`), not created by `provision`
    assert granted == {name: access for name, access in committed_fields.items()
                       if not name.startswith(f"{SALESFORCE_MARKET_OBJECT}.")}
    assert sorted(report.granted) == sorted(granted)
    assert org.assignments == {(parent, USER)}


def test_a_fresh_org_gets_the_lead_access_an_opt_out_needs_as_the_committed_permission_set_grants_it(org):
    provision_org()

    [(parent, _)] = org.permission_sets.items()
    [lead] = [op for op in org.object_permissions.values() if op["ParentId"] == parent]
    committed = ElementTree.fromstring((MANIFEST / "salesforce/force-app/main/default/permissionsets/"
                                        "SalesOS_Integration.permissionset-meta.xml").read_bytes())
    [xml] = [o for o in committed.findall(f"{NS}objectPermissions") if o.find(f"{NS}object").text == "Lead"]
    names = {"allowRead": "PermissionsRead", "allowEdit": "PermissionsEdit", "allowCreate": "PermissionsCreate",
             "allowDelete": "PermissionsDelete", "viewAllRecords": "PermissionsViewAllRecords",
             "modifyAllRecords": "PermissionsModifyAllRecords"}
    assert lead["SobjectType"] == "Lead"
    assert {names[child.tag.removeprefix(NS)] for child in xml if child.text == "true"} == {
        name for name, value in lead.items() if name.startswith("Permissions") and value is True}


def test_a_second_salesforce_run_creates_nothing_and_only_reads(org):
    provision_org()
    start = len(org.rsps.calls)

    report = provision_org()

    assert {method for method, _ in org.calls_since(start)} == {"GET"}
    assert report.created == [] and report.granted == [] and report.changes == [] and report.ok
    assert report.existing == salesforce_field_grants()


def test_a_field_with_another_data_type_is_reported_not_recreated_and_not_granted(org):
    org.fields["Account"]["SalesOS_Fit_Score__c"] = "Text(255)"

    report = provision_org()

    assert report.conflicts == [Conflict(object="Account", field="SalesOS_Fit_Score__c", has="Text(255)",
                                         needs="Number with 4 decimal places")]
    assert "Account.SalesOS_Fit_Score__c" not in [body["FullName"] for body in org.created_fields]
    assert org.fields["Account"]["SalesOS_Fit_Score__c"] == "Text(255)"
    assert "Account.SalesOS_Fit_Score__c" not in report.granted


def test_a_number_field_without_enough_decimal_places_is_a_conflict(org):
    org.fields["Contact"]["SalesOS_Priority_Score__c"] = "Number(18, 0)"
    org.fields["Lead"]["SalesOS_Priority_Score__c"] = "Number(14, 4)"

    report = provision_org()

    assert [(c.object, c.field) for c in report.conflicts] == [("Contact", "SalesOS_Priority_Score__c")]
    assert "Lead.SalesOS_Priority_Score__c" in report.existing


def test_a_refused_field_is_reported_by_name_while_the_others_are_created(org):
    org.refuse["Lead.SalesOS_Sequencing__c"] = "Long text areas are limited on this object"

    report = provision_org()

    assert list(report.errors) == ["Lead.SalesOS_Sequencing__c"]
    assert "Long text areas are limited on this object" in report.errors["Lead.SalesOS_Sequencing__c"]
    assert report.created == [name for name in salesforce_field_grants() if name != "Lead.SalesOS_Sequencing__c"]
    assert "Lead.SalesOS_Sequencing__c" not in report.granted


def test_a_grant_without_edit_is_completed_in_place(org):
    provision_org(assign_to=None)
    [(id_, grant)] = [(i, fp) for i, fp in org.field_permissions.items() if fp["Field"] == "Account.SalesOS_Stage__c"]
    grant["PermissionsEdit"] = False

    report = provision_org(assign_to=None)

    assert report.granted == ["Account.SalesOS_Stage__c"]
    assert org.field_permissions[id_]["PermissionsEdit"] is True
    assert org.assignments == set()


def test_the_summary_names_each_conflict_and_error():
    report = ProvisionReport(crm="salesforce", created=["Account.SalesOS_Domain__c"],
                             conflicts=[Conflict(object="Account", field="SalesOS_Fit_Score__c", has="Text(255)",
                                                 needs="Number with 4 decimal places")],
                             errors={"Lead.SalesOS_Sequencing__c": "refused"})

    text = report.summary()

    assert text.startswith("Salesforce: 1 fields created, 0 already there, 1 conflicts, 1 errors")
    assert "Account.SalesOS_Fit_Score__c: has Text(255); SalesOS needs Number with 4 decimal places" in text
    assert "Lead.SalesOS_Sequencing__c: refused" in text


def test_a_permission_set_that_only_reads_leads_is_given_the_edit_an_opt_out_needs(org):
    provision_org()
    [lead] = org.object_permissions.values()
    lead.update(PermissionsEdit=False)  # an admin narrowed it

    report = provision_org()

    assert lead["PermissionsEdit"] is True and lead["PermissionsViewAllRecords"] is True
    assert report.changes == ["Lead access (Read, Edit, ViewAllRecords) in SalesOS_Integration"] and report.ok


def test_a_refused_object_access_is_reported_and_the_permission_set_is_still_assigned(org):
    """The field grants already made are useless to the user until the set is assigned: one refusal must not
    leave it unassigned."""
    org.refuse_object_access["Lead"] = "Permission View All Data depends on permission(s): View Setup"

    report = provision_org()

    [(parent, _)] = org.permission_sets.items()
    assert org.assignments == {(parent, USER)}
    assert "assignment of SalesOS_Integration to user " + USER in report.changes
    assert list(report.errors) == ["Lead access (object permission)"] and not report.ok
    assert "depends on permission(s): View Setup" in report.errors["Lead access (object permission)"]
    assert set(salesforce_field_grants()) <= set(report.granted)  # the field grants were made all the same
