"""`bench/soak.py` in small: a run whose workers are SIGKILLed and restarted duplicates nothing and loses nothing."""

from __future__ import annotations

from bench.soak import UNCERTAIN, Soak, compare, soak_market


def test_workers_killed_during_a_run_lose_no_job_and_duplicate_no_effect(redis_url, tmp_path):
    soak = Soak(companies=200, workers=2, kills=5, every=(0.2, 0.6), lease_seconds=3, deadline=600)
    unkilled, killed = soak_market(soak, redis_url, tmp_path)

    assert sum(unkilled.left.values()) == 0 and unkilled.failed == {}
    assert len(unkilled.effects["first steps"]) > 0
    assert unkilled.effects["step executions"].total() == len(unkilled.effects["first steps"])  # one line each
    assert (killed.fleet.kills, killed.fleet.restarts) == (5, 5)
    assert killed.fleet.stages_hit.total() >= 1  # the first kill waits for a job to land in
    assert killed.retried_jobs >= 1  # and that job was run again
    duplicates, lost = compare(unkilled.effects, killed.effects)
    assert duplicates == {kind: 0 for kind in unkilled.effects if kind != UNCERTAIN}
    assert lost == {kind: 0 for kind in unkilled.effects if kind != UNCERTAIN}
    assert killed.left == {"pending": 0, "queued": 0, "taken": 0, "started": 0, "due": 0, "claimed": 0}
    assert killed.failed == {}
    assert killed.summary["qualified"] == unkilled.summary["qualified"] == len(killed.effects["companies"])
