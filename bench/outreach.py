"""Outreach benchmark: 10,000 emails through the whole send path, next to bare SMTP, then with workers killed.

Each contact's first step (an email) goes through what the outreach job does
for real: the ledger's lease on each step, the CRM's opt-outs, rendering, the
prospect's send window (evaluated: the steps are scheduled, not sent on
request; every contact lives in a zone where it is about noon now), the
mailbox's hourly and daily caps and the recipient domain's cap (reserved in
Redis, set high enough to let every email through, but counted), the send
guard (`Ledger.sending`, which leaves out unsubscribed and suppressed
addresses: 1 % of the contacts opted out beforehand, half by their link and
half by a reply) and the Redis mark before each send. The jobs are those
`agents.jobs.enqueue_steps` makes (up to 500 steps each), run by real
`python -m connector worker` processes (2 on 2 cores) sending from one
registry SMTP mailbox (the tenant's default, owner "*") into a local sink in
this process that counts each step's deliveries.

Then the same messages (the bytes the sink received) go through bare SMTP:
smtplib on one connection into the same kind of sink, as the SMTP channel
sends. The ratio of the two times per email is the guard path's cost
(target: at most 3x).

Last, the same volume again, in a fresh state, while a worker is SIGKILLed
(with its scheduler) in the middle of an outreach job a few times and
started again: a step delivered twice is a duplicate (the sink counts
deliveries, not files: a second delivery would overwrite its file); a step
neither delivered nor reported as uncertain in a CRM task (the owner checks
their Sent folder) is lost. A prospect may miss a step that way, never get
one twice. Leases are short here (SALESOS_LEASE_SECONDS=5) and retries
immediate, as in bench/soak.py.

    .venv/bin/python bench/outreach.py [--emails 10000] [--workers 2] [--kills 4]

Prints figures only; exit status 1 when a step was duplicated or lost, or an opted-out contact was written to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import random
import smtplib
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402

from agents.jobs import outreach_job  # noqa: E402
from bench.soak import Fleet, outstanding  # noqa: E402
from connector import runtime  # noqa: E402
from connector.channels.sink import HOST, OutboxHandler, free_port  # noqa: E402
from connector.ledger import Ledger, effect_key  # noqa: E402
from connector.mailboxes import Mailbox, Mailboxes, SmtpSettings  # noqa: E402
from connector.queues import enqueue_once, job_id, run_failures, run_pending, run_stats  # noqa: E402
from connector.redis_conn import connect, embedded_redis  # noqa: E402
from crm_adapters.base import ContactWrite  # noqa: E402
from crm_adapters.local import LocalCRM  # noqa: E402

TENANT = "local"
SENDER = "rep@bench.example"
DOMAINS = 1000  # contacts' companies: ten people each
JOB_SIZE = 500  # steps per outreach job, as `agents.jobs.enqueue_steps` batches them
UNCERTAIN_SUBJECT = "Check whether SalesOS's email"  # the owner's task for a step a killed worker may have sent


@dataclass(frozen=True)
class Bench:
    emails: int = 10_000
    workers: int = 2
    kills: int = 4
    opted_out_share: float = 0.01  # opted out before the run: half by their unsubscribe link, half by a reply
    every: tuple[float, float] = (1.0, 3.0)  # seconds between kills, at random
    lease_seconds: float = 5
    retry_minutes: str = "[0, 0, 0, 0, 0]"
    deadline: float = 600  # seconds a run may take to settle
    seed: int = 12


class CountingHandler(OutboxHandler):
    """The local sink's handler, counting deliveries per step and keeping each message as it arrived."""

    def __init__(self, outbox: Path, keep: bool = False) -> None:
        super().__init__(outbox)
        self.by_step: Counter[str] = Counter()
        self.kept: list[tuple[str, list[str], bytes]] = [] if keep else None

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or b""
        answer = await super().handle_DATA(server, session, envelope)
        self.by_step[_step_of(content)] += 1
        if self.kept is not None:
            self.kept.append((envelope.mail_from, list(envelope.rcpt_tos), content))
        return answer


def _step_of(message: bytes) -> str:
    return BytesHeaderParser().parsebytes(message).get("X-SalesOS-Step", "")


