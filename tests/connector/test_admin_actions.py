"""`python -m connector health` lists, per tenant, what an admin must still do, and what to run for it.

The state database is filled through the real stores, then brought to what an older SalesOS left (rows
deleted, a ciphertext written the way the vault wrote it before binding), as an upgraded deployment has it: on
SQLite and on PostgreSQL, but for what only a SQLite file can be (a file an older SalesOS made, a damaged one).
"""

import datetime as dt
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from connector.data_sources import DataSource, TenantDataSources
from connector.health import exit_code, health_report, render
from connector.ledger import Ledger
from connector.private_files import write_private
from connector.settings import Settings
from connector.store import open_store
from connector.store.schema import outbound_tokens, secrets, vault_state, workflow_tokens
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, new_key
from tests.connector.engine_connections import connections

ROOT = Path(__file__).resolve().parents[2]
KEY = new_key()
ORG = "00D5g000004XyZzEAK"
SALESFORCE = f"salesforce-{ORG}"
HUBSPOT = "hubspot-62515"
INSTALLED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def settings_with(home, keys, database=None):
    return Settings(salesos_home=home, salesos_vault_keys=keys, salesos_public_url="https://salesos.example.com",
                    salesos_database_url=database)


def with_keys(settings, keys):
    return settings_with(settings.home, keys, settings.database_url)


@pytest.fixture
def settings(tmp_path, state_url):
    return settings_with(tmp_path, KEY, state_url)


@pytest.fixture
def sqlite_settings(tmp_path):
    """State in SALESOS_HOME's SQLite file, for what only a file can be."""
    return settings_with(tmp_path, KEY)


def store(settings, keys=KEY):
    return TenantStore(settings.database_url, Vault(settings.database_url, keys))


def install(settings, tenant_id, *, auth="oauth", data=True):
    crm, external_id = tenant_id.split("-", 1)
    store(settings).add(Tenant(id=tenant_id, crm=crm, external_id=external_id, auth=auth, installed_at=INSTALLED,
                               instance_url="https://acme.my.salesforce.com" if crm == "salesforce" else None),
                        {"access_token": f"token-of-{tenant_id}"})
    if data:
        data_file = write_private(settings.home / "data" / f"{tenant_id}.jsonl", "")
        TenantDataSources(settings.database_url).set(tenant_id, DataSource(files=[str(data_file)]))


def sql(settings, statement):
    """What a person with write access to the state database does behind SalesOS's back."""
    with open_store(settings.database_url).write() as conn:
        conn.execute(statement)


def report(settings, conn=None, now=None):
    return health_report(settings, conn, now=now or dt.datetime.now(dt.UTC))


def actions(result, tenant=None):
    return [(action.kind, action.status) for action in result.admin_actions if tenant is None or action.tenant == tenant]


def the_action(result, kind):
    [action] = [action for action in result.admin_actions if action.kind == kind]
    return action


def test_a_fully_set_up_deployment_has_nothing_to_do(settings, conn):
    install(settings, SALESFORCE)
    install(settings, HUBSPOT)
    result = report(settings, conn)
    assert result.admin_actions == []
    assert (result.status, exit_code(result)) == ("healthy", 0)
    assert "Admin actions: none" in render(result)


# --- Salesforce Outbound Message URLs -------------------------------------------------------------------------


def test_a_salesforce_org_registered_before_outbound_urls_is_told_to_get_one_and_paste_it(settings):
    install(settings, SALESFORCE)
    sql(settings, outbound_tokens.delete())  # what an older SalesOS left: no token at all
    sql(settings, secrets.delete().where(secrets.c.name == "outbound_token"))
    action = the_action(report(settings), "outbound_url")
    assert (action.tenant, action.status) == (SALESFORCE, "warning")
    assert "every Outbound Message of the org is refused" in action.message
    assert action.run.startswith(f"python -m connector tenants outbound-url {SALESFORCE}, and paste the URL")


def test_an_org_whose_url_was_made_but_not_indexed_is_told_the_command_makes_its_url_work(settings):
    install(settings, SALESFORCE)
    store(settings).outbound.forget(SALESFORCE)
    action = the_action(report(settings), "outbound_url")
    assert "not indexed yet" in action.message
    assert "nothing changes in the org" in action.run


