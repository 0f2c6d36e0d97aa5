"""The CLI runs the whole funnel with a real Redis and real RQ worker processes.

A small hand-made market whose every number can be worked out by hand:
acme.io (two sources, one merge) fits at 0.7875 with intent 0.90 (TIER_1),
northwind.ca fits at 0.875 with intent 0.20 (TIER_3), brightlane.co.uk is
below the threshold and fintastic.com is an excluded industry.

The runs that go through outreach run on both state engines (`state_url`):
SALESOS_DATABASE_URL names a SQLite file outside SALESOS_HOME, or a fresh
PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import psutil
import pytest

from sqlalchemy import create_engine, select

from connector.store.schema import effects
from crm_adapters.local import LocalCRM

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-02"  # a Monday, the day after US daylight saving time ends

MARKET = """\
name: Test market
industry: B2B SaaS
related_industries: [Software]
company_size: 10-500 employees
annual_revenue: $1M-$50M
location: US, UK, Canada
growth_signals: [Series B+ funding, recent expansion, hiring sales team, new executives]
pain_points: [Sales automation, Lead generation, Pipeline visibility]
exclude: {industries: [Finance]}
"""

ROWS = [
    {"type": "company", "name": "Acme Analytics", "domain": "acme.io", "industry": "B2B SaaS",
     "employee_count": 150, "annual_revenue": 12_000_000, "country": "United States",
     "growth_signals": ["Series B+ funding"], "pain_signals": ["Sales automation"],
     "source": "apollo", "confidence": 0.95},
    {"type": "company", "name": "ACME Analytics, Inc.", "domain": "https://www.acme.io/", "industry": "B2B SaaS",
     "tech_stack": ["Salesforce"], "source": "zoominfo", "confidence": 0.92},
    {"type": "company", "name": "Brightlane", "domain": "brightlane.co.uk", "industry": "Software",
     "employee_count": 40, "annual_revenue": 3_000_000, "country": "UK", "source": "apollo", "confidence": 0.9},
    {"type": "company", "name": "Fintastic", "domain": "fintastic.com", "industry": "Finance",
     "employee_count": 80, "annual_revenue": 9_000_000, "country": "US", "source": "apollo", "confidence": 0.9},
    {"type": "company", "name": "Northwind Cloud", "domain": "northwind.ca", "industry": "B2B SaaS",
     "employee_count": 300, "annual_revenue": 20_000_000, "country": "Canada",
     "growth_signals": ["recent expansion", "hiring sales team"],
     "pain_signals": ["Lead generation", "Pipeline visibility"], "source": "crunchbase", "confidence": 0.8},
    "{this line is not json",
    {"type": "company", "name": "No Domain Ltd", "industry": "B2B SaaS", "source": "apollo", "confidence": 0.9},
    {"type": "person", "name": "Jane Roe", "title": "Chief Executive Officer", "email": "jane@acme.io",
     "company_domain": "acme.io", "country": "US", "source": "apollo", "confidence": 0.95},
    {"type": "person", "name": "John Poe", "title": "VP of Sales", "email": "john@acme.io",
     "company_domain": "acme.io", "country": "US", "timezone": "America/Los_Angeles",
     "source": "apollo", "confidence": 0.92},
    {"type": "person", "name": "Sam Doe", "title": "Sales Development Representative", "email": "sam@acme.io",
     "linkedin_url": "https://www.linkedin.com/in/samdoe", "company_domain": "acme.io", "country": "US",
     "source": "linkedin", "confidence": 0.85},
    {"type": "person", "name": "Eve Coder", "title": "Software Engineer", "email": "eve@acme.io",
     "company_domain": "acme.io", "country": "US", "source": "apollo", "confidence": 0.9},
    {"type": "person", "name": "Bad Email", "title": "CRO", "email": "bad@", "company_domain": "acme.io",
     "source": "apollo", "confidence": 0.9},
    {"type": "person", "name": "Nora North", "title": "Head of Sales", "email": "nora@northwind.ca",
     "linkedin_url": "https://www.linkedin.com/in/noranorth", "company_domain": "northwind.ca",
     "country": "CA", "source": "crunchbase", "confidence": 0.8},
    {"type": "person", "name": "Carl Revenue", "title": "Chief Revenue Officer", "email": "carl@northwind.ca",
     "company_domain": "northwind.ca", "country": "CA", "source": "apollo", "confidence": 0.93},
    {"type": "signal", "kind": "job_posting", "company_domain": "acme.io", "date": "2026-10-01",
     "title": "VP of Sales", "department": "Sales", "url": "https://jobs.example.com/acme/vp-sales"},
    {"type": "signal", "kind": "funding", "company_domain": "acme.io", "date": "2026-09-01",
     "title": "Acme raises Series B", "round": "Series B", "amount_usd": 20_000_000,
     "url": "https://news.example.com/acme-series-b"},
    {"type": "signal", "kind": "website_change", "company_domain": "acme.io", "date": "2026-10-15",
     "title": "Pricing page changed", "page": "pricing", "url": "https://acme.io/pricing"},
    {"type": "signal", "kind": "review", "company_domain": "acme.io", "date": "2026-10-20",
     "title": "Too clunky", "product": "Legacy CRM", "rating": 2, "sentiment": "negative",
     "about_competitor": True, "url": "https://reviews.example.com/r/1"},
    {"type": "signal", "kind": "conference", "company_domain": "acme.io", "date": "2026-09-20",
     "title": "SaaStr booth", "name": "SaaStr Annual", "booth": True, "url": "https://saastr.example.com"},
    {"type": "signal", "kind": "job_posting", "company_domain": "northwind.ca", "date": "2026-10-20",
     "title": "Sales Development Representative", "department": "Sales", "url": "https://jobs.example.com/nw/sdr"},
    {"type": "signal", "kind": "funding", "company_domain": "northwind.ca", "date": "2025-01-01",
     "title": "Northwind seed", "round": "Series A", "url": "https://news.example.com/nw-a"},
    {"type": "signal", "kind": "news", "company_domain": "northwind.ca", "date": "not-a-date",
     "title": "Broken", "category": "expansion"},
]


@pytest.fixture
def workspace(tmp_path):
    data = tmp_path / "market.jsonl"
    data.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in ROWS) + "\n")
    market = tmp_path / "market.yaml"
    market.write_text(MARKET)
    return tmp_path, market, data


def cli(home: Path, *args: str, redis_url: str | None = None,
        database_url: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "SALESOS_DATABASE_URL")}
    env["SALESOS_HOME"] = str(home)
    if redis_url:
        env["REDIS_URL"] = redis_url
    if database_url:
        env["SALESOS_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def run(workspace, redis_url, *extra, database_url: str | None = None):
    home, market, data = workspace
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--as-of", AS_OF,
                 "--json", *extra, redis_url=redis_url, database_url=database_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def done_effects(database_url: str) -> list[str]:
    """The send ledger's done keys, read from the state database itself."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(select(effects.c.key).where(effects.c.status == "done")).scalars())
    finally:
        engine.dispose()