class Sink:
    """A local SMTP sink on loopback with a `CountingHandler`, as a context manager."""

    def __init__(self, outbox: Path, keep: bool = False) -> None:
        self.handler = CountingHandler(outbox, keep)
        self.controller = Controller(self.handler, hostname=HOST, port=free_port(), ident="SalesOS bench sink")

    @property
    def port(self) -> int:
        return self.controller.port

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@dataclass
class Contacts:
    """The contact set: everyone's first step, and who opted out beforehand."""

    items: list[dict]
    unsubscribed: list[str]
    replied: list[str]

    @property
    def opted_out(self) -> set[str]:
        return set(self.unsubscribed) | set(self.replied)

    def keys(self, emails) -> set[str]:
        return {effect_key("outreach", TENANT, email, 0) for email in emails}

    @property
    def expected(self) -> set[str]:
        return self.keys(item["email"] for item in self.items if item["email"] not in self.opted_out)


def contacts(bench: Bench, now: dt.datetime) -> Contacts:
    """Every contact's first step, due now, in a zone where it is about noon (so the window is open), followed by a
    second email 30 days later (the job queues it)."""
    zone = _noon_zone(now)
    first = now.astimezone(zone) - dt.timedelta(minutes=1)
    sequence = [
        {"day": 0, "channel": "email", "action": "send_cold_email", "message_type": "problem_aware",
         "scheduled_at": first.isoformat()},
        {"day": 30, "channel": "email", "action": "send_follow_up", "message_type": "value_add",
         "scheduled_at": (first + dt.timedelta(days=30)).isoformat()},
    ]
    items = []
    for n in range(bench.emails):
        domain = f"co{n % DOMAINS}.example"
        items.append({"email": f"p{n}@{domain}", "name": f"Person {n}", "title": "VP of Sales",
                      "company_name": f"Company {n % DOMAINS}", "company_domain": domain, "step_index": 0,
                      "sequence": sequence, "hooks": ["hiring two SDRs"], "objections": [], "timezone": zone.key,
                      "country": None})
    chance = random.Random(bench.seed)
    out = chance.sample([item["email"] for item in items], round(bench.emails * bench.opted_out_share))
    return Contacts(items, sorted(out[::2]), sorted(out[1::2]))


def _noon_zone(now: dt.datetime):
    """A fixed-offset IANA zone where the local hour is about 12 now (Etc/GMT-3 is UTC+3)."""
    from zoneinfo import ZoneInfo

    offset = 12 - now.astimezone(dt.UTC).hour
    return ZoneInfo("Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}")


def prepare(home: Path, sink_port: int, people: Contacts) -> Ledger:
    """A tenant's state before the run: its mailbox (the default for every owner), its contacts in the local CRM,
    and the opt-outs."""
    state = f"sqlite:///{home / 'salesos.sqlite3'}"
    registry = Mailboxes(state, None)
    registry.add(Mailbox(tenant=TENANT, address=SENDER, display_name="Rita Rep", backend="smtp",
                         smtp=SmtpSettings(host=HOST, port=sink_port, security="none", auth="none")))
    registry.map_owner(TENANT, "*", SENDER)
    LocalCRM(home / "crm.sqlite3").upsert_contacts(
        [ContactWrite(email=item["email"], name=item["name"], title=item["title"],
                      company_domain=item["company_domain"]) for item in people.items])
    ledger = Ledger(state)
    tokens = ledger.unsubscribe_tokens(TENANT, people.unsubscribed + people.replied)
    for email in people.unsubscribed:
        ledger.unsubscribe(tokens[email])
    for email in people.replied:
        ledger.suppress(TENANT, email, "replied")
    return ledger


def enqueue(conn: redis.Redis, run_id: str, people: Contacts) -> int:
    """The outreach jobs `enqueue_steps` makes for steps due at one time: up to 500 steps each, sorted by email."""
    items = sorted(people.items, key=lambda item: item["email"])
    due = items[0]["sequence"][0]["scheduled_at"]
    jobs = 0
    for start in range(0, len(items), JOB_SIZE):
        chunk = items[start:start + JOB_SIZE]
        digest = "|".join(f"{item['email']}#{item['step_index']}" for item in chunk)
        enqueue_once(conn, "outreach", outreach_job, {"tenant": TENANT, "items": chunk},
                     job_key=job_id("outreach", TENANT, f"{due}|{digest}"), run_id=run_id)
        jobs += 1
    return jobs


