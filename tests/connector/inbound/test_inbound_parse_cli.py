"""`tenants inbound-parse-url`: the URL an admin gives SendGrid Inbound Parse, made once and kept."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from connector import runtime
from connector.cli import app
from connector.settings import Settings
from connector.tenant_credentials import INBOUND_PARSE
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, new_key


@pytest.fixture
def store(tmp_path, monkeypatch):
    key = new_key()
    for name, value in {"SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": key,
                        "SALESOS_PUBLIC_URL": "https://salesos.acme.io"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings(salesos_home=tmp_path, salesos_vault_keys=key)
    tenants = TenantStore(settings.state_path, Vault(settings.state_path, key))
    tenants.add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
                {"access_token": "pat-na1-1"})
    runtime.settings.cache_clear()  # the CLI reads the process's settings once: these, not an earlier test's
    yield tenants
    runtime.settings.cache_clear()


def test_the_url_is_printed_the_same_each_time_and_leads_to_the_tenant(store):
    first = CliRunner().invoke(app, ["tenants", "inbound-parse-url", "hubspot-62515"])
    again = CliRunner().invoke(app, ["tenants", "inbound-parse-url", "hubspot-62515"])
    assert first.exit_code == again.exit_code == 0, first.output
    assert first.stdout == again.stdout
    url = first.stdout.strip()
    assert url.startswith("https://salesos.acme.io/webhooks/sendgrid/inbound/")
    assert store.by_url_token(INBOUND_PARSE, url.rsplit("/", 1)[1]).id == "hubspot-62515"


def test_rotating_replaces_the_url(store):
    old = CliRunner().invoke(app, ["tenants", "inbound-parse-url", "hubspot-62515"]).stdout.strip()
    new = CliRunner().invoke(app, ["tenants", "inbound-parse-url", "hubspot-62515", "--rotate"]).stdout.strip()
    assert new != old and store.by_url_token(INBOUND_PARSE, old.rsplit("/", 1)[1]) is None


def test_a_tenant_that_is_not_installed_gets_no_url(store):
    result = CliRunner().invoke(app, ["tenants", "inbound-parse-url", "hubspot-1"])
    assert result.exit_code == 2 and result.stdout == ""
