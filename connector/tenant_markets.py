"""Each tenant's active market: the one its CRM events and workflow actions prospect against.

Set by the last run (`run`, `POST /api/markets`) or by a market record defined
in the CRM; a rep asking to "prospect this company" scores it against this
market, and a market with a schedule ticks (`connector.market_ticks`). A
market record's changes apply in the order they happened (`define`).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from agents.market import MarketDefinition
from connector import change_order
from connector.private_files import connect
from connector.transactions import transaction

log = logging.getLogger(__name__)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenant_markets (
    tenant TEXT PRIMARY KEY, market TEXT NOT NULL, origin TEXT NOT NULL, updated_at TEXT NOT NULL
)
"""


def forget_market(db: sqlite3.Connection, tenant: str) -> None:
    """Uninstalling a tenant (`TenantStore.remove`) drops its market: a re-install starts with none."""
    db.execute(_SCHEMA)
    db.execute("DELETE FROM tenant_markets WHERE tenant = ?", (tenant,))


def scheduled_markets(db: sqlite3.Connection) -> list[tuple[str, MarketDefinition]]:
    """The markets with a schedule, by tenant, from the state database (`health` reads it read-only)."""
    rows = db.execute("SELECT tenant, market FROM tenant_markets WHERE json_extract(market, '$.schedule') IS NOT NULL "
                      "ORDER BY tenant").fetchall()
    markets = []
    for tenant, text in rows:
        try:
            markets.append((tenant, MarketDefinition.model_validate_json(text)))
        except ValidationError:  # kept by an older SalesOS, refused by this one: one tenant's, not everyone's problem
            log.error("the market kept for %s no longer reads as a market; set it again to schedule it", tenant)
    return markets


class TenantMarkets:
    def __init__(self, path: Path, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        """`clock` is what a market record change's time is judged against (`connector.change_order`)."""
        self._clock = clock
        self._db = connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)
        self._db.execute(change_order.SCHEMA)

    def set(self, tenant: str, market: MarketDefinition, origin: str) -> None:
        """`origin` says where it came from, for the admin: a file path or a CRM record."""
        self._db.execute(
            "INSERT INTO tenant_markets (tenant, market, origin, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant) "
            "DO UPDATE SET market = excluded.market, origin = excluded.origin, updated_at = excluded.updated_at",
            (tenant, market.model_dump_json(), origin, dt.datetime.now(dt.UTC).isoformat()))

    def define(self, tenant: str, record: str, changed_at: dt.datetime, market: MarketDefinition, origin: str,
               kept_as: str | None = None) -> Literal["older", "unchanged", "set"]:
        """A market record's definition, changed at `changed_at`, becomes the tenant's market, unless a newer change
        of that record was applied ("older": nothing changes) or the market is this one from `origin` already
        ("unchanged"). It is kept with `kept_as` as its origin when given. One transaction, so two workers
        applying two changes of one record leave the newer."""
        with transaction(self._db):
            if not change_order.newest(self._db, tenant, record, "definition", changed_at, self._clock()):
                return "older"
            if self.get(tenant) == (market, origin):
                return "unchanged"
            self.set(tenant, market, kept_as or origin)
            return "set"

    def get(self, tenant: str) -> tuple[MarketDefinition, str] | None:
        row = self._db.execute("SELECT market, origin FROM tenant_markets WHERE tenant = ?", (tenant,)).fetchone()
        return (MarketDefinition.model_validate_json(row[0]), row[1]) if row else None

    def scheduled(self) -> list[tuple[str, MarketDefinition]]:
        """Every tenant's market that has a schedule (`connector.market_ticks` keeps their ticks going)."""
        return scheduled_markets(self._db)

    def close(self) -> None:
        self._db.close()
