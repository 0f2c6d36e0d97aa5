"""The command line at its edges, tried as a new user would: a bad file, a wrong key, a service that is down.

Each expected failure is one line on stderr, whole however long (stderr is a
pipe here, as in a CI log), and exit code 1 or 2; nothing is queued and the
last run's summary and report stay as they were. `--debug` shows the
traceback instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connector.vault import new_key
from tests.test_end_to_end import AS_OF, MARKET, ROOT

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def cli(home: Path, *args: str, redis_url: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    environment |= {"SALESOS_HOME": str(home), **env} | ({"REDIS_URL": redis_url} if redis_url else {})
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


def said(result: subprocess.CompletedProcess) -> str:
    """The one line the command printed (and that it printed only one, and no traceback)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path):
    """A SALESOS_HOME holding the previous run's summary and report, and a market file."""
    home = tmp_path / "a-salesos-home-with-a-long-enough-name-for-lines-past-eighty-columns"
    home.mkdir()
    (home / "last_run.json").write_text('{"run_id": "previous"}')
    (home / "report.html").write_text("<p>the previous run</p>")
    (tmp_path / "market.yaml").write_text(MARKET)
    return home


def untouched(home: Path) -> bool:
    return ((home / "last_run.json").read_text() == '{"run_id": "previous"}'
            and (home / "report.html").read_text() == "<p>the previous run</p>" and not (home / "runs").exists())


def run(home: Path, *data: Path, redis_url: str, **env: str) -> subprocess.CompletedProcess:
    market = home.parent / "market.yaml"
    return cli(home, "run", "--market", str(market), *(arg for path in data for arg in ("--data", str(path))),
               "--as-of", AS_OF, redis_url=redis_url, **env)


def write(path: Path, content: bytes | None) -> Path:
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing.jsonl", "absent", "data file not found"),
    ("folder.csv", None, "is a directory, not a data file"),
    ("empty.jsonl", b"", "is empty"),
    ("columns.csv", b"company id,notes\n1,hello\n", "no name or domain column (headers: company id, notes)"),
    ("binary.csv", bytes(range(256)) * 4, "is a binary file, not text"),
    ("latin1.csv", "name,domain\nCafé Crème,creme.fr\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 2)"),
])
def test_an_unusable_data_file_is_one_line_naming_it_exit_2_and_nothing_is_queued(home, conn, redis_url, name,
                                                                                   content, problem):
    path = home.parent / name
    if content != "absent":
        write(path, content)
    result = run(home, path, redis_url=redis_url)
    line = said(result)
    assert result.returncode == 2
    assert str(path) in line and problem in line and len(line) > 80  # not wrapped at 80 columns
    assert conn.dbsize() == 0  # no job, no run, nothing at all in Redis
    assert untouched(home)


def test_every_unusable_data_file_of_a_run_is_its_own_line(home, conn, redis_url):
    empty = write(home.parent / "empty.csv", b"")
    good = write(home.parent / "good.jsonl", b'{"type": "company", "name": "Acme", "domain": "acme.io"}\n')
    result = run(home, empty, good, home.parent / "gone.jsonl", redis_url=redis_url)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"Run stopped: {empty}: is empty",
                                          f"Run stopped: data file not found: {home.parent / 'gone.jsonl'}"]
    assert conn.dbsize() == 0 and untouched(home)


def test_a_market_file_that_is_not_text_is_one_line(home, conn, redis_url):
    market = write(home.parent / "market.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = cli(home, "run", "--market", str(market), redis_url=redis_url)
    assert result.returncode == 2
    assert said(result).startswith(f"Invalid market definition {market}: (document): not UTF-8 text")
    assert conn.dbsize() == 0 and untouched(home)


@pytest.fixture
def tenant_home(home, redis_url):
    """A SALESOS_HOME with a HubSpot tenant whose token is stored under `key`."""
    key = new_key()
    added = cli(home, "tenants", "add", "hubspot", "--portal-id", "62515", "--access-token", TOKEN,
                SALESOS_VAULT_KEYS=key)
    assert added.returncode == 0, added.stderr
    return home, key


@pytest.mark.parametrize("command", [["export", "--tenant", "hubspot-62515"], ["provision", "--tenant", "hubspot-62515"],
                                     ["run", "--tenant", "hubspot-62515", "--market", "MARKET"]])
def test_a_wrong_vault_key_is_one_line_and_exit_2_before_any_work(tenant_home, conn, redis_url, command):
    home, _ = tenant_home
    command = [str(home.parent / "market.yaml") if arg == "MARKET" else arg for arg in command]
    result = cli(home, *command, redis_url=redis_url, SALESOS_VAULT_KEYS=new_key())
    assert result.returncode == 2
    assert said(result) == "Vault: no key in SALESOS_VAULT_KEYS opens the access_token of tenant 'hubspot-62515'"
    assert conn.dbsize() == 0 and untouched(home)


def test_debug_shows_the_traceback_of_an_expected_failure_even_after_the_command_name(tenant_home, redis_url):
    home, _ = tenant_home
    failed = cli(home, "export", "--tenant", "hubspot-62515", "--debug", redis_url=redis_url,
                 SALESOS_VAULT_KEYS=new_key())
    assert failed.returncode == 1
    assert "Traceback (most recent call last)" in failed.stderr and "VaultError: no key" in failed.stderr
    assert TOKEN not in failed.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_crm_that_cannot_be_reached_is_one_line_after_its_retries_and_exit_1(tenant_home, redis_url):
    home, key = tenant_home
    result = cli(home, "export", "--tenant", "hubspot-62515", redis_url=redis_url, SALESOS_VAULT_KEYS=key,
                 HUBSPOT_API_BASE_URL=f"http://127.0.0.1:{closed_port()}")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "CRM: HubSpot could not be reached (MaxRetryError)"
    retries = lines[:-1]  # the wait is said as it happens: what is retried, why, for how long
    assert len(retries) == 5 and all("search companies: HubSpot could not be reached" in line and "retrying in" in line
                                     for line in retries)
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr


def test_an_unreachable_redis_is_one_line_and_the_progress_bars_go(home):
    result = run(home, write(home.parent / "good.jsonl", b'{"type": "company", "name": "A", "domain": "a.io"}\n'),
                 redis_url=f"redis://127.0.0.1:{closed_port()}")
    assert result.returncode == 2
    assert said(result).startswith("Redis at redis://127.0.0.1:") and "is unreachable" in said(result)
    assert untouched(home)


def test_a_salesos_home_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = cli(tmp_path / "a-file" / "home", "report")
    assert result.returncode == 2
    assert said(result) == f"File exists: {tmp_path / 'a-file'}"  # where a folder of SALESOS_HOME's path would be


def test_only_failures_a_user_can_fix_are_said_in_one_line():
    from connector.cli_failures import expected_failure
    from connector.vault import VaultError
    from crm_adapters.errors import Transient

    assert expected_failure(VaultError("no key")) == ("Vault: no key", 2)
    assert expected_failure(Transient("HubSpot could not be reached")) == ("CRM: HubSpot could not be reached", 1)
    assert expected_failure(KeyError("sequence")) is None  # a bug: its traceback is what to report


def test_a_worker_on_a_queue_that_is_no_stage_is_refused_naming_it(home):
    result = cli(home, "worker", "--queues", "enrich,outreach-typo", "--burst")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'outreach-typo' is not a stage; the stages are source, enrich, contacts, score, outreach, engagement" in (
        result.stderr)
