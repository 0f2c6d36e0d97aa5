"""The token vault: CRM tokens encrypted at rest, keys rotatable without downtime.

Keys come from SALESOS_VAULT_KEYS, a comma-separated list of Fernet keys,
newest first. Everything is encrypted with the newest and decrypted with any,
so rotating is: put a new key in front, restart, run `rotate-keys` (which
re-encrypts every secret under the new key), then drop the old key.
The keys never touch the disk through SalesOS; the ciphertexts live in the
state database beside the send ledger.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
)
"""


class VaultError(RuntimeError):
    """The vault cannot be used: no key, a malformed key, or a secret no key opens."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(value: str | None) -> MultiFernet:
    keys = [key.strip() for key in (value or "").split(",") if key.strip()]
    if not keys:
        raise VaultError(
            "SALESOS_VAULT_KEYS is not set: generate a key with `python -m connector vault-key` "
            "and export SALESOS_VAULT_KEYS=<key> (keep it in your secret manager, not in the repository)"
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise VaultError("SALESOS_VAULT_KEYS holds a malformed key (expected url-safe base64 Fernet keys)") from None


class Vault:
    def __init__(self, path: Path, keys: str | None) -> None:
        self._fernet = parse_keys(keys)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)

    def put(self, tenant: str, name: str, secret: str) -> None:
        ciphertext = self._fernet.encrypt(secret.encode())
        self._db.execute(
            "INSERT INTO secrets (tenant, name, ciphertext, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            (tenant, name, ciphertext, _now()),
        )

    def put_new(self, tenant: str, name: str, secret: str) -> str:
        """Store `secret` unless the tenant already has a secret of that name; returns the one kept.

        Read and write happen in one transaction, so two concurrent callers keep the same secret.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            kept = self.get(tenant, name)
            if kept is None:
                self.put(tenant, name, secret)
                kept = secret
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return kept

    def get(self, tenant: str, name: str) -> str | None:
        row = self._db.execute("SELECT ciphertext FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)).fetchone()
        if row is None:
            return None
        try:
            return self._fernet.decrypt(row[0]).decode()
        except InvalidToken:
            raise VaultError(f"no key in SALESOS_VAULT_KEYS opens the {name} of tenant {tenant!r}") from None

    def delete_tenant(self, tenant: str) -> int:
        return self._db.execute("DELETE FROM secrets WHERE tenant = ?", (tenant,)).rowcount

    def rotate(self) -> int:
        """Re-encrypt every secret under the newest key; returns how many were rewritten."""
        rows = self._db.execute("SELECT tenant, name, ciphertext FROM secrets").fetchall()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for tenant, name, ciphertext in rows:
                try:
                    rotated = self._fernet.rotate(ciphertext)
                except InvalidToken:
                    raise VaultError(f"no key in SALESOS_VAULT_KEYS opens the {name} of tenant {tenant!r}") from None
                self._db.execute("UPDATE secrets SET ciphertext = ?, updated_at = ? WHERE tenant = ? AND name = ?",
                                 (rotated, _now(), tenant, name))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return len(rows)

    def close(self) -> None:
        self._db.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