def test_running_outbound_url_clears_the_flag(settings):
    install(settings, SALESFORCE)
    sql(settings, outbound_tokens.delete())
    assert actions(report(settings)) == [("outbound_url", "warning")]
    store(settings).outbound.ensure(SALESFORCE)  # what `tenants outbound-url` does
    assert actions(report(settings)) == []


def test_a_hubspot_portal_needs_no_outbound_url_nor_an_org_a_workflow_url(settings):
    install(settings, HUBSPOT)
    install(settings, SALESFORCE)
    sql(settings, outbound_tokens.delete().where(outbound_tokens.c.tenant == HUBSPOT))
    sql(settings, workflow_tokens.delete().where(workflow_tokens.c.tenant == SALESFORCE))
    assert actions(report(settings)) == []


# --- HubSpot "Send a webhook" URLs ---------------------------------------------------------------------------


def test_a_hubspot_portal_registered_before_its_own_workflow_urls_is_told_to_get_them_and_put_them_in(settings):
    install(settings, HUBSPOT)
    sql(settings, workflow_tokens.delete())  # an older SalesOS derived the URLs from the app secret
    sql(settings, secrets.delete().where(secrets.c.name == "workflow_token"))
    action = the_action(report(settings), "workflow_url")
    assert (action.tenant, action.status) == (HUBSPOT, "warning")
    assert "action of the portal that calls SalesOS is refused" in action.message
    assert action.run.startswith(f"python -m connector tenants workflow-url {HUBSPOT}, and put the URLs")
    store(settings).workflow.ensure(HUBSPOT)  # what `tenants workflow-url` does
    assert actions(report(settings)) == []


# --- data sources -----------------------------------------------------------------------------------------------


def test_a_crm_tenant_without_a_data_source_is_told_to_set_one(settings):
    install(settings, HUBSPOT, data=False)
    action = the_action(report(settings), "data_source")
    assert (action.tenant, action.status) == (HUBSPOT, "warning")
    assert "every run of it stops at once" in action.message and "no data files, no provider keys" in action.message
    assert action.run == (f"python -m connector tenants data-files {HUBSPOT} FILE..., or python -m connector "
                          f"tenants provider-key set {HUBSPOT} NAME -")


def test_a_crm_tenant_with_provider_keys_and_no_data_files_has_a_data_source(settings):
    from connector.providers.keys import set_key

    install(settings, HUBSPOT, data=False)
    set_key(Vault(settings.database_url, KEY), HUBSPOT, "apollo", "apollo-key-of-the-tenant")
    assert actions(report(settings)) == []


# --- re-installs --------------------------------------------------------------------------------------------------


def test_a_tenant_that_needs_reinstalling_is_told_where_to_reinstall_with_the_reason(settings):
    install(settings, HUBSPOT)
    store(settings).mark_needs_reinstall(HUBSPOT, "the refresh token was revoked (invalid_grant)")
    action = the_action(report(settings), "reinstall")
    assert "the refresh token was revoked (invalid_grant)" in action.message
    assert action.run == "an admin of the portal opens https://salesos.example.com/oauth/hubspot/install"


def test_a_private_app_tenant_is_told_to_register_a_new_token(settings):
    install(settings, HUBSPOT, auth="private_app")
    store(settings).mark_needs_reinstall(HUBSPOT, "HubSpot refused the private-app token")
    assert the_action(report(settings), "reinstall").run.startswith(
        "python -m connector tenants add hubspot --portal-id 62515 --access-token -")


# --- the vault ---------------------------------------------------------------------------------------------------------


def store_unbound(settings, tenant, name="refresh_token", key=KEY):
    """What the vault wrote before ciphertexts named their tenant (or a copy of it from an old backup)."""
    insert = open_store(settings.database_url).insert(secrets).values(
        tenant=tenant, name=name, ciphertext=Fernet(key.encode()).encrypt(b"token-stored-by-an-older-salesos"),
        updated_at="2026-01-01T00:00:00+00:00")
    sql(settings, insert.on_conflict_do_update(index_elements=[secrets.c.tenant, secrets.c.name],
                                               set_={"ciphertext": insert.excluded.ciphertext}))


def made_by_an_older_salesos(settings):
    """An older SalesOS recorded no binding: its vault holds secrets and no word of them being bound."""
    sql(settings, vault_state.delete())


def test_a_new_vault_is_recorded_bound_so_health_without_the_key_knows_nothing_is_left_to_bind(settings, conn):
    install(settings, HUBSPOT)
    result = report(with_keys(settings, None), conn)
    assert actions(result) == []
    assert (result.status, exit_code(result)) == ("healthy", 0)


