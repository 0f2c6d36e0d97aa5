"""Provider API keys per tenant: in the vault, each tenant's own, the environment only for the local CRM."""

import logging
import sqlite3
from contextlib import closing

import pytest
from sqlalchemy import text

from connector.providers import keys
from connector.providers.http import spec
from connector.providers.keys import ProviderKeyError, provider_keys, remove_key, set_key, stored_keys
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, VaultError, new_key

A, B = "hubspot-62515", "salesforce-00D5g000004XyZzEAK"
APOLLO_A = "apollo-key-of-tenant-a-0123456789"
APOLLO_B = "apollo-key-of-tenant-b-9876543210"
ENV_KEY = "apollo-key-of-the-operator-environment"
ENVIRON = {"APOLLO_API_KEY": ENV_KEY, "PDL_API_KEY": "pdl-key-of-the-operator-environment"}


@pytest.fixture
def vault(tmp_path):
    return Vault(tmp_path / "salesos.sqlite3", new_key())


def sql(vault: Vault, statement: str, **params) -> list[tuple]:
    """A statement on the vault's database, as someone who can write it behind SalesOS's back."""
    with vault.store.write() as conn:
        result = conn.execute(text(statement), params)
        return [tuple(row) for row in result] if result.returns_rows else []


def test_a_provider_key_comes_back_as_it_went_in_and_is_never_stored_in_plain_text(vault, tmp_path):
    set_key(vault, A, "apollo", APOLLO_A)
    assert provider_keys(A, vault, {}) == {"apollo": APOLLO_A}
    for file in tmp_path.glob("salesos.sqlite3*"):  # the database and its write-ahead log
        assert APOLLO_A.encode() not in file.read_bytes()
    assert sql(vault, "SELECT name FROM secrets WHERE tenant = :a", a=A) == [("provider:apollo",)]


def test_tenant_b_never_gets_tenant_a_s_key(vault):
    set_key(vault, A, "apollo", APOLLO_A)
    set_key(vault, A, "hunter", "hunter-key-of-tenant-a")
    assert provider_keys(B, vault, {}) == {}
    set_key(vault, B, "apollo", APOLLO_B)
    assert provider_keys(B, vault, {}) == {"apollo": APOLLO_B}
    assert provider_keys(A, vault, {})["apollo"] == APOLLO_A


def test_a_crm_tenant_never_gets_the_environment_s_key(vault):
    assert provider_keys(A, vault, ENVIRON) == {}
    set_key(vault, A, "hunter", "hunter-key-of-tenant-a")
    assert provider_keys(A, vault, ENVIRON) == {"hunter": "hunter-key-of-tenant-a"}


def test_the_local_crm_gets_the_environment_s_keys_as_its_default_and_its_own_stored_keys_first(vault):
    assert provider_keys("local", vault, ENVIRON) == {"apollo": ENV_KEY, "pdl": ENVIRON["PDL_API_KEY"]}
    set_key(vault, "local", "apollo", "apollo-key-stored-for-local")
    assert provider_keys("local", vault, ENVIRON) == {"apollo": "apollo-key-stored-for-local",
                                                      "pdl": ENVIRON["PDL_API_KEY"]}
    assert provider_keys("local", None, ENVIRON) == {"apollo": ENV_KEY, "pdl": ENVIRON["PDL_API_KEY"]}


def test_a_crm_tenant_without_a_vault_gets_no_key_at_all():
    assert provider_keys(A, None, ENVIRON) == {}


def test_every_documented_provider_reads_its_NAME_API_KEY_for_the_local_crm(vault):
    environ = {f"{name.upper()}_API_KEY": f"{name}-env-key" for name in keys.DOCUMENTED}
    assert provider_keys("local", vault, environ) == {name: f"{name}-env-key" for name in keys.DOCUMENTED}
    assert {"APOLLO_API_KEY", "PDL_API_KEY", "CRUNCHBASE_API_KEY", "HUNTER_API_KEY", "NEWSAPI_API_KEY"} == set(environ)


