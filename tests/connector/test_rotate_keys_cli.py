"""`rotate-keys` binds secrets stored by an older SalesOS only when told to, and only once."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from connector.vault import new_key

ROOT = Path(__file__).resolve().parents[2]


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def words(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def test_rotate_keys_binds_legacy_secrets_only_with_bind_legacy_and_only_once(tmp_path):
    key = new_key()
    env = {**os.environ, "SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": key}
    assert cli(env, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", "pat-1").returncode == 0
    with sqlite3.connect(tmp_path / "salesos.sqlite3") as db:  # a refresh token an older SalesOS stored unbound
        db.execute("DELETE FROM vault_state")  # and its vault recorded no binding
        db.execute("INSERT INTO secrets VALUES ('hubspot-62515', 'refresh_token', ?, '2026-01-01T00:00:00+00:00')",
                   (Fernet(key.encode()).encrypt(b"legacy-refresh-token"),))

    refused = cli(env, "rotate-keys")
    assert refused.returncode == 2
    assert "the refresh_token of tenant 'hubspot-62515' is not bound" in words(refused.stderr)
    assert "run `python -m connector rotate-keys --bind-legacy` once" in words(refused.stderr)

    bound = cli(env, "rotate-keys", "--bind-legacy")
    assert bound.returncode == 0, bound.stderr
    assert bound.stdout.startswith("3 secret(s) re-encrypted")  # the access token, the workflow URL's token, the legacy one

    again = cli(env, "rotate-keys", "--bind-legacy")
    assert again.returncode == 2
    assert "binding them is a one-time step" in words(again.stderr)
    assert cli(env, "rotate-keys").returncode == 0
