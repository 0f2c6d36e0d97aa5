"""Each tenant's market in the state store, on SQLite and PostgreSQL: kept, replaced in the order its record
changed, listed when scheduled, forgotten with the tenant."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import text

from connector.markets import market_from_text
from connector.store import open_store
from connector.tenant_markets import TenantMarkets, forget_market, scheduled_markets

MARKET = "industry: B2B SaaS\ncompany_size: 10-500\n"
SCHEDULED = MARKET + "monthly_target: 1\nschedule: {source: monthly}\n"
T1, T2 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
NOW = T2 + dt.timedelta(days=1)


def market(text: str = MARKET, name: str = "test"):
    return market_from_text(text, name)


def test_a_tenants_market_is_kept_with_its_origin_and_replaced(state_url):
    markets = TenantMarkets(state_url)
    assert markets.get("hubspot-1") is None
    markets.set("hubspot-1", market(), "first.yaml")
    markets.set("hubspot-1", market(SCHEDULED), "second.yaml")
    markets.set("hubspot-2", market(), "other.yaml")
    assert TenantMarkets(state_url).get("hubspot-1") == (market(SCHEDULED), "second.yaml")
    assert TenantMarkets(state_url).get("hubspot-2") == (market(), "other.yaml")


def test_a_market_records_changes_apply_in_the_order_they_happened(state_url):
    markets = TenantMarkets(state_url, clock=lambda: NOW)
    assert markets.define("hubspot-1", "Rec-1", T2, market(SCHEDULED), "record rec-1") == "set"
    assert markets.define("hubspot-1", "rec-1", T1, market(), "record rec-1") == "older"  # arrived late
    assert markets.get("hubspot-1") == (market(SCHEDULED), "record rec-1")
    assert markets.define("hubspot-1", "rec-1", T2, market(SCHEDULED), "record rec-1") == "unchanged"  # a retry
    later = T2 + dt.timedelta(minutes=1)
    assert markets.define("hubspot-1", "rec-1", later, market(), "record rec-1", kept_as="kept") == "set"
    assert markets.get("hubspot-1") == (market(), "kept")


def test_only_scheduled_markets_are_listed_by_tenant_and_one_that_no_longer_reads_is_logged(state_url, caplog):
    markets = TenantMarkets(state_url)
    markets.set("salesforce-1", market(SCHEDULED), "a.yaml")
    markets.set("hubspot-1", market(SCHEDULED), "b.yaml")
    markets.set("hubspot-2", market(), "c.yaml")
    markets.set("hubspot-3", market(SCHEDULED), "d.yaml")
    with open_store(state_url).write() as conn:  # what an older SalesOS may have kept
        conn.execute(text("UPDATE tenant_markets SET market = :kept WHERE tenant = 'hubspot-3'"),
                     {"kept": '{"schedule": {"source": "monthly"}, "industry": 7}'})
    with caplog.at_level(logging.ERROR):
        assert [(tenant, kept.schedule is not None) for tenant, kept in markets.scheduled()] == [
            ("hubspot-1", True), ("salesforce-1", True)]
    assert "the market kept for hubspot-3 no longer reads as a market" in caplog.text


def test_scheduled_markets_read_rows_of_any_source():
    rows = [("a", market(SCHEDULED).model_dump_json()), ("b", market().model_dump_json()), ("c", "[1, 2]")]
    assert [tenant for tenant, _ in scheduled_markets(rows)] == ["a"]


def test_a_tenants_market_is_forgotten_inside_the_uninstalls_write(state_url):
    markets = TenantMarkets(state_url)
    markets.set("hubspot-1", market(), "a.yaml")
    markets.set("hubspot-2", market(), "b.yaml")
    store = open_store(state_url)
    with store.write() as conn:
        forget_market(conn, "hubspot-1")
    assert markets.get("hubspot-1") is None and markets.get("hubspot-2") is not None
