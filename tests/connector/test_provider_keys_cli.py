"""`tenants provider-key set|list|remove`: a key goes in through stdin or a hidden prompt and never comes out."""

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.providers.keys import provider_keys
from connector.vault import Vault, new_key
from tests.connector.test_tenants_cli import cli, env  # noqa: F401 (env is a fixture)

TENANT = "hubspot-62515"
KEY = "apollo-live-3f9c2b7e1d8a4c6b9e0f"


def words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())  # rich wraps long lines, and boxes typer's errors


def stored(env, tenant):
    return provider_keys(tenant, Vault(Path(env["SALESOS_HOME"]) / "salesos.sqlite3", env["SALESOS_VAULT_KEYS"]), {})


@pytest.fixture
def installed(env):
    added = cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", "pat-na1-1")
    assert added.returncode == 0, added.stderr
    return env


def test_a_key_piped_to_set_is_stored_encrypted_and_never_echoed(installed, tmp_path):
    result = cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", "-", stdin=KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"apollo key of {TENANT} stored encrypted; its runs use it from now on"
    assert KEY not in result.stdout + result.stderr
    assert stored(installed, TENANT) == {"apollo": KEY}
    assert KEY.encode() not in (tmp_path / "salesos.sqlite3").read_bytes()


def test_list_shows_each_known_provider_as_set_or_not_with_its_date_and_never_the_key(installed):
    cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", "-", stdin=KEY)
    listed = cli(installed | {"PDL_API_KEY": "pdl-key-of-the-environment"}, "tenants", "provider-key", "list", TENANT)
    assert listed.returncode == 0, listed.stderr
    statuses = {row["provider"]: row for row in json.loads(listed.stdout)}
    assert {"apollo", "crunchbase", "hunter", "newsapi", "pdl"} <= set(statuses)
    assert statuses["apollo"]["set"] is True and statuses["apollo"]["source"] == "vault"
    assert statuses["apollo"]["updated_at"][:2] == "20"
    assert statuses["pdl"] == {"provider": "pdl", "set": False, "source": None, "variable": None, "updated_at": None}
    assert KEY not in listed.stdout + listed.stderr and "pdl-key-of-the-environment" not in listed.stdout


def test_list_for_local_names_the_environment_variable_a_key_comes_from_not_its_value(env):
    listed = cli(env | {"HUNTER_API_KEY": "hunter-key-of-the-environment"}, "tenants", "provider-key", "list", "local")
    assert listed.returncode == 0, listed.stderr
    statuses = {row["provider"]: row for row in json.loads(listed.stdout)}
    assert statuses["hunter"] | {"updated_at": None} == {"provider": "hunter", "set": True, "source": "environment",
                                                          "variable": "HUNTER_API_KEY", "updated_at": None}
    assert "hunter-key-of-the-environment" not in listed.stdout


def test_local_has_keys_of_its_own_set_listed_and_removed(env):
    assert cli(env, "tenants", "provider-key", "set", "local", "pdl", "-", stdin=KEY).returncode == 0
    assert stored(env, "local") == {"pdl": KEY}
    [pdl] = [row for row in json.loads(cli(env, "tenants", "provider-key", "list", "local").stdout)
             if row["provider"] == "pdl"]
    assert pdl["source"] == "vault"
    removed = cli(env | {"PDL_API_KEY": "pdl-key-of-the-environment"}, "tenants", "provider-key", "remove", "local",
                  "pdl")
    assert removed.returncode == 0, removed.stderr
    assert "PDL_API_KEY from the environment applies again" in removed.stdout
    assert stored(env, "local") == {}


def test_remove_deletes_the_key_and_a_second_remove_says_there_is_none(installed):
    cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", "-", stdin=KEY)
    removed = cli(installed, "tenants", "provider-key", "remove", TENANT, "apollo")
    assert (removed.returncode, removed.stdout.strip()) == (0, f"apollo key of {TENANT} removed; its runs go "
                                                               "without apollo from now on")
    assert stored(installed, TENANT) == {}
    again = cli(installed, "tenants", "provider-key", "remove", TENANT, "apollo")
    assert again.returncode == 1 and f"{TENANT} has no stored apollo key" in again.stderr


@pytest.mark.parametrize(("stdin", "rule"), [
    ("", "the key is empty"),
    ("\n", "the key is empty"),
    ("a" * 501, "is 501 characters long, over the 500 a provider key may have"),
    ("apollo key", "whitespace"),
    (" " + KEY, "whitespace"),
    (KEY + "\nsecond line\n", "whitespace"),
    (KEY + "\x07", "control or non-ASCII"),
])
def test_a_piped_key_breaking_a_rule_is_refused_with_the_rule_and_nothing_stored(installed, stdin, rule):
    result = cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", "-", stdin=stdin)
    assert result.returncode == 2 and result.stdout == ""
    assert rule in words(result.stderr)
    assert not stdin.strip() or stdin.strip() not in result.stderr
    assert stored(installed, TENANT) == {}


