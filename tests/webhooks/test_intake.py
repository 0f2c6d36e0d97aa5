"""The intake queues each CRM event once, however often the CRM delivers it."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from agents.events import CrmEvent
from connector.dispatch import INBOX
from webhooks.intake import Intake, identity_of


def event(object_id: str = "101", tenant: str = "hubspot-62515", attempt: int = 0) -> CrmEvent:
    return CrmEvent(tenant=tenant, source="hubspot-webhook", kind="contact.propertyChange", object_type="contact",
                    object_id=object_id, property_name="salesos_stop", property_value="true",
                    occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                    identity=identity_of("contact.propertyChange", object_id, "salesos_stop", 1462216307945),
                    payload={"attemptNumber": attempt})


def test_a_new_event_is_queued_once(conn):
    assert Intake(conn).accept([event()]) == 1
    [queued] = conn.lrange(INBOX, 0, -1)
    assert CrmEvent.model_validate_json(queued).object_id == "101"


def test_a_redelivered_event_is_dropped(conn):
    intake = Intake(conn)
    intake.accept([event(attempt=0)])
    assert intake.accept([event(attempt=1), event("102")]) == 1
    assert conn.llen(INBOX) == 2


def test_the_same_event_twice_in_one_delivery_is_queued_once(conn):
    assert Intake(conn).accept([event(), event()]) == 1


def test_the_same_event_identity_of_two_tenants_is_two_events(conn):
    assert Intake(conn).accept([event(tenant="hubspot-1"), event(tenant="hubspot-2")]) == 2


def test_an_events_identity_is_remembered_for_a_day_and_more(conn):
    Intake(conn).accept([event()])
    [key] = conn.keys("salesos:events:seen:*")
    assert conn.ttl(key) > 24 * 3600


def test_a_call_with_more_events_than_one_redis_command_takes_queues_them_all(conn):
    events = [event(str(n)) for n in range(8500)]  # unpack() of one command takes under 8000
    for n, one in enumerate(events):
        one.identity = f"event-{n}"
    assert Intake(conn).accept(events) == 8500
    assert conn.llen(INBOX) == 8500


def test_an_unreachable_redis_raises_so_the_endpoint_can_answer_503():
    dead = redis.Redis(unix_socket_path="/nonexistent/redis.sock", retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.RedisError):
        Intake(dead).accept([event()])
