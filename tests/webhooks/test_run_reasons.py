"""What crosses to a tenant (an API run's reasons and funnel, a HubSpot workflow's result) names data files by
file name, never by their path on the server; the server's log keeps the full paths.

A real API app, Redis and RQ worker; the runs stop before any CRM call, so no CRM is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from connector import runtime
from connector.actions import outcome
from connector.data_sources import DataSource
from connector.queues import enqueue_once, queue, remember_run_tenant
from connector.settings import SAMPLE_DATA
from connector.tenants import Tenant
from connector.vault import new_key
from tests.connector.jobs_for_tests import crash_at_length, crash_naming_a_server_path
from tests.connector.retries import work_through_retries
from tests.test_end_to_end import ROWS
from tests.webhooks.test_api import MARKET, authorized
from webhooks.app import create_app

TENANT = "hubspot-62515"


@pytest.fixture
def home(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    caches = (runtime.settings, runtime._tenant_crm, runtime.record_index, runtime._data_sources)
    for cached in caches:
        cached.cache_clear()
    runtime.tenant_store().add(Tenant(id=TENANT, crm="hubspot", external_id="62515",
                                      installed_at=dt.datetime.now(dt.UTC)), {"access_token": "pat-test"})
    yield tmp_path
    for cached in caches:
        cached.cache_clear()


def run_through_the_api(redis_url: str, data_files: list[str]) -> tuple[dict, str]:
    """A run the API starts for the tenant, its source job worked; returns the API's answer and the run id."""
    runtime.data_sources().set(TENANT, DataSource(files=data_files))
    client = authorized(create_app(redis_url=redis_url, settings=runtime.settings()).test_client(),
                        runtime.settings(), TENANT)
    run_id = client.post("/api/markets", json=MARKET).json["run_id"]
    conn = redis.Redis.from_url(redis_url)
    SimpleWorker([queue("source", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    answer = client.get(f"/api/runs/{run_id}")
    assert answer.status_code == 200
    return answer.json, run_id


def copy_of_the_sample(home) -> str:
    copy = home / "srv" / "crm-exports" / "accounts.csv"
    copy.parent.mkdir(parents=True)
    copy.write_text(SAMPLE_DATA[1].read_text())
    return str(copy)


def test_a_refused_sample_is_named_by_file_name_to_the_api_and_by_path_in_the_log(home, redis_url, conn, caplog):
    path = copy_of_the_sample(home)
    with caplog.at_level(logging.ERROR):
        answer, _ = run_through_the_api(redis_url, [path])
    [reason] = answer["reasons"]
    assert reason.startswith("accounts.csv: fictional sample data")
    assert str(home) not in json.dumps(answer)
    assert path in caplog.text


def test_a_data_file_gone_from_the_server_stops_the_run_naming_the_file_not_its_path(home, redis_url, conn):
    gone = home / "srv" / "crm-exports" / "moved.jsonl"
    answer, _ = run_through_the_api(redis_url, [str(gone)])
    assert answer["state"] == "stopped" and answer["failures"] == {}
    assert answer["reasons"] == ["data file not found: moved.jsonl"]
    assert str(home) not in json.dumps(answer)


def test_quarantined_rows_are_shown_to_the_api_by_file_name(home, redis_url, conn):
    data = home / "srv" / "crm-exports" / "accounts.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text('{"type": "company", "name": "No domain"}\nnot json\n')
    answer, _ = run_through_the_api(redis_url, [str(data)])
    assert [(row["file"], row["line"]) for row in answer["summary"]["quarantined"]] == [
        ("accounts.jsonl", 1), ("accounts.jsonl", 2)]
    assert str(home) not in json.dumps(answer)


def test_a_hubspot_workflow_is_told_the_file_name_not_the_server_path(home, redis_url, conn):
    _, run_id = run_through_the_api(redis_url, [copy_of_the_sample(home)])
    result = outcome(conn, run_id)
    assert result["hs_execution_state"] == "FAIL_CONTINUE"
    assert result["salesos_result"].startswith("accounts.csv: fictional sample data")
    assert str(home) not in result["salesos_result"]


@pytest.mark.parametrize("stage", ["enrich", "contacts"])
def test_a_data_file_gone_before_a_later_stage_stops_the_run_naming_the_data_source_not_a_traceback(
        home, redis_url, conn, monkeypatch, stage):
    data = home / "srv" / "crm-exports" / "accounts.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in ROWS) + "\n")
    monkeypatch.setenv("SALESOS_DATA_FILES", json.dumps([str(data)]))
    runtime.settings.cache_clear()
    client = authorized(create_app(redis_url=redis_url, settings=runtime.settings()).test_client(),
                        runtime.settings(), "local")
    run_id = client.post("/api/markets", json=MARKET).json["run_id"]
    for earlier in ("source", "enrich")[:("enrich", "contacts").index(stage) + 1]:
        SimpleWorker([queue(earlier, conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    data.unlink()  # moved or deleted on the server while the run went on
    SimpleWorker([queue(stage, conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    answer = client.get(f"/api/runs/{run_id}").json
    assert (answer["state"], answer["failures"], answer["pending_jobs"]) == ("stopped", {}, 0)
    [reason] = answer["reasons"]
    assert "data source" in reason and "accounts.jsonl" in reason and "Traceback" not in reason
    assert str(home) not in json.dumps(answer)


def test_a_failure_is_shown_to_the_tenant_without_server_paths_and_clipped(home, redis_url, conn):
    run_id = "run-crashed"
    remember_run_tenant(conn, run_id, TENANT)
    path = str(home / "srv" / "salesos" / "state" / "secret-layout.sqlite3")
    enqueue_once(conn, "enrich", crash_naming_a_server_path, {"path": path}, job_key="named", run_id=run_id)
    enqueue_once(conn, "enrich", crash_at_length, {"n": 50_000}, job_key="long", run_id=run_id)
    work_through_retries(conn, "enrich")
    client = authorized(create_app(redis_url=redis_url, settings=runtime.settings()).test_client(),
                        runtime.settings(), TENANT)
    answer = client.get(f"/api/runs/{run_id}").json
    assert answer["state"] == "failed"
    assert answer["failures"]["named"] == "PermissionError: [Errno 13] Permission denied: 'secret-layout.sqlite3'"
    assert answer["failures"]["long"].startswith("RuntimeError: the CRM answered: xxx")
    assert all(len(text) <= 100 for text in answer["failures"].values())
    result = outcome(conn, run_id)["salesos_result"]
    assert str(home) not in result and "secret-layout.sqlite3" in result and len(result) <= 250