@dataclass
class Outcome:
    seconds: float
    deliveries: Counter
    kept: list | None
    uncertain: set[str]
    counts: Counter
    left: dict[str, int]
    failed: dict[str, str]
    kills: int = 0
    restarts: int = 0
    stages_hit: Counter = field(default_factory=Counter)


def run(bench: Bench, url: str, home: Path, people: Contacts, *, killing: bool, keep: bool = False) -> Outcome:
    """One run in a fresh `home` and an emptied Redis, until settled or out of time."""
    home.mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SALESOS_")} | {
        "REDIS_URL": url, "SALESOS_HOME": str(home), "PYTHONPATH": str(ROOT),
        "SALESOS_LEASE_SECONDS": str(bench.lease_seconds), "SALESOS_JOB_RETRY_MINUTES": bench.retry_minutes,
        # Caps counted, never reached; the window evaluated (08-17 in the prospect's zone) every day of the week.
        "SALESOS_MAILBOX_DAILY_CAP": "1000000", "SALESOS_MAILBOX_HOURLY_CAP": "1000000",
        "SALESOS_DOMAIN_DAILY_CAP": "1000000", "SALESOS_SEND_WINDOW": "08-17", "SALESOS_SEND_DAYS": "every"}
    conn = connect(url)
    conn.flushall()
    run_id = f"bench-outreach-{home.name}"
    with Sink(home / "mail-server", keep=keep) as sink:
        ledger = prepare(home, sink.port, people)
        chance = random.Random(bench.seed)
        with Fleet(env, home / "logs", bench.workers, conn) as fleet:
            started = time.monotonic()
            enqueue(conn, run_id, people)
            next_kill = started + chance.uniform(*bench.every)
            while time.monotonic() < started + bench.deadline:
                fleet.check()
                if killing and fleet.kills < bench.kills and time.monotonic() >= next_kill:
                    if fleet.kill_one(chance, mid_job=True):
                        next_kill = time.monotonic() + chance.uniform(*bench.every)
                    elif run_pending(conn, run_id):
                        time.sleep(0.01)  # a kill is due: wait for a worker to be in the middle of a job
                        continue
                left = outstanding(conn, run_id, ledger)
                if not any(left.values()):
                    break
                time.sleep(0.05)
            seconds = time.monotonic() - started
        deliveries, kept = Counter(sink.handler.by_step), sink.handler.kept
    counts = Counter()
    for stats in run_stats(conn, run_id):
        counts.update({name: value for name, value in stats.items() if isinstance(value, int)})
        counts.update({f"rescheduled: {reason}": n for reason, n in stats.get("steps_rescheduled", {}).items()})
    outcome = Outcome(seconds, deliveries, kept, uncertain_steps(home), counts, left, run_failures(conn, run_id),
                      fleet.kills, fleet.restarts, fleet.stages_hit)
    conn.close()
    return outcome


def uncertain_steps(home: Path) -> set[str]:
    """Steps the owner was asked to check in their Sent folder: a killed worker may have sent them."""
    import sqlite3

    crm = sqlite3.connect(f"file:{home / 'crm.sqlite3'}?mode=ro", uri=True)
    try:
        return {key for (key,) in crm.execute("SELECT key FROM tasks WHERE subject LIKE ?",
                                               (f"{UNCERTAIN_SUBJECT}%",))}
    finally:
        crm.close()


def bare_smtp(messages: list[tuple[str, list[str], bytes]], outbox: Path) -> tuple[float, int]:
    """The same messages through smtplib on one connection into the same kind of sink: (seconds, deliveries).

    The client runs in a process of its own, as the workers do, so it does not share this process's interpreter
    with the sink."""
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    with Sink(outbox) as sink:
        client = context.Process(target=_send_bare, args=(sink.port, messages, answer))
        client.start()
        seconds = answer.get(timeout=600)
        client.join()
        return seconds, sink.handler.deliveries


