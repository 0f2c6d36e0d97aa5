"""The manifests in manifest/ are generated from the field list and cannot drift from it."""

import json
from pathlib import Path
from xml.etree import ElementTree

from crm_adapters.fields import ENGAGEMENT_KEY, FIELDS, fields_for, identity_fields
from crm_adapters.manifests import hubspot_properties, manifest_files, salesforce_fields
from crm_adapters.salesforce_map import EMAIL_OPT_OUT, LEAD_FIELDS, LEAD_OBJECT

MANIFEST = Path(__file__).resolve().parents[2] / "manifest"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def test_the_committed_manifests_are_exactly_what_the_field_list_generates():
    files = manifest_files()
    stale = [path for path, text in files.items() if (MANIFEST / path).read_text() != text]
    assert stale == [], "run `python -m connector manifests` and commit manifest/"


def test_no_manifest_file_is_left_over_from_a_removed_field():
    generated = set(manifest_files())
    committed = {str(p.relative_to(MANIFEST)) for p in MANIFEST.rglob("*") if p.is_file() and p.name != "README.md"}
    assert committed == generated


def test_every_canonical_field_is_a_hubspot_property_in_the_salesos_group():
    properties = hubspot_properties()
    for kind, object_type in (("company", "companies"), ("contact", "contacts")):
        names = [p["name"] for p in properties[object_type]]
        assert names == [f.hubspot_name for f in identity_fields(kind, "hubspot") + fields_for(kind)]
    assert all(p["groupName"] == "salesos" for props in properties.values() for p in props)


def test_hubspot_names_are_prefixed_once():
    assert {f.hubspot_name for f in FIELDS} >= {"salesos_fit_score", "salesos_source", "salesos_stage"}
    assert not any(f.hubspot_name.startswith("salesos_salesos_") for f in FIELDS)


def test_the_company_key_is_unique_in_hubspot_and_an_external_id_in_salesforce():
    [key] = [p for p in hubspot_properties()["companies"] if p["name"] == "salesos_domain"]
    assert key["hasUniqueValue"] is True
    xml = ElementTree.fromstring(manifest_files()[
        "salesforce/force-app/main/default/objects/Account/fields/SalesOS_Domain__c.field-meta.xml"].encode())
    assert xml.find("md:externalId", NS).text == "true" and xml.find("md:unique", NS).text == "true"


def test_enum_fields_carry_their_options_everywhere():
    tier = next(p for p in hubspot_properties()["contacts"] if p["name"] == "salesos_priority_tier")
    assert [o["value"] for o in tier["options"]] == ["TIER_1", "TIER_2", "TIER_3", "TIER_4"]
    xml = ElementTree.fromstring(manifest_files()[
        "salesforce/force-app/main/default/objects/Lead/fields/SalesOS_Priority_Tier__c.field-meta.xml"].encode())
    assert [v.text for v in xml.findall(".//md:value/md:fullName", NS)] == ["TIER_1", "TIER_2", "TIER_3", "TIER_4"]


def test_contact_fields_exist_on_contact_and_lead_and_company_fields_on_account():
    objects = salesforce_fields()
    assert set(objects) == {"Account", "Contact", "Lead", "Activity"}
    assert [f.name for f in objects["Contact"]] == [f.name for f in identity_fields("contact", "salesforce") + fields_for("contact")]
    assert objects["Lead"] == objects["Contact"]


def test_what_salesos_creates_carries_its_key_unique_in_hubspot_and_an_external_id_on_salesforce_tasks():
    properties = hubspot_properties()
    for object_type in ("tasks", "notes", "emails", "meetings"):
        assert [(p["name"], p.get("hasUniqueValue")) for p in properties[object_type]] == [("salesos_key", True)]
    assert salesforce_fields()["Activity"] == [ENGAGEMENT_KEY]  # Task's custom fields are Activity's
    xml = ElementTree.fromstring(manifest_files()[
        "salesforce/force-app/main/default/objects/Activity/fields/SalesOS_Key__c.field-meta.xml"].encode())
    assert xml.find("md:externalId", NS).text == "true" and xml.find("md:unique", NS) is None
    fields, _ = permission_set()
    assert fields["Task.SalesOS_Key__c"] == ("true", "true") and "Activity.SalesOS_Key__c" not in fields


def permission_set() -> tuple[dict[str, tuple[str, str]], dict[str, dict[str, str]]]:
    """The committed permission set: (readable, editable) by field, and each object's permissions."""
    xml = ElementTree.fromstring((MANIFEST / "salesforce/force-app/main/default/permissionsets/"
                                  "SalesOS_Integration.permissionset-meta.xml").read_bytes())
    fields = {p.find("md:field", NS).text: (p.find("md:readable", NS).text, p.find("md:editable", NS).text)
              for p in xml.findall("md:fieldPermissions", NS)}
    objects = {o.find("md:object", NS).text: {child.tag.split("}")[1]: child.text for child in o}
               for o in xml.findall("md:objectPermissions", NS)}
    return fields, objects


def test_the_permission_set_grants_read_and_edit_on_every_field_it_deploys():
    files = manifest_files()
    granted_as = {"Activity": "Task"}  # Salesforce grants Activity's fields as Task's
    paths = [path.split("/") for path in files if path.endswith(".field-meta.xml")]
    deployed = {f"{granted_as.get(parts[-3], parts[-3])}.{parts[-1].removesuffix('.field-meta.xml')}" for parts in paths}
    fields, _ = permission_set()
    assert {name: fields.get(name) for name in deployed} == {name: ("true", "true") for name in deployed}