def test_secrets_stored_unbound_by_an_older_salesos_are_flagged_with_rotate_keys_bind_legacy(settings):
    install(settings, HUBSPOT)
    made_by_an_older_salesos(settings)
    store_unbound(settings, HUBSPOT, "access_token")
    store_unbound(settings, HUBSPOT, "refresh_token")
    action = the_action(report(settings), "vault_unbound")
    assert (action.tenant, action.status) == (HUBSPOT, "warning")
    assert action.message.startswith("secrets access_token, refresh_token were stored by an older SalesOS")
    assert action.run == "python -m connector rotate-keys --bind-legacy"


def test_rotate_keys_bind_legacy_clears_the_flag_and_then_health_needs_no_key_to_know(settings, conn):
    install(settings, HUBSPOT)
    made_by_an_older_salesos(settings)
    store_unbound(settings, HUBSPOT, "access_token")
    assert actions(report(settings)) == [("vault_unbound", "warning")]
    Vault(settings.database_url, KEY).rotate(bind_legacy=True)
    assert actions(report(settings)) == []
    assert actions(report(with_keys(settings, None), conn)) == []  # the binding is recorded as done


def test_an_unbound_secret_written_after_the_binding_is_refused_and_the_tenant_registered_again(settings):
    install(settings, HUBSPOT)
    made_by_an_older_salesos(settings)
    Vault(settings.database_url, KEY).rotate(bind_legacy=True)
    store_unbound(settings, HUBSPOT, "refresh_token")  # copied from an old backup
    action = the_action(report(settings), "vault_unreadable")
    assert "the legacy secrets were bound on" in action.message and "not by SalesOS" in action.message
    assert action.run.startswith(f"register {HUBSPOT} again (its OAuth install, or `python -m connector tenants add`)")


def test_a_secret_no_key_opens_and_one_moved_from_another_row_are_flagged(settings):
    install(settings, HUBSPOT)
    install(settings, SALESFORCE)
    Vault(settings.database_url, new_key()).put(HUBSPOT, "refresh_token", "encrypted with a key since dropped")
    copied = secrets.alias("copied")
    sql(settings, update(secrets).where(secrets.c.tenant == SALESFORCE, secrets.c.name == "access_token").values(
        ciphertext=select(copied.c.ciphertext).where(copied.c.tenant == HUBSPOT, copied.c.name == "access_token")
        .scalar_subquery()))
    result = report(settings)
    [unopened] = [a for a in result.admin_actions if a.kind == "vault_unreadable" and a.tenant == HUBSPOT]
    assert "opened by no key in SALESOS_VAULT_KEYS" in unopened.message
    [moved] = [a for a in result.admin_actions if a.kind == "vault_unreadable" and a.tenant == SALESFORCE]
    assert "encrypted for another tenant or secret" in moved.message


def test_without_the_vault_key_a_vault_not_recorded_bound_is_a_warning_that_says_the_check_was_skipped(settings,
                                                                                                         conn):
    install(settings, HUBSPOT)
    made_by_an_older_salesos(settings)
    store_unbound(settings, HUBSPOT)
    result = report(with_keys(settings, None), conn)
    action = the_action(result, "vault_unchecked")
    assert (action.tenant, action.status) == (None, "unknown")
    assert "SALESOS_VAULT_KEYS is not set here" in action.message
    assert action.run == "after upgrading from an older SalesOS: python -m connector rotate-keys --bind-legacy"
    assert (result.status, exit_code(result)) == ("warning", 1)  # what could not be checked is not healthy
    assert "Admin actions (0 to do, 1 not checked):" in render(result)


def test_a_malformed_vault_key_skips_the_vault_check_and_says_why(settings):
    install(settings, HUBSPOT)
    action = the_action(report(with_keys(settings, "not-a-key")), "vault_unchecked")
    assert "malformed key" in action.message


# --- unsubscribes -------------------------------------------------------------------------------------------------


def unsubscribe(settings, tenant, email, *, failed=None, synced=False):
    ledger = Ledger(settings.database_url)
    token = ledger.unsubscribe_tokens(tenant, [email])[email]
    ledger.unsubscribe(token)
    if failed:
        ledger.unsubscribes_failed(tenant, {email: failed})  # what the sync job records when the CRM refuses
    if synced:
        ledger.unsubscribes_synced(tenant, [email])


