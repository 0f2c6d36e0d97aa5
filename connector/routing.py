"""The one table that says which CRM event starts which stage job.

Events SalesOS caused itself never get here (the endpoints drop their echoes);
an event no route matches is dropped on purpose: the CRM subscriptions are
wider than what SalesOS acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from agents.event_jobs import (
    market_defined_job, override_tier_job, pause_sequence_job, prospect_job, record_deal_stage_job,
    resume_sequence_job,
)
from agents.events import CrmEvent
from crm_adapters.fields import ENDED_STATES, FIELDS
from crm_adapters.market_object import MARKET_DEFINITION_PROPERTIES


class StageJob(BaseModel):
    """A job to enqueue: `key` makes enqueueing it twice (a re-dispatched event) a no-op."""

    stage: str
    func: str
    payload: dict
    key: str


@dataclass(frozen=True)
class Route:
    object_types: frozenset[str] | None  # None: any object (workflow actions name the action, not the object)
    actions: frozenset[str]  # the last part of the event kind, lower case: creation, propertychange, prospect_company
    properties: frozenset[str] | None  # None: any property
    values: frozenset[str] | None  # None: any value (compared lower case)
    stage: str
    job: Callable[[dict], dict]

    def match(self, event: CrmEvent) -> CrmEvent | None:
        """The event, as this route sees it, or None.

        A HubSpot change names its one property; a Salesforce Outbound Message
        carries the record's selected fields as they are now (`payload["fields"]`),
        so the route's property is looked up there and set on the event it passes on.
        """
        action = event.kind.rsplit(".", 1)[-1].lower()
        if (self.object_types is not None and event.object_type not in self.object_types) or action not in self.actions:
            return None
        if self.properties is not None and event.property_name not in self.properties:
            fields = event.payload.get("fields") or {}
            named = [name for name in sorted(self.properties) if name in fields]
            if event.property_name is not None or not named:
                return None
            event = event.model_copy(update={"property_name": named[0], "property_value": _text(fields[named[0]])})
        if self.values is not None and (event.property_value or "").lower() not in self.values:
            return None
        return event


def _set(*items: str | tuple[str, ...]) -> frozenset[str]:
    return frozenset(name for item in items for name in ((item,) if isinstance(item, str) else item))


def _field(name: str) -> frozenset[str]:
    """A SalesOS field by its name in either CRM, from the one field list."""
    [field] = [f for f in FIELDS if f.name == name]
    return _set(field.hubspot_name, field.salesforce_name)


_CHANGE = _set("propertychange", "updated")
ROUTES: tuple[Route, ...] = (
    # Only the market object has a definition; HubSpot names custom objects by a per-portal id ("2-1234").
    Route(None, _CHANGE | _set("creation"), _set(MARKET_DEFINITION_PROPERTIES), None, "source",
          market_defined_job),
    Route(_set("company"), _CHANGE, _field("prospect"), _set("true"),
          "enrich", prospect_job),
    Route(None, _set("prospect_company", "find_buying_team", "score_contact"), None, None, "enrich", prospect_job),
    # a new title changes seniority, authority and role: the contact's company is scored and sequenced again
    Route(_set("contact", "lead"), _CHANGE, _set("jobtitle", "Title"), None, "enrich", prospect_job),
    Route(_set("contact", "lead"), _CHANGE, _field("sequence_state"),
          _set("paused", *ENDED_STATES, "stopped"), "engagement", pause_sequence_job),
    Route(_set("contact", "lead"), _CHANGE, _field("sequence_state"),
          _set("active", "in_progress", "scheduled"), "engagement", resume_sequence_job),
    Route(None, _set("stop_sequence"), None, None, "engagement", pause_sequence_job),
    Route(_set("contact", "lead"), _CHANGE, _field("priority_tier"), None, "engagement", override_tier_job),
    Route(_set("deal", "opportunity"), _CHANGE, _set("dealstage", "StageName"), None, "engagement",
          record_deal_stage_job),
)


def route(event: CrmEvent) -> list[StageJob]:
    """Every stage job the event starts (usually one, often none)."""
    jobs = []
    for r in ROUTES:
        matched = r.match(event)
        if matched is not None:
            jobs.append(StageJob(stage=r.stage, func=f"{r.job.__module__}.{r.job.__name__}",
                                 payload={"event": matched.model_dump(mode="json")},
                                 key=f"event-{event.tenant}-{event.identity}-{r.job.__name__}"))
    return jobs


def _text(value: object) -> str | None:
    """Outbound Message values as the text a HubSpot event would carry (checkboxes as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)
