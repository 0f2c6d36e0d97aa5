"""Importable stage jobs and a router for event tests (rq stores functions by name)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rq import get_current_job

from agents.events import CrmEvent

PROCESSED = "test:events:processed"


@dataclass
class Job:
    stage: str
    func: str
    payload: dict = field(default_factory=dict)
    key: str = ""


def count_event(payload: dict) -> dict:
    """Counts how often each event was processed, by identity."""
    get_current_job().connection.hincrby(PROCESSED, payload["identity"], 1)
    return {}


def route_every_event(event: CrmEvent) -> list[Job]:
    return [Job("engagement", f"{__name__}.count_event", {"identity": event.identity},
                f"event-{event.tenant}-{event.identity}")]