def test_a_key_given_as_an_argument_is_refused_without_being_echoed(installed):
    result = cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", KEY)
    assert result.returncode == 2
    assert "the key is never an argument" in words(result.stderr)
    assert KEY not in result.stdout + result.stderr
    assert stored(installed, TENANT) == {}


def test_an_unknown_provider_is_refused_naming_the_known_ones(installed):
    result = cli(installed, "tenants", "provider-key", "set", TENANT, "clearbit", "-", stdin=KEY)
    assert result.returncode == 2
    assert "'clearbit' is not a provider SalesOS knows; known providers: apollo, crunchbase, hunter, newsapi, pdl" \
        in words(result.stderr)
    assert KEY not in result.stderr
    removed = cli(installed, "tenants", "provider-key", "remove", TENANT, "clearbit")
    assert removed.returncode == 2 and "known providers" in words(removed.stderr)


@pytest.mark.parametrize("command", [["set", "hubspot-99", "apollo", "-"], ["list", "hubspot-99"],
                                     ["remove", "hubspot-99", "apollo"]])
def test_a_tenant_that_is_not_installed_is_refused(installed, command):
    result = cli(installed, "tenants", "provider-key", *command, stdin=KEY)
    assert result.returncode == 2 and result.stdout == ""
    assert "'hubspot-99' is not `local` or an installed tenant" in words(result.stderr)
    assert stored(installed, "hubspot-99") == {}


def test_without_a_vault_key_nothing_is_stored(env, tmp_path):
    env.pop("SALESOS_VAULT_KEYS")
    result = cli(env, "tenants", "provider-key", "set", "local", "apollo", "-", stdin=KEY)
    assert result.returncode == 2 and "SALESOS_VAULT_KEYS is not set" in words(result.stderr)
    state = tmp_path / "salesos.sqlite3"
    assert not state.exists() or KEY.encode() not in state.read_bytes()


def test_uninstalling_a_tenant_deletes_its_provider_keys_so_a_reinstall_has_none(installed):
    cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", "-", stdin=KEY)
    assert cli(installed, "tenants", "remove", TENANT).returncode == 0
    cli(installed, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", "pat-na1-1")
    assert stored(installed, TENANT) == {}
    statuses = json.loads(cli(installed, "tenants", "provider-key", "list", TENANT).stdout)
    assert not any(row["set"] for row in statuses)


def test_removing_local_as_a_tenant_keeps_the_local_crm_s_keys(env):
    cli(env, "tenants", "provider-key", "set", "local", "apollo", "-", stdin=KEY)
    assert cli(env, "tenants", "remove", "local").returncode == 1
    assert stored(env, "local") == {"apollo": KEY}


def test_rotate_keys_re_encrypts_provider_keys_so_the_old_vault_key_can_go(installed):
    cli(installed, "tenants", "provider-key", "set", TENANT, "apollo", "-", stdin=KEY)
    cli(installed, "tenants", "provider-key", "set", "local", "hunter", "-", stdin=KEY + "-local")
    old, new = installed["SALESOS_VAULT_KEYS"], new_key()
    rotated = cli(installed | {"SALESOS_VAULT_KEYS": f"{new},{old}"}, "rotate-keys")
    # the tenant's access token and its "Send a webhook" URL token, and the two provider keys
    assert rotated.returncode == 0 and rotated.stdout.startswith("4 secret(s) re-encrypted"), rotated.stderr
    installed["SALESOS_VAULT_KEYS"] = new
    assert stored(installed, TENANT) == {"apollo": KEY}
    assert stored(installed, "local") == {"hunter": KEY + "-local"}


def test_a_key_typed_at_the_hidden_prompt_is_stored_and_appears_in_no_output_or_log(env, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["tenants", "provider-key", "set", "local", "apollo"], input=KEY + "\n")
    assert result.exit_code == 0, result.output
    assert "apollo API key:" in result.stderr
    assert KEY not in result.stdout and KEY not in result.stderr and KEY not in caplog.text
    assert stored(env, "local") == {"apollo": KEY}
    listed = CliRunner().invoke(app, ["tenants", "provider-key", "list", "local"])
    removed = CliRunner().invoke(app, ["tenants", "provider-key", "remove", "local", "apollo"])
    assert listed.exit_code == removed.exit_code == 0
    assert KEY not in listed.output + removed.output + caplog.text