def test_an_environment_key_that_breaks_the_rules_is_refused_naming_the_variable_not_the_value(vault):
    bad = "apollo key with spaces"
    with pytest.raises(ProviderKeyError) as refused:
        provider_keys("local", vault, {"APOLLO_API_KEY": bad})
    assert "APOLLO_API_KEY" in str(refused.value) and "whitespace" in str(refused.value)
    assert bad not in str(refused.value)
    assert provider_keys("local", vault, {"APOLLO_API_KEY": "  "}) == {}  # set but blank: no key


def test_a_key_copied_into_another_tenant_s_row_does_not_open_there(vault):
    """Someone who can write the database copies tenant A's ciphertext into tenant B's row."""
    set_key(vault, A, "apollo", APOLLO_A)
    sql(vault, "INSERT INTO secrets (tenant, name, ciphertext, updated_at) SELECT :b, name, ciphertext, updated_at "
               "FROM secrets WHERE tenant = :a", a=A, b=B)
    with pytest.raises(VaultError, match="copied or moved there"):
        provider_keys(B, vault, {})


def test_a_key_moved_to_another_provider_s_name_does_not_open_there(vault):
    set_key(vault, A, "apollo", APOLLO_A)
    sql(vault, "UPDATE secrets SET name = 'provider:pdl' WHERE tenant = :a", a=A)
    with pytest.raises(VaultError, match="copied or moved there"):
        provider_keys(A, vault, {})


def test_an_unknown_provider_is_refused_naming_the_known_ones(vault):
    with pytest.raises(ProviderKeyError) as refused:
        set_key(vault, A, "clearbit", APOLLO_A)
    message = str(refused.value)
    assert "'clearbit' is not a provider SalesOS knows" in message
    assert "apollo, crunchbase, hunter, newsapi, pdl" in message
    assert sql(vault, "SELECT COUNT(*) FROM secrets WHERE tenant = :a", a=A) == [(0,)]


def test_known_providers_are_the_documented_ones_and_every_spec_that_takes_a_key():
    assert set(keys.DOCUMENTED) <= set(keys.known())
    assert "hunter" in spec.known() and "hunter" in keys.known()
    keyless = [name for name in spec.known() if spec.load_spec(name, {}).auth.kind == "none"]
    assert not set(keyless) & set(keys.known())


@pytest.mark.parametrize(("key", "rule"), [
    ("", "is empty"),
    ("a" * 501, "is 501 characters long, over the 500 a provider key may have"),
    ("two words", "whitespace"),
    ("tab\tinside", "whitespace"),
    ("line\nbreak", "whitespace"),
    ("escape\x1b[31m", "control"),
    ("zero\u200bwidth", "control"),
])
def test_a_key_breaking_a_rule_is_refused_with_the_rule_and_never_quoted(vault, key, rule):
    with pytest.raises(ProviderKeyError) as refused:
        set_key(vault, A, "apollo", key)
    assert rule in str(refused.value)
    assert not key or key not in str(refused.value)
    assert provider_keys(A, vault, {}) == {}


def test_a_500_character_key_is_accepted(vault):
    set_key(vault, A, "apollo", "k" * 500)
    assert provider_keys(A, vault, {}) == {"apollo": "k" * 500}


def test_setting_a_key_again_replaces_it_and_removing_it_leaves_none(vault):
    set_key(vault, A, "apollo", APOLLO_A)
    set_key(vault, A, "apollo", APOLLO_A + "-new")
    assert provider_keys(A, vault, {}) == {"apollo": APOLLO_A + "-new"}
    assert remove_key(vault, A, "apollo") is True
    assert remove_key(vault, A, "apollo") is False
    assert provider_keys(A, vault, {}) == {}


def test_removing_one_tenant_s_key_leaves_the_other_tenant_s(vault):
    set_key(vault, A, "apollo", APOLLO_A)
    set_key(vault, B, "apollo", APOLLO_B)
    remove_key(vault, A, "apollo")
    assert provider_keys(B, vault, {}) == {"apollo": APOLLO_B}