def test_the_funnel_counts_every_stage(workspace, redis_url, state_url):
    summary = run(workspace, redis_url, "--send-now", database_url=state_url)
    assert {key: summary[key] for key in (
        "companies_read", "duplicates_merged", "excluded", "below_threshold", "qualified", "enriched",
        "contacts", "contacts_dropped", "steps_scheduled", "emails_sent", "tasks_created",
    )} == {
        "companies_read": 5, "duplicates_merged": 1, "excluded": 1, "below_threshold": 1, "qualified": 2,
        "enriched": 2, "contacts": 5, "contacts_dropped": 2, "steps_scheduled": 5, "emails_sent": 4,
        "tasks_created": 1,
    }
    assert summary["tiers"] == {"TIER_1": 3, "TIER_2": 0, "TIER_3": 2, "TIER_4": 0}
    assert summary["failures"] == []
    assert not (workspace[0] / "home" / "salesos.sqlite3").exists()  # SalesOS's state is where the URL says


def test_malformed_rows_are_quarantined_with_file_line_and_reason(workspace, redis_url):
    _, _, data = workspace
    summary = run(workspace, redis_url)
    assert [(row["file"], row["line"]) for row in summary["quarantined"]] == [
        (str(data), 6), (str(data), 7), (str(data), 22),
    ]
    assert summary["rows_quarantined"] == 3
    assert "domain" in summary["quarantined"][1]["reason"]
    assert "date" in summary["quarantined"][2]["reason"]


