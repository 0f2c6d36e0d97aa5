"""API and operator keys: shown once, stored only as a hash, each acting for one tenant (or for operators)."""

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from connector.api_keys import ApiKeys
from connector.store import open_store
from connector.store.schema import api_keys, tenants
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, new_key


@pytest.fixture
def url(state_url):
    return state_url


@pytest.fixture
def keys(url):
    return ApiKeys(url)


def install(url, tenant_id="hubspot-62515"):
    store = TenantStore(url, Vault(url, new_key()))
    store.add(Tenant(id=tenant_id, crm="hubspot", external_id=tenant_id.split("-")[1],
                     installed_at=dt.datetime.now(dt.UTC)), {"access_token": "t"})
    return store


def test_a_key_is_stored_only_as_its_digest(keys, url):
    record, key = keys.create("tenant", "local")
    with open_store(url).read() as conn:
        [state] = [" ".join(map(str, row)) for row in conn.execute(select(api_keys))]
    assert key not in state and key.split("_", 2)[2] not in state
    assert hashlib.sha256(key.encode()).hexdigest() in state


def test_a_key_authenticates_as_its_tenant(keys):
    record, key = keys.create("tenant", "local", label="reporting job")
    found = keys.authenticate(key)
    assert (found.id, found.scope, found.tenant, found.label) == (record.id, "tenant", "local", "reporting job")


def test_keys_are_random_and_name_their_public_id(keys):
    (first, key1), (second, key2) = keys.create("tenant", "local"), keys.create("tenant", "local")
    assert key1 != key2 and first.id != second.id
    assert key1.startswith(f"salesos_{first.id}_") and len(key1) > 60


@pytest.mark.parametrize("tamper", [
    lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # wrong secret for a real id
    lambda key: "salesos_" + "0" * 16 + key[24:],  # unknown id
    lambda key: key + "x",  # malformed
    lambda key: "",
    lambda key: "x" * 10_000,
])
def test_a_wrong_unknown_or_malformed_key_authenticates_nobody(keys, tamper):
    _, key = keys.create("tenant", "local")
    assert keys.authenticate(tamper(key)) is None


def test_a_revoked_key_authenticates_nobody(keys):
    record, key = keys.create("tenant", "local")
    assert keys.revoke(record.id, "tenant") is True
    assert keys.authenticate(key) is None
    assert keys.revoke(record.id, "tenant") is False  # already revoked


def test_a_key_is_revoked_only_under_its_own_scope(keys):
    record, key = keys.create("operator")
    assert keys.revoke(record.id, "tenant") is False
    assert keys.authenticate(key) is not None


def test_a_key_needs_an_installed_tenant(keys, url):
    with pytest.raises(LookupError):
        keys.create("tenant", "hubspot-62515")
    install(url)
    _, key = keys.create("tenant", "hubspot-62515")
    assert keys.authenticate(key).tenant == "hubspot-62515"


def test_uninstalling_a_tenant_revokes_its_keys_for_good(keys, url):
    tenants = install(url)
    record, key = keys.create("tenant", "hubspot-62515")
    _, local_key = keys.create("tenant", "local")
    tenants.remove("hubspot-62515")
    assert keys.authenticate(key) is None
    install(url)  # installed again: the old keys stay dead
    assert keys.authenticate(key) is None and keys.all("tenant", "hubspot-62515")[0].revoked_at is not None
    assert keys.authenticate(local_key) is not None


def test_a_key_whose_tenant_record_vanished_authenticates_nobody(keys, url):
    install(url)
    _, key = keys.create("tenant", "hubspot-62515")
    with open_store(url).write() as conn:
        conn.execute(tenants.delete())
    assert keys.authenticate(key) is None


def test_an_operator_key_has_no_tenant(keys):
    record, key = keys.create("operator", label="on-call")
    assert (keys.authenticate(key).scope, keys.authenticate(key).tenant) == ("operator", None)


def test_the_list_shows_ids_scopes_and_dates_never_secrets(keys):
    record, key = keys.create("tenant", "local")
    keys.create("operator")
    keys.revoke(record.id, "tenant")
    [listed] = keys.all("tenant")
    assert listed.id == record.id and listed.revoked_at is not None
    assert key not in listed.model_dump_json() and "digest" not in listed.model_dump()
    assert [k.scope for k in keys.all("operator")] == ["operator"]
