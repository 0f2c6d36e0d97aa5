"""Jobs that CRM events start: a rep pausing or resuming a sequence, a deal changing stage.

Each takes `{"event": CrmEvent as JSON}` and returns its counts, like the
funnel's stage jobs. `connector.routing` decides which event starts which job.
"""

from __future__ import annotations

import json

from agents.jobs import enqueue_steps
from connector import runtime
from connector.deal_events import DealEvents
from webhooks.intake import CrmEvent


def pause_sequence_job(payload: dict) -> dict:
    """The rep set the contact's sequence to paused or stopped: no further step runs until they resume it."""
    event = CrmEvent.model_validate(payload["event"])
    email = _email(event)
    runtime.ledger().hold(event.tenant, email, f"{event.property_value} in the CRM")
    return {"sequences_paused": 1}


def resume_sequence_job(payload: dict) -> dict:
    """The rep set the sequence back in progress: the steps that fell due meanwhile run now, the rest on time."""
    event = CrmEvent.model_validate(payload["event"])
    parked = [json.loads(item) for item in runtime.ledger().release(event.tenant, _email(event))]
    return {"sequences_resumed": 1, "steps_resumed": enqueue_steps(event.tenant, parked)}


def record_deal_stage_job(payload: dict) -> dict:
    """Kept for the deal-desk agents (proposals, forecasts) that later stages add."""
    event = CrmEvent.model_validate(payload["event"])
    recorded = DealEvents(runtime.settings().state_path).record(event)
    return {"deal_stage_changes": int(recorded)}


def _email(event: CrmEvent) -> str:
    """The contact's email: HubSpot events carry only the object id, so the id is looked up in the record index."""
    email = event.payload.get("email")
    if email:
        return str(email).lower()
    found = runtime.record_index(event.tenant).keys_of("contact", [event.object_id])
    if event.object_id not in found:
        raise LookupError(f"contact {event.object_id} of {event.tenant} is not one SalesOS wrote")
    return found[event.object_id]
