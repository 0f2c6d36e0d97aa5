"""Changes to one record apply in the order they happened in the CRM, whatever order they arrive in.

CRMs retry late and workers run jobs in parallel, so a change can reach
SalesOS after a newer one of the same record. The state database remembers,
per (tenant, record, what changed), when the last applied change happened;
`newest` applies a change only if it is not older than that, inside the
caller's write transaction, so the check and the effect are one.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_changes (
    tenant TEXT NOT NULL,
    record TEXT NOT NULL COLLATE NOCASE,
    property TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, record, property)
)
"""


def newest(db: sqlite3.Connection, tenant: str, record: str, prop: str, changed_at: dt.datetime) -> bool:
    """Inside a write transaction on `db`: remember `changed_at` as the time of the record's last change of
    `prop`, unless a newer change was applied (then False). The same time again is no older (a retried job
    applies its change again)."""
    micros = round(changed_at.timestamp() * 1_000_000)
    return db.execute(
        "INSERT INTO applied_changes (tenant, record, property, occurred_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, record, property) DO UPDATE SET occurred_at = excluded.occurred_at "
        "WHERE excluded.occurred_at >= applied_changes.occurred_at", (tenant, record, prop, micros)).rowcount > 0
