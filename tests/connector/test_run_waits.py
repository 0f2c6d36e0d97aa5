"""What a waiting run says for each stage: a worker is awaited, a provider that was down, a CRM retried."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
from rich.console import Console
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from connector import cli
from connector.queues import enqueue_once, queue
from connector.run_waits import stage_waits
from connector.runner import summarise
from tests.connector.jobs_for_tests import crm_retried_once, record

RUN = "20261102T090000-abcdef"
APOLLO_DOWN = [{"provider": "apollo", "stage": "enrich", "kind": "waiting", "reason": "503", "missed": 3}]


def test_jobs_nobody_has_taken_yet_wait_for_a_worker(conn):
    for n in range(2):
        enqueue_once(conn, "source", record, {"n": n}, job_key=f"run-{RUN}-source-{n}", run_id=RUN)
    enqueue_once(conn, "source", record, {"n": 9}, job_key="another-run-source-0", run_id="another")
    assert stage_waits(conn, RUN, ["source", "enrich"], []) == {"source": "2 jobs waiting for a worker"}


def test_companies_held_for_a_provider_say_which_and_when_it_is_tried_again(conn):
    at = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    enqueue_once(conn, "enrich", record, {"n": 1}, job_key=f"run-{RUN}-enrich-0w1", run_id=RUN, at=at)
    assert stage_waits(conn, RUN, ["enrich"], APOLLO_DOWN, now=at.timestamp() - 60) == {
        "enrich": "waiting for apollo, which was down: trying again in 60 s"}
    assert stage_waits(conn, RUN, ["enrich"], APOLLO_DOWN, now=at.timestamp() - 900) == {
        "enrich": "waiting for apollo, which was down: trying again in 15 min"}


def test_a_worker_retrying_a_crm_says_what_it_retries_and_for_how_long(conn):
    enqueue_once(conn, "enrich", crm_retried_once, {"retry_after": 600}, job_key=f"run-{RUN}-enrich-0", run_id=RUN)
    SimpleWorker([queue("enrich", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert stage_waits(conn, RUN, ["enrich"], []) == {
        "enrich": "search companies: HubSpot answered 503: busy; retrying in 60 s (attempt 2 of 6)"}
    assert stage_waits(conn, "another-run", ["enrich"], []) == {}


@pytest.fixture
def screen(monkeypatch):
    """What the run's progress bars leave on stderr (a file: the final frame only)."""
    output = StringIO()
    monkeypatch.setattr(cli, "err", Console(file=output, width=160))
    return output


def progress(**counts) -> dict:
    return summarise([]) | counts


def test_a_stage_that_is_done_ends_its_bar_and_drops_its_note(screen):
    with cli._FunnelProgress() as bars:
        bars.update(progress(seconds={"source": 1.0}, qualified=2, enriched=2, companies_searched=1,
                             waiting={"enrich": "1 job running", "contacts": "1 job running"}))
    bar = {line.split("  ")[0]: re.sub(r"\d:\d\d:\d\d", "T", " ".join(line.split()))
           for line in screen.getvalue().splitlines() if line.strip()}  # T: each bar's clock
    assert bar["Sourcing"].startswith("Sourcing ━") and bar["Sourcing"].endswith(" 1/1 T")
    assert bar["Enriching"].endswith(" 2/2 T")  # done: no note
    assert bar["Finding contacts"].endswith(" 1/2 T 1 job running")
    assert bar["Scoring"].endswith(" 0/2 T")


def test_a_run_that_sourced_nothing_ends_every_bar(screen):
    with cli._FunnelProgress() as bars:
        bars.update(progress(seconds={"source": 0.2}))
    assert "?" not in screen.getvalue() and screen.getvalue().count("0/0") == 3


def test_the_bars_go_when_the_run_fails(screen):
    with pytest.raises(RuntimeError), cli._FunnelProgress() as bars:
        bars.update(progress(waiting={"source": "1 job waiting for a worker"}))
        raise RuntimeError("a worker exited with code 1")
    assert screen.getvalue() == ""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def said(screen) -> list[str]:
    return [line for line in screen.getvalue().splitlines() if line.startswith("Enriching: ")]


def test_without_a_live_display_a_long_wait_is_said_once_in_one_line(screen):
    clock = Clock()
    with cli._FunnelProgress(clock=clock) as bars:
        bars.update(progress(seconds={"source": 1.0}, qualified=2, waiting={"enrich": "retrying in 60 s"}))
        clock.now = 4.9
        bars.update(progress(seconds={"source": 1.0}, qualified=2, waiting={"enrich": "retrying in 56 s"}))
        assert said(screen) == []  # a short wait is only on the bar
        clock.now = 5.0
        bars.update(progress(seconds={"source": 1.0}, qualified=2, waiting={"enrich": "retrying in 55 s"}))
        clock.now = 30.0
        bars.update(progress(seconds={"source": 1.0}, qualified=2, waiting={"enrich": "retrying in 30 s"}))
        assert said(screen) == ["Enriching: retrying in 55 s"]


def test_without_a_live_display_a_new_long_wait_is_said_again(screen):
    clock = Clock()
    with cli._FunnelProgress(clock=clock) as bars:
        for now, note in ((0, "1 job waiting for a worker"), (6, "1 job waiting for a worker"),
                          (7, "waiting for apollo, which was down"), (13, "waiting for apollo, which was down")):
            clock.now = now
            bars.update(progress(seconds={"source": 1.0}, qualified=2, waiting={"enrich": note}))
    assert said(screen) == ["Enriching: 1 job waiting for a worker", "Enriching: waiting for apollo, which was down"]


def test_a_live_display_shows_waits_on_its_bars_only(monkeypatch):
    output = StringIO()
    monkeypatch.setattr(cli, "err", Console(file=output, width=160, force_terminal=True))
    clock = Clock()
    with cli._FunnelProgress(clock=clock) as bars:
        for now in (0, 10):
            clock.now = now
            bars.update(progress(seconds={"source": 1.0}, qualified=2, waiting={"enrich": "1 job running"}))
    assert "Enriching: " not in output.getvalue()
