"""Many machines, proven: a web node and two worker hosts that share only Redis and the state database.

Each "host" is a set of real processes with a SALESOS_HOME of its own, the way
separate machines would run them: the web node (`connector serve`), two worker
hosts (`connector worker`), and an operator's shell that starts the run
(`connector run --workers 0`: queued for the workers already running, none of
its own). They share what a deployment shares (README, Deployment): Redis,
SALESOS_DATABASE_URL, the data files at one path, and the same configuration
(vault key, session secret, HubSpot app). The HubSpot portal is the local fake
(tests/fakes/hubspot_server.py), installed through the web node's OAuth routes.

While the workers send, the web node takes one-click unsubscribes (RFC 8058)
for a third of the contacts, each as soon as its token appears in the shared
ledger (with the contact's first email). The run is judged 40 days back, so
each contact's second touch (day 30) is already due, and the hosts let a
step run that late (SALESOS_OVERDUE_GRACE): the run sends the first touches,
and the workers' schedulers queue the second ones right after, when most of
those unsubscribes are in, so the send guard is exercised, not just raced.
Then: every effect happened once, none after the unsubscribe that
stopped it, the tenant installed on the web node is the one the workers wrote
with, and no host's home holds SalesOS state.

PostgreSQL is the deployment this models: hosts reach it over the network.
The same scenario runs on SQLite with one database file outside every home,
which processes of one machine may share (SQLite locks the file) but machines
may not (SQLite over a network filesystem is unsafe): there it checks the
store's locking under many processes, not a deployment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import create_engine, select

from connector.channels.sink import LocalSink
from connector.ledger import effect_key
from connector.mailboxes import Mailbox, Mailboxes, SmtpSettings
from connector.queues import queue
from connector.store.schema import tenants, unsubscribe_tokens, unsubscribes
from connector.vault import new_key
from crm_adapters.values import created_key
from tests.fakes.hubspot_server import FakeHubSpot, Server
from tests.live_server import ROOT, start_server, stop
from tests.test_end_to_end import MARKET

TENANT = "hubspot-62515"
PUBLIC_URL = "https://salesos.example.com"  # the proxy in front of the web node; links and the OAuth redirect use it
COMPANIES = 8
TITLES = ("Chief Executive Officer", "VP of Sales", "Head of Sales")
AS_OF = dt.date.today() - dt.timedelta(days=40)  # TIER_4: touches on day 0 and day 30, both due by now
WAIT = 600  # seconds: generous, for a loaded 2-core machine; every wait ends as soon as its condition holds


def data_rows() -> list[dict]:
    """Companies that all qualify, three people each; no signals, so every contact is TIER_4: two emails."""
    rows = []
    for n in range(COMPANIES):
        domain = f"hostco{n}.io"
        rows.append({"type": "company", "name": f"Hostco {n}", "domain": domain, "industry": "B2B SaaS",
                     "employee_count": 150, "annual_revenue": 12_000_000, "country": "United States",
                     "growth_signals": ["Series B+ funding"], "pain_signals": ["Sales automation"],
                     "source": "apollo", "confidence": 0.95})
        rows += [{"type": "person", "name": f"Person {n}-{i}", "title": title, "email": f"p{i}@{domain}",
                  "company_domain": domain, "country": "US", "source": "apollo", "confidence": 0.9}
                 for i, title in enumerate(TITLES)]
    return rows


EMAILS = sorted(row["email"] for row in data_rows() if row["type"] == "person")
TO_UNSUBSCRIBE = set(EMAILS[::3])


class Hosts:
    """The processes of every host, stopped (SIGTERM, then SIGKILL to their process group) whatever happens."""

    def __init__(self, root: Path, shared: dict[str, str]) -> None:
        self.root, self.shared = root, shared
        self.processes: list[subprocess.Popen] = []

    def home(self, host: str) -> Path:
        return self.root / host

    def env(self, host: str, **extra: str) -> dict[str, str]:
        inherited = {key: value for key, value in os.environ.items()
                     if not key.startswith(("SALESOS_", "HUBSPOT_", "SALESFORCE_")) and key != "REDIS_URL"}
        return inherited | self.shared | {"SALESOS_HOME": str(self.home(host))} | extra

    def serve(self, host: str) -> str:
        server, port = start_server([sys.executable, "-m", "connector", "serve", "--port", "0"], self.env(host),
                                    self.root / f"{host}.log")
        self.processes.append(server)
        return f"http://127.0.0.1:{port}"

    def start(self, host: str, *args: str, stdout: Path | None = None, **extra: str) -> subprocess.Popen:
        """`python -m connector ARGS` on `host`, logging to `<host>.log` (its stdout to `stdout` when given)."""
        with ExitStack() as files:
            log = files.enter_context((self.root / f"{host}.log").open("ab"))
            out = files.enter_context(stdout.open("wb")) if stdout else log
            process = subprocess.Popen([sys.executable, "-m", "connector", *args], cwd=ROOT,
                                       env=self.env(host, **extra), stdout=out, stderr=log, start_new_session=True)
        self.processes.append(process)
        return process

    def log(self, host: str) -> str:
        path = self.root / f"{host}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                stop(process)


def wait_for(condition, what: str, hosts: Hosts, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(
            f"--- {host} ---\n{hosts.log(host)}" for host in ("web", "worker-a", "worker-b", "operator"))
        time.sleep(0.05)
    return value


def install_through_the_web_node(web: str) -> httpx.Response:
    """An admin's browser: install, approve on HubSpot's consent page, back to the callback with the session
    cookie. The cookie is Secure (the public URL is https), so it is carried by hand to the loopback web node."""
    with httpx.Client(timeout=60) as browser:
        started = browser.get(f"{web}/oauth/hubspot/install")
        assert started.status_code == 302, started.text
        cookie = {"Cookie": f"session={started.cookies['session']}"}
        consented = browser.get(started.headers["Location"])  # the fake approves at once
        assert consented.status_code == 302, consented.text
        back = urlsplit(consented.headers["Location"])
        assert f"{back.scheme}://{back.netloc}" == PUBLIC_URL
        return browser.get(f"{web}{back.path}?{back.query}", headers=cookie)


def outreach_settled(conn: redis.Redis) -> bool:
    """Every outreach job has run, or waits for a touch still to come. The jobs are listed before and after, so
    one queued meanwhile (by a job read as finished) is not missed."""
    listed = _outreach_jobs(conn)
    scheduled = queue("outreach", conn).scheduled_job_registry
    now = dt.datetime.now(dt.UTC)
    for job in Job.fetch_many(sorted(listed), connection=conn, serializer=JSONSerializer):
        status = job.get_status()
        if status not in (JobStatus.FINISHED, JobStatus.FAILED) and not (
                status == JobStatus.SCHEDULED and _due_later(scheduled, job, now)):
            return False
    return _outreach_jobs(conn) == listed


def _due_later(scheduled, job: Job, now: dt.datetime) -> bool:
    """A scheduled job not due yet; False for one the scheduler has just moved to its queue (read as scheduled
    a moment ago)."""
    try:
        return scheduled.get_scheduled_time(job) > now
    except NoSuchJobError:
        return False


def _outreach_jobs(conn: redis.Redis) -> set[str]:
    return {key.decode().removeprefix("rq:job:") for key in conn.keys("rq:job:outreach-*") if key.count(b":") == 2}


def one_click_unsubscribe(web: str, token: str) -> None:
    answer = httpx.post(f"{web}/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click", timeout=60,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def hubspot():
    with Server(FakeHubSpot()) as server:
        yield server.fake


SENDER = "rep@example.com"


def test_a_web_node_and_two_worker_hosts_run_a_tenant_with_outreach_and_unsubscribes_each_effect_once(
        tmp_path, redis_url, state_url, hubspot):
    data = tmp_path / "shared" / "accounts.jsonl"  # the shared volume: the same path on every host
    data.parent.mkdir()
    data.write_text("\n".join(json.dumps(row) for row in data_rows()) + "\n")
    market = tmp_path / "shared" / "market.yaml"
    market.write_text(MARKET)
    hosts = Hosts(tmp_path, {
        "REDIS_URL": redis_url, "SALESOS_DATABASE_URL": state_url, "SALESOS_VAULT_KEYS": new_key(),
        "SALESOS_SESSION_SECRET": "one-session-secret-for-every-web-node", "SALESOS_PUBLIC_URL": PUBLIC_URL,
        "HUBSPOT_CLIENT_ID": hubspot.client_id, "HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
        "HUBSPOT_API_BASE_URL": hubspot.url, "HUBSPOT_AUTHORIZE_URL": f"{hubspot.url}/oauth/authorize",
        "SALESOS_OVERDUE_GRACE": "P60D",  # the second touches run now, 10 days late, not at the next send window
        "SALESOS_MAILBOX_HOURLY_CAP": "1000", "SALESOS_MAILBOX_DAILY_CAP": "1000",  # one mailbox sends them all
    })
    state = create_engine(state_url)
    conn = redis.Redis.from_url(redis_url)
    posted: set[str] = set()  # emails unsubscribed through the web node
    sink = None
    try:
        web = hosts.serve("web")
        for worker in ("worker-a", "worker-b"):
            hosts.start(worker, "worker")
        wait_for(lambda: Worker.count(connection=conn) == 2, "both worker hosts to listen", hosts)

        installed = install_through_the_web_node(web)
        assert installed.status_code == 302 and installed.headers["Location"].endswith(f"/installed/{TENANT}")
        sink = LocalSink(tmp_path / "mail-server").start()  # the tenant's mail server, which both hosts send to
        registry = Mailboxes(state_url, None)  # the shared registry: the admin configures it once, on any host
        registry.add(Mailbox(tenant=TENANT, address=SENDER, backend="smtp", smtp=SmtpSettings(
            host="127.0.0.1", port=sink.port, security="none", auth="none")))
        registry.map_owner(TENANT, "*", SENDER)
        with state.connect() as db:
            assert db.execute(select(tenants.c.auth).where(tenants.c.id == TENANT)).scalar() == "oauth"

        output = tmp_path / "operator.json"
        run = hosts.start("operator", "run", "--market", str(market), "--data", str(data), "--tenant", TENANT,
                          "--as-of", AS_OF.isoformat(), "--send-now", "--workers", "0", "--json",
                          stdout=output, SALESOS_BATCH_SIZE="2")

        def unsubscribe_as_tokens_appear() -> bool:
            with state.connect() as db:
                appeared = db.execute(select(unsubscribe_tokens.c.email, unsubscribe_tokens.c.token)
                                      .where(unsubscribe_tokens.c.tenant == TENANT)).all()
            for email, token in appeared:
                if email in TO_UNSUBSCRIBE and email not in posted:
                    one_click_unsubscribe(web, token)
                    posted.add(email)
            return run.poll() is not None

        wait_for(unsubscribe_as_tokens_appear, "the run to end", hosts)
        assert run.returncode == 0, hosts.log("operator")
        summary = json.loads(output.read_text())
        unsubscribe_as_tokens_appear()  # tokens of the run's last job, if any appeared after the last look

        def all_synced() -> dict[str, dt.datetime] | None:
            with state.connect() as db:
                rows = db.execute(select(unsubscribes.c.email, unsubscribes.c.at, unsubscribes.c.synced_at)
                                  .where(unsubscribes.c.tenant == TENANT)).all()
            if len(rows) < len(posted) or any(synced is None for _, _, synced in rows):
                return None
            return {email: dt.datetime.fromisoformat(at) for email, at, _ in rows}

        committed = wait_for(all_synced, "every unsubscribe to reach HubSpot through the workers", hosts)
        wait_for(lambda: outreach_settled(conn), "the second touches to be sent or skipped", hosts)
    finally:
        hosts.stop_all()
        conn.close()
        state.dispose()
        if sink is not None:
            sink.stop()

    # The run: every contact's first touch, an email, was rendered or skipped for its unsubscribe.
    assert (summary["tenant"], summary["failures"], summary["crm_errors"], summary["record_errors"],
            summary["stopped"]) == (TENANT, [], [], [], [])
    assert summary["qualified"] == COMPANIES and summary["contacts"] == len(EMAILS)
    assert summary["emails_sent"] + summary["skipped_unsubscribed"] == len(EMAILS)
    assert set(committed) == posted == TO_UNSUBSCRIBE

    # The tenant the web node installed is the one the workers wrote with: HubSpot's API refuses any token but the
    # one its OAuth grant issued (to the web node, which stored it in the shared vault), and every write landed.
    assert hubspot.granted == [hubspot.token]

    # Every effect once: companies by domain, contacts by email, each touch's email and draft task by step key.
    companies = Counter(props["salesos_domain"] for props in hubspot.objects["companies"].values())
    assert companies == Counter({f"hostco{n}.io": 1 for n in range(COMPANIES)})
    assert sorted(props["email"] for props in hubspot.objects["contacts"].values()) == EMAILS
    messages = [(path, message_from_bytes(path.read_bytes(), policy=default))
                for path in (tmp_path / "mail-server").glob("*.eml")]
    rendered = Counter(message["X-SalesOS-Step"] for _, message in messages)
    assert rendered and max(rendered.values()) == 1, "a touch sent twice, from one host or from both"
    assert sink.deliveries == len(messages), "a touch delivered twice (its file written over)"
    touches = {effect_key("outreach", TENANT, email, step): email for email in EMAILS for step in (0, 1)}
    assert all(touches.get(message["X-SalesOS-Step"]) == message["To"].addresses[0].addr_spec
               for _, message in messages), "a message to someone else than its touch's contact"
    logged = Counter(props["salesos_key"] for props in hubspot.objects["emails"].values())
    assert logged == Counter({created_key("activity", key): 1 for key in rendered})  # logged as sent, each once
    assert hubspot.objects["tasks"] == {} and hubspot.objects["notes"] == {}  # no draft: every email was sent

    # No send after an unsubscribe was committed, on any host. A send is decided and rendered in one transaction
    # that checks the shared ledger (`Ledger.sending`), so its file is older than any unsubscribe it did not see.
    # Its draft task records that send in the CRM: created after it, with the job's other tasks in one batch (so
    # perhaps after the unsubscribe), never without it (above).
    for path, message in messages:
        email = message["To"].addresses[0].addr_spec
        if email in committed:
            sent = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            assert sent < committed[email], f"{message['X-SalesOS-Step']} rendered at {sent}, after its " \
                                            f"unsubscribe at {committed[email]}"
    assert set(hubspot.unsubscribed_from_all) == TO_UNSUBSCRIBE  # each opted out in HubSpot, by the workers

    # Nothing that matters lives on one host: no host's home holds SalesOS state.
    for host in ("web", "worker-a", "worker-b", "operator"):
        assert not (hosts.home(host) / "salesos.sqlite3").exists(), f"{host} keeps SalesOS state in its home"
    assert not (hosts.home("web") / "outbox").exists() and not (hosts.home("operator") / "outbox").exists()


def test_a_run_that_waits_for_other_hosts_workers_needs_their_shared_redis(tmp_path):
    market = tmp_path / "market.yaml"
    market.write_text(MARKET)
    data = tmp_path / "accounts.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in data_rows()) + "\n")
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"} | {
        "SALESOS_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "connector", "run", "--market", str(market), "--data", str(data),
                             "--workers", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "0 needs REDIS_URL" in " ".join(result.stderr.split())
    assert not (tmp_path / "home" / "redis").exists()  # refused before an embedded Redis started