def test_the_permission_set_lets_an_opt_out_reach_the_contact_and_every_lead_with_the_address():
    """What `SalesforceCRM` reads and writes for an opt-out, beyond SalesOS's own fields."""
    fields, objects = permission_set()
    assert fields[f"Contact.{EMAIL_OPT_OUT}"] == fields[f"{LEAD_OBJECT}.{EMAIL_OPT_OUT}"] == ("true", "true")
    assert fields[f"{LEAD_OBJECT}.Email"] == ("true", "false")  # found by address, never changed
    lead = objects[LEAD_OBJECT]
    assert {name for name, value in lead.items() if value == "true"} == {"allowRead", "allowEdit", "viewAllRecords"}
    readable = {name for name, (read, _) in fields.items() if read == "true"}
    queried = {f"{LEAD_OBJECT}.{name}" for name in LEAD_FIELDS if name not in ("Id", "IsConverted")}  # no FLS
    assert queried <= readable


def test_the_hubspot_app_asks_for_the_scopes_provisioning_needs():
    app = json.loads(manifest_files()["hubspot/src/app/app-hsmeta.json"])
    scopes = set(app["config"]["auth"]["requiredScopes"])
    assert {"crm.schemas.companies.write", "crm.schemas.contacts.write", "crm.objects.companies.write"} <= scopes
    assert app["config"]["auth"]["redirectUrls"] == ["https://salesos.example.com/oauth/hubspot/callback"]


def test_a_public_url_changes_every_url_it_appears_in():
    files = manifest_files("https://sales.acme.io")
    assert "https://sales.acme.io/webhooks/hubspot" in files["hubspot/src/app/webhooks/webhooks-hsmeta.json"]
    assert "https://sales.acme.io/oauth/salesforce/callback" in files[
        "salesforce/force-app/main/default/connectedApps/SalesOS.connectedApp-meta.xml"]


def test_every_workflow_action_has_a_manifest_pointing_at_its_endpoint():
    from crm_adapters.workflow_actions import ACTIONS

    files = manifest_files("https://salesos.acme.com")
    for action in ACTIONS:
        config = json.loads(files[f"hubspot/src/app/workflow-actions/{action.name}-hsmeta.json"])["config"]
        assert config["actionUrl"] == f"https://salesos.acme.com/webhooks/hubspot/actions/{action.name}"
        assert config["objectTypes"] == [action.object_type]


def test_the_webhook_subscriptions_are_the_changes_the_routing_table_acts_on():
    import datetime as dt

    from connector.routing import route
    from agents.events import CrmEvent

    subscriptions = json.loads(manifest_files()["hubspot/src/app/webhooks/webhooks-hsmeta.json"])["config"][
        "subscriptions"]
    for subscription in subscriptions["legacyCrmObjects"] + subscriptions["crmObjects"]:
        object_type = subscription.get("objectType") or subscription["subscriptionType"].split(".")[0]
        value = {"salesos_prospect": "true", "salesos_sequence_state": "paused"}.get(subscription["propertyName"], "x")
        event = CrmEvent(tenant="t", source="hubspot-webhook", kind=f"{object_type}.propertyChange",
                         object_type=object_type, object_id="1", property_name=subscription["propertyName"],
                         property_value=value, occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), identity="i")
        assert route(event), f"{subscription} reaches no job"


def test_the_market_object_is_deployed_in_both_crms_with_its_definition_field():
    files = manifest_files()
    schema = json.loads(files["hubspot/market-object.json"])
    assert "salesos_definition" in [p["name"] for p in schema["properties"]]
    assert "salesforce/force-app/main/default/objects/SalesOS_Market__c/fields/Definition__c.field-meta.xml" in files


def test_every_salesforce_field_the_routing_table_acts_on_is_carried_by_its_objects_outbound_message():
    from connector.routing import ROUTES
    from crm_adapters.market_object import SALESFORCE_MARKET_OBJECT
    from crm_adapters.outbound_messages import CARRIED

    sobjects = {"company": "Account", "contact": "Contact", "lead": "Lead", "opportunity": "Opportunity"}
    for route in ROUTES:
        if route.properties is None:
            continue
        for sobject in [sobjects[o] for o in route.object_types or () if o in sobjects] or [SALESFORCE_MARKET_OBJECT]:
            assert route.properties & set(CARRIED[sobject]), (route.job.__name__, sobject)


def test_the_committed_outbound_messages_are_templates_that_say_where_the_orgs_url_comes_from():
    files = manifest_files()
    templates = {path: text for path, text in files.items() if "workflow-meta" in path}
    assert templates and all(path.startswith("salesforce/outbound-messages/") for path in templates)  # not deployed
    for text in templates.values():
        message = ElementTree.fromstring(text.encode()).find("md:outboundMessages", NS)
        assert message.find("md:endpointUrl", NS).text == (
            "https://salesos.example.com/webhooks/salesforce/outbound/THE-ORGS-TOKEN")
        assert "tenants outbound-url" in message.find("md:description", NS).text
        assert message.find("md:includeSessionId", NS).text == "false"  # a live session never leaves the org