def test_the_local_crm_holds_the_results(workspace, redis_url):
    run(workspace, redis_url)
    crm = LocalCRM(workspace[0] / "home" / "crm.sqlite3")
    accounts = {account.domain: account for account in crm.get_accounts()}
    assert sorted(accounts) == ["acme.io", "northwind.ca"]
    acme = accounts["acme.io"].fields
    assert acme["fit_score"] == 0.7875 and acme["intent_score"] == 0.9
    assert acme["salesos_stage"] == "sequenced" and acme["salesos_market"] == "Test market"
    assert set(acme["fit_breakdown"]) >= {"industry", "employees", "revenue", "location"}
    assert all(point["evidence"] for point in acme["intent_signals"])
    contacts = {contact.email: contact for contact in crm.get_contacts()}
    assert sorted(contacts) == ["carl@northwind.ca", "jane@acme.io", "john@acme.io", "nora@northwind.ca",
                                "sam@acme.io"]
    jane = contacts["jane@acme.io"].fields
    assert jane["priority_tier"] == "TIER_1" and jane["seniority"] == 10
    assert jane["email_verified"] is False  # a files-only run verifies nothing, however trusted the source
    assert len(jane["sequencing"]) == 7
    assert jane["sequencing"][0]["scheduled_at"] == "2026-11-02T09:00:00-05:00"
    assert contacts["john@acme.io"].fields["sequencing"][0]["scheduled_at"] == "2026-11-02T09:00:00-08:00"
    assert contacts["sam@acme.io"].fields["recommended_channel"] == "linkedin"
    assert contacts["nora@northwind.ca"].fields["priority_tier"] == "TIER_3"
    assert crm.counts()["associations"] == 5


def test_send_now_fills_the_outbox_and_the_rep_task_list(workspace, redis_url, state_url):
    run(workspace, redis_url, "--send-now", database_url=state_url)
    home = workspace[0] / "home"
    messages = [message_from_bytes(p.read_bytes(), policy=default) for p in (home / "outbox").glob("*.eml")]
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [
        "carl@northwind.ca", "jane@acme.io", "john@acme.io", "nora@northwind.ca"]
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in messages)
    crm = LocalCRM(home / "crm.sqlite3")
    assert [task.contact_email for task in crm.get_tasks()] == ["sam@acme.io"]
    assert len(crm.get_activities()) == 4
    assert crm.get_contacts(["jane@acme.io"])[0].fields["sequence_state"] == "active"
    assert done_effects(state_url) == [f"outreach:local:{email}:0" for email in (
        "carl@northwind.ca", "jane@acme.io", "john@acme.io", "nora@northwind.ca", "sam@acme.io")]


def test_a_local_run_that_writes_emails_notes_their_unsubscribe_links_are_plain_http(workspace, redis_url):
    home, market, data = workspace
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--as-of", AS_OF, "--send-now",
                 redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    assert "Note: the emails' unsubscribe links use http://127.0.0.1:5000 (plain http, fine for the local demo)" in (
        " ".join(result.stderr.split()))


def test_running_the_same_market_twice_creates_no_duplicate_and_sends_nothing_twice(workspace, redis_url,
                                                                                      state_url):
    first = run(workspace, redis_url, "--send-now", database_url=state_url)
    home = workspace[0] / "home"
    crm_counts = LocalCRM(home / "crm.sqlite3").counts()
    outbox = sorted(p.name for p in (home / "outbox").glob("*.eml"))
    second = run(workspace, redis_url, "--send-now", database_url=state_url)
    assert LocalCRM(home / "crm.sqlite3").counts() == crm_counts
    assert sorted(p.name for p in (home / "outbox").glob("*.eml")) == outbox
    assert second["qualified"] == first["qualified"]
    assert second["emails_sent"] == 0 and second["tasks_created"] == 0
    assert second["sequences_kept_active"] == 5


