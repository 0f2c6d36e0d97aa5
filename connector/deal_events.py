"""Deal stage changes from the CRM, kept for the deal-desk agents (proposals, forecasts, coaching)."""

from __future__ import annotations

from pathlib import Path

from agents.events import CrmEvent
from connector.private_files import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deal_events (
    identity TEXT PRIMARY KEY, tenant TEXT NOT NULL, deal_id TEXT NOT NULL, stage TEXT,
    occurred_at TEXT NOT NULL, change_source TEXT
)
"""


class DealEvents:
    def __init__(self, path: Path) -> None:
        self._db = connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)

    def record(self, event: CrmEvent) -> bool:
        """Store a stage change once; False for a repeat (the same event, or the stage the deal is already in,
        as a Salesforce Outbound Message re-sends on every later edit of the opportunity)."""
        last = self._db.execute("SELECT stage FROM deal_events WHERE tenant = ? AND deal_id = ? "
                                "ORDER BY occurred_at DESC LIMIT 1", (event.tenant, event.object_id)).fetchone()
        if last is not None and last[0] == event.property_value:
            return False
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO deal_events (identity, tenant, deal_id, stage, occurred_at, change_source) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (event.identity, event.tenant, event.object_id, event.property_value, event.occurred_at.isoformat(),
             event.change_source))
        return cursor.rowcount == 1

    def history(self, tenant: str, deal_id: str) -> list[tuple[str, str]]:
        """(stage, occurred_at) in the order they happened."""
        return self._db.execute("SELECT stage, occurred_at FROM deal_events WHERE tenant = ? AND deal_id = ? "
                                "ORDER BY occurred_at", (tenant, deal_id)).fetchall()

    def close(self) -> None:
        self._db.close()
