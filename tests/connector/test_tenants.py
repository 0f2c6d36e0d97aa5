"""The tenant store registers and removes a tenant whole or not at all: its record, secrets, URL tokens, API keys,
data source and market change in one transaction, so a failure half-way leaves what was there before.

The failures are real ones: a trigger that makes the database refuse a write (as a full disk or a lock would), a
stored secret the vault refuses to open, and another process holding the tenant's record. Each runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from connector.api_keys import ApiKeys
from connector.data_sources import DataSource, TenantDataSources
from connector.markets import market_from_text
from connector.store import Store, open_store
from connector.store.schema import outbound_tokens, secrets
from connector.tenant_markets import TenantMarkets
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, VaultError, new_key

KEY = new_key()
ORG = "00D5g000004XyZzEAK"
TENANT = f"salesforce-{ORG}"
INSTALLED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def url(state_url):
    return state_url


def open_tenants(target) -> TenantStore:
    return TenantStore(target, Vault(target, KEY))


def org(installed_at=INSTALLED) -> Tenant:
    return Tenant(id=TENANT, crm="salesforce", external_id=ORG, auth="oauth", installed_at=installed_at,
                  instance_url="https://acme.my.salesforce.com")


def fully_installed(url) -> dict:
    """An org with everything a tenant owns; returns what each part holds."""
    store = open_tenants(url)
    store.add(org(), {"access_token": "token-1", "refresh_token": "refresh-1"})
    flow_secret = store.flow.ensure(TENANT)
    _, api_key = ApiKeys(url).create("tenant", TENANT)
    TenantDataSources(url).set(TENANT, DataSource(files=["/data/acme.jsonl"]))
    TenantMarkets(url).set(TENANT, market_from_text("industry: B2B SaaS\ncompany_size: 10-500\n", "test"), "test")
    return {"outbound": store.outbound.current(TENANT), "flow": flow_secret, "api_key": api_key}


def what_is_stored(url) -> dict:
    store = open_tenants(url)
    with open_store(url).read() as conn:
        indexed = conn.execute(select(func.count()).select_from(outbound_tokens)
                               .where(outbound_tokens.c.tenant == TENANT)).scalar()
    return {
        "record": store.get(TENANT),
        "secrets": {name: store.secret(TENANT, name) for name in ("access_token", "refresh_token", "flow_secret")},
        "outbound": store.outbound.current(TENANT),
        "indexed": indexed,
        "api_keys": [(key.id, key.revoked_at) for key in ApiKeys(url).all("tenant", TENANT)],
        "data_source": TenantDataSources(url).get(TENANT),
        "market": TenantMarkets(url).get(TENANT),
    }


def refuse(url, when: str, table: str) -> None:
    """Make the database refuse every such write from now on, as a failing disk would."""
    with open_store(url).write() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text(f"CREATE TRIGGER refused {when} ON {table} BEGIN SELECT RAISE(ABORT, 'write refused'); "
                              f"END"))
        else:
            conn.execute(text("CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'write refused'; END $$"))
            conn.execute(text(f"CREATE TRIGGER refused {when} ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_write()"))


def allow(url, table: str) -> None:
    with open_store(url).write() as conn:
        conn.execute(text("DROP TRIGGER refused" + ("" if conn.dialect.name == "sqlite" else f" ON {table}")))


def test_a_removal_that_fails_half_way_leaves_the_tenant_whole(url):
    fully_installed(url)
    before = what_is_stored(url)
    refuse(url, "BEFORE DELETE", "tenants")  # the last step of a removal
    with pytest.raises(DBAPIError, match="write refused"):
        open_tenants(url).remove(TENANT)
    allow(url, "tenants")
    assert what_is_stored(url) == before
    assert before["record"] is not None and before["secrets"]["access_token"] == "token-1"
    assert before["indexed"] == 1 and before["data_source"] is not None and before["market"] is not None
    assert [revoked for _, revoked in before["api_keys"]] == [None]


def test_a_removal_that_succeeds_leaves_nothing_of_the_tenant(url):
    fully_installed(url)
    assert open_tenants(url).remove(TENANT) is True
    assert what_is_stored(url) | {"api_keys": None} == {
        "record": None, "secrets": dict.fromkeys(("access_token", "refresh_token", "flow_secret")),
        "outbound": None, "indexed": 0, "api_keys": None, "data_source": None, "market": None}
    assert [revoked is not None for _, revoked in what_is_stored(url)["api_keys"]] == [True]


def test_a_first_registration_that_fails_half_way_stores_nothing(url):
    open_tenants(url)  # the tables exist
    refuse(url, "BEFORE INSERT", "outbound_tokens")  # the URL token is the last thing registering writes
    with pytest.raises(DBAPIError, match="write refused"):
        open_tenants(url).add(org(), {"access_token": "token-1"})
    allow(url, "outbound_tokens")
    store = open_tenants(url)
    assert store.get(TENANT) is None and store.secret(TENANT, "access_token") is None
    assert store.outbound.current(TENANT) is None


def test_a_registration_again_whose_url_token_the_vault_refuses_keeps_the_tokens_it_had(url):
    fully_installed(url)
    other = open_tenants(url)
    other.add(Tenant(id="salesforce-00D5g000004XyZaEAK", crm="salesforce", external_id="00D5g000004XyZaEAK",
                     installed_at=INSTALLED), {"access_token": "token-of-another-org"})
    with open_store(url).write() as conn:  # the org's URL token row now holds another org's ciphertext
        conn.execute(text("UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE tenant = "
                          "'salesforce-00D5g000004XyZaEAK' AND name = 'outbound_token') WHERE tenant = :tenant AND "
                          "name = 'outbound_token'"), {"tenant": TENANT})
    store = open_tenants(url)
    with pytest.raises(VaultError, match="copied or moved there"):
        store.add(org(installed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),
                  {"access_token": "token-2", "refresh_token": "refresh-2"})
    assert store.secret(TENANT, "access_token") == "token-1" and store.secret(TENANT, "refresh_token") == "refresh-1"
    assert store.get(TENANT).installed_at == INSTALLED
    store.mark_needs_reinstall(TENANT, "refused")  # the store writes again: nothing of the failed write is left open
    assert open_tenants(url).get(TENANT).status == "needs_reinstall"


@pytest.fixture
def other_processes():
    """Stores of their own on the test's database, as other processes would have; closed after the test."""
    stores = []
    yield stores
    for store in stores:
        store.dispose()


