"""Deal stage changes in the state store, on SQLite and PostgreSQL: each kept once, in the order they happened."""

from __future__ import annotations

import datetime as dt

from connector.deal_events import DealEvents
from agents.events import CrmEvent

DAY = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


def change(stage: str, identity: str, hours: int = 0, deal: str = "77", tenant: str = "hubspot-62515") -> CrmEvent:
    return CrmEvent(tenant=tenant, source="hubspot-webhook", kind="deal.propertyChange", object_type="deal",
                    object_id=deal, property_name="dealstage", property_value=stage,
                    occurred_at=DAY + dt.timedelta(hours=hours), identity=identity, change_source="CRM_UI")


def test_a_stage_change_is_kept_once_and_history_is_in_the_order_they_happened(state_url):
    events = DealEvents(state_url)
    assert events.record(change("appointmentscheduled", "d1")) is True
    assert events.record(change("appointmentscheduled", "d1")) is False  # the same event delivered again
    assert events.record(change("contractsent", "d2", hours=2)) is True
    assert events.record(change("contractsent", "d3", hours=3)) is False  # re-sent in the stage it is in
    assert events.record(change("closedwon", "d4", hours=4)) is True
    assert DealEvents(state_url).history("hubspot-62515", "77") == [
        ("appointmentscheduled", "2026-11-02T09:00:00+00:00"), ("contractsent", "2026-11-02T11:00:00+00:00"),
        ("closedwon", "2026-11-02T13:00:00+00:00")]


def test_deals_and_tenants_are_apart(state_url):
    events = DealEvents(state_url)
    events.record(change("contractsent", "d1"))
    assert events.record(change("contractsent", "d2", deal="78")) is True
    assert events.record(change("contractsent", "d3", tenant="hubspot-1")) is True
    assert events.history("hubspot-62515", "78") == [("contractsent", "2026-11-02T09:00:00+00:00")]
    assert events.history("hubspot-2", "77") == []
