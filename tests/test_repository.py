"""What the repository itself promises: secrets kept in local files never reach git."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", [".env", ".env.production", "connector/.env"])
def test_a_dot_env_file_is_ignored_by_git(name):
    assert ignored(name), f"{name} is not ignored by .gitignore"


def ignored(name: str) -> bool:
    """Whether .gitignore covers `name` (--no-index: even if someone committed it)."""
    return subprocess.run(["git", "check-ignore", "--no-index", "--quiet", name], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("name", ["var/salesos.sqlite3", ".venv/bin/python"])
def test_local_state_and_the_virtualenv_are_ignored_by_git(name):
    assert ignored(name)
