"""What an admin installs into a CRM, generated from the canonical field list.

`python -m connector manifests` writes these files under `manifest/`; a test
regenerates them and compares, so the manifests, the provisioning code and
`fields.py` cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from crm_adapters.fields import CustomField, fields_for, identity_fields
from crm_adapters.market_object import (
    HUBSPOT_DEFINITION, HUBSPOT_MARKET_OBJECT, SALESFORCE_DEFINITION, SALESFORCE_MARKET_OBJECT, market_files,
)
from crm_adapters.outbound_messages import org_files, template_files
from crm_adapters.salesforce_map import EMAIL_OPT_OUT, LEAD_OBJECT
from crm_adapters.workflow_actions import ACTIONS, hubspot_definition

DEFAULT_PUBLIC_URL = "https://salesos.example.com"
HUBSPOT_GROUP = {"name": "salesos", "label": "SalesOS", "displayOrder": -1}
HUBSPOT_OBJECTS = {"company": ("companies",), "contact": ("contacts",),
                   "engagement": ("tasks", "notes", "emails", "meetings")}
HUBSPOT_SCOPES = (
    "oauth",
    "crm.objects.companies.read", "crm.objects.companies.write",
    "crm.objects.contacts.read", "crm.objects.contacts.write",
    "crm.objects.deals.read",
    "crm.schemas.companies.read", "crm.schemas.companies.write",
    "crm.schemas.contacts.read", "crm.schemas.contacts.write",
    "communication_preferences.write",  # an unsubscribe opts the contact out of all email in HubSpot
)
SALESFORCE_OBJECTS = {"company": ("Account",), "contact": ("Contact", "Lead"), "engagement": ("Activity",)}
# Task and Event share their custom fields, defined on Activity; Salesforce lists and grants them as Task's (a Task
# grant is mirrored on Event), so a permission set and FieldPermissions name them `Task.<field>`.
SALESFORCE_GRANTED_AS = {"Activity": "Task"}
SALESFORCE_API_VERSION = "59.0"
SALESFORCE_PERMISSION_SET = {
    "name": "SalesOS_Integration", "label": "SalesOS Integration",
    "description": "Lets the SalesOS integration user read and write the SalesOS fields, and opt people out of email.",
}
# Standard fields SalesOS uses beyond its own, by whether it writes them: an opt-out ticks HasOptedOutOfEmail on
# the Contact and on every Lead it finds by Email (crm_adapters.salesforce).
SALESFORCE_STANDARD_FIELDS = {f"Contact.{EMAIL_OPT_OUT}": True, f"{LEAD_OBJECT}.{EMAIL_OPT_OUT}": True,
                              f"{LEAD_OBJECT}.Email": False}
# Object access beyond the profile's: an opt-out must find and update every Lead with the address, whoever owns
# it (a reps' Lead; never created or deleted). Names as in ObjectPermissions, without their `Permissions` prefix.
SALESFORCE_OBJECT_ACCESS = {LEAD_OBJECT: ("Read", "Edit", "ViewAllRecords")}
_OBJECT_PERMISSION_XML = {"Create": "allowCreate", "Delete": "allowDelete", "Edit": "allowEdit", "Read": "allowRead",
                          "ModifyAllRecords": "modifyAllRecords", "ViewAllRecords": "viewAllRecords"}
_METADATA_NS = "http://soap.sforce.com/2006/04/metadata"

_HUBSPOT_TYPES = {
    "number": ("number", "number"),
    "text": ("string", "text"),
    "json": ("string", "textarea"),
    "bool": ("bool", "booleancheckbox"),
    "datetime": ("datetime", "date"),
    "enum": ("enumeration", "select"),
}


def hubspot_property(field: CustomField, order: int) -> dict:
    """A HubSpot property definition (POST /crm/v3/properties/{objectType})."""
    kind, field_type = _HUBSPOT_TYPES[field.type]
    definition = {
        "name": field.hubspot_name, "label": field.label, "description": field.description,
        "groupName": HUBSPOT_GROUP["name"], "type": kind, "fieldType": field_type, "displayOrder": order,
    }
    if field.type == "enum":
        definition["options"] = [
            {"label": option, "value": option, "displayOrder": index} for index, option in enumerate(field.options)
        ]
    if field.type == "bool":
        definition["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0},
                                 {"label": "No", "value": "false", "displayOrder": 1}]
    if field.unique:
        definition["hasUniqueValue"] = True
    return definition


def hubspot_properties() -> dict[str, list[dict]]:
    """Property definitions by HubSpot object type, identity fields first."""
    return {
        object_type: [
            hubspot_property(field, order)
            for order, field in enumerate(identity_fields(kind, "hubspot") + fields_for(kind))
        ]
        for kind, object_types in HUBSPOT_OBJECTS.items() for object_type in object_types
    }


def hubspot_app(public_url: str = DEFAULT_PUBLIC_URL) -> dict:
    return {
        "uid": "salesos",
        "type": "app",
        "config": {
            "name": "SalesOS",
            "description": "Finds, researches, scores and sequences prospects inside HubSpot.",
            "distribution": "marketplace",
            "auth": {
                "type": "oauth",
                "redirectUrls": [f"{public_url}/oauth/hubspot/callback"],
                "requiredScopes": list(HUBSPOT_SCOPES),
                "optionalScopes": [],
                "conditionallyRequiredScopes": [],
            },
            "permittedUrls": {"fetch": ["https://api.hubapi.com"], "iframe": [], "img": []},
            "support": {"supportEmail": "support@salesos.example.com",
                        "documentationUrl": f"{public_url}/docs", "supportUrl": f"{public_url}/support"},
        },
    }


def hubspot_webhooks(public_url: str = DEFAULT_PUBLIC_URL) -> dict:
    """The changes `connector.routing` acts on reach /webhooks/hubspot: a rep's prospect tick, a rep's pause or
    resume of a sequence, a rep's tier override, a contact's new title, a deal's stage, a market record's
    definition."""
    changes = [
        {"subscriptionType": f"{kind}.propertyChange", "propertyName": name, "active": True}
        for kind, name in (("company", "salesos_prospect"), ("contact", "salesos_sequence_state"),
                           ("contact", "jobtitle"), ("contact", "salesos_priority_tier"), ("deal", "dealstage"))
    ]
    return {
        "uid": "salesos_webhooks",
        "type": "webhooks",
        "config": {
            "settings": {"targetUrl": f"{public_url}/webhooks/hubspot", "maxConcurrentRequests": 10},
            "subscriptions": {
                "crmObjects": [{"subscriptionType": "object.propertyChange", "objectType": HUBSPOT_MARKET_OBJECT,
                                "propertyName": HUBSPOT_DEFINITION, "active": True}],
                "legacyCrmObjects": changes,
            },
        },
    }


def salesforce_field_metadata(field: CustomField) -> dict[str, Any]:
    """One CustomField's metadata as data, in the Metadata API's element order.

    The SFDX file is rendered from this dict and the Tooling API is sent it
    (`crm_adapters.provision`), so the deployed manifest and what provisioning
    creates are the same definition by construction.
    """
    metadata: dict[str, Any] = {"fullName": field.salesforce_name, "label": field.label,
                                "description": field.description, **_salesforce_type(field)}
    if field.unique:
        metadata["externalId"] = True
        if field.object != "engagement":  # an activity's key is an External ID only (`fields.ENGAGEMENT_KEY`)
            metadata |= {"unique": True, "caseSensitive": False}
    return metadata


def salesforce_field(field: CustomField) -> str:
    """SFDX source format of one CustomField (objects/<Object>/fields/<Name>.field-meta.xml)."""
    body = "\n".join(_xml(name, value, 1) for name, value in salesforce_field_metadata(field).items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField xmlns="{_METADATA_NS}">\n{body}\n</CustomField>\n'


def _salesforce_type(field: CustomField) -> dict[str, Any]:
    if field.type == "number":
        return {"type": "Number", "precision": 18, "scale": 4}
    if field.type == "text":
        return {"type": "Text", "length": 255}
    if field.type == "json":
        return {"type": "LongTextArea", "length": 131072, "visibleLines": 5}
    if field.type == "bool":
        return {"type": "Checkbox", "defaultValue": "false"}  # a formula, hence text
    if field.type == "datetime":
        return {"type": "DateTime"}
    values = [{"fullName": option, "default": False, "label": option} for option in field.options]
    return {"type": "Picklist",
            "valueSet": {"restricted": True, "valueSetDefinition": {"sorted": False, "value": values}}}


def _xml(name: str, value: Any, depth: int) -> str:
    """Metadata as XML elements: a dict nests, a list repeats the element, booleans are true/false."""
    indent = "    " * depth
    if isinstance(value, list):
        return "\n".join(_xml(name, item, depth) for item in value)
    if isinstance(value, dict):
        children = "\n".join(_xml(child, item, depth + 1) for child, item in value.items())
        return f"{indent}<{name}>\n{children}\n{indent}</{name}>"
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    return f"{indent}<{name}>{text}</{name}>"


def salesforce_fields() -> dict[str, list[CustomField]]:
    by_object: dict[str, list[CustomField]] = {}
    for kind, objects in SALESFORCE_OBJECTS.items():
        fields = list(identity_fields(kind, "salesforce") + fields_for(kind))
        for name in objects:
            by_object[name] = fields
    return by_object


def salesforce_field_grants() -> list[str]:
    """`Object.Field` names the permission set grants read and edit on: every field SalesOS deploys."""
    return [salesforce_grant_name(name, field) for name, fields in salesforce_fields().items() for field in fields]


def salesforce_grant_name(sobject: str, field: CustomField) -> str:
    """A field of `sobject` as Salesforce grants it: `Account.SalesOS_Domain__c`, `Task.SalesOS_Key__c`."""
    return f"{SALESFORCE_GRANTED_AS.get(sobject, sobject)}.{field.salesforce_name}"


def salesforce_permission_set() -> str:
    """Field-level security and object access: fields are invisible to the integration user until granted.

    The market object comes with the deployed metadata (not with `provision`), and so does its grant.
    """
    fields = {**{name: True for name in salesforce_field_grants()}, **SALESFORCE_STANDARD_FIELDS,
              f"{SALESFORCE_MARKET_OBJECT}.{SALESFORCE_DEFINITION}": True}
    grants = "\n".join(
        f"    <fieldPermissions>\n        <editable>{'true' if editable else 'false'}</editable>\n"
        f"        <field>{name}</field>\n        <readable>true</readable>\n"
        f"    </fieldPermissions>"
        for name, editable in fields.items()
    )
    objects = {**SALESFORCE_OBJECT_ACCESS, SALESFORCE_MARKET_OBJECT: ("Read", "ViewAllRecords")}
    access = "".join(_object_permission(name, allowed) for name, allowed in sorted(objects.items()))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PermissionSet xmlns="{_METADATA_NS}">\n'
            f"    <description>{escape(SALESFORCE_PERMISSION_SET['description'])}</description>\n"
            f"{grants}\n    <label>{escape(SALESFORCE_PERMISSION_SET['label'])}</label>\n{access}</PermissionSet>\n")


def _object_permission(sobject: str, allowed: tuple[str, ...]) -> str:
    """One objectPermissions element, its children in the Metadata API's order."""
    children = {_OBJECT_PERMISSION_XML[name]: name in allowed for name in _OBJECT_PERMISSION_XML} | {"object": sobject}
    body = "".join(f"        <{tag}>{value if isinstance(value, str) else str(value).lower()}</{tag}>\n"
                   for tag, value in sorted(children.items()))
    return f"    <objectPermissions>\n{body}    </objectPermissions>\n"


