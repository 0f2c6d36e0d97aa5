"""`connector tenants ...`: register private-app tenants without a browser or a network call."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.vault import new_key

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "pat-na1-99999999-8888-7777-6666-555555555555"


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key()}


def cli(env, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_a_hubspot_private_app_tenant_is_registered_and_listed_without_its_token(env, tmp_path):
    added = cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN)
    assert added.returncode == 0, added.stderr
    listed = cli(env, "tenants", "list")
    [tenant] = json.loads(listed.stdout)
    assert (tenant["id"], tenant["crm"], tenant["status"]) == ("hubspot-62515", "hubspot", "active")
    for output in (added.stdout, added.stderr, listed.stdout, listed.stderr):
        assert TOKEN not in output
    assert TOKEN.encode() not in (tmp_path / "salesos.sqlite3").read_bytes()


def test_a_token_can_come_from_stdin(env):
    added = cli(env, "tenants", "add", "salesforce", "--org-id", "00D5g000004XyZzEAK",
                "--instance-url", "https://acme.my.salesforce.com", "--access-token", "-", stdin=TOKEN + "\n")
    assert added.returncode == 0, added.stderr
    [tenant] = json.loads(cli(env, "tenants", "list").stdout)
    assert tenant["instance_url"] == "https://acme.my.salesforce.com"


@pytest.mark.parametrize(("args", "message"), [
    (["hubspot", "--portal-id", "abc"], "portal id 'abc' must be a number"),
    (["salesforce", "--org-id", "00Dabc", "--instance-url", "https://x.my.salesforce.com"], "org id '00Dabc'"),
    (["salesforce", "--org-id", "00D5g000004XyZzEAK"], "--instance-url"),
    (["salesforce", "--org-id", "00D5g000004XyZzEAK", "--instance-url", "http://x.my.salesforce.com"],
     "must be an https:// URL"),
    (["pipedrive", "--portal-id", "1"], "'pipedrive' is not hubspot or salesforce"),
])
def test_bad_tenant_details_are_refused_with_the_reason(env, args, message):
    result = cli(env, "tenants", "add", *args, "--access-token", TOKEN)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())  # rich wraps errors in a box
    assert TOKEN not in result.stderr


def test_without_a_vault_key_nothing_is_stored(env, tmp_path):
    env.pop("SALESOS_VAULT_KEYS")
    result = cli(env, "tenants", "add", "hubspot", "--portal-id", "1", "--access-token", TOKEN)
    assert result.returncode == 2
    assert "SALESOS_VAULT_KEYS is not set" in result.stderr


def test_removing_a_tenant_deletes_it_and_its_tokens(env):
    cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN)
    assert cli(env, "tenants", "remove", "hubspot-62515").returncode == 0
    assert json.loads(cli(env, "tenants", "list").stdout) == []
    assert cli(env, "tenants", "remove", "hubspot-62515").returncode == 1


def test_rotate_keys_leaves_tokens_readable_with_the_new_key_alone(env):
    cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN)
    old, new = env["SALESOS_VAULT_KEYS"], new_key()
    rotated = cli(env | {"SALESOS_VAULT_KEYS": f"{new},{old}"}, "rotate-keys")
    # its access token and its "Send a webhook" URL token
    assert rotated.returncode == 0 and rotated.stdout.startswith("2 secret(s) re-encrypted")
    assert cli(env | {"SALESOS_VAULT_KEYS": new}, "tenants", "list").returncode == 0


def test_an_orgs_manifest_carries_its_exact_outbound_url_and_is_readable_by_its_owner_only(env, tmp_path):
    from xml.etree import ElementTree

    env = env | {"SALESOS_PUBLIC_URL": "https://salesos.acme.io"}
    tenant = "salesforce-00D5g000004XyZzEAK"
    assert cli(env, "tenants", "add", "salesforce", "--org-id", "00D5g000004XyZzEAK", "--instance-url",
               "https://acme.my.salesforce.com", "--access-token", TOKEN).returncode == 0
    url = cli(env, "tenants", "outbound-url", tenant).stdout.strip()
    out = tmp_path / "org-manifest"
    written = cli(env, "manifests", "--tenant", tenant, "--integration-user", "integration@acme.com", "--out", str(out))
    assert written.returncode == 0, written.stderr
    workflows = sorted((out / "salesforce/force-app/main/default/workflows").iterdir())
    assert [path.name for path in workflows] == [f"{name}.workflow-meta.xml" for name in (
        "Account", "Contact", "Lead", "Opportunity", "SalesOS_Market__c")]
    ns = {"md": "http://soap.sforce.com/2006/04/metadata"}
    for path in workflows:
        message = ElementTree.parse(path).getroot().find("md:outboundMessages", ns)
        assert message.find("md:endpointUrl", ns).text == url
        assert message.find("md:integrationUser", ns).text == "integration@acme.com"
    files = [path for path in out.rglob("*") if path.is_file()]
    assert (out / "salesforce/sfdx-project.json") in files and not (out / "salesforce/outbound-messages").exists()
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}
    assert {path.stat().st_mode & 0o777 for path in out.rglob("*") if path.is_dir()} == {0o700}
    assert url not in written.stdout + written.stderr  # the URL is in the files, not on the terminal


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "salesforce-00D5g000004XyZzEAK"], "must be a Salesforce username"),
    (["--tenant", "hubspot-62515", "--integration-user", "a@b.io"], "not an installed Salesforce tenant"),
    (["--integration-user", "a@b.io"], "go with --tenant"),
])
def test_an_orgs_manifest_needs_an_installed_salesforce_tenant_and_its_integration_user(env, tmp_path, args,
                                                                                       message):
    cli(env, "tenants", "add", "salesforce", "--org-id", "00D5g000004XyZzEAK", "--instance-url",
        "https://acme.my.salesforce.com", "--access-token", TOKEN)
    result = cli(env, "manifests", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "out").exists()


def test_a_removed_tenant_installed_again_reads_no_old_data_files_and_has_no_old_market(env, tmp_path):
    from connector.markets import market_from_text
    from connector.tenant_markets import TenantMarkets

    data = tmp_path / "accounts.csv"
    data.write_text("name,domain\nAcme,acme.io\n")
    cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN)
    assert cli(env, "tenants", "data-files", "hubspot-62515", str(data)).returncode == 0
    markets = TenantMarkets(tmp_path / "salesos.sqlite3")
    markets.set("hubspot-62515", market_from_text("industry: Retail\ncompany_size: 10-50", "old"), "old.yaml")
    assert cli(env, "tenants", "remove", "hubspot-62515").returncode == 0
    cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN)
    shown = cli(env, "tenants", "data-files", "hubspot-62515")
    assert (shown.returncode, shown.stdout.strip()) == (1, "hubspot-62515 has no data source")
    assert markets.get("hubspot-62515") is None


WARNING = "SALESOS_PUBLIC_URL is 'http://127.0.0.1:5000', which Salesforce and HubSpot cannot call"


def test_a_url_for_a_crm_built_on_the_loopback_default_comes_with_a_warning(env, tmp_path):
    """The admin must not paste a URL the CRM can never reach without being told."""
    org = "salesforce-00D5g000004XyZzEAK"
    added = cli(env, "tenants", "add", "salesforce", "--org-id", "00D5g000004XyZzEAK", "--instance-url",
                "https://acme.my.salesforce.com", "--access-token", TOKEN)
    cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN)
    shown = [added, cli(env, "tenants", "outbound-url", org), cli(env, "tenants", "workflow-url", "hubspot-62515"),
             cli(env, "manifests", "--tenant", org, "--integration-user", "i@acme.io", "--out", str(tmp_path / "m"))]
    for result in shown:
        assert result.returncode == 0, result.stderr
        assert WARNING in " ".join(result.stderr.split())
    public = env | {"SALESOS_PUBLIC_URL": "https://salesos.acme.io"}
    for args in (("tenants", "outbound-url", org), ("tenants", "workflow-url", "hubspot-62515")):
        assert "SALESOS_PUBLIC_URL" not in cli(public, *args).stderr
