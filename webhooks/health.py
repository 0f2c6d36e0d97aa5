"""Liveness and readiness for load balancers and on-call engineers."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify

health = Blueprint("health", __name__)


@health.get("/health")
def check():
    """200 when Redis answers; 503 (with the reason) when it does not, so traffic goes elsewhere."""
    conn = current_app.extensions["salesos_redis"]
    if conn is None:
        return jsonify(status="unavailable", redis="REDIS_URL is not set"), 503
    try:
        conn.ping()
    except redis.RedisError as exc:
        return jsonify(status="unavailable", redis=f"unreachable: {type(exc).__name__}"), 503
    return jsonify(status="ok", redis="ok"), 200