LATER = dt.timedelta(hours=2)
SCOPE_REFUSED = ("email_opt_out: 403 Forbidden. The app lacks the communication_preferences.write scope, which "
                 "opting a contact out of email needs: re-install the SalesOS app in this portal")


def test_unsubscribes_not_in_the_crm_for_over_an_hour_are_flagged_with_the_last_error(settings):
    install(settings, HUBSPOT)
    unsubscribe(settings, HUBSPOT, "ada@acme.io")
    unsubscribe(settings, HUBSPOT, "bob@acme.io", failed=SCOPE_REFUSED)
    action = the_action(report(settings, now=dt.datetime.now(dt.UTC) + LATER), "unsynced_unsubscribes")
    assert (action.tenant, action.status) == (HUBSPOT, "warning")
    assert action.message.startswith("2 unsubscribe(s) not in the CRM, the oldest for 2 h")
    assert action.message.endswith(f"last error: {SCOPE_REFUSED}")
    assert action.run.startswith("re-install the HubSpot app in the portal (or give the private app's token the "
                                 "communication_preferences.write scope)")


def test_an_unsubscribe_without_an_error_points_at_the_dispatcher(settings):
    unsubscribe(settings, "local", "ada@acme.io")
    action = the_action(report(settings, now=dt.datetime.now(dt.UTC) + LATER), "unsynced_unsubscribes")
    assert action.message.endswith("last error: none recorded")
    assert "`python -m connector dispatch`" in action.run


def test_an_unsubscribe_of_the_last_hour_or_one_synced_is_not_flagged(settings):
    unsubscribe(settings, "local", "ada@acme.io")
    unsubscribe(settings, "local", "bob@acme.io", synced=True)
    assert actions(report(settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=50))) == []
    assert "1 unsubscribe(s)" in the_action(report(settings, now=dt.datetime.now(dt.UTC) + LATER),
                                            "unsynced_unsubscribes").message


def test_an_abandoned_unsubscribe_of_an_uninstalled_tenant_is_nothing_to_do(settings):
    unsubscribe(settings, HUBSPOT, "ada@acme.io")
    Ledger(settings.database_url).abandon_unsubscribes(HUBSPOT, ["ada@acme.io"],
                                                       "tenant 'hubspot-62515' is not installed")
    result = report(settings, now=dt.datetime.now(dt.UTC) + LATER)
    assert actions(result) == []
    assert [(row.tenant, row.waiting, row.abandoned) for row in result.unsubscribes] == [(HUBSPOT, 0, 1)]


def test_a_ledger_from_before_unsubscribe_syncing_is_said_to_be_checked_once_dispatch_opened_it(sqlite_settings):
    settings = sqlite_settings
    with sqlite3.connect(settings.state_path) as db:  # what an older SalesOS's ledger holds
        db.execute("CREATE TABLE unsubscribes (tenant TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE, "
                   "at TEXT NOT NULL, PRIMARY KEY (tenant, email))")
        db.execute("INSERT INTO unsubscribes VALUES ('local', 'ada@acme.io', '2026-01-01T00:00:00+00:00')")
    db.close()
    settings.state_path.chmod(0o600)
    result = report(settings)
    action = the_action(result, "unsynced_unsubscribes")
    assert (action.tenant, action.status) == (None, "unknown")
    assert result.unsubscribes == []
    open_store(settings.database_url).ensure_schema()  # this release's first process (a dispatcher) upgrades it
    assert the_action(report(settings), "unsynced_unsubscribes").message.startswith("1 unsubscribe(s) not in the CRM")


# --- files ------------------------------------------------------------------------------------------------------------


def test_state_files_an_older_salesos_left_readable_by_others_are_flagged_until_chmod(settings):
    install(settings, HUBSPOT)
    summary = settings.home / "runs" / "20260101T000000-000001.json"
    write_private(summary, "{}")
    summary.chmod(0o644)
    action = the_action(report(settings), "file_modes")
    assert action.message.startswith(f"{summary} (and perhaps more) can be read by others")
    assert action.run == f"chmod -R go= {settings.home}"
    subprocess.run(["chmod", "-R", "go=", str(settings.home)], check=True)
    assert actions(report(settings)) == []


# --- read-only, exit code, text, JSON ------------------------------------------------------------------------------


