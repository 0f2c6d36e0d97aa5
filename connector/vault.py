"""The token vault: CRM tokens encrypted at rest, keys rotatable without downtime.

Keys come from SALESOS_VAULT_KEYS, a comma-separated list of Fernet keys,
newest first. Everything is encrypted with the newest and decrypted with any,
so rotating is: put a new key in front, restart, run `rotate-keys` (which
re-encrypts every secret under the new key), then drop the old key.
The keys never touch the disk through SalesOS; the ciphertexts live in the
state database beside the send ledger.

Fernet authenticates only what it encrypts, so each ciphertext seals its
tenant and secret name with the secret: one copied into another tenant's row
(or another name's) by someone who can write the database does not open
there. Ciphertexts written before they were bound are refused until
`rotate-keys`, run once by the admin, binds each to the row it is in.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.private_files import connect

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
    def __init__(self, path: Path, keys: str | None, db: sqlite3.Connection | None = None) -> None:
        """`db`: a connection to `path` to work on (the tenant store's), instead of one of the vault's own."""
        self._fernet = parse_keys(keys)
        if db is None:
            db = connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA busy_timeout=30000")
        self._db = db
        self._db.execute(_SCHEMA)

    @property
    def connection(self) -> sqlite3.Connection:
        """The vault's connection: the tenant store shares it, so a tenant's secrets and the rows that refer to
        them change in one transaction."""
        return self._db

    def put(self, tenant: str, name: str, secret: str) -> None:
        ciphertext = self._fernet.encrypt(_seal(tenant, name, secret))
        self._db.execute(
            "INSERT INTO secrets (tenant, name, ciphertext, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            (tenant, name, ciphertext, _now()),
        )

    def get(self, tenant: str, name: str) -> str | None:
        ciphertext = self._ciphertext(tenant, name)
        if ciphertext is None:
            return None
        return _unseal(tenant, name, self._decrypt(tenant, name, ciphertext))

    def delete_tenant(self, tenant: str) -> int:
        return self._db.execute("DELETE FROM secrets WHERE tenant = ?", (tenant,)).rowcount

    def rotate(self) -> int:
        """Re-encrypt every secret under the newest key, bound to its row; returns how many were rewritten.

        Workers keep refreshing tokens meanwhile, so each row is replaced only if it still holds the
        ciphertext that was read (compare-and-swap); when another write got there first, the row is read
        and rotated again, and a row deleted meanwhile stays deleted. A refresh token a worker wrote while
        the keys were rotating is therefore never overwritten by the one it replaced.
        """
        rotated = 0
        for tenant, name, ciphertext in self._db.execute("SELECT tenant, name, ciphertext FROM secrets").fetchall():
            while ciphertext is not None:
                plaintext = self._decrypt(tenant, name, ciphertext)
                secret = _unseal(tenant, name, plaintext, bind_unbound=True)
                swapped = self._db.execute(
                    "UPDATE secrets SET ciphertext = ?, updated_at = ? WHERE tenant = ? AND name = ? AND ciphertext = ?",
                    (self._fernet.encrypt(_seal(tenant, name, secret)), _now(), tenant, name, ciphertext),
                ).rowcount
                if swapped:
                    rotated += 1
                    break
                ciphertext = self._ciphertext(tenant, name)
        return rotated

    def _ciphertext(self, tenant: str, name: str) -> bytes | None:
        row = self._db.execute("SELECT ciphertext FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)).fetchone()
        return None if row is None else row[0]

    def _decrypt(self, tenant: str, name: str, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise VaultError(f"no key in SALESOS_VAULT_KEYS opens the {name} of tenant {tenant!r}") from None

    def close(self) -> None:
        self._db.close()


def _seal(tenant: str, name: str, secret: str) -> bytes:
    return json.dumps({"v": 1, "tenant": tenant, "name": name, "secret": secret}, separators=(",", ":")).encode()


def _unseal(tenant: str, name: str, plaintext: bytes, bind_unbound: bool = False) -> str:
    """The secret, if it was sealed for this row. `bind_unbound` (rotation only) accepts a secret stored
    before ciphertexts named their row: the admin who runs `rotate-keys` vouches for where it is."""
    envelope = _envelope(plaintext)
    if envelope is None:
        if bind_unbound:
            return plaintext.decode()
        raise VaultError(f"the {name} of tenant {tenant!r} was stored by an older SalesOS and is not bound to its "
                         f"tenant: run `python -m connector rotate-keys` once to bind every stored secret")
    if (envelope["tenant"], envelope["name"]) != (tenant, name):
        raise VaultError(f"the {name} stored for tenant {tenant!r} was encrypted for the {envelope['name'][:64]} of "
                         f"tenant {envelope['tenant'][:64]!r}: it was copied or moved there, so it is refused")
    return envelope["secret"]


def _envelope(plaintext: bytes) -> dict | None:
    """The sealed envelope, or None for a bare secret (no token or id SalesOS stores is a JSON object)."""
    try:
        envelope = json.loads(plaintext)
    except ValueError:
        return None
    if isinstance(envelope, dict) and envelope.get("v") == 1:
        return envelope
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