def impatient(url, other_processes) -> Store:
    """Another process's store that gives up at once on a lock it would have to wait for."""
    store = Store(url)
    other_processes.append(store)

    @event.listens_for(store.engine, "connect")
    def _no_waiting(dbapi_connection, _record) -> None:
        if store.dialect == "sqlite":
            dbapi_connection.execute("PRAGMA busy_timeout=0")
        else:
            dbapi_connection.execute("SET lock_timeout = '1ms'")
            dbapi_connection.commit()

    return store


def test_a_removal_that_comes_while_a_registration_is_half_way_waits_for_it_and_leaves_nothing_behind(
        url, other_processes):
    """The removal is attempted (on its own connection, as another process would) at the moment registering again
    has written the record and the new tokens but not yet the URL token: it must wait for the registration, not
    interleave with it (on PostgreSQL, deleting what it sees while a new secret lands beside it)."""
    fully_installed(url)
    registering = open_tenants(url)
    other = impatient(url, other_processes)
    removing = TenantStore(other, Vault(other, KEY))
    attempts = []

    def remove_half_way(_conn, _cursor, statement: str, *_args) -> None:
        if statement.startswith("INSERT INTO outbound_tokens") and not attempts:
            try:
                attempts.append(removing.remove(TENANT))
            except OperationalError as error:
                attempts.append("waits" if "lock" in str(error) else str(error))

    event.listen(registering._store.engine, "before_cursor_execute", remove_half_way)
    try:
        registering.add(org(installed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),
                        {"access_token": "token-2", "instance_token": "new-1"})
    finally:
        event.remove(registering._store.engine, "before_cursor_execute", remove_half_way)
    assert attempts == ["waits"]  # it had to wait
    stored = what_is_stored(url)
    assert stored["record"].installed_at.month == 2 and stored["secrets"]["access_token"] == "token-2"
    assert stored["outbound"] is not None and stored["indexed"] == 1

    assert open_tenants(url).remove(TENANT) is True  # and, once the registration is whole, removes all of it
    stored = what_is_stored(url)
    assert stored["record"] is None and stored["secrets"]["access_token"] is None and stored["indexed"] == 0
    assert registering.secret(TENANT, "instance_token") is None


