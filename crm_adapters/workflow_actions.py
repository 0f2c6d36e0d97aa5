"""The HubSpot custom workflow actions SalesOS offers: one definition feeds the manifest and the endpoint.

Each runs the enrolled company (or the contact's company) through the funnel
and answers asynchronously: HubSpot holds the workflow (`BLOCK`) until SalesOS
completes the action with `SUCCESS` or `FAIL_CONTINUE` and a one-line result.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkflowAction:
    name: str  # the path segment and the event kind: workflow.<name>
    label: str
    description: str
    object_type: str  # HubSpot's enrolled object type
    properties: tuple[str, ...]  # of the enrolled record, sent with each execution


ACTIONS = (
    WorkflowAction("prospect_company", "Prospect this company",
                   "SalesOS scores the company against your market, researches intent, finds the buying team "
                   "and sequences it.", "COMPANY", ("domain", "name")),
    WorkflowAction("find_buying_team", "Find buying team",
                   "SalesOS finds, verifies and ranks the company's buying team.", "COMPANY", ("domain", "name")),
    WorkflowAction("score_contact", "Score and sequence this contact",
                   "SalesOS scores the contact's company and sets the contact's tier and sequence.", "CONTACT",
                   ("email",)),
)
BY_NAME = {action.name: action for action in ACTIONS}
RESULT_FIELD = "salesos_result"


def hubspot_definition(action: WorkflowAction, public_url: str) -> dict:
    """The app project file (`src/app/workflow-actions/*-hsmeta.json`) with the definition fields HubSpot documents."""
    return {
        "uid": f"salesos_{action.name}",
        "type": "workflow-action",
        "config": {
            "actionUrl": f"{public_url}/webhooks/hubspot/actions/{action.name}",
            "isPublished": True,
            "supportedClients": [{"client": "WORKFLOWS"}],
            "objectTypes": [action.object_type],
            "objectRequestOptions": {"properties": list(action.properties)},
            "inputFields": [],
            "outputFields": [{"typeDefinition": {"name": RESULT_FIELD, "type": "string", "fieldType": "text"}}],
            "labels": {"en": {"actionName": action.label, "actionDescription": action.description,
                              "outputFieldLabels": {RESULT_FIELD: "SalesOS result"}}},
        },
    }
