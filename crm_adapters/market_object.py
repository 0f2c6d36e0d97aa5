"""The SalesOS market as a CRM record, so a sales-ops admin can define markets without a YAML file.

HubSpot: a custom object `salesos_market` (its schema is `manifest/hubspot/market-object.json`,
created with `POST /crm/v3/schemas`; custom objects need an Enterprise hub).
Salesforce: a custom object `SalesOS_Market__c`. Either holds the market's
definition as YAML (the same text as `examples/market.yaml`) in one long text
property; writing it sends the event that makes it the tenant's market.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

HUBSPOT_MARKET_OBJECT = "salesos_market"
HUBSPOT_DEFINITION = "salesos_definition"
SALESFORCE_MARKET_OBJECT = "SalesOS_Market__c"
SALESFORCE_DEFINITION = "Definition__c"
MARKET_DEFINITION_PROPERTIES = (HUBSPOT_DEFINITION, SALESFORCE_DEFINITION)
_DESCRIPTION = "The market definition as YAML, like examples/market.yaml; saving it starts a SalesOS run."
_NS = "http://soap.sforce.com/2006/04/metadata"


def hubspot_market_schema() -> dict:
    return {
        "name": HUBSPOT_MARKET_OBJECT,
        "description": "A target market SalesOS prospects.",
        "labels": {"singular": "SalesOS market", "plural": "SalesOS markets"},
        "primaryDisplayProperty": "name",
        "requiredProperties": ["name"],
        "searchableProperties": ["name"],
        "properties": [
            {"name": "name", "label": "Market name", "type": "string", "fieldType": "text"},
            {"name": HUBSPOT_DEFINITION, "label": "Definition (YAML)", "type": "string", "fieldType": "textarea",
             "description": _DESCRIPTION},
        ],
        "associatedObjects": [],
    }


def salesforce_market_object() -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject xmlns="{_NS}">\n'
            "    <deploymentStatus>Deployed</deploymentStatus>\n"
            "    <description>A target market SalesOS prospects.</description>\n"
            "    <label>SalesOS Market</label>\n"
            "    <nameField>\n        <label>Market Name</label>\n        <type>Text</type>\n    </nameField>\n"
            "    <pluralLabel>SalesOS Markets</pluralLabel>\n"
            "    <sharingModel>ReadWrite</sharingModel>\n"
            "</CustomObject>\n")


def salesforce_definition_field() -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField xmlns="{_NS}">\n'
            f"    <fullName>{SALESFORCE_DEFINITION}</fullName>\n"
            f"    <description>{escape(_DESCRIPTION)}</description>\n"
            "    <label>Definition (YAML)</label>\n"
            "    <length>32768</length>\n"
            "    <type>LongTextArea</type>\n"
            "    <visibleLines>20</visibleLines>\n"
            "</CustomField>\n")


def market_files() -> dict[str, str]:
    base = f"salesforce/force-app/main/default/objects/{SALESFORCE_MARKET_OBJECT}"
    return {
        "hubspot/market-object.json": json.dumps(hubspot_market_schema(), indent=2) + "\n",
        f"{base}/{SALESFORCE_MARKET_OBJECT}.object-meta.xml": salesforce_market_object(),
        f"{base}/fields/{SALESFORCE_DEFINITION}.field-meta.xml": salesforce_definition_field(),
    }
