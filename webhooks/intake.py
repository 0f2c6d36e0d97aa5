"""Where every CRM event lands: deduplicated and queued in one Redis round trip.

A webhook must answer within seconds (HubSpot: 5 s) and retries for a day on
any failure, so the endpoints do no work beyond checking the request: each
event is reduced to a `CrmEvent`, and `Intake.accept` stores the new ones in
the inbox list and remembers every event's identity for `DEDUPE_SECONDS`, all
in one Lua script, so a repeated delivery is dropped and a half-done accept
cannot happen. The dispatcher (`connector.dispatch`) routes the inbox to
stage jobs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import queue
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

import redis
from pydantic_core import to_json
from redis.backoff import NoBackoff
from redis.retry import Retry

from agents.events import CrmEvent, Source
from connector.dispatch import INBOX

if TYPE_CHECKING:
    from flask import Flask

DEDUPE_SECONDS = 25 * 3600  # HubSpot and Salesforce retry for 24 h; keep identities a little longer
# An event that happened before the dedupe window is refused as stale: Redis has forgotten its identity, so a
# late redelivery (or a replay) of it could no longer be told from the first delivery.
STALE_AFTER_SECONDS = DEDUPE_SECONDS
REDIS_TIMEOUT = 0.5  # seconds, for connecting and for each reply, on the endpoints' connections

# New entries are pushed 500 at a time: unpack() is limited by Lua's stack, and an error after the SETs
# would leave events marked as seen but never queued.
_ACCEPT = """
local fresh = {}
for i = 1, #KEYS do
    if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
        fresh[#fresh + 1] = ARGV[i + 2]
    end
end
for first = 1, #fresh, 500 do
    redis.call('RPUSH', ARGV[2], unpack(fresh, first, math.min(first + 499, #fresh)))
end
return #fresh
"""
_ACCEPT_SHA = hashlib.sha1(_ACCEPT.encode()).hexdigest()


class Entry(NamedTuple):
    """An event as the inbox stores it: whose, its dedupe identity, the `CrmEvent` as JSON."""

    tenant: str
    identity: str
    json: str | bytes


def event_json(*, tenant: str, source: Source, kind: str, object_type: str, object_id: str,
               property_name: str | None, property_value: str | None, change_source: str | None,
               occurred_at: dt.datetime, identity: str, payload: dict[str, Any]) -> bytes:
    """The JSON `CrmEvent.model_dump_json` would give, without building the model.

    For the HubSpot webhook's hot path, whose values are already validated
    (pydantic-core's encoder: a fifth of json.dumps's time, which counts ten
    times in a batch of ten); tests check it reads back as the same `CrmEvent`.
    """
    return to_json({"tenant": tenant, "source": source, "kind": kind, "object_type": object_type,
                    "object_id": object_id, "property_name": property_name, "property_value": property_value,
                    "change_source": change_source, "occurred_at": occurred_at, "identity": identity,
                    "payload": payload})


def identity_of(*parts: Any) -> str:
    """A stable digest of the fields that identify an event (HubSpot's eventId alone is not unique)."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:40]


class Intake:
    """Queues events with one EVALSHA on a connection of its own, borrowed per call (safe across threads).

    The round trip is most of a webhook's cost. Going through `redis.Redis`
    adds a pool checkout with a health poll and the client's retry wrapper to
    every call (about 20 µs of CPU of the ~70 µs here), so the intake keeps
    plain redis-py connections made with the client's settings and replaces a
    connection that broke (a Redis restart) once per call. Its connections
    live until `close()`: make one per process and keep it (`app_intake`).
    """

    def __init__(self, conn: redis.Redis, inbox: str = INBOX) -> None:
        pool = conn.connection_pool
        self._make = lambda: pool.connection_class(**pool.connection_kwargs)
        self._inbox, self._idle, self._pid = inbox, queue.SimpleQueue(), os.getpid()

    def close(self) -> None:
        """Close the idle connections (an embedded Redis stops only once no client is connected)."""
        while True:
            try:
                self._idle.get_nowait().disconnect()
            except queue.Empty:
                return

    def accept(self, events: list[CrmEvent], remember_for: int = DEDUPE_SECONDS) -> int:
        """Queue the events not seen in the last `remember_for` seconds; returns how many were new.

        Raises redis.RedisError when Redis is unreachable: the endpoint answers
        503 and the CRM delivers again later, so nothing is lost.
        """
        return self.accept_entries([Entry(event.tenant, event.identity, event.model_dump_json()) for event in events],
                                   remember_for)

    def accept_entries(self, entries: list[Entry], remember_for: int = DEDUPE_SECONDS) -> int:
        """`accept` for events already in their inbox form."""
        if not entries:
            return 0
        args = [_ACCEPT_SHA, len(entries), *(f"salesos:events:seen:{e.tenant}:{e.identity}" for e in entries),
                remember_for, self._inbox, *(e.json for e in entries)]
        connection = self._borrow()
        try:
            return int(self._call(connection, args))
        finally:
            self._idle.put(connection)

    @staticmethod
    def _call(connection: redis.Connection, args: list) -> Any:
        try:
            return _evalsha(connection, args)
        except (redis.ConnectionError, redis.TimeoutError):
            # Once more on a new socket: a Redis restart closes idle connections. SET NX makes a resend harmless.
            connection.disconnect()
            return _evalsha(connection, args)

    def _borrow(self) -> redis.Connection:
        if os.getpid() != self._pid:  # forked: the parent's sockets are not ours to use
            self._idle, self._pid = queue.SimpleQueue(), os.getpid()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._make()


def _evalsha(connection: redis.Connection, args: list) -> Any:
    try:
        _send(connection, "EVALSHA", *args)
        return connection.read_response()
    except redis.exceptions.NoScriptError:  # a restarted or flushed Redis: EVAL caches the script again
        _send(connection, "EVAL", _ACCEPT, *args[1:])
        return connection.read_response()


def _send(connection: redis.Connection, *args: Any) -> None:
    """One write per command: redis-py packs a batch's command in ~6 KB pieces, each its own syscall."""
    connection.send_packed_command([b"".join(connection.pack_command(*args))], check_health=False)


def app_intake(app: Flask) -> Intake | None:
    """The app's intake (None without REDIS_URL), on connections that fail within about a second.

    Its connections time out after REDIS_TIMEOUT, so a dead or hung Redis
    costs a request about a second, well inside the CRMs' 5 s (HubSpot) and
    the endpoint can answer 503 for a retry.
    """
    intake = app.extensions.get("salesos_intake")
    if intake is not None or app.extensions.get("salesos_redis") is None:
        return intake
    with _APP_LOCK:
        if "salesos_intake" not in app.extensions:
            base: redis.Redis = app.extensions["salesos_redis"]
            kwargs = {**base.connection_pool.connection_kwargs, "socket_connect_timeout": REDIS_TIMEOUT,
                      "socket_timeout": REDIS_TIMEOUT, "retry": Retry(NoBackoff(), 0)}
            pool = redis.ConnectionPool(connection_class=base.connection_pool.connection_class, **kwargs)
            app.extensions["salesos_intake"] = Intake(redis.Redis(connection_pool=pool))
        return app.extensions["salesos_intake"]


_APP_LOCK = threading.Lock()