def test_health_reads_an_older_state_database_without_changing_it(sqlite_settings):
    settings = sqlite_settings
    with sqlite3.connect(settings.state_path) as db:  # an older SalesOS: tenants only, no newer table
        db.execute("CREATE TABLE tenants (id TEXT PRIMARY KEY, crm TEXT NOT NULL, external_id TEXT NOT NULL, "
                   "instance_url TEXT, auth TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT, "
                   "installed_at TEXT NOT NULL)")
        db.execute("INSERT INTO tenants VALUES (?, 'salesforce', ?, 'https://acme.my.salesforce.com', 'oauth', "
                   "'active', NULL, '2026-01-01T00:00:00+00:00')", (SALESFORCE, ORG))
    db.close()
    settings.state_path.chmod(0o600)
    before = hashlib.sha256(settings.state_path.read_bytes()).hexdigest()
    assert actions(report(settings)) == [("outbound_url", "warning"), ("data_source", "warning")]
    assert hashlib.sha256(settings.state_path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("damage", ["not a database", "a directory"])
def test_a_state_database_that_cannot_be_read_makes_the_report_a_warning_not_healthy(sqlite_settings, conn,
                                                                                     damage):
    settings = sqlite_settings
    if damage == "not a database":
        write_private(settings.state_path, "this is not an SQLite database, it is a line of text" * 100)
    else:
        settings.state_path.mkdir(parents=True)
    result = report(settings, conn)
    action = the_action(result, "state_unreadable")
    assert action.message.startswith(f"could not read {settings.state_path}: ")
    assert "nothing in it was checked" in action.message
    assert result.unsubscribes == []
    assert (result.status, exit_code(result)) == ("warning", 1)


def test_health_reads_the_state_database_through_one_read_only_connection(settings, conn):
    install(settings, HUBSPOT)
    unsubscribe(settings, HUBSPOT, "ada@acme.io")
    with connections() as opened:
        result = report(settings, conn, now=dt.datetime.now(dt.UTC) + LATER)
    assert [row.tenant for row in result.unsubscribes] == [HUBSPOT] and actions(result, HUBSPOT)
    sqlite = settings.database_url.startswith("sqlite")
    assert opened == [f"sqlite:///{settings.state_path.as_uri()}?mode=ro&uri=true" if sqlite else settings.database_url]


def test_render_shows_an_unsubscribe_backlog_and_its_error_once(settings):
    install(settings, HUBSPOT)
    unsubscribe(settings, HUBSPOT, "bob@acme.io", failed=SCOPE_REFUSED)
    text = render(report(settings, now=dt.datetime.now(dt.UTC) + LATER))
    assert text.count(SCOPE_REFUSED) == 1
    assert text.count("1 unsubscribe(s) not in the CRM") == 1
    assert f"  {HUBSPOT}: 1 waiting, 0 abandoned  (see the admin actions)" in text


def test_health_creates_no_state_database(sqlite_settings):
    settings = sqlite_settings  # and on PostgreSQL creates no table: test_health_state.py
    report(settings)
    assert not settings.state_path.exists()


def test_an_action_to_do_makes_the_report_a_warning_and_exit_1(settings, conn):
    install(settings, HUBSPOT, data=False)
    result = report(settings, conn)
    assert (result.status, exit_code(result)) == ("warning", 1)


def test_render_lists_each_action_with_its_tenant_and_what_to_run(settings):
    install(settings, HUBSPOT, data=False)
    text = render(report(settings))
    assert "Admin actions (1 to do):" in text
    assert f"  WARNING  {HUBSPOT}: has no data source" in text
    assert f"           -> python -m connector tenants data-files {HUBSPOT} FILE..." in text


def test_the_health_command_lists_the_actions_without_the_vault_key_and_exits_1(settings, tmp_path):
    install(settings, SALESFORCE, data=False)
    made_by_an_older_salesos(settings)
    store_unbound(settings, SALESFORCE)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SALESOS_VAULT_KEYS")}
    result = subprocess.run([sys.executable, "-m", "connector", "health", "--json"], cwd=ROOT,
                            env=env | {"SALESOS_HOME": str(tmp_path), "SALESOS_DATABASE_URL": settings.database_url},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "warning"
    assert [(a["tenant"], a["kind"], a["status"]) for a in data["admin_actions"]] == [
        (SALESFORCE, "data_source", "warning"), (None, "vault_unchecked", "unknown")]
