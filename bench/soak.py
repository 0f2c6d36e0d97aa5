"""Kill -9 soak: a 1,000-company run on the local CRM while its workers are SIGKILLed and restarted.

The same market runs twice on one real redis-server, each run in its own
SALESOS_HOME, with every first step executed at once (send-now), by worker
processes started as `python -m connector worker`, each the leader of its own
process group. First unkilled; then again while a random worker is SIGKILLed
with its whole process group (its scheduler too), as losing its machine
would, and started again: 50 times, every 0.2-1 s (time runs about 24 times
as fast as in production here, as the leases do). A kill waits up to a second
for a worker in the middle of a job (the first waits as long as it takes),
then takes any worker: an idle one may be taking a job off its queue. Among
workers running a job, one running a job of the stage hit the fewest times
so far goes first, then the one whose job was killed the fewest times, so the
kills spread over the stages (outreach's sends too) and the run's jobs. A job on its last attempt is spared:
killed again, it would fail by design (AbandonedJobError, listed with its
run), which is the retry policy's business, not what this measures. Jobs hold
10 records here (250 by default), so more of them run and more kills land in
one.

Then it checks the killed run against the unkilled one, key by key: every
qualified company and contact written once, every first step executed once
(its CRM activity or task, its outbox file, its ledger key done), no ledger key
left claimed, no job left queued, taken, started or due (each finished, or
listed as failed with its reason). Leases are short here
(SALESOS_LEASE_SECONDS=5; production's default is 120 s), so a killed
worker's keys and job are taken over within seconds, and retries are
immediate (SALESOS_JOB_RETRY_MINUTES=[0, 0, 0, 0, 0]).

    .venv/bin/python bench/soak.py [--companies 1000] [--workers 4] [--kills 50] [--lease 5]

Exit status 1 when anything was duplicated, lost or left behind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connector import runtime  # noqa: E402
from connector.channels.email import outbox_name  # noqa: E402
from connector.ledger import Ledger  # noqa: E402
from connector.markets import load_market  # noqa: E402
from connector.queues import STAGES, is_retry, queue, run_failures, run_pending, run_stats, stats_key  # noqa: E402
from connector.redis_conn import connect, embedded_redis  # noqa: E402
from connector.runner import enqueue_run, summarise  # noqa: E402
from connector.runs import RunContext, new_run_id  # noqa: E402
from connector.worker import taken_key  # noqa: E402
from scripts.make_sample_data import generate  # noqa: E402


@dataclass(frozen=True)
class Soak:
    """How much runs, on how many workers, and how often and how many times they are killed."""

    companies: int = 1000
    workers: int = 4
    kills: int = 50
    every: tuple[float, float] = (0.2, 1.0)  # seconds between kills, at random: time runs 24 x fast, as the lease
    lease_seconds: float = 5
    retry_minutes: str = "[0, 0, 0, 0, 0]"  # five retries, at once
    batch_size: int = 10  # records per job: more, shorter jobs than the default 250, so more kills land mid-job
    deadline: float = 1800  # seconds a run may take to settle; what is left then counts as left behind
    seed: int = 11


@dataclass
class Fleet:
    """The worker processes, each the leader of its own process group: a kill takes its scheduler with it."""

    env: dict[str, str]
    logs: Path
    count: int
    conn: redis.Redis
    processes: list[subprocess.Popen] = field(default_factory=list)
    kills: int = 0
    stages_hit: Counter = field(default_factory=Counter)  # kills in the middle of a job, by the job's stage
    spared: set[str] = field(default_factory=set)  # jobs running their last attempt when a kill was due
    restarts: int = 0
    _workers: dict[int, Worker] = field(default_factory=dict)

    def __enter__(self) -> Fleet:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes = [self._start(index) for index in range(self.count)]
        deadline = time.monotonic() + 120
        while len(self._live_workers()) < self.count:  # registered with Redis: ready for jobs
            self.check()
            assert time.monotonic() < deadline, f"the workers did not start; see {self.logs}"
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the worker stops its scheduler itself
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _start(self, index: int) -> subprocess.Popen:
        with open(self.logs / f"worker-{index}.log", "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "connector", "worker"], cwd=ROOT, env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _live_workers(self) -> dict[int, Worker]:
        """The fleet's workers by pid, looked up again only after a (re)start, so a kill can be timed by polling."""
        pids = {process.pid for process in self.processes}
        if set(self._workers) != pids:
            self._workers = {worker.pid: worker for worker in Worker.all(connection=self.conn) if worker.pid in pids}
        return self._workers

    def kill_one(self, chance: random.Random, mid_job: bool = False) -> bool:
        """SIGKILL the process group of a random worker and restart it: one in the middle of a job when there is one,
        among those whose job was killed the fewest times; else, unless `mid_job`, an idle one. A worker running a
        job's last attempt is spared. False: no worker to kill now."""
        running = {pid: job for pid, job in
                   ((pid, _current_job(worker)) for pid, worker in self._live_workers().items()) if job}
        self.spared.update(job.id for job in running.values() if not job.retries_left)
        # The stage hit least so far goes first, then the job killed the fewest times: kills spread over both.
        targets = {pid: (-self.stages_hit[job.origin], job.retries_left) for pid, job in running.items()
                   if job.retries_left}
        first = max(targets.values(), default=None)
        busy = [index for index, process in enumerate(self.processes) if first and targets.get(process.pid) == first]
        idle = [] if mid_job else [index for index, process in enumerate(self.processes) if process.pid not in running]
        if not busy + idle:
            return False
        index = chance.choice(busy or idle)
        process = self.processes[index]
        if busy:
            self.stages_hit[running[process.pid].origin] += 1
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.kills += 1
        self.processes[index] = self._start(index)
        self.restarts += 1
        return True

    def check(self) -> None:
        exited = [process.returncode for process in self.processes if process.poll() is not None]
        if exited:
            raise RuntimeError(f"a worker exited by itself (code {exited[0]}); see its log in {self.logs}")


