"""`mailbox add|list|map|pause|resume|remove`: a secret goes in through stdin or a hidden prompt and never comes out."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.vault import new_key

SECRET = "app-password-7f3c9e2b1d"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    return tmp_path


def run(*args, stdin=""):
    return CliRunner().invoke(app, ["mailbox", *args], input=stdin)


def test_a_piped_secret_is_stored_encrypted_and_appears_in_no_output_log_or_row(home, caplog):
    caplog.set_level(logging.DEBUG)
    added = run("add", "local", "Rep@Acme.example", "--host", "smtp.gmail.com", "--secret", "-", stdin=SECRET + "\n")
    assert added.exit_code == 0, added.output
    listed = run("list", "local")
    [mailbox] = json.loads(listed.stdout)
    assert mailbox["address"] == "rep@acme.example" and mailbox["secret_stored_at"]
    assert mailbox["smtp"] == {"host": "smtp.gmail.com", "port": 587, "security": "starttls",
                               "username": "Rep@Acme.example", "auth": "password"}
    assert SECRET not in added.output + listed.output + caplog.text
    assert SECRET.encode() not in (home / "salesos.sqlite3").read_bytes()


def test_a_secret_given_as_an_argument_is_refused_and_not_echoed(home):
    result = run("add", "local", "rep@acme.example", "--host", "smtp.gmail.com", "--secret", SECRET)
    assert result.exit_code == 2 and SECRET not in result.output
    assert json.loads(run("list", "local").stdout) == []


def test_a_malformed_mailbox_is_refused_naming_the_field(home):
    result = run("add", "local", "rep@acme.example", "--host", "smtp.gmail.com", "--port", "99999", "--secret", "-",
                 stdin=SECRET)
    assert result.exit_code == 2 and "port: Input should be less than or equal to 65535" in result.output


def test_an_owner_is_mapped_paused_resumed_and_removed_with_the_mailbox(home):
    assert run("add", "local", "demo@acme.example", "--backend", "sink").exit_code == 0
    assert run("map", "local", "*", "demo@acme.example").exit_code == 0
    assert run("pause", "local", "demo@acme.example", "--reason", "bounce storm").exit_code == 0
    [mailbox] = json.loads(run("list", "local").stdout)
    assert mailbox["owners"] == ["*"] and mailbox["paused_reason"] == "bounce storm"
    assert run("resume", "local", "demo@acme.example").exit_code == 0
    assert run("remove", "local", "demo@acme.example").exit_code == 0
    assert json.loads(run("list", "local").stdout) == []


def test_an_unknown_tenant_is_refused(home):
    result = run("list", "hubspot-404")
    assert result.exit_code == 2 and "not `local` or an installed tenant" in " ".join(result.output.split())
