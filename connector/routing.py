"""The one table that says which CRM event starts which stage job.

Events SalesOS caused itself never get here (the endpoints drop their echoes);
an event no route matches is dropped on purpose: the CRM subscriptions are
wider than what SalesOS acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from agents.event_jobs import pause_sequence_job, record_deal_stage_job, resume_sequence_job
from webhooks.intake import CrmEvent


class StageJob(BaseModel):
    """A job to enqueue: `key` makes enqueueing it twice (a re-dispatched event) a no-op."""

    stage: str
    func: str
    payload: dict
    key: str


@dataclass(frozen=True)
class Route:
    object_type: str
    kinds: frozenset[str]  # the event's action: creation, propertyChange, ... (any CRM's spelling, lower case)
    property_name: str | None  # None: any property
    values: frozenset[str] | None  # None: any value
    stage: str
    job: Callable[[dict], dict]

    def matches(self, event: CrmEvent) -> bool:
        action = event.kind.rsplit(".", 1)[-1].lower()
        return (event.object_type == self.object_type and action in self.kinds
                and (self.property_name is None or event.property_name == self.property_name)
                and (self.values is None or (event.property_value or "").lower() in self.values))


_CHANGE = frozenset({"propertychange", "updated"})
ROUTES: tuple[Route, ...] = (
    Route("contact", _CHANGE, "salesos_sequence_state", frozenset({"paused", "stopped"}), "engagement",
          pause_sequence_job),
    Route("contact", _CHANGE, "salesos_sequence_state", frozenset({"in_progress", "scheduled"}), "engagement",
          resume_sequence_job),
    Route("deal", _CHANGE, "dealstage", None, "engagement", record_deal_stage_job),
    Route("opportunity", _CHANGE, "StageName", None, "engagement", record_deal_stage_job),
)


def route(event: CrmEvent) -> list[StageJob]:
    """Every stage job the event starts (usually one, often none)."""
    return [StageJob(stage=r.stage, func=f"{r.job.__module__}.{r.job.__name__}",
                     payload={"event": event.model_dump(mode="json")},
                     key=f"event-{event.tenant}-{event.identity}-{r.job.__name__}")
            for r in ROUTES if r.matches(event)]
