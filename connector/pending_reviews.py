"""Email steps held for a rep's approval (a market's `review_before_send`), in the Redis every worker shares.

Each held step's review task is keyed from the step, so `agents.review_jobs` finds it in the CRM: completed,
the step is sent; deleted, it is skipped. The outreach job arms a check whenever it holds a step, and the check
re-arms itself while any wait.
"""

from __future__ import annotations

import datetime as dt
import json

import redis

CHECK_EVERY = dt.timedelta(minutes=5)


def task_key(step_key: str) -> str:
    return f"{step_key}:review"


def hold(conn: redis.Redis, tenant: str, step_key: str, item: dict) -> None:
    """Keep the step until its task is completed or deleted (holding it again keeps the first time)."""
    conn.hsetnx(_key(tenant), step_key, json.dumps({"item": item, "held_at": dt.datetime.now(dt.UTC).isoformat()}))


def pending(conn: redis.Redis, tenant: str) -> dict[str, tuple[dict, dt.datetime]]:
    """Held steps by key: the step, and when it was held."""
    held = {}
    for key, value in conn.hgetall(_key(tenant)).items():
        record = json.loads(value)
        held[key.decode()] = (record["item"], dt.datetime.fromisoformat(record["held_at"]))
    return held


def release(conn: redis.Redis, tenant: str, step_keys: list[str]) -> None:
    if step_keys:
        conn.hdel(_key(tenant), *step_keys)


def _key(tenant: str) -> str:
    return f"salesos:reviews:{tenant}"
