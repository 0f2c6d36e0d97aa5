"""The Salesforce Outbound Messages that tell SalesOS what changed in an org (Workflow metadata).

One message per object SalesOS acts on, carrying the fields the routing table
reads (`connector.routing`), the record's SalesOS key, and the system fields
the endpoint needs (who changed the record, and when). What sends them is the
org's own choice: a record-triggered Flow's "Outbound Message" action.

The endpoint URL is each org's own and it is the messages' only credential
(`connector.tenant_credentials`), so it is never in the committed manifest: there
these files are templates outside the deployed package, saying where the URL
comes from, and `manifests --tenant ID` writes the org's deployable copy with
its exact URL, outside the repository.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from crm_adapters.fields import COMPANY_KEY, CONTACT_KEY, FIELDS
from crm_adapters.market_object import SALESFORCE_DEFINITION, SALESFORCE_MARKET_OBJECT

API_VERSION = "59.0"
TEMPLATE_TOKEN = "THE-ORGS-TOKEN"  # what `tenants outbound-url ID` prints replaces it
TEMPLATE_USER = "the-integration-user@your-org.example"
_SYSTEM = ("Id", "CreatedDate", "LastModifiedDate", "LastModifiedById")
_NS = "http://soap.sforce.com/2006/04/metadata"


def _salesforce_name(name: str) -> str:
    [field] = [f for f in FIELDS if f.name == name]
    return field.salesforce_name


_CONTACT = (CONTACT_KEY.salesforce_name, "Email", "Title", _salesforce_name("sequence_state"),
            _salesforce_name("priority_tier"))
# The fields each object's message carries, besides the system fields.
CARRIED: dict[str, tuple[str, ...]] = {
    "Account": (COMPANY_KEY.salesforce_name, _salesforce_name("prospect")),
    "Contact": _CONTACT,
    "Lead": _CONTACT,
    "Opportunity": ("StageName",),
    SALESFORCE_MARKET_OBJECT: ("Name", SALESFORCE_DEFINITION),
}


def message_name(sobject: str) -> str:
    """The Outbound Message's API name, e.g. SalesOS_Contact_Changes (SalesOS_Market__c: SalesOS_Market_Changes)."""
    return f"SalesOS_{sobject.removeprefix('SalesOS_').removesuffix('__c')}_Changes"


def workflow(sobject: str, endpoint_url: str, integration_user: str, url_note: str) -> str:
    """The Workflow metadata file of one object, holding its one Outbound Message."""
    name = message_name(sobject)
    fields = "\n".join(f"        <fields>{field}</fields>" for field in (*_SYSTEM, *CARRIED[sobject]))
    description = (f"Tells SalesOS when a {sobject} changes; send it from a record-triggered Flow. "
                   f"Endpoint URL: {url_note}")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Workflow xmlns="{_NS}">\n'
        f"    <outboundMessages>\n"
        f"        <fullName>{name}</fullName>\n"
        f"        <apiVersion>{API_VERSION}</apiVersion>\n"
        f"        <description>{escape(description)}</description>\n"
        f"        <endpointUrl>{escape(endpoint_url)}</endpointUrl>\n"
        f"{fields}\n"
        f"        <includeSessionId>false</includeSessionId>\n"
        f"        <integrationUser>{escape(integration_user)}</integrationUser>\n"
        f"        <name>{name.replace('_', ' ')}</name>\n"
        f"        <protected>false</protected>\n"
        f"        <useDeadLetterQueue>false</useDeadLetterQueue>\n"
        f"    </outboundMessages>\n</Workflow>\n"
    )


def template_files(public_url: str) -> dict[str, str]:
    """The committed templates (`manifest/salesforce/outbound-messages/`, not part of the deployed package)."""
    note = ("each org's own, a credential, so it is not in this template: `python -m connector tenants "
            "outbound-url <tenant id>` prints it, and `python -m connector manifests --tenant <tenant id> "
            "--integration-user <username>` writes this file with it.")
    url = f"{public_url}/webhooks/salesforce/outbound/{TEMPLATE_TOKEN}"
    return {f"salesforce/outbound-messages/{sobject}.workflow-meta.xml": workflow(sobject, url, TEMPLATE_USER, note)
            for sobject in CARRIED}


def org_files(endpoint_url: str, integration_user: str, tenant_id: str) -> dict[str, str]:
    """The org's deployable Workflow files, with its exact URL (written outside the repository)."""
    note = (f"the URL SalesOS gave this org; `python -m connector tenants outbound-url {tenant_id}` prints it "
            f"again. Keep it private.")
    return {f"salesforce/force-app/main/default/workflows/{sobject}.workflow-meta.xml":
            workflow(sobject, endpoint_url, integration_user, note) for sobject in CARRIED}
