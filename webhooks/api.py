"""The small JSON API: start a run from a market definition, read its progress."""

from __future__ import annotations

import datetime as dt

import redis
import yaml
from flask import Blueprint, current_app, jsonify, request

from connector.markets import MarketError, parse_market
from connector.queues import run_failures, run_pending, run_stats
from connector.run_summaries import enqueue_unattended
from connector.runner import summarise
from connector.runs import RunContext, new_run_id

api = Blueprint("api", __name__, url_prefix="/api")


@api.post("/markets")
def create_market_run():
    """Validate a market (JSON or YAML) and enqueue a run of it: 202 with the run's URL.

    Body: the market itself, or `{"market": {...}, "as_of": "YYYY-MM-DD"}`.
    """
    body, problem = _body()
    if problem:
        return jsonify(error="invalid request body", problems=[problem]), 400
    wrapped = isinstance(body, dict) and "market" in body
    try:
        market = parse_market(body["market"] if wrapped else body, "market")
        as_of = dt.date.fromisoformat(body["as_of"]) if wrapped and body.get("as_of") else dt.date.today()
    except MarketError as exc:
        return jsonify(error="invalid market definition", problems=exc.problems), 400
    except (TypeError, ValueError):
        return jsonify(error="invalid request body", problems=["as_of: expected a date like 2026-11-02"]), 400
    settings = current_app.config["SALESOS_SETTINGS"]
    run = RunContext(  # no data_files: its source job reads the tenant's data source, or stops saying it has none
        run_id=new_run_id(), market=market, as_of=as_of, batch_size=settings.salesos_batch_size,
    )
    conn = _redis()
    try:
        enqueue_unattended(conn, run, "api")
    except redis.RedisError:
        return jsonify(error="queue unavailable; retry later"), 503
    return jsonify(run_id=run.run_id, status_url=f"/api/runs/{run.run_id}"), 202


@api.get("/runs/<run_id>")
def run_status(run_id: str):
    """The run's state (running, failed, stopped with its reasons, finished) and its funnel so far."""
    conn = _redis()
    try:
        pending = run_pending(conn, run_id)
        stats = run_stats(conn, run_id)
        failures = run_failures(conn, run_id)
    except redis.RedisError:
        return jsonify(error="queue unavailable; retry later"), 503
    if not pending and not stats and not failures:
        return jsonify(error=f"no run {run_id!r}"), 404
    summary = summarise(stats)
    reasons = sorted({stop["reason"] for stop in summary["stopped"]})
    state = "running" if pending else "failed" if failures else "stopped" if reasons else "finished"
    return jsonify(run_id=run_id, state=state, pending_jobs=pending, failures=failures, summary=summary,
                   **({"reasons": reasons} if state == "stopped" else {}))


def _body() -> tuple[object, str | None]:
    raw = request.get_data(cache=False, as_text=True)
    if not raw.strip():
        return None, "the body is empty; send a market definition as JSON or YAML"
    try:
        # JSON is YAML; one parser serves both content types.
        return yaml.safe_load(raw), None
    except yaml.YAMLError as exc:
        return None, f"not valid JSON or YAML: {getattr(exc, 'problem', exc)}"


def _redis() -> redis.Redis:
    conn = current_app.extensions["salesos_redis"]
    if conn is None:
        raise redis.ConnectionError("REDIS_URL is not set")
    return conn
