"""End-to-end benchmark on the embedded default: 10,000 companies, ~5 people each.

Prints wall time, peak RSS of everything the run starts (this process, the
workers, redis-server), and the queue's floor: the time the same number of
no-op RQ jobs takes through the same workers. Targets on a 2-core machine:
<= 60 s and <= 500 MB.

    .venv/bin/python bench/pipeline.py [--companies 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connector.markets import load_market  # noqa: E402
from connector.queues import enqueue_once, job_id, noop, run_pending  # noqa: E402
from connector.redis_conn import connect, embedded_redis  # noqa: E402
from connector.runner import execute_run, worker_pool  # noqa: E402
from connector.settings import Settings  # noqa: E402
from scripts.make_sample_data import generate  # noqa: E402

AS_OF = dt.date(2026, 11, 2)


class PeakRSS:
    """Samples the summed RSS of a set of process trees every 50 ms."""

    def __init__(self, *pids: int) -> None:
        self.roots = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    for process in [root, *root.children(recursive=True)]:
                        total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total)
            time.sleep(0.05)


def noop_floor(url: str, settings: Settings, jobs: int, workers: int) -> float:
    """Seconds for `jobs` no-op jobs through the same kind of worker pool."""
    conn = connect(url)
    run_id = f"noop-{time.time_ns()}"
    with worker_pool(url, settings, workers, ["engagement"]) as pool:
        started = time.monotonic()
        for index in range(jobs):
            enqueue_once(conn, "engagement", noop, {}, job_key=job_id("noop", run_id, str(index)), run_id=run_id)
        while run_pending(conn, run_id):
            pool.check()
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="salesos-bench-") as tmp:
        home = Path(tmp)
        started = time.monotonic()
        generate(companies=args.companies, out_dir=home / "data", as_of=AS_OF)
        generated = time.monotonic() - started
        data = sorted((home / "data").glob("*.jsonl"))
        market = load_market(ROOT / "examples" / "market.yaml").model_copy(update={"monthly_target": None})
        with embedded_redis(home / "redis") as url:
            client = connect(url)
            redis_pid = client.info()["process_id"]
            client.close()  # an open client would keep the embedded server alive past the block
            settings = Settings(salesos_home=home / "home", redis_url=url)
            with PeakRSS(psutil.Process().pid, redis_pid) as memory:
                started = time.monotonic()
                summary = execute_run(settings, market, data, AS_OF, send_now=True, workers=args.workers)
                wall = time.monotonic() - started
            floor = noop_floor(url, settings, summary["jobs"], args.workers)

    print(f"companies generated   {args.companies:>10,}  ({generated:.1f} s, not counted)")
    print(f"rows read             {summary['rows_read']:>10,}  (companies, people, signals)")
    print(f"qualified companies   {summary['qualified']:>10,}")
    print(f"contacts sequenced    {summary['scored']:>10,}")
    print(f"emails written        {summary['emails_written']:>10,}")
    print(f"rep tasks created     {summary['tasks_created']:>10,}")
    print(f"rows quarantined      {summary['rows_quarantined']:>10,}")
    print(f"jobs                  {summary['jobs']:>10,}")
    print("job seconds by stage  " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))
    print(f"wall time             {wall:>10.1f} s   (target <= 60 s)")
    print(f"peak RSS              {memory.peak / 2**20:>10.0f} MB  (target <= 500 MB; this process, workers, redis)")
    print(f"no-op floor           {floor:>10.2f} s   ({summary['jobs']} no-op jobs, same workers)")
    print(f"ratio                 {wall / floor if floor else float('inf'):>10.1f} x  (run / floor)")
    if summary["failures"]:
        print(f"FAILED JOBS: {summary['failures']}")
        sys.exit(1)


if __name__ == "__main__":
    main()