def _send_bare(port: int, messages: list[tuple[str, list[str], bytes]], answer) -> None:
    started = time.perf_counter()
    with smtplib.SMTP(HOST, port, timeout=30) as session:
        for sender, recipients, content in messages:
            session.sendmail(sender, recipients, content)
    answer.put(time.perf_counter() - started)


def judge(people: Contacts, outcome: Outcome) -> dict[str, int]:
    """Duplicates, lost steps, and sends to an opted-out contact."""
    sent = set(outcome.deliveries)
    return {
        "duplicates": sum(count - 1 for count in outcome.deliveries.values()),
        "lost": len(people.expected - sent - outcome.uncertain),
        "opted out but sent": len(people.keys(people.opted_out) & sent),
        "left behind": sum(outcome.left.values()),
        "failed jobs": len(outcome.failed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=Bench.emails)
    parser.add_argument("--workers", type=int, default=Bench.workers)
    parser.add_argument("--kills", type=int, default=Bench.kills)
    args = parser.parse_args()
    bench = Bench(emails=args.emails, workers=args.workers, kills=args.kills)
    # The jobs this process enqueues carry the workers' retry policy.
    os.environ["SALESOS_JOB_RETRY_MINUTES"] = bench.retry_minutes
    runtime.settings.cache_clear()
    people = contacts(bench, dt.datetime.now(dt.UTC))
    with tempfile.TemporaryDirectory(prefix="salesos-outreach-") as tmp:
        root = Path(tmp)
        with embedded_redis(root / "redis") as url:
            clean = run(bench, url, root / "unkilled", people, killing=False, keep=True)
            bare_seconds, bare_deliveries = bare_smtp(clean.kept, root / "bare")
            killed = run(bench, url, root / "killed", people, killing=True)
    sent = sum(clean.deliveries.values())
    path_ms, bare_ms = 1000 * clean.seconds / max(sent, 1), 1000 * bare_seconds / max(bare_deliveries, 1)
    checks = {"unkilled": judge(people, clean), "killed": judge(people, killed)}
    print(f"contacts                 {bench.emails:>8,}   ({len(people.opted_out)} opted out beforehand: "
          f"{len(people.unsubscribed)} unsubscribed, {len(people.replied)} replied; {bench.workers} workers, "
          f"{JOB_SIZE} steps per job)")
    print(f"emails sent              {sent:>8,}   (the job summaries: {clean.counts['emails_sent']:,} sent, "
          f"{clean.counts['skipped_unsubscribed']:,} skipped as opted out, "
          f"{_rescheduled(clean.counts)} rescheduled by a window or a cap)")
    print(f"whole send path          {clean.seconds:>8.1f} s   {path_ms:.2f} ms per email")
    print(f"bare SMTP, same messages {bare_seconds:>8.1f} s   {bare_ms:.2f} ms per email ({bare_deliveries:,} "
          "delivered, one connection)")
    print(f"ratio                    {path_ms / bare_ms:>8.1f} x   (target <= 3 x)")
    hit = ", ".join(f"{stage} {count}" for stage, count in killed.stages_hit.items())
    print(f"killed run               {killed.seconds:>8.1f} s   ({killed.kills} kills, {hit or 'none'} in the "
          f"middle of a job; {killed.restarts} restarts; SALESOS_LEASE_SECONDS={bench.lease_seconds:g})")
    missed = killed.uncertain - set(killed.deliveries)
    print(f"  emails delivered       {sum(killed.deliveries.values()):>8,}   ({len(killed.uncertain)} reported to the "
          f"owner as uncertain, {len(missed)} of them never delivered)")
    for name in ("duplicates", "lost", "opted out but sent", "left behind", "failed jobs"):
        print(f"  {name:<22} {checks['killed'][name]:>8}   (must be 0; unkilled run: {checks['unkilled'][name]})")
    for job, reason in sorted({**clean.failed, **killed.failed}.items()):
        print(f"    {job}: {reason}")
    if any(value for check in checks.values() for value in check.values()) or killed.kills < bench.kills:
        sys.exit(1)


def _rescheduled(counts: Counter) -> int:
    return sum(value for name, value in counts.items() if name.startswith("rescheduled: "))


if __name__ == "__main__":
    main()
