"""The token vault: encrypted at rest, rotatable, loud when it cannot open a secret."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from connector.store import open_store
from connector.store.schema import secrets, vault_state
from connector.vault import Vault, VaultError, new_key

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def test_a_secret_comes_back_as_it_went_in(state_url):
    vault = Vault(state_url, new_key())
    vault.put("hubspot-1", "access_token", TOKEN)
    assert vault.get("hubspot-1", "access_token") == TOKEN


def test_a_secret_is_never_stored_in_plain_text(state_url):
    Vault(state_url, new_key()).put("hubspot-1", "access_token", TOKEN)
    [ciphertext] = stored(state_url, secrets.c.ciphertext)
    assert TOKEN.encode() not in ciphertext
    if state_url.startswith("sqlite"):  # nor anywhere in its files (a server's files are not the test's to read)
        database = Path(make_url(state_url).database)
        for file in database.parent.glob(f"{database.name}*"):  # the database, its write-ahead log
            assert TOKEN.encode() not in file.read_bytes()


def test_rotation_re_encrypts_under_the_new_key_so_the_old_one_can_go(state_url):
    old, new = new_key(), new_key()
    Vault(state_url, old).put("t", "access_token", TOKEN)
    assert Vault(state_url, f"{new},{old}").rotate() == 1
    assert Vault(state_url, new).get("t", "access_token") == TOKEN


def test_before_rotation_both_keys_are_needed(state_url):
    old, new = new_key(), new_key()
    Vault(state_url, old).put("t", "access_token", TOKEN)
    assert Vault(state_url, f"{new},{old}").get("t", "access_token") == TOKEN
    with pytest.raises(VaultError, match="no key in SALESOS_VAULT_KEYS opens the access_token of tenant 't'"):
        Vault(state_url, new).get("t", "access_token")


def test_without_a_key_the_vault_refuses_to_start(state_url):
    with pytest.raises(VaultError, match="SALESOS_VAULT_KEYS is not set"):
        Vault(state_url, None)


def test_a_malformed_key_is_named_as_such(state_url):
    with pytest.raises(VaultError, match="malformed key"):
        Vault(state_url, "not-a-key")


def test_removing_a_tenant_deletes_its_secrets(state_url):
    vault = Vault(state_url, new_key())
    vault.put("t", "access_token", TOKEN)
    vault.put("t", "refresh_token", TOKEN)
    assert vault.delete_tenant("t") == 2
    assert vault.get("t", "access_token") is None


def test_a_ciphertext_copied_to_another_tenants_row_does_not_open_there(state_url):
    vault = Vault(state_url, new_key())
    vault.put("hubspot-1", "access_token", TOKEN)
    vault.put("hubspot-2", "access_token", "pat-of-tenant-2")
    tamper(state_url, "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE tenant = 'hubspot-1') "
                      "WHERE tenant = 'hubspot-2'")  # an attacker with write access to the state database
    with pytest.raises(VaultError, match="access_token stored for tenant 'hubspot-2' was encrypted for .*hubspot-1"):
        vault.get("hubspot-2", "access_token")
    assert vault.get("hubspot-1", "access_token") == TOKEN


def test_a_ciphertext_moved_to_another_secret_name_does_not_open_there(state_url):
    vault = Vault(state_url, new_key())
    vault.put("hubspot-1", "access_token", TOKEN)
    tamper(state_url, "UPDATE secrets SET name = 'refresh_token'")
    with pytest.raises(VaultError, match="refresh_token stored for tenant 'hubspot-1' was encrypted for"):
        vault.get("hubspot-1", "refresh_token")


def test_rotation_refuses_a_moved_ciphertext_instead_of_binding_it_where_it_was_moved(state_url):
    key = new_key()
    vault = Vault(state_url, key)
    vault.put("hubspot-1", "access_token", TOKEN)
    tamper(state_url, "UPDATE secrets SET tenant = 'hubspot-2'")
    with pytest.raises(VaultError, match="encrypted for"):
        Vault(state_url, f"{new_key()},{key}").rotate()
    with pytest.raises(VaultError, match="encrypted for"):
        vault.get("hubspot-2", "access_token")


def tamper(url: str, sql: str) -> None:
    """Someone who can write the state database, behind SalesOS's back."""
    with open_store(url).write() as conn:
        conn.execute(text(sql))


def stored(url: str, *columns) -> list:
    with open_store(url).read() as conn:
        return [row[0] if len(columns) == 1 else tuple(row) for row in conn.execute(select(*columns))]


def plant_unbound(url: str, key: str, tenant: str = "hubspot-1", secret: str = TOKEN) -> None:
    """What the vault wrote before ciphertexts named their tenant (or a copy of it from an old backup)."""
    with open_store(url).write() as conn:
        conn.execute(secrets.delete().where(secrets.c.tenant == tenant, secrets.c.name == "access_token"))
        conn.execute(secrets.insert().values(tenant=tenant, name="access_token", updated_at="2026-01-01T00:00:00+00:00",
                                             ciphertext=Fernet(key.encode()).encrypt(secret.encode())))


