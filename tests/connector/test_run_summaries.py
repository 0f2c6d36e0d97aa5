"""Runs started by CRM events or the API are summarised for `connector health` once they end."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from typer.testing import CliRunner

from connector import runtime
from connector.cli import app as cli
from connector.health import recent_runs
from connector.markets import market_from_text
from connector.queues import STAGES, queue
from connector.run_summaries import GIVE_UP_AFTER, OPEN, enqueue_unattended, save_finished
from connector.runs import RunContext, new_run_id
from tests.test_end_to_end import MARKET


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Workers of the local CRM in this SALESOS_HOME (the jobs build their CRM from the settings)."""
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    runtime.settings.cache_clear()
    yield tmp_path
    runtime.settings.cache_clear()


def a_run(tmp_path) -> RunContext:
    """A run whose one company does not qualify: its source job ends it."""
    data = tmp_path / "one.jsonl"
    data.write_text('{"type": "company", "name": "Small Farm", "domain": "small-farm.example", "industry": "Farming", '
                    '"employee_count": 2}\n')
    return RunContext(run_id=new_run_id(), market=market_from_text(MARKET, "test"), data_files=[str(data)],
                      as_of=dt.date(2026, 11, 2))


def work(conn) -> None:
    SimpleWorker([queue(name, conn) for name in STAGES], connection=conn, serializer=JSONSerializer).work(burst=True)


def test_a_run_nobody_waits_for_is_summarised_once_it_has_ended(conn, tmp_path):
    run = a_run(tmp_path)
    enqueue_unattended(conn, run, "crm event")
    work(conn)
    assert save_finished(conn, tmp_path) == 1
    summary = json.loads((tmp_path / "runs" / f"{run.run_id}.json").read_text())
    assert (summary["run_id"], summary["tenant"], summary["started_by"]) == (run.run_id, "local", "crm event")
    assert summary["jobs"] == 1 and summary["failures"] == [] and summary["stopped"] == []
    assert conn.hlen(OPEN) == 0


def test_a_summarised_run_is_not_saved_again(conn, tmp_path):
    enqueue_unattended(conn, a_run(tmp_path), "api")
    work(conn)
    save_finished(conn, tmp_path)
    assert save_finished(conn, tmp_path) == 0


def test_a_run_still_running_is_not_summarised_yet(conn, tmp_path):
    run = a_run(tmp_path)
    enqueue_unattended(conn, run, "api")
    assert save_finished(conn, tmp_path) == 0
    assert not (tmp_path / "runs").exists()
    assert conn.hexists(OPEN, run.run_id)


def test_a_run_pending_for_two_days_is_summarised_with_what_finished_and_why(conn, tmp_path):
    run = a_run(tmp_path)
    enqueue_unattended(conn, run, "api")
    assert save_finished(conn, tmp_path, now=time.time() + GIVE_UP_AFTER + 1) == 1
    [stop] = json.loads((tmp_path / "runs" / f"{run.run_id}.json").read_text())["stopped"]
    assert stop["stage"] == "run" and stop["reason"].startswith("1 job(s) still pending after 48 h")


def test_an_unattended_runs_summary_leaves_the_last_run_report_alone(conn, tmp_path):
    (tmp_path / "last_run.json").write_text('{"run_id": "the one a person started"}')
    enqueue_unattended(conn, a_run(tmp_path), "crm event")
    work(conn)
    save_finished(conn, tmp_path)
    assert json.loads((tmp_path / "last_run.json").read_text()) == {"run_id": "the one a person started"}


def test_connector_health_counts_a_summarised_unattended_run(conn, tmp_path):
    run = a_run(tmp_path)
    enqueue_unattended(conn, run, "crm event")
    work(conn)
    save_finished(conn, tmp_path)
    assert [summary["run_id"] for summary in recent_runs(tmp_path, dt.datetime.now(dt.UTC))] == [run.run_id]


def test_the_dispatch_command_saves_the_summaries_of_ended_runs(conn, redis_url, tmp_path):
    run = a_run(tmp_path)
    enqueue_unattended(conn, run, "api")
    work(conn)
    result = CliRunner().invoke(cli, ["dispatch", "--burst"],
                                env={"REDIS_URL": redis_url, "SALESOS_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / f"{run.run_id}.json").is_file()
