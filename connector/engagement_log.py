"""The engagement events SalesOS has seen, each kept once: one INSERT per batch, a repeat is a no-op.

Every source (the click redirect, the open pixel, SendGrid's event webhook,
reply and meeting handling) gives each event a dedupe key, so a retried
webhook, a double click or a re-run job records it once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from agents.engagement import EngagementEvent
from connector.store import Store, open_store
from connector.store.schema import engagement_events

MAX_DETAIL_CHARS = 500
_CHUNK = 500  # rows per statement: far below either engine's limit on bound values


class EngagementLog:
    def __init__(self, target: Store | Path | str) -> None:
        self._store = open_store(target)

    def record(self, events: Iterable[tuple[str, EngagementEvent]]) -> int:
        """Store (dedupe key, event) pairs not seen before; returns how many were new."""
        rows = list({key: _row(key, event) for key, event in events}.values())
        new = 0
        with self._store.write() as conn:
            for start in range(0, len(rows), _CHUNK):
                new += conn.execute(self._store.insert(engagement_events).values(rows[start:start + _CHUNK])
                                    .on_conflict_do_nothing(), execution_options={"preserve_rowcount": True}).rowcount
        return new

    def events(self, tenant: str, email: str, since: dt.datetime | None = None) -> list[EngagementEvent]:
        """The contact's events, oldest first (what `agents.engagement.engagement_score` reads)."""
        query = select(engagement_events).where(engagement_events.c.tenant == tenant,
                                                engagement_events.c.email == email.lower())
        if since is not None:
            query = query.where(engagement_events.c.at >= since.astimezone(dt.UTC).isoformat())
        with self._store.read() as conn:
            return [EngagementEvent(tenant=row.tenant, email=row.email, kind=row.kind, step_key=row.step_key,
                                    at=dt.datetime.fromisoformat(row.at), reliable=bool(row.reliable),
                                    negative=bool(row.negative), detail=row.detail)
                    for row in conn.execute(query.order_by(engagement_events.c.at))]


def _row(key: str, event: EngagementEvent) -> dict:
    return {"dedupe_key": key, "tenant": event.tenant, "email": event.email, "step_key": event.step_key,
            "kind": event.kind, "at": event.at.astimezone(dt.UTC).isoformat(), "reliable": int(event.reliable),
            "negative": int(event.negative),
            "detail": None if event.detail is None else event.detail[:MAX_DETAIL_CHARS]}
