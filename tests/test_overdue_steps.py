"""A worker started long after a run does not execute the backlog of steps that fell due meanwhile.

As after `make demo`: a run with `--send-now` executes every first step and
queues each next step at its time; nothing runs them until a worker starts,
a month later. That worker moves each of them (and the rest of its sequence)
to the contact's next send window instead of sending them all at once, and
says so, one line per step; within SALESOS_OVERDUE_GRACE a step simply runs.
"""

from __future__ import annotations

import datetime as dt
import json

from connector.queues import queue
from tests.connector.test_cli_edges import cli
from tests.test_end_to_end import workspace  # noqa: F401 - the fixture is shared

A_MONTH_AGO = (dt.date.today() - dt.timedelta(days=30)).isoformat()


def demo_a_month_ago(workspace, redis_url) -> dict:  # noqa: F811 - the shared fixture's value
    home, market, data = workspace
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--as-of", A_MONTH_AGO,
                 "--send-now", "--json", redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def outbox(home) -> int:
    return len(list((home / "home" / "outbox").glob("*.eml")))


def test_a_worker_started_a_month_after_the_demo_moves_each_overdue_step_and_says_so(workspace, redis_url, conn):
    summary = demo_a_month_ago(workspace, redis_url)
    home, _, _ = workspace
    sent = outbox(home)
    assert sent == summary["emails_sent"] > 0
    worker = cli(home / "home", "worker", "--burst", redis_url=redis_url)
    assert worker.returncode == 0, worker.stderr
    assert worker.stderr.startswith("Worker waiting for jobs on source, enrich, contacts, score, outreach, engagement")
    moved = [line for line in worker.stderr.splitlines() if " moved step 2 of " in line]
    assert len(moved) == summary["contacts"] and all(" overdue; now due " in line for line in moved)
    assert " executed " not in worker.stderr
    assert outbox(home) == sent  # nothing sent a month late
    waiting = queue("outreach", conn).scheduled_job_registry
    steps = [item for key in waiting.get_job_ids() for item in queue("outreach", conn).fetch_job(key).args[0]["items"]]
    assert len(steps) == summary["contacts"]  # each in one job per send window
    assert all(waiting.get_scheduled_time(key) > dt.datetime.now(dt.UTC) for key in waiting.get_job_ids())


def test_within_the_grace_the_worker_executes_them_one_line_each(workspace, redis_url):
    summary = demo_a_month_ago(workspace, redis_url)
    home, _, _ = workspace
    sent = outbox(home)
    worker = cli(home / "home", "worker", "--burst", redis_url=redis_url, SALESOS_OVERDUE_GRACE="P60D")
    assert worker.returncode == 0, worker.stderr
    executed = [line for line in worker.stderr.splitlines() if " executed step 2 of " in line]
    assert len(executed) == summary["contacts"]
    assert outbox(home) > sent