def _current_job(worker: Worker) -> Job | None:
    job_id = worker.get_current_job_id()
    if job_id is None:
        return None
    try:
        return Job.fetch(job_id, connection=worker.connection, serializer=JSONSerializer)
    except Exception:  # finished and gone meanwhile
        return None


def outstanding(conn: redis.Redis, run_id: str, ledger: Ledger) -> dict[str, int]:
    """What keeps a run from being settled, read without changing anything (rq's `count()` would clean the
    registries up, doing the workers' work for them)."""
    soon = time.time() + 60  # steps another worker held wait for its lease (seconds); follow-ups wait for days
    stages = [queue(stage, conn) for stage in STAGES]
    return {
        "pending": run_pending(conn, run_id),
        "queued": sum(conn.llen(q.key) for q in stages),
        "taken": sum(conn.zcard(taken_key(q.name)) for q in stages),
        "started": sum(conn.zcard(q.started_job_registry.key) for q in stages),
        "due": sum(conn.zcount(q.scheduled_job_registry.key, 0, soon) for q in stages),
        "claimed": len(ledger.claimed()),
    }


@dataclass
class Outcome:
    """One run: its time, what its summary says, what it left outstanding, and its effects by key."""

    seconds: float
    summary: dict
    left: dict[str, int]
    failed: dict[str, str]
    retried_jobs: int
    effects: dict[str, Counter]
    fleet: Fleet


def run_market(soak: Soak, url: str, home: Path, data: list[Path], killing: bool,
               expected_steps: set[str] = frozenset()) -> Outcome:
    """One send-now run in `home`, until settled or out of time, its workers SIGKILLed along the way if `killing`."""
    env = {**os.environ, "REDIS_URL": url, "SALESOS_HOME": str(home), "SALESOS_LEASE_SECONDS": str(soak.lease_seconds),
           "SALESOS_JOB_RETRY_MINUTES": soak.retry_minutes, "PYTHONPATH": str(ROOT)}
    env.pop("SALESOS_DATABASE_URL", None)  # SalesOS's state: a SQLite file in each run's home
    conn = connect(url)
    conn.flushall()
    ledger = Ledger(f"sqlite:///{home / 'salesos.sqlite3'}", lease_seconds=soak.lease_seconds)  # migrated once, here
    market = load_market(ROOT / "examples" / "market.yaml").model_copy(update={"monthly_target": None})
    # Judged as of today, so the follow-up steps fall due in the days after: only first steps run now.
    run = RunContext(run_id=new_run_id(), market=market, data_files=[str(path) for path in data],
                     as_of=dt.date.today(), send_now=True, batch_size=soak.batch_size)
    chance = random.Random(soak.seed)
    with Fleet(env, home / "logs", soak.workers, conn) as fleet:
        started = time.monotonic()
        with _retrying(soak.retry_minutes):
            enqueue_run(conn, run)
        next_kill = started + chance.uniform(*soak.every)
        while time.monotonic() < started + soak.deadline:
            fleet.check()
            if killing and fleet.kills < soak.kills and time.monotonic() >= next_kill:
                # A kill waits a while for a job to land in (the first, however long); then any worker will do.
                mid_job = not fleet.kills or time.monotonic() < next_kill + soak.every[1]
                if fleet.kill_one(chance, mid_job=mid_job):
                    next_kill = time.monotonic() + chance.uniform(*soak.every)
                elif run_pending(conn, run.run_id):
                    time.sleep(0.01)  # a kill is due: look again soon, jobs here take a tenth of a second
                    continue
            left = outstanding(conn, run.run_id, ledger)
            if not any(left.values()):
                break
            time.sleep(0.1)
        seconds = time.monotonic() - started
    found = effects(home)
    found["ledger keys done"] = Counter(key for key in set(found["first steps"]) | expected_steps if ledger.is_done(key))
    outcome = Outcome(seconds, summarise(run_stats(conn, run.run_id)), left, failed_jobs(conn, run.run_id),
                      retried_jobs(conn, run.run_id), found, fleet)
    conn.close()
    return outcome


