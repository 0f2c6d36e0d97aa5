"""The tenant store registers and removes a tenant whole or not at all: its record, secrets, URL tokens, API keys,
data source and market change in one transaction, so a failure half-way leaves what was there before.

The failures are real ones: a trigger that makes SQLite refuse a write (as a full disk or a lock would), and a
stored secret the vault refuses to open.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from connector.api_keys import ApiKeys
from connector.data_sources import DataSource, TenantDataSources
from connector.markets import market_from_text
from connector.private_files import connect
from connector.tenant_markets import TenantMarkets
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, VaultError, new_key

KEY = new_key()
ORG = "00D5g000004XyZzEAK"
TENANT = f"salesforce-{ORG}"
INSTALLED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "salesos.sqlite3"


def open_store(path) -> TenantStore:
    return TenantStore(path, Vault(path, KEY))


def org(installed_at=INSTALLED) -> Tenant:
    return Tenant(id=TENANT, crm="salesforce", external_id=ORG, auth="oauth", installed_at=installed_at,
                  instance_url="https://acme.my.salesforce.com")


def fully_installed(path) -> dict:
    """An org with everything a tenant owns; returns what each part holds."""
    store = open_store(path)
    store.add(org(), {"access_token": "token-1", "refresh_token": "refresh-1"})
    flow_secret = store.flow.ensure(TENANT)
    _, api_key = ApiKeys(path).create("tenant", TENANT)
    TenantDataSources(path).set(TENANT, DataSource(files=["/data/acme.jsonl"]))
    TenantMarkets(path).set(TENANT, market_from_text("industry: B2B SaaS\ncompany_size: 10-500\n", "test"), "test")
    return {"outbound": store.outbound.current(TENANT), "flow": flow_secret, "api_key": api_key}


def what_is_stored(path) -> dict:
    store = open_store(path)
    return {
        "record": store.get(TENANT),
        "secrets": {name: store.secret(TENANT, name) for name in ("access_token", "refresh_token", "flow_secret")},
        "outbound": store.outbound.current(TENANT),
        "indexed": store.connection.execute("SELECT COUNT(*) FROM outbound_tokens WHERE tenant = ?",
                                            (TENANT,)).fetchone()[0],
        "api_keys": [(key.id, key.revoked_at) for key in ApiKeys(path).all("tenant", TENANT)],
        "data_source": TenantDataSources(path).get(TENANT),
        "market": TenantMarkets(path).get(TENANT),
    }


def refuse(path, when: str, table: str) -> None:
    """Make SQLite refuse every such write from now on, as a failing disk would."""
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TRIGGER refused {when} ON {table} BEGIN SELECT RAISE(ABORT, 'write refused'); END")


def allow(path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER refused")


def test_a_removal_that_fails_half_way_leaves_the_tenant_whole(path):
    fully_installed(path)
    before = what_is_stored(path)
    refuse(path, "BEFORE DELETE", "tenants")  # the last step of a removal
    with pytest.raises(sqlite3.IntegrityError, match="write refused"):
        open_store(path).remove(TENANT)
    allow(path)
    assert what_is_stored(path) == before
    assert before["record"] is not None and before["secrets"]["access_token"] == "token-1"
    assert before["indexed"] == 1 and before["data_source"] is not None and before["market"] is not None
    assert [revoked for _, revoked in before["api_keys"]] == [None]


def test_a_removal_that_succeeds_leaves_nothing_of_the_tenant(path):
    fully_installed(path)
    assert open_store(path).remove(TENANT) is True
    assert what_is_stored(path) | {"api_keys": None} == {
        "record": None, "secrets": dict.fromkeys(("access_token", "refresh_token", "flow_secret")),
        "outbound": None, "indexed": 0, "api_keys": None, "data_source": None, "market": None}
    assert [revoked is not None for _, revoked in what_is_stored(path)["api_keys"]] == [True]


def test_a_first_registration_that_fails_half_way_stores_nothing(path):
    open_store(path)  # the tables exist
    refuse(path, "BEFORE INSERT", "outbound_tokens")  # the URL token is the last thing registering writes
    with pytest.raises(sqlite3.IntegrityError, match="write refused"):
        open_store(path).add(org(), {"access_token": "token-1"})
    allow(path)
    store = open_store(path)
    assert store.get(TENANT) is None and store.secret(TENANT, "access_token") is None
    assert store.outbound.current(TENANT) is None


def test_a_registration_again_whose_url_token_the_vault_refuses_keeps_the_tokens_it_had(path):
    fully_installed(path)
    other = open_store(path)
    other.add(Tenant(id="salesforce-00D5g000004XyZaEAK", crm="salesforce", external_id="00D5g000004XyZaEAK",
                     installed_at=INSTALLED), {"access_token": "token-of-another-org"})
    with sqlite3.connect(path) as db:  # the org's URL token row now holds another org's ciphertext
        db.execute("UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE tenant = "
                   "'salesforce-00D5g000004XyZaEAK' AND name = 'outbound_token') WHERE tenant = ? AND "
                   "name = 'outbound_token'", (TENANT,))
    store = open_store(path)
    with pytest.raises(VaultError, match="copied or moved there"):
        store.add(org(installed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),
                  {"access_token": "token-2", "refresh_token": "refresh-2"})
    assert store.secret(TENANT, "access_token") == "token-1" and store.secret(TENANT, "refresh_token") == "refresh-1"
    assert store.get(TENANT).installed_at == INSTALLED
    assert not store.connection.in_transaction  # the connection is usable for the next request


def test_a_removal_that_comes_while_a_registration_is_half_way_waits_for_it_and_leaves_nothing_behind(path):
    """The removal is attempted (on its own connection, as another process would) at the moment registering has
    stored the tokens but not yet the record: it must wait for the registration, not interleave with it."""
    open_store(path)
    registering = open_store(path)
    removing = TenantStore(path, Vault(path, KEY, db=connect(path, timeout=0, isolation_level=None)))
    attempts = []

    def remove_half_way(statement: str) -> None:
        if statement.startswith("INSERT INTO tenants") and not attempts:
            try:
                attempts.append(removing.remove(TENANT))
            except sqlite3.OperationalError as error:
                attempts.append(str(error))

    registering.connection.set_trace_callback(remove_half_way)
    registering.add(org(), {"access_token": "token-1"})
    registering.connection.set_trace_callback(None)
    assert attempts == ["database is locked"]  # it had to wait
    stored = what_is_stored(path)
    assert stored["record"] is not None and stored["secrets"]["access_token"] == "token-1"
    assert stored["outbound"] is not None and stored["indexed"] == 1

    assert removing.remove(TENANT) is True  # and, once the registration is whole, removes all of it
    stored = what_is_stored(path)
    assert stored["record"] is None and stored["secrets"]["access_token"] is None and stored["indexed"] == 0
