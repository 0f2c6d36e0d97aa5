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
    market_defined_job, pause_sequence_job, prospect_job, record_deal_stage_job, resume_sequence_job,
)
from crm_adapters.fields import FIELDS
from crm_adapters.market_object import MARKET_DEFINITION_PROPERTIES
from webhooks.intake import CrmEvent


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

    def matches(self, event: CrmEvent) -> bool:
        action = event.kind.rsplit(".", 1)[-1].lower()
        return ((self.object_types is None or event.object_type in self.object_types) and action in self.actions
                and (self.properties is None or event.property_name in self.properties)
                and (self.values is None or (event.property_value or "").lower() in self.values))


def _set(*items: str | tuple[str, ...]) -> frozenset[str]:
    return frozenset(name for item in items for name in ((item,) if isinstance(item, str) else item))


def _field(name: str) -> frozenset[str]:
    """A SalesOS field by its name in either CRM, from the one field list."""
    [field] = [f for f in FIELDS if f.name == name]
    return _set(field.hubspot_name, field.salesforce_name)


_CHANGE = _set("propertychange", "updated")
ROUTES: tuple[Route, ...] = (
    # Only the market object has a definition; HubSpot names custom objects by a per-portal id ("2-1234").
    Route(None, _CHANGE | _set("creation", "created"), _set(MARKET_DEFINITION_PROPERTIES), None, "source",
          market_defined_job),
    Route(_set("company", "account"), _CHANGE, _field("prospect"), _set("true"),
          "enrich", prospect_job),
    Route(None, _set("prospect_company", "find_buying_team", "score_contact"), None, None, "enrich", prospect_job),
    Route(_set("contact"), _CHANGE, _field("sequence_state"),
          _set("paused", "stopped"), "engagement", pause_sequence_job),
    Route(_set("contact"), _CHANGE, _field("sequence_state"),
          _set("in_progress", "scheduled"), "engagement", resume_sequence_job),
    Route(None, _set("stop_sequence"), None, None, "engagement", pause_sequence_job),
    Route(_set("deal", "opportunity"), _CHANGE, _set("dealstage", "StageName"), None, "engagement",
          record_deal_stage_job),
)


def route(event: CrmEvent) -> list[StageJob]:
    """Every stage job the event starts (usually one, often none)."""
    return [StageJob(stage=r.stage, func=f"{r.job.__module__}.{r.job.__name__}",
                     payload={"event": event.model_dump(mode="json")},
                     key=f"event-{event.tenant}-{event.identity}-{r.job.__name__}")
            for r in ROUTES if r.matches(event)]