@contextmanager
def _retrying(minutes: str) -> Iterator[None]:
    """The workers' retry policy (SALESOS_JOB_RETRY_MINUTES) for the run's first job, which this process enqueues
    with its own settings."""
    kept = os.environ.get("SALESOS_JOB_RETRY_MINUTES")
    os.environ["SALESOS_JOB_RETRY_MINUTES"] = minutes
    runtime.settings.cache_clear()
    try:
        yield
    finally:
        if kept is None:
            os.environ.pop("SALESOS_JOB_RETRY_MINUTES")
        else:
            os.environ["SALESOS_JOB_RETRY_MINUTES"] = kept
        runtime.settings.cache_clear()


def failed_jobs(conn: redis.Redis, run_id: str) -> dict[str, str]:
    """Every failed job, with its reason: those the run lists, and any in rq's failed registries."""
    failed = dict(run_failures(conn, run_id))
    for stage in STAGES:
        for job_id in queue(stage, conn).failed_job_registry.get_job_ids(cleanup=False):
            result = Job.fetch(job_id, connection=conn, serializer=JSONSerializer).latest_result()
            failed.setdefault(job_id, (result.exc_string or "").strip().splitlines()[-1] if result else "no reason")
    return failed


def retried_jobs(conn: redis.Redis, run_id: str) -> int:
    """The run's finished jobs that needed more than one attempt."""
    jobs = Job.fetch_many([key.decode() for key in conn.hkeys(stats_key(run_id))], connection=conn,
                          serializer=JSONSerializer)
    return sum(1 for job in jobs if job is not None and is_retry(job))


def effects(home: Path) -> dict[str, Counter]:
    """Each kind of effect counted by its key: companies by domain, contacts by email, first steps (the local CRM's
    activities and tasks) by step key, outbox files by name (a digest of the step key), and the workers' logged
    step executions. The local CRM and the outbox are keyed (a second write of a key changes nothing), so only
    the executions can show a step done twice."""
    crm = sqlite3.connect(f"file:{home / 'crm.sqlite3'}?mode=ro", uri=True)
    try:
        found = {
            "companies": Counter(domain for (domain,) in crm.execute("SELECT lower(domain) FROM accounts")),
            "contacts": Counter(email for (email,) in crm.execute("SELECT lower(email) FROM contacts")),
            "first steps": Counter(key for (key,) in crm.execute(
                "SELECT key FROM activities UNION ALL SELECT key FROM tasks")),
        }
    finally:
        crm.close()
    found["outbox files"] = Counter(path.name for path in (home / "outbox").glob("*.eml"))
    found[UNCERTAIN] = Counter(outbox_name(key) for key in uncertain_steps(home))
    found["step executions"] = Counter(
        f"{tenant}:{email}:{step}" for log in sorted((home / "logs").glob("worker-*.log"))
        for step, email, tenant in _EXECUTED.findall(log.read_text(errors="replace")))
    return found


# A worker's line for each step it executed, logged once the step's ledger key is done: two for one step would be
# two workers each completing it, whatever the keyed effects above absorbed.
_EXECUTED = re.compile(r"executed step (\d+) of \d+ \([^)]*\) for (\S+) of tenant (\S+), planned for")


UNCERTAIN = "uncertain sends"  # steps a worker was killed sending: never sent again, their owner asked to check


def uncertain_steps(home: Path) -> list[str]:
    """The step keys whose CRM task asks the owner to check whether the email went out."""
    crm = sqlite3.connect(f"file:{home / 'crm.sqlite3'}?mode=ro", uri=True)
    try:
        return [key for (key,) in crm.execute("SELECT key FROM tasks WHERE subject LIKE 'Check whether SalesOS%'")]
    finally:
        crm.close()


