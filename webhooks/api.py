"""The small JSON API: start a run from a market definition, read its progress.

Every route needs an API key (`webhooks.auth`), and a key acts for its own
tenant only: the runs it starts are that tenant's, and another tenant's run
answers exactly like a run that does not exist.

Every answer under /api/ is JSON, errors included: those the views return,
and those Flask raises around them (no such route 404, wrong method 405, body
over the app's MAX_CONTENT_LENGTH 413, a crash 500), see `answer_errors_as_json`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import redis
from flask import Blueprint, Flask, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import HTTPException

from agents.validation import describe, quote
from connector.bounded_yaml import DocumentRefused, load_bounded
from connector.failure_text import for_tenant
from connector.market_ticks import arm
from connector.markets import MarketError, parse_market
from connector.queues import run_failures, run_pending, run_stats, run_tenant
from connector.run_summaries import enqueue_unattended
from connector.runner import summarise
from connector.runs import RunContext, as_of_date, new_run_id
from connector.tenant_markets import TenantMarkets
from webhooks.auth import API_CHALLENGE, caller, unauthorized

api = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)


@api.before_request
def _authenticate():
    """Before the body is read: without a live API key nothing else happens."""
    g.api_key = caller("tenant")
    if g.api_key is None:
        return unauthorized("tenant", API_CHALLENGE)
    return None


@api.post("/markets")
def create_market_run():
    """Validate a market (JSON or YAML) and enqueue a run of it for the key's tenant: 202 with the run's URL.
    The market becomes the tenant's market, and its schedule (if it has one) starts ticking.

    Body: the market itself, or `{"market": {...}, "as_of": "YYYY-MM-DD"}`.
    """
    body, problem = _body()
    if problem:
        return jsonify(error="invalid request body", problems=[problem]), 400
    wrapped = isinstance(body, dict) and "market" in body
    if wrapped:
        try:
            _Wrapped.model_validate(body)
        except ValidationError as exc:
            return jsonify(error="invalid request body", problems=describe(exc)), 400
    try:
        market = parse_market(body["market"] if wrapped else body, "market")
    except MarketError as exc:
        return jsonify(error="invalid market definition", problems=exc.problems), 400
    try:
        as_of = as_of_date(body["as_of"]) if wrapped and body.get("as_of") is not None else dt.date.today()
    except ValueError as exc:
        return jsonify(error="invalid request body", problems=[f"as_of: {exc}"]), 400
    settings = current_app.config["SALESOS_SETTINGS"]
    run = RunContext(  # no data_files: its source job reads the tenant's data source, or stops saying it has none
        run_id=new_run_id(), tenant=g.api_key.tenant, market=market, as_of=as_of,
        batch_size=settings.salesos_batch_size,
    )
    try:
        enqueue_unattended(_redis(), run, "api")
    except redis.RedisError:
        return jsonify(error="queue unavailable; retry later"), 503
    # like `run --tenant`: the tenant's market now
    TenantMarkets(settings.database_url).set(run.tenant, market, origin=f"API run {run.run_id}")
    try:
        arm(_redis(), run.tenant, market, dt.datetime.now(dt.UTC))
    except redis.RedisError:  # the run is queued; the dispatcher's idle pass arms the schedule's first tick
        log.warning("the first tick of %s's market is not armed yet: Redis is unavailable", run.tenant)
    return jsonify(run_id=run.run_id, status_url=f"/api/runs/{run.run_id}"), 202


class _Wrapped(BaseModel):
    """The wrapped form of a body: a key beside these two is refused like an unknown field of a market, so a
    field meant for the market but written beside it is never silently ignored."""

    model_config = ConfigDict(extra="forbid")

    market: object
    as_of: object = None


@api.get("/runs/<run_id>")
def run_status(run_id: str):
    """A run of the key's tenant: its state (running, failed, stopped with its reasons, finished), pending jobs,
    failures and funnel so far."""
    try:
        conn = _redis()
        if run_tenant(conn, run_id) != g.api_key.tenant:
            return _no_run(run_id)  # another tenant's run is answered like one that does not exist
        pending = run_pending(conn, run_id)
        stats = run_stats(conn, run_id)
        failures = run_failures(conn, run_id)
    except redis.RedisError:
        return jsonify(error="queue unavailable; retry later"), 503
    if not pending and not stats and not failures:
        return _no_run(run_id)
    summary = summarise(stats)
    summary["quarantined"] = [{**row, "file": Path(row["file"]).name} for row in summary["quarantined"]]  # no paths
    reasons = sorted({stop["reason"] for stop in summary["stopped"]})
    state = "running" if pending else "failed" if failures else "stopped" if reasons else "finished"
    shown = {job: for_tenant(failure) for job, failure in failures.items()}  # no server paths, clipped
    return jsonify(run_id=run_id, state=state, pending_jobs=pending, failures=shown, summary=summary,
                   **({"reasons": reasons} if state == "stopped" else {}))


def _no_run(run_id: str):
    return jsonify(error=f"no run {quote(run_id)}"), 404


def _body() -> tuple[object, str | None]:
    data = request.get_data(cache=False)
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # never replaced with U+FFFD: what was sent is not what would be run
        return None, (f"(document): not UTF-8 text (byte {data[exc.start]:#04x} at position {exc.start}); "
                      "send the market as UTF-8")
    if not raw.strip():
        return None, "the body is empty; send a market definition as JSON or YAML"
    try:
        return load_bounded(raw), None  # JSON is YAML: one parser, and one set of bounds, serves both
    except DocumentRefused as exc:
        return None, str(exc)


def _redis() -> redis.Redis:
    conn = current_app.extensions["salesos_redis"]
    if conn is None:
        raise redis.ConnectionError("REDIS_URL is not set")
    return conn


_API_ERRORS = {404: "no such API route", 405: "method not allowed here (see the Allow header)",
               500: "internal error; SalesOS logged it"}


def answer_errors_as_json(app: Flask) -> None:
    """Errors Flask raises under /api/ answer JSON like the views do; other paths keep Flask's own pages."""

    @app.errorhandler(HTTPException)
    def _json_error(exc: HTTPException):
        if exc.code is None or not request.path.startswith(f"{api.url_prefix}/"):
            return exc
        if exc.code == 413:
            message = f"the body is larger than {request.max_content_length} bytes"
        else:
            message = _API_ERRORS.get(exc.code, exc.name)
        response = exc.get_response()  # keeps headers such as Allow
        response.set_data(jsonify(error=message).get_data())
        response.mimetype = "application/json"
        return response
