"""A run that finds its companies and people through data providers: the CLI, real workers and Redis, and local
servers speaking each provider's documented API (tests/fakes/provider_server.py) and DNS (tests/fakes/dns_server.py).

The local CRM has provider keys from the environment and no data file, so every company, person and signal comes
from the providers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_adapters.local import LocalCRM
from tests.fakes.dns_server import LocalDns
from tests.fakes.provider_server import ProviderServer
from tests.fakes.provider_world import sample_world

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-02"
MARKET = """\
name: Providers market
industry: B2B SaaS
related_industries: [Software, SaaS]
company_size: 10-500 employees
annual_revenue: $1M-$50M
location: [US, UK, Canada]
growth_signals: [Series B+ funding, recent expansion, hiring sales team]
pain_points: [Sales automation, Lead generation]
exclude: {industries: [Finance, Healthcare, Insurance]}
monthly_target: 8
quality_threshold: 0.5
buying_team_roles: [VP Sales, Head of Sales, CEO, CRO]
contacts_per_company: 2
"""


@pytest.fixture(scope="module")
def providers():
    server = ProviderServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dns():
    """Every company of the world receives mail."""
    zone = {(domain, "MX"): [f"10 mx.{domain}."] for domain in sample_world().companies}
    with LocalDns(zone) as server:
        yield server


@pytest.fixture
def workspace(tmp_path, providers, dns, redis_url):
    market = tmp_path / "market.yaml"
    market.write_text(MARKET)
    env = {key: value for key, value in os.environ.items() if not key.endswith(("_API_KEY", "_API_BASE_URL"))}
    env |= providers.environ() | {f"{name.upper()}_API_KEY": key for name, key in providers.fake.keys.items()}
    env |= {"SALESOS_HOME": str(tmp_path / "home"), "REDIS_URL": redis_url, "SALESOS_DATA_FILES": "[]",
            "SALESOS_DNS_SERVER": f"127.0.0.1:{dns.port}", "SALESOS_JOB_BOARD_DISCOVERY": "false",
            "SALESOS_PROVIDER_WAITS": "[0.2]"}
    providers.fake.clear()
    return tmp_path, market, env


def run(workspace) -> dict:
    home, market, env = workspace
    result = subprocess.run([sys.executable, "-m", "connector", "run", "--market", str(market), "--as-of", AS_OF,
                             "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def crm(workspace) -> LocalCRM:
    return LocalCRM(workspace[0] / "home" / "crm.sqlite3")


def test_a_run_with_keys_and_no_file_finds_companies_people_and_signals_through_the_providers(workspace):
    summary = run(workspace)
    assert summary["qualified"] == 8 and summary["contacts"] > 0 and summary["failures"] == []
    assert {"apollo", "crunchbase", "hunter", "newsapi", "wayback"} <= set(summary["provider_costs"])
    assert summary["provider_misses"] == [] and summary["providers_skipped"] == []
    accounts = crm(workspace).get_accounts()
    assert len(accounts) == 8
    assert any(point["evidence"] for account in accounts for point in account.fields["intent_signals"])
    assert any(item["source"] == "crunchbase" for account in accounts for point in account.fields["intent_signals"]
               for item in point["evidence"])  # Crunchbase's funding rounds, found through its autocomplete


def test_each_fit_factor_in_the_crm_names_the_provider_and_fetch_time_of_its_value(workspace):
    run(workspace)
    breakdown = crm(workspace).get_accounts()[0].fields["fit_breakdown"]
    employees = breakdown["employees"]["source"]
    assert employees["provider"] in ("apollo", "pdl") and employees["fetched_at"]
    assert 0 < employees["confidence"] <= 1


def test_only_the_kept_buying_team_is_revealed_and_verified(workspace):
    summary = run(workspace)
    contacts = crm(workspace).get_contacts()
    assert len(contacts) == summary["contacts"] <= 2 * summary["qualified"]
    ledger = workspace_ledger = summary["provider_costs"]
    assert workspace_ledger["hunter"]["calls"] > 0
    assert any(contact.fields["email_verified"] for contact in contacts)
    assert ledger["apollo"]["credits"] > 0


def test_re_running_the_same_market_pays_nothing_already_paid_for(workspace):
    first = run(workspace)
    second = run(workspace)
    assert first["provider_dollars"] > 0
    assert second["provider_dollars"] == 0 and second["qualified"] == first["qualified"]
    assert all(row["calls"] == 0 for row in second["provider_costs"].values())


def test_a_provider_that_is_down_is_named_with_what_it_missed_and_the_run_finishes(workspace, providers):
    providers.fake.outage("newsapi")
    summary = run(workspace)
    assert summary["qualified"] == 8 and summary["enriched"] == 8 and summary["failures"] == []
    misses = {m["kind"]: m for m in summary["provider_misses"] if m["provider"] == "newsapi"}
    assert misses["waiting"]["missed"] == 8  # first they waited and resumed...
    assert misses["unavailable"]["stage"] == "enrich" and misses["unavailable"]["missed"] == 8  # ...then went on


def test_a_provider_without_a_key_is_skipped_and_the_summary_says_so(workspace):
    home, market, env = workspace
    del env["PDL_API_KEY"]
    summary = run((home, market, env))
    assert "pdl" in summary["providers_skipped"] and "pdl" not in summary["provider_costs"]


def test_a_sourcing_provider_that_is_down_is_named_and_the_next_one_is_searched_and_asked(workspace, providers):
    providers.fake.outage("apollo")  # the first searched, and the first asked for industry and headcount
    summary = run(workspace)
    [miss] = [m for m in summary["provider_misses"] if m["provider"] == "apollo" and m["stage"] == "source"]
    assert miss["kind"] == "unavailable" and summary["provider_costs"]["pdl"]["calls"] > 0
    assert summary["qualified"] == 8 and summary["failures"] == []


def test_file_companies_whose_providers_are_all_down_wait_then_go_on_with_what_the_file_says(workspace, providers):
    home, market, env = workspace
    domains = sorted(sample_world().companies)[:3]
    data = home / "accounts.jsonl"
    data.write_text("".join(json.dumps({"type": "company", "name": domain, "domain": domain}) + "\n"
                            for domain in domains))
    providers.fake.outage("apollo")
    providers.fake.outage("pdl")
    summary = run((home, market, env | {"SALESOS_DATA_FILES": json.dumps([str(data)])}))
    misses = {(m["provider"], m["kind"]): m for m in summary["provider_misses"] if m["stage"] == "source"}
    assert misses[("apollo", "waiting")]["missed"] == 3  # waited once (SALESOS_PROVIDER_WAITS) ...
    assert ("apollo", "unavailable") in misses  # ... then went on without it
    assert summary["companies_read"] >= 3 and summary["failures"] == []
