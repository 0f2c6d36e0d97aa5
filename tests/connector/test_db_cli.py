"""`db upgrade` and `db current`: the state database's schema on purpose, on either engine."""

import os
import subprocess
import sys
from pathlib import Path

from connector.store.migrate import HEAD

ROOT = Path(__file__).resolve().parents[2]


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_db_upgrade_creates_the_schema_and_current_reports_it(state_url, tmp_path):
    env = {**os.environ, "SALESOS_HOME": str(tmp_path / "home"), "SALESOS_DATABASE_URL": state_url}
    assert cli(env, "db", "current").stdout.startswith("empty (behind")
    upgraded = cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"state database at schema {HEAD} (was empty)"
    assert cli(env, "db", "upgrade").stdout.strip() == f"state database at schema {HEAD}"
    assert cli(env, "db", "current").stdout.strip() == f"{HEAD} (current)"


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path):
    env = {**os.environ, "SALESOS_HOME": str(tmp_path),
           "SALESOS_DATABASE_URL": "postgresql+psycopg://salesos:hunter2secret@127.0.0.1:1/salesos"}
    result = cli(env, "db", "upgrade")
    assert result.returncode == 1
    assert result.stderr.startswith("State database (postgresql) cannot be used:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2secret" not in result.stdout + result.stderr


def test_a_database_url_of_another_kind_is_refused_naming_the_variable_and_not_the_url(tmp_path):
    env = {**os.environ, "SALESOS_HOME": str(tmp_path), "SALESOS_DATABASE_URL": "mysql://root:hunter2secret@db/x"}
    result = cli(env, "db", "upgrade")
    assert result.returncode == 2
    assert "SALESOS_DATABASE_URL must start with postgresql+psycopg:// or sqlite:///" in result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
