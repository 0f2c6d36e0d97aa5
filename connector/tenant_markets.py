"""Each tenant's active market: the one its CRM events and workflow actions prospect against.

Set by the last run (`run`, `POST /api/markets`) or by a market record defined
in the CRM; a rep asking to "prospect this company" scores it against this
market, and a market with a schedule ticks (`connector.market_ticks`). A
market record's changes apply in the order they happened (`define`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from pydantic import ValidationError
from sqlalchemy import Connection, select

from agents.market import MarketDefinition
from connector import change_order
from connector.store import Store, open_store
from connector.store.schema import tenant_markets

log = logging.getLogger(__name__)


def forget_market(conn: Connection, tenant: str) -> None:
    """Uninstalling a tenant (`TenantStore.remove`, inside its write) drops its market: a re-install starts with
    none."""
    conn.execute(tenant_markets.delete().where(tenant_markets.c.tenant == tenant))


def scheduled_markets(rows: Iterable[tuple[str, str]]) -> list[tuple[str, MarketDefinition]]:
    """The markets with a schedule among (tenant, market JSON) rows, in their order (`health` reads the rows
    read-only). The JSON is read here, not by the database: the engines spell a JSON path differently."""
    markets = []
    for tenant, text in rows:
        if not _has_schedule(text):
            continue
        try:
            markets.append((tenant, MarketDefinition.model_validate_json(text)))
        except ValidationError:  # kept by an older SalesOS, refused by this one: one tenant's, not everyone's problem
            log.error("the market kept for %s no longer reads as a market; set it again to schedule it", tenant)
    return markets


def _has_schedule(text: str) -> bool:
    try:
        return json.loads(text).get("schedule") is not None
    except (ValueError, AttributeError):
        return True  # no JSON object: reading it as a market says what is wrong


class TenantMarkets:
    def __init__(self, target: Store | Path | str,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        """`clock` is what a market record change's time is judged against (`connector.change_order`)."""
        self._clock = clock
        self._store = open_store(target)

    def set(self, tenant: str, market: MarketDefinition, origin: str) -> None:
        """`origin` says where it came from, for the admin: a file path or a CRM record."""
        statement = self._store.insert(tenant_markets).values(tenant=tenant, market=market.model_dump_json(),
                                                              origin=origin, updated_at=_now())
        with self._store.write() as conn:
            conn.execute(statement.on_conflict_do_update(
                index_elements=[tenant_markets.c.tenant],
                set_={"market": statement.excluded.market, "origin": statement.excluded.origin,
                      "updated_at": statement.excluded.updated_at}))

    def define(self, tenant: str, record: str, changed_at: dt.datetime, market: MarketDefinition, origin: str,
               kept_as: str | None = None) -> Literal["older", "unchanged", "set"]:
        """A market record's definition, changed at `changed_at`, becomes the tenant's market, unless a newer change
        of that record was applied ("older": nothing changes) or the market is this one from `origin` already
        ("unchanged"). It is kept with `kept_as` as its origin when given. One transaction, so two workers
        applying two changes of one record leave the newer."""
        with self._store.write() as conn:
            if not change_order.newest(conn, tenant, record, "definition", changed_at, self._clock()):
                return "older"
            if self.get(tenant) == (market, origin):
                return "unchanged"
            self.set(tenant, market, kept_as or origin)
            return "set"

    def get(self, tenant: str) -> tuple[MarketDefinition, str] | None:
        with self._store.read() as conn:
            row = conn.execute(select(tenant_markets.c.market, tenant_markets.c.origin)
                               .where(tenant_markets.c.tenant == tenant)).first()
        return (MarketDefinition.model_validate_json(row.market), row.origin) if row else None

    def scheduled(self) -> list[tuple[str, MarketDefinition]]:
        """Every tenant's market that has a schedule (`connector.market_ticks` keeps their ticks going)."""
        with self._store.read() as conn:
            rows = conn.execute(select(tenant_markets.c.tenant, tenant_markets.c.market)
                                .order_by(tenant_markets.c.tenant)).tuples().all()
        return scheduled_markets(rows)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