def test_the_stored_keys_say_when_each_was_set_and_never_what_it_is(vault):
    set_key(vault, A, "apollo", APOLLO_A)
    stored = stored_keys(vault, A)
    assert list(stored) == ["apollo"] and stored["apollo"][:4].isdigit()
    assert APOLLO_A not in repr(stored)


def test_uninstalling_a_tenant_deletes_its_provider_keys_and_only_its_own(tmp_path):
    import datetime as dt

    vault = Vault(tmp_path / "salesos.sqlite3", new_key())
    store = TenantStore(tmp_path / "salesos.sqlite3", vault)
    store.add(Tenant(id=A, crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
              {"access_token": "pat-a"})
    set_key(vault, A, "apollo", APOLLO_A)
    set_key(vault, "local", "apollo", "apollo-key-stored-for-local")
    assert store.remove(A) is True
    assert provider_keys(A, vault, {}) == {}
    assert sql(vault, "SELECT COUNT(*) FROM secrets WHERE tenant = :a", a=A) == [(0,)]
    assert provider_keys("local", vault, {}) == {"apollo": "apollo-key-stored-for-local"}


def test_removing_local_as_if_it_were_a_tenant_keeps_the_local_crm_s_keys(tmp_path):
    """`tenants remove local` is no uninstall: the embedded CRM is not a tenant, and its keys stay."""
    vault = Vault(tmp_path / "salesos.sqlite3", new_key())
    store = TenantStore(tmp_path / "salesos.sqlite3", vault)
    set_key(vault, "local", "apollo", "apollo-key-stored-for-local")
    assert store.remove("local") is False
    assert provider_keys("local", vault, {}) == {"apollo": "apollo-key-stored-for-local"}


def test_rotation_re_encrypts_provider_keys_so_the_old_vault_key_can_go(tmp_path):
    old, new = new_key(), new_key()
    path = tmp_path / "salesos.sqlite3"
    vault = Vault(path, old)
    set_key(vault, A, "apollo", APOLLO_A)
    set_key(vault, "local", "pdl", "pdl-key-stored-for-local")
    before = dict(sql(vault, "SELECT name || tenant, ciphertext FROM secrets"))
    rotating = Vault(path, f"{new},{old}")
    assert rotating.rotate() == 2
    after = dict(sql(rotating, "SELECT name || tenant, ciphertext FROM secrets"))
    assert before.keys() == after.keys() and all(before[row] != after[row] for row in before)
    rotated = Vault(path, new)
    assert provider_keys(A, rotated, {}) == {"apollo": APOLLO_A}
    assert provider_keys("local", rotated, {}) == {"pdl": "pdl-key-stored-for-local"}


def test_no_key_reaches_a_log_line(vault, caplog):
    caplog.set_level(logging.DEBUG)
    set_key(vault, A, "apollo", APOLLO_A)
    provider_keys(A, vault, {})
    provider_keys("local", vault, ENVIRON)
    remove_key(vault, A, "apollo")
    with pytest.raises(ProviderKeyError):
        set_key(vault, A, "apollo", APOLLO_A + " trailing")
    assert APOLLO_A not in caplog.text and ENV_KEY not in caplog.text


def test_the_state_database_holds_no_key_after_any_of_it(vault, tmp_path):
    set_key(vault, A, "apollo", APOLLO_A)
    set_key(vault, A, "apollo", APOLLO_B)
    remove_key(vault, A, "apollo")
    with closing(sqlite3.connect(tmp_path / "salesos.sqlite3", isolation_level=None)) as db:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert db.execute("SELECT COUNT(*) FROM secrets").fetchone() == (0,)
    for file in tmp_path.glob("salesos.sqlite3*"):  # the database and its write-ahead log
        raw = file.read_bytes()
        assert APOLLO_A.encode() not in raw and APOLLO_B.encode() not in raw
