"""The dispatcher turns each queued event into its stage jobs exactly once, whatever crashes in between."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from typer.testing import CliRunner

from agents.events import CrmEvent
from connector.cli import app as cli
from connector.dispatch import FAILED, INBOX, Dispatcher, DispatcherBusy, lease_key, processing_key
from connector.queues import queue
from tests.restartable_redis import restartable_redis  # noqa: F401 (a fixture)
from tests.webhooks.jobs_for_events import PROCESSED, Job, route_every_event
from webhooks.intake import Intake, identity_of


def event(n: int, kind: str = "contact.propertyChange") -> CrmEvent:
    return CrmEvent(tenant="hubspot-62515", source="hubspot-webhook", kind=kind, object_type="contact",
                    object_id=str(n), property_name="salesos_sequence_state", property_value="paused",
                    occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), identity=identity_of("e", n))


def queue_events(conn, count: int) -> list[CrmEvent]:
    events = [event(n) for n in range(count)]
    Intake(conn).accept(events)
    return events


def processed(conn) -> dict[str, int]:
    SimpleWorker([queue("engagement", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    return {key.decode(): int(value) for key, value in conn.hgetall(PROCESSED).items()}


class Crash(BaseException):
    """A dispatcher dying mid-batch (not an Exception: nothing may catch it)."""


def crashing_after(count: int):
    seen = []

    def route(e: CrmEvent):
        if len(seen) == count:
            raise Crash
        seen.append(e)
        return route_every_event(e)
    return route


def test_each_queued_event_becomes_its_routed_job_and_leaves_the_inbox(conn):
    events = queue_events(conn, 5)
    counts = Dispatcher(conn, route_every_event, name="d1").run(burst=True)
    assert (counts.events, counts.jobs, counts.failed) == (5, 5, 0)
    assert conn.llen(INBOX) == 0 and conn.llen(processing_key("d1")) == 0
    assert processed(conn) == {e.identity: 1 for e in events}


def test_an_event_no_route_wants_is_removed_without_a_job(conn):
    queue_events(conn, 2)
    counts = Dispatcher(conn, lambda e: [], name="d1").run(burst=True)
    assert (counts.events, counts.jobs) == (2, 0)
    assert conn.llen(INBOX) == 0 and queue("engagement", conn).count == 0


def test_a_batch_redone_after_a_crash_enqueues_no_job_twice(conn):
    events = queue_events(conn, 6)
    crashed = Dispatcher(conn, crashing_after(3), name="d1")
    with pytest.raises(Crash):
        crashed.run(burst=True)
    assert conn.llen(processing_key("d1")) == 6  # the whole batch, 3 of its jobs already enqueued
    counts = Dispatcher(conn, route_every_event, name="d1").run(burst=True)  # restarted under its name
    assert counts.jobs == 3
    assert processed(conn) == {e.identity: 1 for e in events}


def test_a_dead_dispatchers_batch_is_recovered_by_another_in_order(conn):
    events = queue_events(conn, 4)
    dead = Dispatcher(conn, crashing_after(0), name="dead", batch=2)
    with pytest.raises(Crash):
        dead.dispatch_once()
    conn.delete(lease_key("dead"))  # its lease expires
    order = []
    survivor = Dispatcher(conn, lambda e: order.append(e.object_id) or route_every_event(e), name="alive")
    survivor.run(burst=True)
    assert order == ["0", "1", "2", "3"]
    assert conn.llen(processing_key("dead")) == 0
    assert processed(conn) == {e.identity: 1 for e in events}


def test_a_live_dispatchers_batch_is_left_alone(conn):
    queue_events(conn, 2)
    busy = Dispatcher(conn, crashing_after(0), name="busy")
    busy.start()
    with pytest.raises(Crash):
        busy.dispatch_once()
    assert Dispatcher(conn, route_every_event, name="other").start() == 0
    assert conn.llen(processing_key("busy")) == 2


def test_a_second_dispatcher_under_a_live_name_is_refused(conn):
    Dispatcher(conn, route_every_event, name="d1").start()
    with pytest.raises(DispatcherBusy, match="'d1' is running"):
        Dispatcher(conn, route_every_event, name="d1").start()


def test_an_unroutable_event_is_kept_aside_and_the_others_dispatched(conn):
    queue_events(conn, 3)
    conn.rpush(INBOX, b"not an event")

    def route(e: CrmEvent):
        if e.object_id == "1":
            raise LookupError("contact 1 is not one SalesOS wrote")
        return route_every_event(e)
    counts = Dispatcher(conn, route, name="d1").run(burst=True)
    assert (counts.events, counts.jobs, counts.failed) == (4, 2, 2)
    failures = [json.loads(raw) for raw in conn.lrange(FAILED, 0, -1)]
    assert [f["error"].split(":")[0] for f in failures] == ["LookupError", "ValidationError"]
    assert conn.llen(INBOX) == 0


def test_an_unroutable_events_error_is_kept_clipped_to_one_line(conn):
    queue_events(conn, 1)

    def route(e: CrmEvent):
        raise LookupError("no route\nforged log line" + "x" * 5000)
    Dispatcher(conn, route, name="d1").run(burst=True)
    [failure] = [json.loads(raw) for raw in conn.lrange(FAILED, 0, -1)]
    assert failure["error"].startswith("LookupError: no route\\nforged") and len(failure["error"]) == 500
    assert "\n" not in failure["error"]


def test_a_job_key_rq_would_refuse_is_turned_into_a_valid_one(conn):
    queue_events(conn, 1)
    route = lambda e: [Job("engagement", "tests.webhooks.jobs_for_events.count_event",  # noqa: E731
                           {"identity": e.identity}, f"event {e.tenant}/{e.identity}")]
    assert Dispatcher(conn, route, name="d1").run(burst=True).jobs == 1


def test_a_waiting_dispatcher_picks_up_an_event_as_it_arrives(conn):
    dispatcher = Dispatcher(conn, route_every_event, name="d1")
    done = threading.Event()
    thread = threading.Thread(target=dispatcher.run, kwargs={"should_stop": done.is_set, "wait_seconds": 1})
    thread.start()
    try:
        [arrived] = queue_events(conn, 1)
        for _ in range(50):
            if queue("engagement", conn).count:
                break
            threading.Event().wait(0.05)
    finally:
        done.set()
        thread.join(timeout=5)
    assert processed(conn) == {arrived.identity: 1}


def test_the_dispatch_command_drains_the_inbox_in_burst_mode(conn, redis_url, tmp_path):
    Intake(conn).accept([event(1, kind="company.creation")])
    result = CliRunner().invoke(cli, ["dispatch", "--burst"],
                                env={"REDIS_URL": redis_url, "SALESOS_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "1 event(s) dispatched" in result.output
    assert conn.llen(INBOX) == 0


def test_a_running_dispatcher_waits_out_a_redis_restart_and_then_dispatches(restartable_redis):
    conn = redis.Redis.from_url(restartable_redis.url)
    done = threading.Event()
    dispatcher = Dispatcher(conn, route_every_event, name="d1")
    thread = threading.Thread(target=dispatcher.run, kwargs={"should_stop": done.is_set})
    thread.start()
    try:
        [before] = queue_events(conn, 1)
        restartable_redis.kill()
        time.sleep(1.5)  # the dispatcher meets the outage
        restartable_redis.start()
        after = event(99)
        Intake(conn).accept([after])
        deadline = time.monotonic() + 20
        while queue("engagement", conn).count + len(conn.hgetall(PROCESSED)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert processed(conn) == {before.identity: 1, after.identity: 1}