def test_export_prints_every_custom_field(workspace, redis_url):
    run(workspace, redis_url)
    result = cli(workspace[0] / "home", "export", "--json", redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    account = next(a for a in exported["accounts"] if a["domain"] == "acme.io")
    assert {"fit_score", "fit_breakdown", "intent_score", "intent_signals", "salesos_source",
            "salesos_market", "salesos_stage"} <= set(account)
    assert isinstance(account["fit_breakdown"], dict) and isinstance(account["intent_signals"], list)
    contact = next(c for c in exported["contacts"] if c["email"] == "john@acme.io")
    assert contact["company_domain"] == "acme.io" and contact["timezone"] == "America/Los_Angeles"
    assert {"priority_score", "priority_tier", "recommended_channel", "sequencing", "buying_authority",
            "seniority", "role_relevance", "email_verified", "next_touch_at", "sequence_state"} <= set(contact)
    assert set(contact["sequencing"][0]) == {"day", "channel", "action", "message_type", "scheduled_at"}
    assert dt.datetime.fromisoformat(contact["next_touch_at"]) == dt.datetime.fromisoformat("2026-11-02T09:00:00-08:00")


def test_the_report_is_a_self_contained_page(workspace, redis_url):
    run(workspace, redis_url)
    result = cli(workspace[0] / "home", "report", redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    page = Path(result.stdout.strip()).read_text()
    assert "Acme Analytics" in page and "TIER_1" in page
    assert "<script src" not in page and "<link" not in page and "http://cdn" not in page


def test_an_invalid_market_stops_before_anything_runs(workspace, redis_url):
    home, market, data = workspace
    market.write_text("industry: SaaS\ncompany_size: 500-10\n")
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--json", redis_url=redis_url)
    assert result.returncode == 2
    assert "company_size: '500-10' is impossible" in result.stderr
    assert result.stdout == ""


def test_a_range_list_that_is_not_two_numbers_is_a_clean_error_not_a_traceback(workspace, redis_url):
    home, market, data = workspace
    market.write_text("industry: SaaS\ncompany_size: [10, abc]\n")
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), redis_url=redis_url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "company_size: [10, 'abc']: a range given as a list must be two numbers" in result.stderr


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31", "x" * 500])
def test_an_as_of_date_outside_the_bounds_is_refused_before_anything_runs(workspace, redis_url, as_of):
    home, market, data = workspace
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--as-of", as_of,
                 redis_url=redis_url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    said = "".join(char for char in result.stderr if char not in "│╭╮╰╯─\n ")  # typer boxes and wraps it
    assert "from2000-01-01to" in said and "x" * 101 not in said
    assert not (home / "home" / "crm.sqlite3").exists()


def test_a_missing_data_file_is_named(workspace, redis_url):
    home, market, _ = workspace
    result = cli(home / "home", "run", "--market", str(market), "--data", str(home / "nope.jsonl"),
                 redis_url=redis_url)
    assert result.returncode == 2
    assert "nope.jsonl" in result.stderr


def test_without_redis_url_the_embedded_redis_runs_and_leaves_no_process(workspace):
    def servers_of(home: Path) -> set[int]:
        """redis-servers working in this home (others may run on the machine meanwhile)."""
        return {p.pid for p in psutil.process_iter(["name", "cwd"])
                if p.info["name"] == "redis-server" and str(p.info["cwd"] or "").startswith(str(home))}

    home, market, data = workspace
    result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--as-of", AS_OF, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["qualified"] == 2
    assert (home / "home" / "redis").is_dir()  # it did run the embedded server, there
    assert servers_of(home / "home") == set()


def test_everything_a_run_leaves_in_salesos_home_is_readable_by_its_owner_only(workspace):
    home, market, data = workspace
    previous = os.umask(0o002)  # a permissive umask, inherited by the CLI: SalesOS must not rely on it
    try:
        result = cli(home / "home", "run", "--market", str(market), "--data", str(data), "--as-of", AS_OF,
                     "--send-now")  # no REDIS_URL: the embedded Redis writes its files too
        assert result.returncode == 0, result.stderr
        assert cli(home / "home", "report").returncode == 0
    finally:
        os.umask(previous)
    written = {path.relative_to(home / "home").parts[0] for path in (home / "home").rglob("*")}
    assert {"crm.sqlite3", "salesos.sqlite3", "runs", "last_run.json", "report.html", "outbox", "logs",
            "redis"} <= written
    assert list((home / "home" / "redis").iterdir()) and list((home / "home" / "outbox").iterdir())
    open_to_others = {str(path): oct(stat.S_IMODE(path.stat().st_mode))
                      for path in [home / "home", *(home / "home").rglob("*")] if path.stat().st_mode & 0o077}
    assert open_to_others == {}


def test_a_run_of_a_scheduled_market_arms_its_first_tick_and_health_lists_it(workspace, redis_url):
    import redis

    from connector.market_ticks import armed
    from connector.queues import queue

    home, market, _ = workspace
    market.write_text(MARKET + "schedule: {rescore: weekly}\n")
    run(workspace, redis_url)
    conn = redis.Redis.from_url(redis_url)
    due = armed(conn, "local")
    assert due.weekday() == 0 and due > dt.datetime.now(dt.UTC)  # the coming Monday
    assert len(queue("source", conn).scheduled_job_registry.get_job_ids()) == 1
    report = json.loads(cli(home / "home", "health", "--json", redis_url=redis_url).stdout)
    [row] = report["schedules"]
    assert (row["tenant"], row["market"], row["schedule"]) == ("local", "Test market", {"rescore": "weekly"})
    assert dt.datetime.fromisoformat(row["next_tick"]) == due
