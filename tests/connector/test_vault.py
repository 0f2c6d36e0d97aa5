"""The token vault: encrypted at rest, rotatable, loud when it cannot open a secret."""

import sqlite3

import pytest

from cryptography.fernet import Fernet

from connector.vault import Vault, VaultError, new_key

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def test_a_secret_comes_back_as_it_went_in(tmp_path):
    vault = Vault(tmp_path / "state.sqlite3", new_key())
    vault.put("hubspot-1", "access_token", TOKEN)
    assert vault.get("hubspot-1", "access_token") == TOKEN


def test_a_secret_is_never_stored_in_plain_text(tmp_path):
    Vault(tmp_path / "state.sqlite3", new_key()).put("hubspot-1", "access_token", TOKEN)
    assert TOKEN.encode() not in (tmp_path / "state.sqlite3").read_bytes()
    [(ciphertext,)] = sqlite3.connect(tmp_path / "state.sqlite3").execute("SELECT ciphertext FROM secrets")
    assert TOKEN.encode() not in ciphertext


def test_rotation_re_encrypts_under_the_new_key_so_the_old_one_can_go(tmp_path):
    old, new = new_key(), new_key()
    Vault(tmp_path / "s.sqlite3", old).put("t", "access_token", TOKEN)
    assert Vault(tmp_path / "s.sqlite3", f"{new},{old}").rotate() == 1
    assert Vault(tmp_path / "s.sqlite3", new).get("t", "access_token") == TOKEN


def test_before_rotation_both_keys_are_needed(tmp_path):
    old, new = new_key(), new_key()
    Vault(tmp_path / "s.sqlite3", old).put("t", "access_token", TOKEN)
    assert Vault(tmp_path / "s.sqlite3", f"{new},{old}").get("t", "access_token") == TOKEN
    with pytest.raises(VaultError, match="no key in SALESOS_VAULT_KEYS opens the access_token of tenant 't'"):
        Vault(tmp_path / "s.sqlite3", new).get("t", "access_token")


def test_without_a_key_the_vault_refuses_to_start(tmp_path):
    with pytest.raises(VaultError, match="SALESOS_VAULT_KEYS is not set"):
        Vault(tmp_path / "s.sqlite3", None)


def test_a_malformed_key_is_named_as_such(tmp_path):
    with pytest.raises(VaultError, match="malformed key"):
        Vault(tmp_path / "s.sqlite3", "not-a-key")


def test_removing_a_tenant_deletes_its_secrets(tmp_path):
    vault = Vault(tmp_path / "s.sqlite3", new_key())
    vault.put("t", "access_token", TOKEN)
    vault.put("t", "refresh_token", TOKEN)
    assert vault.delete_tenant("t") == 2
    assert vault.get("t", "access_token") is None


def test_a_ciphertext_copied_to_another_tenants_row_does_not_open_there(tmp_path):
    path = tmp_path / "s.sqlite3"
    vault = Vault(path, new_key())
    vault.put("hubspot-1", "access_token", TOKEN)
    vault.put("hubspot-2", "access_token", "pat-of-tenant-2")
    with sqlite3.connect(path) as db:  # an attacker with write access to the state database
        db.execute("UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE tenant = 'hubspot-1') "
                   "WHERE tenant = 'hubspot-2'")
    with pytest.raises(VaultError, match="access_token stored for tenant 'hubspot-2' was encrypted for .*hubspot-1"):
        vault.get("hubspot-2", "access_token")
    assert vault.get("hubspot-1", "access_token") == TOKEN


def test_a_ciphertext_moved_to_another_secret_name_does_not_open_there(tmp_path):
    path = tmp_path / "s.sqlite3"
    vault = Vault(path, new_key())
    vault.put("hubspot-1", "access_token", TOKEN)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE secrets SET name = 'refresh_token'")
    with pytest.raises(VaultError, match="refresh_token stored for tenant 'hubspot-1' was encrypted for"):
        vault.get("hubspot-1", "refresh_token")


