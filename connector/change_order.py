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

from sqlalchemy import Connection

from connector.store.engine import insert_for
from connector.store.schema import applied_changes

CLOCK_SKEW = dt.timedelta(hours=1)  # how far ahead of SalesOS's clock a CRM's event may be dated


def newest(conn: Connection, tenant: str, record: str, prop: str, changed_at: dt.datetime,
           now: dt.datetime) -> bool:
    """Inside a write transaction on `conn`: remember `changed_at` as the time of the record's last change of
    `prop`, unless a newer change was applied (then False). The same time again is no older (a retried job
    applies its change again). `now` is SalesOS's clock, which bounds how far ahead a change may be dated."""
    micros = _micros(now if changed_at > now + CLOCK_SKEW else changed_at)
    stored = applied_changes.c.occurred_at
    statement = insert_for(conn, applied_changes).values(tenant=tenant, record=record.lower(), property=prop, occurred_at=micros)
    statement = statement.on_conflict_do_update(
        index_elements=[applied_changes.c.tenant, applied_changes.c.record, applied_changes.c.property],
        set_={"occurred_at": statement.excluded.occurred_at},
        where=(statement.excluded.occurred_at >= stored) | (stored > _micros(now + CLOCK_SKEW)))
    # SQLAlchemy keeps an INSERT's rowcount only when asked to: on PostgreSQL it is -1 otherwise.
    return conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount > 0


def beyond_skew(changed_at: dt.datetime) -> bool:
    """Dated further ahead of SalesOS's clock than a CRM's clock can be: refused at the door."""
    return changed_at > dt.datetime.now(dt.UTC) + CLOCK_SKEW


def _micros(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1_000_000)
