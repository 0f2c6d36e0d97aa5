"""End-to-end benchmark on the embedded default: 10,000 companies, ~5 people each.

Prints wall time, peak RSS of everything the run starts (this process, the
workers, redis-server), and the queue's floor: the time the same number of
no-op RQ jobs takes through the same workers. Targets on a 2-core machine:
<= 60 s and <= 500 MB.

With `--database postgresql` SalesOS's state lives in a throwaway PostgreSQL
server started here, durable as in production (fsync on); `--database both`
runs SQLite then PostgreSQL on the same data and prints their time ratio
(target: PostgreSQL within 1.5x of SQLite). PostgreSQL's own memory is not
counted in the peak RSS.

    .venv/bin/python bench/pipeline.py [--companies 10000] [--workers 2] [--database sqlite|postgresql|both]
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
from tests.postgres_server import PostgresServer  # noqa: E402

AS_OF = dt.date(2026, 11, 2)


class PeakRSS:
    """Samples the summed RSS of a set of process trees every 50 ms, less the trees of `exclude`."""

    def __init__(self, *pids: int, exclude: tuple[int, ...] = ()) -> None:
        self.roots = [psutil.Process(pid) for pid in pids]
        self.excluded = [psutil.Process(pid) for pid in exclude]
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
            skipped = {p.pid for root in self.excluded for p in [root, *root.children(recursive=True)]}
            for root in self.roots:
                try:
                    for process in [root, *root.children(recursive=True)]:
                        if process.pid not in skipped:
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


def measure(home: Path, data: list[Path], workers: int, database_url: str | None,
            server: PostgresServer | None = None) -> dict:
    """One run of the sample market over `data`, with SalesOS's state in `database_url` (None: SQLite) on `server`
    (a child of this process, whose memory is not counted)."""
    market = load_market(ROOT / "examples" / "market.yaml").model_copy(update={"monthly_target": None})
    with embedded_redis(home / "redis") as url:
        client = connect(url)
        redis_pid = client.info()["process_id"]
        client.close()  # an open client would keep the embedded server alive past the block
        settings = Settings(salesos_home=home / "home", redis_url=url, salesos_database_url=database_url)
        exclude = (server.process.pid,) if server else ()
        with PeakRSS(psutil.Process().pid, redis_pid, exclude=exclude) as memory:
            started = time.monotonic()
            summary = execute_run(settings, market, data, AS_OF, send_now=True, workers=workers)
            wall = time.monotonic() - started
        floor = noop_floor(url, settings, summary["jobs"], workers)
    return {"summary": summary, "wall": wall, "peak": memory.peak, "floor": floor}


def report(name: str, companies: int, result: dict) -> None:
    summary, wall, floor = result["summary"], result["wall"], result["floor"]
    print(f"--- state in {name}")
    print(f"rows read             {summary['rows_read']:>10,}  (companies, people, signals)")
    print(f"qualified companies   {summary['qualified']:>10,}")
    print(f"contacts sequenced    {summary['scored']:>10,}")
    print(f"emails sent           {summary['emails_sent']:>10,}")
    print(f"rep tasks created     {summary['tasks_created']:>10,}")
    print(f"rows quarantined      {summary['rows_quarantined']:>10,}")
    print(f"jobs                  {summary['jobs']:>10,}")
    print("job seconds by stage  " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))
    print(f"wall time             {wall:>10.1f} s   (target <= 60 s)")
    print(f"peak RSS              {result['peak'] / 2**20:>10.0f} MB  (target <= 500 MB; this process, workers, redis)")
    print(f"no-op floor           {floor:>10.2f} s   ({summary['jobs']} no-op jobs, same workers)")
    print(f"ratio                 {wall / floor if floor else float('inf'):>10.1f} x  (run / floor)")
    if summary["failures"]:
        print(f"FAILED JOBS: {summary['failures']}")
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="salesos-bench-") as tmp:
        started = time.monotonic()
        generate(companies=args.companies, out_dir=Path(tmp) / "data", as_of=AS_OF)
        print(f"companies generated   {args.companies:>10,}  ({time.monotonic() - started:.1f} s, not counted)")
        data = sorted((Path(tmp) / "data").glob("*.jsonl"))
        results = {}
        if args.database in ("sqlite", "both"):
            results["SQLite"] = measure(Path(tmp) / "sqlite", data, args.workers, None)
            report("SQLite", args.companies, results["SQLite"])
        if args.database in ("postgresql", "both"):
            server = PostgresServer(durable=True)
            server.start()
            try:
                server.create_database("salesos_bench")
                results["PostgreSQL"] = measure(Path(tmp) / "postgresql", data, args.workers,
                                                server.url("salesos_bench"), server)
            finally:
                server.stop()
            report("PostgreSQL (durable: fsync on)", args.companies, results["PostgreSQL"])
    if len(results) == 2:
        ratio = results["PostgreSQL"]["wall"] / results["SQLite"]["wall"]
        print(f"PostgreSQL / SQLite   {ratio:>10.2f} x  (target <= 1.5 x)")


if __name__ == "__main__":
    main()
