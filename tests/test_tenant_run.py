"""The funnel runs on an installed HubSpot tenant exactly as on the local CRM.

The CLI, real RQ worker processes and the real hubspot-api-client talk to the
local HubSpot server over loopback (HUBSPOT_API_BASE_URL points at it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.settings import SAMPLE_DATA
from connector.vault import new_key
from tests.fakes.hubspot_server import FakeHubSpot, Server
from tests.test_end_to_end import AS_OF, ROOT, workspace  # noqa: F401 - the fixture is shared

TENANT = "hubspot-62515"


@pytest.fixture
def hubspot():
    with Server(FakeHubSpot()) as server:
        yield server.fake


def cli(home: Path, *args: str, redis_url: str, env: dict[str, str], input: str = "") -> subprocess.CompletedProcess:
    environment = {**os.environ, **env, "SALESOS_HOME": str(home), "REDIS_URL": redis_url}
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300, input=input)


@pytest.fixture
def tenant_env(hubspot, tmp_path, redis_url):
    env = {"SALESOS_VAULT_KEYS": new_key(), "HUBSPOT_API_BASE_URL": hubspot.url,
           "SALESOS_PUBLIC_URL": "https://salesos.example.com"}
    added = cli(tmp_path / "tenant-home", "tenants", "add", "hubspot", "--portal-id", "62515",
                "--access-token", hubspot.token, redis_url=redis_url, env=env)
    assert added.returncode == 0, added.stderr
    return env


def run(home: Path, workspace, redis_url: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    _, market, data = workspace
    return cli(home, "run", "--market", str(market), "--data", str(data), "--as-of", AS_OF, "--json", "--send-now",
               *extra, redis_url=redis_url, env=env)


def export(home: Path, redis_url: str, env: dict[str, str], *extra: str) -> dict:
    result = cli(home, "export", "--json", *extra, redis_url=redis_url, env=env)
    assert result.returncode == 0, result.stderr
    return _instants(json.loads(result.stdout))


def _instants(value):
    """Datetimes as UTC instants: HubSpot stores 09:00-05:00 as 14:00Z, the same moment."""
    if isinstance(value, dict):
        return {key: _instants(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_instants(item) for item in value]
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC).isoformat()
        except ValueError:
            return value
    return value


def test_a_run_on_a_hubspot_tenant_writes_what_a_local_run_writes(workspace, redis_url, tenant_env, tmp_path):
    local = run(tmp_path / "local-home", workspace, redis_url, {})
    assert local.returncode == 0, local.stderr
    on_tenant = run(tmp_path / "tenant-home", workspace, redis_url, tenant_env, "--tenant", TENANT)
    assert on_tenant.returncode == 0, on_tenant.stderr
    summary = json.loads(on_tenant.stdout)
    assert summary["tenant"] == TENANT and summary["crm_errors"] == [] and summary["stopped"] == []
    assert summary["qualified"] == json.loads(local.stdout)["qualified"] == 2
    assert export(tmp_path / "tenant-home", redis_url, tenant_env, "--tenant", TENANT) == export(
        tmp_path / "local-home", redis_url, {})


def test_a_second_run_on_a_tenant_creates_no_duplicate_record_link_or_task(workspace, redis_url, tenant_env,
                                                                            hubspot, tmp_path):
    home = tmp_path / "tenant-home"
    assert run(home, workspace, redis_url, tenant_env, "--tenant", TENANT).returncode == 0
    counts = {kind: len(records) for kind, records in hubspot.objects.items()}
    links = set(hubspot.associations)
    assert counts["companies"] == 2 and counts["contacts"] == 5 and len(
        [link for link in links if link[0] == "contacts"]) == 5
    second = run(home, workspace, redis_url, tenant_env, "--tenant", TENANT)
    assert second.returncode == 0, second.stderr
    assert {kind: len(records) for kind, records in hubspot.objects.items()} == counts
    assert set(hubspot.associations) == links


def test_a_run_stops_at_the_api_budget_and_says_so(workspace, redis_url, tenant_env, hubspot, tmp_path):
    env = {**tenant_env, "HUBSPOT_DAILY_API_LIMIT": "4", "CRM_API_SHARE": "0.5"}
    result = run(tmp_path / "tenant-home", workspace, redis_url, env, "--tenant", TENANT)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["stopped"] and "50% share" in summary["stopped"][0]["reason"]
    assert "Stopped:" in result.stderr and "2 of 4 calls" in result.stderr
    assert hubspot.total_calls == 2


def test_a_run_waits_for_a_job_that_failed_while_hubspot_was_down_saying_what_it_waits_for(
        workspace, redis_url, tenant_env, hubspot, tmp_path):
    """The retry waits as configured (here a second, not a minute) and the run with it; it then writes everything
    once, and nothing failed."""
    hubspot.fail("/crm/v3/objects/companies/batch/upsert", 503, {"status": "error", "message": "Service Unavailable"},
                 headers={"Retry-After": "0"}, times=6)  # every attempt of the source job's write, then it is back
    env = {**tenant_env, "SALESOS_JOB_RETRY_MINUTES": "[0.01]"}
    result = run(tmp_path / "tenant-home", workspace, redis_url, env, "--tenant", TENANT)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failures"] == [] and summary["qualified"] == 2 and summary["crm_errors"] == []
    said = " ".join(result.stderr.split())
    assert "waiting: a job retries from" in said and "(attempt 2 of 2) after Transient: HubSpot answered 503" in said
    assert len(hubspot.objects["companies"]) == 2 and len(hubspot.objects["tasks"]) == 5


def test_an_unknown_tenant_is_refused_before_any_work(workspace, redis_url, tenant_env, tmp_path):
    result = run(tmp_path / "tenant-home", workspace, redis_url, tenant_env, "--tenant", "hubspot-999")
    assert result.returncode == 2
    assert "'hubspot-999' is not installed" in result.stderr


def test_a_refused_token_marks_the_tenant_for_reinstall_and_stops_its_run_with_that_reason(
        workspace, redis_url, tenant_env, hubspot, tmp_path):
    home = tmp_path / "tenant-home"
    hubspot.token = "a-token-made-after-the-old-one-was-revoked"
    result = run(home, workspace, redis_url, tenant_env, "--tenant", TENANT)
    assert result.returncode == 1
    [reason] = {stop["reason"] for stop in json.loads(result.stdout)["stopped"]}
    assert "private-app token was rejected" in reason
    listed = json.loads(cli(home, "tenants", "list", redis_url=redis_url, env=tenant_env).stdout)
    assert [(t["id"], t["status"]) for t in listed] == [(TENANT, "needs_reinstall")]
    again = run(home, workspace, redis_url, tenant_env, "--tenant", TENANT)
    assert again.returncode == 2 and "needs re-installing" in again.stderr


def test_a_tenant_run_without_an_https_public_url_renders_no_email_and_says_why(workspace, redis_url, tenant_env,
                                                                              hubspot, tmp_path):
    env = {**tenant_env, "SALESOS_PUBLIC_URL": "http://127.0.0.1:5000"}
    result = run(tmp_path / "tenant-home", workspace, redis_url, env, "--tenant", TENANT)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["emails_sent"] == 0 and summary["steps_deferred"] == 4 and summary["tasks_created"] == 1
    assert "Stopped: SALESOS_PUBLIC_URL is 'http://127.0.0.1:5000', not https" in result.stderr
    assert hubspot.objects["emails"] == {} and not list((tmp_path / "tenant-home" / "outbox").glob("*.eml"))


def test_a_tenant_run_without_data_stops_before_any_work_and_says_how_to_give_it_data(
        workspace, redis_url, tenant_env, hubspot, tmp_path):
    _, market, _ = workspace
    result = cli(tmp_path / "tenant-home", "run", "--market", str(market), "--tenant", TENANT, "--json",
                 redis_url=redis_url, env=tenant_env)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{TENANT} has no data source" in result.stderr
    assert f"tenants data-files {TENANT} FILE..." in result.stderr
    assert hubspot.total_calls == 0


def test_the_environment_s_provider_key_gives_a_tenant_no_data_source(workspace, redis_url, tenant_env, hubspot,
                                                                        tmp_path):
    _, market, _ = workspace
    result = cli(tmp_path / "tenant-home", "run", "--market", str(market), "--tenant", TENANT, "--json",
                 redis_url=redis_url, env=tenant_env | {"APOLLO_API_KEY": "apollo-key-of-the-operator"})
    assert result.returncode == 2 and f"{TENANT} has no data source" in result.stderr
    assert f"tenants provider-key set {TENANT} NAME -" in " ".join(result.stderr.split())
    assert hubspot.total_calls == 0


def test_a_tenant_run_with_provider_keys_and_no_data_files_runs_reading_no_file(workspace, redis_url, tenant_env,
                                                                                 hubspot, tmp_path):
    _, market, _ = workspace
    home = tmp_path / "tenant-home"
    key = "apollo-key-of-the-tenant-0123456789"
    stored = cli(home, "tenants", "provider-key", "set", TENANT, "apollo", "-", redis_url=redis_url, env=tenant_env,
                 input=key)
    assert stored.returncode == 0, stored.stderr
    result = cli(home, "run", "--market", str(market), "--tenant", TENANT, "--as-of", AS_OF, "--json",
                 redis_url=redis_url, env=tenant_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows_read"], summary["companies_read"], summary["stopped"]) == (0, 0, [])
    assert key not in result.stdout + result.stderr + stored.stdout + stored.stderr
    assert hubspot.objects["companies"] == {}


def test_the_bundled_sample_is_refused_for_a_tenant_even_when_named_or_copied(workspace, redis_url, tenant_env,
                                                                               hubspot, tmp_path):
    _, market, _ = workspace
    copy = tmp_path / "our-accounts.jsonl"
    shutil.copyfile(SAMPLE_DATA[0], copy)
    home = tmp_path / "tenant-home"
    for data in (ROOT / "data" / "sample_market.jsonl", SAMPLE_DATA[1], copy):
        result = cli(home, "run", "--market", str(market), "--data", str(data), "--tenant", TENANT,
                     redis_url=redis_url, env=tenant_env)
        assert result.returncode == 2, result.stderr
        said = " ".join(result.stderr.split())  # rich wraps at 80 columns, where depends on the data file's path
        assert "fictional sample data" in said and "never into" in said
    stored = cli(home, "tenants", "data-files", TENANT, str(copy), redis_url=redis_url, env=tenant_env)
    assert stored.returncode == 2 and "fictional sample data" in " ".join(stored.stderr.split())
    assert cli(home, "tenants", "data-files", TENANT, redis_url=redis_url, env=tenant_env).returncode == 1
    assert hubspot.total_calls == 0


def test_a_copy_of_the_sample_stripped_of_its_marks_is_refused_as_a_tenants_data(redis_url, tenant_env, tmp_path):
    from tests.connector.test_data_sources import without_marks

    home = tmp_path / "tenant-home"
    for data in without_marks(tmp_path):
        stored = cli(home, "tenants", "data-files", TENANT, str(data), redis_url=redis_url, env=tenant_env)
        assert stored.returncode == 2, stored.stderr
        assert f"{data.name}: fictional sample data" in " ".join(stored.stderr.split())
    assert cli(home, "tenants", "data-files", TENANT, redis_url=redis_url, env=tenant_env).returncode == 1


def test_a_tenants_data_files_are_what_its_runs_read_without_data(workspace, redis_url, tenant_env, tmp_path):
    _, market, data = workspace
    home = tmp_path / "tenant-home"
    stored = cli(home, "tenants", "data-files", TENANT, str(data), redis_url=redis_url, env=tenant_env)
    assert stored.returncode == 0, stored.stderr
    shown = cli(home, "tenants", "data-files", TENANT, redis_url=redis_url, env=tenant_env)
    assert shown.stdout.split() == [str(data)]
    result = cli(home, "run", "--market", str(market), "--tenant", TENANT, "--as-of", AS_OF, "--json",
                 redis_url=redis_url, env=tenant_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["qualified"] == 2


def test_provision_creates_the_salesos_properties_once_and_reports_a_type_conflict(redis_url, tmp_path):
    fake = FakeHubSpot(provisioned=False)
    fake.properties["contacts"]["salesos_seniority"] = {"name": "salesos_seniority", "type": "string",
                                                         "fieldType": "text", "groupName": "contactinformation"}
    server = Server(fake)
    try:
        env = {"SALESOS_VAULT_KEYS": new_key(), "HUBSPOT_API_BASE_URL": fake.url}
        home = tmp_path / "home"
        cli(home, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", fake.token,
            redis_url=redis_url, env=env)
        first = cli(home, "provision", "--tenant", TENANT, "--json", redis_url=redis_url, env=env)
        second = cli(home, "provision", "--tenant", TENANT, "--json", redis_url=redis_url, env=env)
    finally:
        server.stop()
    assert first.returncode == second.returncode == 1  # the conflict needs an admin
    created, again = json.loads(first.stdout), json.loads(second.stdout)
    assert "salesos_fit_score" in str(created["created"]) and again["created"] == []
    assert [c["field"] for c in again["conflicts"]] == ["salesos_seniority"]
    assert fake.properties["contacts"]["salesos_seniority"]["type"] == "string"
    assert "salesos" in fake.groups["companies"]
