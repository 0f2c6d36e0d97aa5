"""The token vault: encrypted at rest, rotatable, loud when it cannot open a secret."""

import sqlite3

import pytest

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
