"""`health` reads SalesOS's state on SQLite and on PostgreSQL, never creating, migrating or writing it.

The database is brought to this release's schema by the store, then filled through `connector.store.schema`'s
tables as the stores write them (test_admin_actions.py fills it through the stores themselves, on SQLite).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from connector.health import exit_code, health_report, render
from connector.private_files import private_file
from connector.read_only_state import StateUnreadable, describe, read_only
from connector.settings import Settings
from connector.store import open_store
from connector.store.migrate import HEAD
from connector.store.schema import (outbound_tokens, secrets, tenant_data_sources, tenant_markets, tenants,
                                    unsubscribes, vault_state)
from tests.connector.engine_connections import connections
from tests.postgres_server import _free_loopback_port

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
HUBSPOT, SALESFORCE = "hubspot-62515", "salesforce-00D5g000004XyZzEAK"
PASSWORD = "s3cret-Pa55word"
MARKET = {"name": "Scheduled market", "industry": "B2B SaaS", "company_size": "10-500 employees"}


@pytest.fixture
def settings(tmp_path, state_url) -> Settings:
    return Settings(salesos_home=tmp_path, salesos_database_url=state_url, salesos_vault_keys=None,
                    salesos_public_url="https://salesos.example.com")


def report(settings, conn=None):
    return health_report(settings, conn, now=NOW)


def kinds(result):
    return [(action.tenant, action.kind, action.status) for action in result.admin_actions]


def tenant_row(tenant_id: str, **changes) -> dict:
    crm, external_id = tenant_id.split("-", 1)
    return {"id": tenant_id, "crm": crm, "external_id": external_id, "instance_url": None, "auth": "oauth",
            "status": "active", "status_reason": None, "installed_at": "2026-01-01T00:00:00+00:00", **changes}


def fill(state_url: str) -> None:
    """A portal with no "Send a webhook" URL and no data; an org to re-install (URL and data set); two
    unsubscribes of the portal not in its CRM (one abandoned); three kept markets, one scheduled."""
    at = (NOW - dt.timedelta(hours=3)).isoformat()
    with open_store(state_url).write() as conn:
        conn.execute(tenants.insert(), [tenant_row(HUBSPOT), tenant_row(
            SALESFORCE, instance_url="https://acme.my.salesforce.com", status="needs_reinstall",
            status_reason="the refresh token was revoked (invalid_grant)")])
        conn.execute(outbound_tokens.insert(), [{"tenant": SALESFORCE, "digest": "d1"}])
        conn.execute(secrets.insert(), [{"tenant": SALESFORCE, "name": "outbound_token", "ciphertext": b"x",
                                         "updated_at": at}])
        conn.execute(tenant_data_sources.insert(), [{"tenant": SALESFORCE, "source": "{}", "updated_at": at}])
        conn.execute(vault_state.insert(), [{"name": "legacy_bound_at", "value": at}])
        conn.execute(unsubscribes.insert(), [
            {"tenant": HUBSPOT, "email": "ada@acme.io", "at": at, "abandoned_at": None, "note": "email_opt_out: 503"},
            {"tenant": HUBSPOT, "email": "bob@acme.io", "at": at, "abandoned_at": at, "note": None}])
        conn.execute(tenant_markets.insert(), [
            {"tenant": HUBSPOT, "market": json.dumps(MARKET | {"schedule": {"source": "monthly"}}), "origin": "api",
             "updated_at": at},
            {"tenant": SALESFORCE, "market": json.dumps(MARKET), "origin": "api", "updated_at": at},
            {"tenant": "local", "market": json.dumps({"schedule": {"source": "hourly"}}), "origin": "api",
             "updated_at": at}])


def test_health_reads_every_table_it_checks(settings, state_url, caplog):
    fill(state_url)
    result = report(settings)
    assert kinds(result) == [(HUBSPOT, "workflow_url", "warning"), (HUBSPOT, "data_source", "warning"),
                             (HUBSPOT, "unsynced_unsubscribes", "warning"), (SALESFORCE, "reinstall", "warning")]
    assert "the oldest for 3 h" in result.admin_actions[2].message
    assert [(row.tenant, row.waiting, row.abandoned, row.reason) for row in result.unsubscribes] == [
        (HUBSPOT, 1, 1, "email_opt_out: 503")]
    assert [(row.tenant, row.market, row.schedule) for row in result.schedules] == [
        (HUBSPOT, "Scheduled market", {"source": "monthly"})]  # not the org's: it has no schedule
    assert "the market kept for local no longer reads as a market" in caplog.text


def test_health_reads_through_one_connection(settings, state_url):
    fill(state_url)
    with connections() as opened:
        result = report(settings)
    assert result.admin_actions and result.unsubscribes and result.schedules
    sqlite = state_url.startswith("sqlite")
    assert opened == [f"sqlite:///{settings.state_path.as_uri()}?mode=ro&uri=true" if sqlite else state_url]


def test_healths_connection_refuses_to_write(state_url):
    fill(state_url)
    with pytest.raises(StateUnreadable, match="readonly database|read-only transaction"):
        with read_only(state_url) as state:
            state.conn.execute(tenants.delete())
    with open_store(state_url).read() as conn:
        assert conn.execute(select(func.count()).select_from(tenants)).scalar() == 2


def test_a_database_without_salesos_tables_is_a_warning_and_is_left_without_them(settings, state_url, conn):
    if state_url.startswith("sqlite"):
        private_file(settings.state_path)  # an empty file, as a process that died before migrating leaves it
    result = report(settings, conn)
    [action] = result.admin_actions
    assert (action.kind, action.status) == ("state_schema", "unknown")
    assert action.message == f"{describe(state_url)} holds no SalesOS tables: nothing in it was checked"
    assert action.run.startswith("python -m connector db upgrade")
    assert (result.status, exit_code(result)) == ("warning", 1)
    with open_store(state_url).engine.connect() as database:
        assert inspect(database).get_table_names() == []  # health never migrates


def test_a_schema_behind_this_release_is_named_and_what_can_be_read_is_still_checked(settings, state_url):
    fill(state_url)
    with open_store(state_url).write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    result = report(settings)
    [action] = [action for action in result.admin_actions if action.kind == "state_schema"]
    assert action.message == (f"the state database's schema is at revision 0001, this SalesOS's is {HEAD}: what "
                              f"it added is not checked")
    assert action.run.startswith("python -m connector db upgrade")
    assert (HUBSPOT, "workflow_url", "warning") in kinds(result)


def test_health_of_a_missing_sqlite_file_is_no_database_yet_and_creates_none(tmp_path):
    settings = Settings(salesos_home=tmp_path, salesos_vault_keys=None)
    result = report(settings)
    assert result.admin_actions == [] and result.unsubscribes == []
    assert not settings.state_path.exists()


@pytest.mark.parametrize("problem", ["no server", "no such database"])
def test_a_postgresql_that_cannot_be_read_is_a_warning_naming_it_without_the_password(tmp_path, postgres_server,
                                                                                       conn, problem):
    if problem == "no server":
        url = f"postgresql+psycopg://salesos:{PASSWORD}@127.0.0.1:{_free_loopback_port()}/salesos"
    else:  # the test server trusts loopback: the password is only carried
        url = make_url(postgres_server.url("salesos_nobody_made_this")).set(password=PASSWORD).render_as_string(
            hide_password=False)
    settings = Settings(salesos_home=tmp_path, salesos_database_url=url, salesos_vault_keys=None)
    result = report(settings, conn)
    [action] = result.admin_actions
    assert (action.kind, action.status) == ("state_unreadable", "unknown")
    assert action.message.startswith(f"could not read {url.replace(PASSWORD, '***')}: ")
    assert ("Connection refused" if problem == "no server" else "does not exist") in action.message
    assert action.run.startswith("check SALESOS_DATABASE_URL")
    assert (result.status, exit_code(result)) == ("warning", 1)
    assert PASSWORD not in render(result) + result.model_dump_json()


def test_the_health_command_names_an_unreachable_postgresql_without_its_password(tmp_path):
    url = f"postgresql+psycopg://salesos:{PASSWORD}@127.0.0.1:{_free_loopback_port()}/salesos"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SALESOS_VAULT_KEYS")}
    result = subprocess.run([sys.executable, "-m", "connector", "health", "--json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env=env | {"SALESOS_HOME": str(tmp_path), "SALESOS_DATABASE_URL": url})
    assert result.returncode == 1, result.stderr
    [action] = json.loads(result.stdout)["admin_actions"]
    assert action["kind"] == "state_unreadable" and "salesos:***@127.0.0.1" in action["message"]
    assert PASSWORD not in result.stdout + result.stderr