def test_on_postgresql_a_removal_that_waited_for_a_registration_removes_what_the_registration_added(
        postgres_url, other_processes):
    """PostgreSQL locks rows, not the database: a removal must wait for the record a registration holds before it
    reads anything, or it deletes the secrets it saw and leaves those the registration added meanwhile. (SQLite's
    write lock makes the removal wait from its first statement, as the test above shows.)"""
    fully_installed(postgres_url)
    registering = open_tenants(postgres_url)
    removing_store, watching = Store(postgres_url), Store(postgres_url)
    other_processes += [removing_store, watching]
    removing = TenantStore(removing_store, Vault(removing_store, KEY))
    removed = []
    remover = threading.Thread(target=lambda: removed.append(removing.remove(TENANT)))

    def remove_half_way(_conn, _cursor, statement: str, *_args) -> None:
        if statement.startswith("INSERT INTO outbound_tokens") and remover.ident is None:
            remover.start()
            wait_until(lambda: waiting_for_a_lock(watching))

    event.listen(registering._store.engine, "before_cursor_execute", remove_half_way)
    try:
        registering.add(org(installed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),
                        {"access_token": "token-2", "instance_token": "new-1"})
    finally:
        event.remove(registering._store.engine, "before_cursor_execute", remove_half_way)
    remover.join()
    assert removed == [True]
    with open_store(postgres_url).read() as conn:
        assert conn.execute(select(secrets.c.name).where(secrets.c.tenant == TENANT)).all() == []
    assert what_is_stored(postgres_url)["record"] is None


def test_on_postgresql_an_api_key_made_while_its_tenant_is_removed_is_refused_and_no_reinstall_revives_it(
        postgres_url, other_processes):
    """The removal revokes the tenant's keys before it deletes the record: a key made in between, against the
    record still there, would outlive the removal and work again once the tenant is installed again."""
    fully_installed(postgres_url)
    removing, watching = Store(postgres_url), Store(postgres_url)
    other_processes += [removing, watching]
    made = []

    def create() -> None:
        try:
            made.append(ApiKeys(postgres_url).create("tenant", TENANT)[1])
        except LookupError as refused:
            made.append(refused)

    creator = threading.Thread(target=create)

    def create_half_way(_conn, _cursor, statement: str, *_args) -> None:
        if statement.startswith("DELETE FROM tenants") and creator.ident is None:
            creator.start()
            wait_until(lambda: not creator.is_alive() or waiting_for_a_lock(watching))

    event.listen(removing.engine, "before_cursor_execute", create_half_way)
    assert TenantStore(removing, Vault(removing, KEY)).remove(TENANT) is True
    creator.join()
    assert isinstance(made[0], LookupError)
    open_tenants(postgres_url).add(org(), {"access_token": "token-2"})
    assert [key.revoked_at is not None for key in ApiKeys(postgres_url).all("tenant", TENANT)] == [True]


def waiting_for_a_lock(store: Store) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")).scalar() > 0


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
