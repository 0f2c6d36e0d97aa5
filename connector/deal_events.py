"""Deal stage changes from the CRM, kept for the deal-desk agents (proposals, forecasts, coaching)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agents.events import CrmEvent
from connector.store import Store, open_store
from connector.store.schema import deal_events


class DealEvents:
    def __init__(self, target: Store | Path | str) -> None:
        self._store = open_store(target)

    def record(self, event: CrmEvent) -> bool:
        """Store a stage change once; False for a repeat (the same event, or the stage the deal is already in,
        as a Salesforce Outbound Message re-sends on every later edit of the opportunity)."""
        with self._store.write() as conn:
            last = conn.execute(select(deal_events.c.stage).where(*_of(event.tenant, event.object_id))
                                .order_by(deal_events.c.occurred_at.desc()).limit(1)).first()
            if last is not None and last.stage == event.property_value:
                return False
            return conn.execute(self._store.insert(deal_events).values(
                identity=event.identity, tenant=event.tenant, deal_id=event.object_id, stage=event.property_value,
                occurred_at=event.occurred_at.isoformat(), change_source=event.change_source,
            ).on_conflict_do_nothing(), execution_options={"preserve_rowcount": True}).rowcount == 1

    def history(self, tenant: str, deal_id: str) -> list[tuple[str, str]]:
        """(stage, occurred_at) in the order they happened."""
        with self._store.read() as conn:
            rows = conn.execute(select(deal_events.c.stage, deal_events.c.occurred_at).where(*_of(tenant, deal_id))
                                .order_by(deal_events.c.occurred_at))
            return [(stage, occurred_at) for stage, occurred_at in rows]


def _of(tenant: str, deal_id: str) -> tuple:
    return deal_events.c.tenant == tenant, deal_events.c.deal_id == deal_id
