"""The event model: one thing that happened in a tenant's CRM, whichever CRM and door it came through.

The webhook endpoints build it, the dispatcher routes it and the event jobs
decide on it, so it lives here with the rest of the domain vocabulary that
every layer may import, below the HTTP layer (`webhooks/`) that receives it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

Source = Literal["hubspot-webhook", "hubspot-workflow", "salesforce-outbound", "salesforce-flow"]


class CrmEvent(BaseModel):
    """One thing that happened in a tenant's CRM, in the same shape whichever CRM sent it."""

    tenant: str
    source: Source
    kind: str = Field(description="e.g. contact.propertyChange, company.creation, workflow.prospect_company")
    object_type: str = Field(description="company, contact, deal, market, ...")
    object_id: str
    property_name: str | None = None
    property_value: str | None = None
    change_source: str | None = Field(default=None, description="who made the change, as the CRM says")
    occurred_at: dt.datetime
    identity: str = Field(description="what makes two deliveries the same event (dedupe key)")
    payload: dict[str, Any] = Field(default_factory=dict, description="the CRM's own fields, for the stage job")