def compare(unkilled: dict[str, Counter], killed: dict[str, Counter]) -> tuple[dict[str, int], dict[str, int]]:
    """Per kind of effect: duplicates (a key more than once, or one the unkilled run does not have) and lost
    effects (a key of the unkilled run missing). A message a worker was killed while sending is at most once by
    design: missing from the outbox, it is not lost when its owner was told to check (`UNCERTAIN`)."""
    duplicates, lost = {}, {}
    for kind, expected in unkilled.items():
        if kind == UNCERTAIN:
            continue
        got = killed[kind]
        duplicates[kind] = sum(count - 1 for count in got.values()) + len(got.keys() - expected.keys())
        missing = expected.keys() - got.keys()
        lost[kind] = len(missing - killed[UNCERTAIN].keys() if kind == "outbox files" else missing)
    return duplicates, lost


def soak_market(soak: Soak, url: str, root: Path) -> tuple[Outcome, Outcome]:
    """Generate the market's data under `root`, run it unkilled, then killed; both outcomes."""
    data = list(generate(companies=soak.companies, out_dir=root / "data", as_of=dt.date.today()))
    unkilled = run_market(soak, url, root / "unkilled", data, killing=False)
    killed = run_market(soak, url, root / "killed", data, killing=True,
                        expected_steps=set(unkilled.effects["first steps"]))
    return unkilled, killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=Soak.companies)
    parser.add_argument("--workers", type=int, default=Soak.workers)
    parser.add_argument("--kills", type=int, default=Soak.kills)
    parser.add_argument("--lease", type=float, default=Soak.lease_seconds, help="SALESOS_LEASE_SECONDS of the workers")
    args = parser.parse_args()
    soak = Soak(companies=args.companies, workers=args.workers, kills=args.kills, lease_seconds=args.lease)
    with tempfile.TemporaryDirectory(prefix="salesos-soak-") as tmp:
        with embedded_redis(Path(tmp) / "redis") as url:
            unkilled, killed = soak_market(soak, url, Path(tmp))
    duplicates, lost = compare(unkilled.effects, killed.effects)
    fleet = killed.fleet
    print(f"companies generated   {soak.companies:>8,}   ({soak.workers} workers, SALESOS_LEASE_SECONDS={soak.lease_seconds:g}, "
          f"SALESOS_JOB_RETRY_MINUTES={soak.retry_minutes}, {soak.batch_size} records per job)")
    print(f"qualified companies   {killed.summary['qualified']:>8,}   (unkilled run: {unkilled.summary['qualified']:,})")
    print(f"contacts sequenced    {killed.summary['scored']:>8,}   (unkilled run: {unkilled.summary['scored']:,})")
    print(f"first steps executed  {len(killed.effects['first steps']):>8,}   (unkilled run: "
          f"{len(unkilled.effects['first steps']):,}; CRM activities and tasks, one per step key)")
    hit = ", ".join(f"{stage} {fleet.stages_hit[stage]}" for stage in STAGES if fleet.stages_hit[stage])
    print(f"kills                 {fleet.kills:>8}   (every {soak.every[0]:g}-{soak.every[1]:g} s; "
          f"{fleet.stages_hit.total()} in the middle of a job: {hit or 'none'}; "
          f"{len(fleet.spared)} job(s) spared on their last attempt)")
    print(f"restarts              {fleet.restarts:>8}")
    print(f"jobs run again        {killed.retried_jobs:>8}   (finished after a retry)")
    print(f"duplicates            {sum(duplicates.values()):>8}   (must be 0) {_nonzero(duplicates)}")
    print(f"lost effects          {sum(lost.values()):>8}   (must be 0) {_nonzero(lost)}")
    print(f"uncertain sends       {len(killed.effects[UNCERTAIN]):>8}   (killed during the SMTP call: not sent again, "
          "the owner asked to check)")
    print(f"left behind           {sum(killed.left.values()):>8}   (must be 0: pending, queued, taken, started or due "
          f"jobs, claimed ledger keys) {_nonzero(killed.left)}")
    print(f"failed jobs           {len(killed.failed):>8}   (must be 0)")
    for job_id, reason in sorted(killed.failed.items()):
        print(f"  {job_id}: {reason}")
    print(f"killed run            {killed.seconds:>8.1f} s")
    print(f"unkilled run          {unkilled.seconds:>8.1f} s   ({killed.seconds / unkilled.seconds:.1f} x)")
    broken = sum(duplicates.values()) + sum(lost.values()) + sum(killed.left.values()) + len(killed.failed)
    broken += sum(unkilled.left.values()) + len(unkilled.failed)
    if broken or fleet.kills < soak.kills:
        sys.exit(1)


def _nonzero(counts: dict[str, int]) -> str:
    shown = {kind: count for kind, count in counts.items() if count}
    return str(shown) if shown else ""


if __name__ == "__main__":
    main()
