"""Liveness and readiness for load balancers and on-call engineers, and the operators' dashboard.

- `GET /healthz`: the process is alive and serving; never touches Redis, always 200.
- `GET /readyz`: open, for load balancers: 200 `{"status": "ready"}` when
  Redis can be read, 503 `{"status": "unavailable"}` when not, and nothing
  more (the queues are every tenant's business together).
- `GET /readyz?verbose`: the same, plus the queue state (depth, failed jobs,
  scheduled and overdue jobs, registered workers and the age of the oldest
  waiting job per stage queue, the CRM event inbox, or why Redis is not
  ready), read in two pipelined round trips; it needs an operator key
  (`webhooks.auth`), otherwise 401.
- `GET /health`: the original Redis ping, kept for existing probes.
- `/rq`: rq-dashboard, mounted only with SALESOS_DASHBOARD=1 (off by default),
  answered only to requests carrying an operator key (HTTP Basic password,
  so a browser can ask for it, or Bearer), and read-only (rq-dashboard has no
  authentication and no CSRF protection, and requeues on a plain GET).
  Operators requeue with `rq requeue`.
"""

from __future__ import annotations

import os

import redis
from flask import Blueprint, Flask, current_app, jsonify, request

from connector.health import queue_states
from webhooks.auth import DASHBOARD_CHALLENGE, OPERATOR_CHALLENGE, caller, unauthorized

health = Blueprint("health", __name__)

DASHBOARD_PREFIX = "/rq"
_READ_ONLY_ENDPOINTS = {"rq_dashboard.requeue_all"}  # mutates on GET


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


@health.get("/healthz")
def alive():
    """The process is up and its request loop answers: nothing else is checked."""
    return jsonify(status="alive"), 200


@health.get("/readyz")
def ready():
    """Ready when Redis can be read; with `?verbose` and an operator key, the body says how the queues stand."""
    verbose = "verbose" in request.args
    if verbose and caller("operator") is None:
        return unauthorized("operator", OPERATOR_CHALLENGE)
    answer, status = _readiness()
    return jsonify(answer if verbose else {"status": answer["status"]}), status


def _readiness() -> tuple[dict, int]:
    conn = current_app.extensions["salesos_redis"]
    if conn is None:
        return {"status": "unavailable", "redis": "REDIS_URL is not set"}, 503
    try:
        snapshot = queue_states(conn)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return {"status": "unavailable", "redis": f"unreachable: {type(exc).__name__}"}, 503
    except redis.RedisError as exc:  # answering, but not as a queue store should: not ready either
        return {"status": "unavailable", "redis": f"error: {type(exc).__name__}"}, 503
    return {"status": "ready", "redis": "ok", **snapshot.model_dump()}, 200


# --- operators' dashboard ------------------------------------------------------------


def dashboard_enabled() -> bool:
    return os.environ.get("SALESOS_DASHBOARD", "").strip().lower() in {"1", "true", "yes", "on"}


def mount_dashboard(app: Flask, redis_url: str) -> None:
    """rq-dashboard under /rq: operator key only, read only, SalesOS's JSON-serialised jobs."""
    import rq_dashboard
    from rq.serializers import JSONSerializer
    from rq_dashboard import web

    web.config.serializer = JSONSerializer  # module-wide in rq-dashboard; every SalesOS queue is JSON
    app.config["RQ_DASHBOARD_REDIS_URL"] = redis_url
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=DASHBOARD_PREFIX)
    web.setup_rq_connection(app)
    app.before_request(_guard_dashboard)


def _guard_dashboard():
    if request.blueprint != "rq_dashboard":
        return None
    if caller("operator") is None:
        return unauthorized("operator", DASHBOARD_CHALLENGE)  # its pages, data and assets alike
    if request.method not in ("GET", "HEAD") or request.endpoint in _READ_ONLY_ENDPOINTS:
        return jsonify(error="the dashboard is read-only; requeue with "
                             "`rq requeue --all --queue NAME --serializer json --url REDIS_URL`"), 403
    return None