def made_by_an_older_salesos(url: str) -> None:
    """An older SalesOS recorded no binding: its vault holds no word of its secrets being bound."""
    tamper(url, "DELETE FROM vault_state")


def test_a_new_vault_is_recorded_bound_so_an_unbound_ciphertext_planted_in_it_is_never_bound(state_url):
    url, key = state_url, new_key()
    vault = Vault(url, key)
    plant_unbound(url, key)
    with pytest.raises(VaultError, match="legacy secrets were bound on .*: it was written there since"):
        vault.get("hubspot-1", "access_token")
    with pytest.raises(VaultError, match="binding them is a one-time step"):
        vault.rotate(bind_legacy=True)


def test_a_vault_an_older_salesos_filled_is_not_recorded_bound_by_opening_it(state_url):
    url, key = state_url, new_key()
    Vault(url, key)
    made_by_an_older_salesos(url)
    plant_unbound(url, key)
    Vault(url, key)
    assert stored(url, vault_state.c.name) == []


def test_a_secret_stored_unbound_by_an_older_salesos_is_refused_until_rotate_keys_bind_legacy_binds_it(state_url):
    url, key = state_url, new_key()
    vault = Vault(url, key)
    made_by_an_older_salesos(url)
    plant_unbound(url, key)
    with pytest.raises(VaultError, match=r"not bound to its tenant.*`python -m connector rotate-keys --bind-legacy`"):
        vault.get("hubspot-1", "access_token")
    assert vault.rotate(bind_legacy=True) == 1
    assert vault.get("hubspot-1", "access_token") == TOKEN


def test_plain_rotation_refuses_an_unbound_ciphertext_and_rewrites_nothing(state_url):
    url, key = state_url, new_key()
    vault = Vault(url, key)
    made_by_an_older_salesos(url)
    vault.put("hubspot-2", "access_token", "pat-of-tenant-2")
    plant_unbound(url, key)
    before = stored(url, *secrets.c)
    with pytest.raises(VaultError, match=r"the access_token of tenant 'hubspot-1' is not bound to its tenant.*"
                                         r"`python -m connector rotate-keys --bind-legacy`"):
        Vault(url, f"{new_key()},{key}").rotate()
    assert sorted(stored(url, *secrets.c)) == sorted(before)


def test_binding_legacy_ciphertexts_is_a_one_time_step(state_url):
    url, key = state_url, new_key()
    vault = Vault(url, key)
    made_by_an_older_salesos(url)
    plant_unbound(url, key, secret="legacy-token")
    assert vault.rotate(bind_legacy=True) == 1
    plant_unbound(url, key, secret="token-from-an-old-backup")  # someone who can write the database, later
    with pytest.raises(VaultError, match="legacy secrets were bound on .*, and binding them is a one-time step"):
        vault.rotate(bind_legacy=True)
    with pytest.raises(VaultError, match="legacy secrets were bound on .*: it was written there since"):
        vault.rotate()
    with pytest.raises(VaultError, match="legacy secrets were bound on .*: it was written there since"):
        vault.get("hubspot-1", "access_token")


def test_once_every_secret_is_bound_a_rotation_closes_legacy_binding(state_url):
    url, key = state_url, new_key()
    vault = Vault(url, key)
    vault.put("hubspot-1", "access_token", TOKEN)
    assert vault.rotate() == 1  # nothing unbound: no legacy secret is left to bind
    plant_unbound(url, key, secret="token-from-an-old-backup")
    with pytest.raises(VaultError, match="legacy secrets were bound on"):
        vault.rotate(bind_legacy=True)


def refreshed_after_the_read(vault: Vault, refresh) -> Vault:
    """`vault`, with a worker's token refresh landing just after `rotate` has read the rows."""
    read = vault._every_secret

    def read_then_refresh():
        rows = read()
        refresh()
        return rows

    vault._every_secret = read_then_refresh
    return vault


def test_rotate_keys_keeps_a_refresh_token_a_worker_wrote_while_it_was_rotating(state_url):
    old, new = new_key(), new_key()
    Vault(state_url, old).put("hubspot-1", "refresh_token", "refresh-1")
    Vault(state_url, old).put("hubspot-1", "access_token", "access-1")
    worker = Vault(state_url, f"{new},{old}")  # what TenantTokens._call_token_endpoint does through the store

    def refresh() -> None:
        worker.put("hubspot-1", "refresh_token", "refresh-2")
        worker.put("hubspot-1", "access_token", "access-2")

    refreshed_after_the_read(Vault(state_url, f"{new},{old}"), refresh).rotate()
    after = Vault(state_url, new)
    assert after.get("hubspot-1", "refresh_token") == "refresh-2"
    assert after.get("hubspot-1", "access_token") == "access-2"


def test_rotate_keys_does_not_bring_back_a_tenant_removed_while_it_was_rotating(state_url):
    key = new_key()
    Vault(state_url, key).put("hubspot-1", "access_token", TOKEN)
    rotating = refreshed_after_the_read(Vault(state_url, f"{new_key()},{key}"),
                                        lambda: Vault(state_url, key).delete_tenant("hubspot-1"))
    assert rotating.rotate() == 0
    assert Vault(state_url, key).get("hubspot-1", "access_token") is None