def salesforce_connected_app(public_url: str = DEFAULT_PUBLIC_URL) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ConnectedApp xmlns="{_METADATA_NS}">\n'
        f"    <contactEmail>support@salesos.example.com</contactEmail>\n"
        f"    <label>SalesOS</label>\n"
        f"    <oauthConfig>\n"
        f"        <callbackUrl>{public_url}/oauth/salesforce/callback</callbackUrl>\n"
        f"        <scopes>Api</scopes>\n        <scopes>RefreshToken</scopes>\n"
        f"    </oauthConfig>\n</ConnectedApp>\n"
    )


def manifest_files(public_url: str = DEFAULT_PUBLIC_URL) -> dict[str, str]:
    """Every manifest file by its path under `manifest/`."""
    files = {
        "hubspot/src/app/app-hsmeta.json": _json(hubspot_app(public_url)),
        "hubspot/src/app/webhooks/webhooks-hsmeta.json": _json(hubspot_webhooks(public_url)),
        "hubspot/properties.json": _json({"group": HUBSPOT_GROUP, "properties": hubspot_properties()}),
        "salesforce/sfdx-project.json": _json({
            "packageDirectories": [{"path": "force-app", "default": True}],
            "sourceApiVersion": SALESFORCE_API_VERSION,
        }),
        f"salesforce/force-app/main/default/permissionsets/{SALESFORCE_PERMISSION_SET['name']}.permissionset-meta.xml":
            salesforce_permission_set(),
        "salesforce/force-app/main/default/connectedApps/SalesOS.connectedApp-meta.xml":
            salesforce_connected_app(public_url),
    }
    files.update(market_files())
    files.update(template_files(public_url))
    for action in ACTIONS:
        files[f"hubspot/src/app/workflow-actions/{action.name}-hsmeta.json"] = _json(
            hubspot_definition(action, public_url))
    for name, fields in salesforce_fields().items():
        for field in fields:
            path = f"salesforce/force-app/main/default/objects/{name}/fields/{field.salesforce_name}.field-meta.xml"
            files[path] = salesforce_field(field)
    return files


def org_manifest_files(public_url: str, outbound_url: str, integration_user: str, tenant_id: str) -> dict[str, str]:
    """One org's Salesforce project: the committed one plus its Outbound Messages with the org's exact URL."""
    files = {path: text for path, text in manifest_files(public_url).items()
             if path.startswith("salesforce/") and not path.startswith("salesforce/outbound-messages/")}
    return files | org_files(outbound_url, integration_user, tenant_id)


def _json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"
