"""Changes to one record apply in the order they happened in the CRM, whatever order they arrive in.

CRMs retry late and workers run jobs in parallel, so a change can reach
SalesOS after a newer one of the same record. The state database remembers,
per (tenant, record, what changed), when the last applied change happened;
`newest` applies a change only if it is not older than that, inside the
caller's write transaction, so the check and the effect are one.

A change dated more than CLOCK_SKEW ahead of SalesOS's clock comes from a
wrong clock or a forgery; the endpoints refuse such events, and should one be
in a queue anyway it counts as happening now here, so it can never make every
later real change look older. A time stored ahead by an older SalesOS stops
counting the same way.
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
CLOCK_SKEW = dt.timedelta(hours=1)  # how far ahead of SalesOS's clock a CRM's event may be dated


def newest(db: sqlite3.Connection, tenant: str, record: str, prop: str, changed_at: dt.datetime,
           now: dt.datetime) -> bool:
    """Inside a write transaction on `db`: remember `changed_at` as the time of the record's last change of
    `prop`, unless a newer change was applied (then False). The same time again is no older (a retried job
    applies its change again). `now` is SalesOS's clock, which bounds how far ahead a change may be dated."""
    micros = _micros(now if changed_at > now + CLOCK_SKEW else changed_at)
    return db.execute(
        "INSERT INTO applied_changes (tenant, record, property, occurred_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, record, property) DO UPDATE SET occurred_at = excluded.occurred_at "
        "WHERE excluded.occurred_at >= applied_changes.occurred_at OR applied_changes.occurred_at > ?",
        (tenant, record, prop, micros, _micros(now + CLOCK_SKEW))).rowcount > 0


def beyond_skew(changed_at: dt.datetime) -> bool:
    """Dated further ahead of SalesOS's clock than a CRM's clock can be: refused at the door."""
    return changed_at > dt.datetime.now(dt.UTC) + CLOCK_SKEW


def _micros(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1_000_000)
