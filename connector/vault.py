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
there. Ciphertexts written before they were bound are refused until the
admin runs `rotate-keys --bind-legacy`, once, after upgrading, which binds
each to the row it is in; plain `rotate-keys` refuses them. The first
rotation that leaves every secret bound closes that door for good (recorded
in the database; a vault still without secrets records it when opened, as
nothing in it can be legacy), so an unbound ciphertext written later, say
one copied from an old backup, is never bound.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from agents.validation import clip, quote
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


_STATE_SCHEMA = "CREATE TABLE IF NOT EXISTS vault_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
_LEGACY_BOUND_AT = "legacy_bound_at"  # when binding legacy ciphertexts was closed


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
        self._keys = keys or ""
        self._fernet = parse_keys(keys)
        if db is None:
            db = connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA busy_timeout=30000")
        self._db = db
        self._db.execute(_SCHEMA)
        self._record_new_vault_bound()

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
        return self._open(tenant, name, ciphertext)

    def get_evenly(self, tenant: str, name: str) -> str | None:
        """`get`, opening a decoy ciphertext when there is no secret: an endpoint checking a caller against a
        tenant's secret takes as long for a tenant that has none (or does not exist) as for one that has."""
        ciphertext = self._ciphertext(tenant, name)
        if ciphertext is None:
            sealed_envelope(self._fernet.decrypt(_decoy(self._keys)))
            return None
        return self._open(tenant, name, ciphertext)

    def _open(self, tenant: str, name: str, ciphertext: bytes) -> str:
        envelope = sealed_envelope(self._decrypt(tenant, name, ciphertext))
        if envelope is None:
            raise self._unbound([(tenant, name)])
        return _unseal(tenant, name, envelope)

    def delete(self, tenant: str, name: str) -> bool:
        """Forget one secret; True when there was one."""
        return self._db.execute("DELETE FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)).rowcount > 0

    def written(self, tenant: str, prefix: str) -> dict[str, str]:
        """When each of the tenant's secrets named `prefix...` was last written, by name: what a listing shows of
        them, opening none."""
        rows = self._db.execute("SELECT name, updated_at FROM secrets WHERE tenant = ? AND substr(name, 1, ?) = ? "
                                "ORDER BY name", (tenant, len(prefix), prefix))
        return dict(rows.fetchall())

    def delete_tenant(self, tenant: str) -> int:
        return self._db.execute("DELETE FROM secrets WHERE tenant = ?", (tenant,)).rowcount

    def rotate(self, bind_legacy: bool = False) -> int:
        """Re-encrypt every secret under the newest key, bound to its row; returns how many were rewritten.

        An unbound ciphertext (stored by a SalesOS older than the binding) makes it refuse before rewriting
        anything, unless `bind_legacy`: the admin, who has just upgraded, vouches for where each one is. Once
        a rotation has left every secret bound, `bind_legacy` is refused too.

        Workers keep refreshing tokens meanwhile, so each row is replaced only if it still holds the
        ciphertext that was read (compare-and-swap); when another write got there first, the row is read
        and rotated again, and a row deleted meanwhile stays deleted. A refresh token a worker wrote while
        the keys were rotating is therefore never overwritten by the one it replaced.
        """
        rows = self._db.execute("SELECT tenant, name, ciphertext FROM secrets").fetchall()
        if bind_legacy and (closed := self._legacy_bound_at()) is not None:
            raise VaultError(f"legacy secrets were bound on {closed[:10]}, and binding them is a one-time step: run "
                             f"`python -m connector rotate-keys` without --bind-legacy")
        unbound = [(tenant, name) for tenant, name, ciphertext in rows
                   if sealed_envelope(self._decrypt(tenant, name, ciphertext)) is None]
        if unbound and not bind_legacy:
            raise self._unbound(unbound)
        rotated = 0
        for tenant, name, ciphertext in rows:
            while ciphertext is not None:
                plaintext = self._decrypt(tenant, name, ciphertext)
                envelope = sealed_envelope(plaintext)
                if envelope is None and not bind_legacy:  # written since the rows were first read
                    raise self._unbound([(tenant, name)])
                secret = plaintext.decode() if envelope is None else _unseal(tenant, name, envelope)
                swapped = self._db.execute(
                    "UPDATE secrets SET ciphertext = ?, updated_at = ? WHERE tenant = ? AND name = ? AND ciphertext = ?",
                    (self._fernet.encrypt(_seal(tenant, name, secret)), _now(), tenant, name, ciphertext),
                ).rowcount
                if swapped:
                    rotated += 1
                    break
                ciphertext = self._ciphertext(tenant, name)
        self._close_legacy_binding()
        return rotated

    def _legacy_bound_at(self) -> str | None:
        self._db.execute(_STATE_SCHEMA)
        row = self._db.execute("SELECT value FROM vault_state WHERE name = ?", (_LEGACY_BOUND_AT,)).fetchone()
        return None if row is None else row[0]

    def _record_new_vault_bound(self) -> None:
        """A vault without a secret holds nothing an older SalesOS left unbound, and this one seals whatever it
        stores: recorded as bound, so it never passes for an upgraded one (health reads this without the key)."""
        if self._db.execute("SELECT 1 FROM secrets LIMIT 1").fetchone() is None and self._legacy_bound_at() is None:
            self._db.execute("INSERT OR IGNORE INTO vault_state (name, value) SELECT ?, ? WHERE NOT EXISTS "
                             "(SELECT 1 FROM secrets)", (_LEGACY_BOUND_AT, _now()))

    def _close_legacy_binding(self) -> None:
        self._db.execute(_STATE_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO vault_state (name, value) VALUES (?, ?)", (_LEGACY_BOUND_AT, _now()))

    def _unbound(self, unbound: list[tuple[str, str]]) -> VaultError:
        """The error for secrets whose ciphertext names no row: what to run, or why nothing will bind them."""
        tenant, name = unbound[0]
        which = f"the {clip(name)} of tenant {quote(tenant)}"
        if len(unbound) > 1:
            which += f" (and {len(unbound) - 1} more)"
        closed = self._legacy_bound_at()
        if closed is not None:
            return VaultError(f"{which} is not bound to its tenant, but this database's legacy secrets were bound "
                              f"on {closed[:10]}: it was written there since, not by SalesOS (copied from an old "
                              f"backup?), so it is refused and will not be bound; register the tenant again to "
                              f"replace it")
        return VaultError(f"{which} is not bound to its tenant: it was stored by a SalesOS older than the binding. "
                          f"After upgrading, run `python -m connector rotate-keys --bind-legacy` once to bind every "
                          f"stored secret to the row it is in")

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


@functools.cache
def _decoy(keys: str) -> bytes:
    """A ciphertext under the newest key, of the size of a tenant's 32-byte secret, made once per key set."""
    return parse_keys(keys).encrypt(_seal("salesforce-" + "0" * 18, "flow_secret", "0" * 43))


def _seal(tenant: str, name: str, secret: str) -> bytes:
    return json.dumps({"v": 1, "tenant": tenant, "name": name, "secret": secret}, separators=(",", ":")).encode()


def _unseal(tenant: str, name: str, envelope: dict) -> str:
    """The secret of a sealed envelope, if it was sealed for this row."""
    if (envelope["tenant"], envelope["name"]) != (tenant, name):
        raise VaultError(f"the {name} stored for tenant {tenant!r} was encrypted for the {clip(envelope['name'])} of "
                         f"tenant {quote(envelope['tenant'])}: it was copied or moved there, so it is refused")
    return envelope["secret"]


def sealed_envelope(plaintext: bytes) -> dict | None:
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