def test_rotation_refuses_a_moved_ciphertext_instead_of_binding_it_where_it_was_moved(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    vault = Vault(path, key)
    vault.put("hubspot-1", "access_token", TOKEN)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE secrets SET tenant = 'hubspot-2'")
    with pytest.raises(VaultError, match="encrypted for"):
        Vault(path, f"{new_key()},{key}").rotate()
    with pytest.raises(VaultError, match="encrypted for"):
        vault.get("hubspot-2", "access_token")


def plant_unbound(path, key: str, tenant: str = "hubspot-1", secret: str = TOKEN) -> None:
    """What the vault wrote before ciphertexts named their tenant (or a copy of it from an old backup)."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO secrets VALUES (?, 'access_token', ?, '2026-01-01T00:00:00+00:00')",
                   (tenant, Fernet(key.encode()).encrypt(secret.encode())))


def made_by_an_older_salesos(path) -> None:
    """An older SalesOS recorded no binding: its vault holds no word of its secrets being bound."""
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM vault_state")


def test_a_new_vault_is_recorded_bound_so_an_unbound_ciphertext_planted_in_it_is_never_bound(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    vault = Vault(path, key)
    plant_unbound(path, key)
    with pytest.raises(VaultError, match="legacy secrets were bound on .*: it was written there since"):
        vault.get("hubspot-1", "access_token")
    with pytest.raises(VaultError, match="binding them is a one-time step"):
        vault.rotate(bind_legacy=True)


def test_a_vault_an_older_salesos_filled_is_not_recorded_bound_by_opening_it(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    Vault(path, key)
    made_by_an_older_salesos(path)
    plant_unbound(path, key)
    Vault(path, key)
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM vault_state").fetchone() == (0,)


def test_a_secret_stored_unbound_by_an_older_salesos_is_refused_until_rotate_keys_bind_legacy_binds_it(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    vault = Vault(path, key)
    made_by_an_older_salesos(path)
    plant_unbound(path, key)
    with pytest.raises(VaultError, match=r"not bound to its tenant.*`python -m connector rotate-keys --bind-legacy`"):
        vault.get("hubspot-1", "access_token")
    assert vault.rotate(bind_legacy=True) == 1
    assert vault.get("hubspot-1", "access_token") == TOKEN


def test_plain_rotation_refuses_an_unbound_ciphertext_and_rewrites_nothing(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    vault = Vault(path, key)
    made_by_an_older_salesos(path)
    vault.put("hubspot-2", "access_token", "pat-of-tenant-2")
    plant_unbound(path, key)
    before = sqlite3.connect(path).execute("SELECT * FROM secrets ORDER BY tenant").fetchall()
    with pytest.raises(VaultError, match=r"the access_token of tenant 'hubspot-1' is not bound to its tenant.*"
                                         r"`python -m connector rotate-keys --bind-legacy`"):
        Vault(path, f"{new_key()},{key}").rotate()
    assert sqlite3.connect(path).execute("SELECT * FROM secrets ORDER BY tenant").fetchall() == before


def test_binding_legacy_ciphertexts_is_a_one_time_step(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    vault = Vault(path, key)
    made_by_an_older_salesos(path)
    plant_unbound(path, key, secret="legacy-token")
    assert vault.rotate(bind_legacy=True) == 1
    plant_unbound(path, key, secret="token-from-an-old-backup")  # someone who can write the database, later
    with pytest.raises(VaultError, match="legacy secrets were bound on .*, and binding them is a one-time step"):
        vault.rotate(bind_legacy=True)
    with pytest.raises(VaultError, match="legacy secrets were bound on .*: it was written there since"):
        vault.rotate()
    with pytest.raises(VaultError, match="legacy secrets were bound on .*: it was written there since"):
        vault.get("hubspot-1", "access_token")


def test_once_every_secret_is_bound_a_rotation_closes_legacy_binding(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    vault = Vault(path, key)
    vault.put("hubspot-1", "access_token", TOKEN)
    assert vault.rotate() == 1  # nothing unbound: no legacy secret is left to bind
    plant_unbound(path, key, secret="token-from-an-old-backup")
    with pytest.raises(VaultError, match="legacy secrets were bound on"):
        vault.rotate(bind_legacy=True)


class ConcurrentRefresh:
    """The vault's connection, with a worker's token refresh landing just after `rotate` has read the rows."""

    def __init__(self, db: sqlite3.Connection, refresh) -> None:
        self._db, self._refresh = db, refresh

    def execute(self, sql: str, *params):
        cursor = self._db.execute(sql, *params)
        if self._refresh is not None and sql.startswith("SELECT") and "WHERE" not in sql:
            rows, refresh, self._refresh = cursor.fetchall(), self._refresh, None
            refresh()
            return FetchedRows(rows)
        return cursor

    def close(self) -> None:
        self._db.close()


class FetchedRows(list):
    def fetchall(self):
        return list(self)

    def fetchone(self):
        return self[0] if self else None


def test_rotate_keys_keeps_a_refresh_token_a_worker_wrote_while_it_was_rotating(tmp_path):
    path, old, new = tmp_path / "s.sqlite3", new_key(), new_key()
    Vault(path, old).put("hubspot-1", "refresh_token", "refresh-1")
    Vault(path, old).put("hubspot-1", "access_token", "access-1")
    worker = Vault(path, f"{new},{old}")  # what TenantTokens._call_token_endpoint does through the store

    def refresh() -> None:
        worker.put("hubspot-1", "refresh_token", "refresh-2")
        worker.put("hubspot-1", "access_token", "access-2")

    rotating = Vault(path, f"{new},{old}")
    rotating._db = ConcurrentRefresh(rotating._db, refresh)
    rotating.rotate()
    after = Vault(path, new)
    assert after.get("hubspot-1", "refresh_token") == "refresh-2"
    assert after.get("hubspot-1", "access_token") == "access-2"


def test_rotate_keys_does_not_bring_back_a_tenant_removed_while_it_was_rotating(tmp_path):
    path, key = tmp_path / "s.sqlite3", new_key()
    Vault(path, key).put("hubspot-1", "access_token", TOKEN)
    rotating = Vault(path, f"{new_key()},{key}")
    rotating._db = ConcurrentRefresh(rotating._db, lambda: Vault(path, key).delete_tenant("hubspot-1"))
    assert rotating.rotate() == 0
    assert Vault(path, key).get("hubspot-1", "access_token") is None
