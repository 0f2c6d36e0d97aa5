"""`tenants api-key ...` and `operator-key ...`: a key is printed once, on stdout; the list never shows one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.api_keys import ApiKeys
from connector.vault import new_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key()}


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_creating_a_key_prints_it_once_on_stdout_with_guidance_on_stderr(env, tmp_path):
    created = cli(env, "tenants", "api-key", "create", "local", "--label", "nightly export")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("salesos_") and "\n" not in key
    guidance = " ".join(created.stderr.split())  # rich wraps long lines
    assert "Authorization: Bearer" in guidance and "not shown again" in guidance
    assert key not in created.stderr
    found = ApiKeys(tmp_path / "salesos.sqlite3").authenticate(key)
    assert (found.tenant, found.label) == ("local", "nightly export")


def test_the_list_shows_keys_without_their_secrets(env):
    key = cli(env, "tenants", "api-key", "create", "local").stdout.strip()
    listed = cli(env, "tenants", "api-key", "list")
    [record] = json.loads(listed.stdout)
    assert record["tenant"] == "local" and record["revoked_at"] is None
    assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout


def test_revoking_a_key_by_its_id(env, tmp_path):
    key = cli(env, "tenants", "api-key", "create", "local").stdout.strip()
    key_id = key.split("_")[1]
    assert cli(env, "tenants", "api-key", "revoke", key_id).returncode == 0
    assert ApiKeys(tmp_path / "salesos.sqlite3").authenticate(key) is None
    assert cli(env, "tenants", "api-key", "revoke", key_id).returncode == 1


def test_a_key_for_a_tenant_that_is_not_installed_is_refused(env):
    created = cli(env, "tenants", "api-key", "create", "hubspot-62515")
    assert created.returncode == 2 and created.stdout == ""
    assert "hubspot-62515" in created.stderr and "tenants list" in created.stderr


def test_operator_keys_have_their_own_commands(env, tmp_path):
    key = cli(env, "operator-key", "create", "--label", "on-call").stdout.strip()
    assert ApiKeys(tmp_path / "salesos.sqlite3").authenticate(key).scope == "operator"
    [record] = json.loads(cli(env, "operator-key", "list").stdout)
    assert record["label"] == "on-call" and key not in json.dumps(record)
    assert json.loads(cli(env, "tenants", "api-key", "list").stdout) == []
    assert cli(env, "tenants", "api-key", "revoke", record["id"]).returncode == 1  # not a tenant key
    assert cli(env, "operator-key", "revoke", record["id"]).returncode == 0
