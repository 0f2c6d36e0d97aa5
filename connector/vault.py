"""The token vault: CRM tokens encrypted at rest, keys rotatable without downtime.

Keys come from SALESOS_VAULT_KEYS, a comma-separated list of Fernet keys,
newest first. Everything is encrypted with the newest and decrypted with any,
so rotating is: put a new key in front, restart, run `rotate-keys` (which
re-encrypts every secret under the new key), then drop the old key.
The keys never touch the disk through SalesOS; the ciphertexts live in the
state database (`connector.store`) beside the send ledger.

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
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Connection, Row, func, literal, select

from agents.validation import clip, quote
from connector.store import Store, open_store
from connector.store.schema import secrets, vault_state

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
    def __init__(self, target: Store | Path | str, keys: str | None) -> None:
        self._keys = keys or ""
        self._fernet = parse_keys(keys)
        self.store = open_store(target)
        self._record_new_vault_bound()

    def put(self, tenant: str, name: str, secret: str) -> None:
        statement = self._sealed(tenant, name, secret)
        with self.store.write() as conn:
            conn.execute(statement.on_conflict_do_update(
                index_elements=[secrets.c.tenant, secrets.c.name],
                set_={"ciphertext": statement.excluded.ciphertext, "updated_at": statement.excluded.updated_at}))

    def put_new(self, tenant: str, name: str, secret: str) -> bool:
        """`put`, unless the tenant has a secret of that name already (one stored by a concurrent writer too):
        True when this one was stored."""
        with self.store.write() as conn:  # an INSERT's rowcount is kept only when asked for (as in change_order)
            return conn.execute(self._sealed(tenant, name, secret).on_conflict_do_nothing(),
                                execution_options={"preserve_rowcount": True}).rowcount > 0

    def _sealed(self, tenant: str, name: str, secret: str):
        """The INSERT of a secret, encrypted under the newest key and sealed for its row."""
        return self.store.insert(secrets).values(tenant=tenant, name=name, updated_at=_now(),
                                                 ciphertext=self._fernet.encrypt(_seal(tenant, name, secret)))

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
        with self.store.write() as conn:
            return conn.execute(secrets.delete().where(_row(tenant, name))).rowcount > 0

    def written(self, tenant: str, prefix: str) -> dict[str, str]:
        """When each of the tenant's secrets named `prefix...` was last written, by name: what a listing shows of
        them, opening none."""
        with self.store.read() as conn:
            rows = conn.execute(select(secrets.c.name, secrets.c.updated_at).where(
                secrets.c.tenant == tenant, func.substr(secrets.c.name, 1, len(prefix)) == prefix)
                .order_by(secrets.c.name))
            return dict(rows.tuples().all())

    def delete_tenant(self, tenant: str) -> int:
        with self.store.write() as conn:
            return conn.execute(secrets.delete().where(secrets.c.tenant == tenant)).rowcount

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
        rows = self._every_secret()
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
                resealed = self._fernet.encrypt(_seal(tenant, name, secret))
                with self.store.write() as conn:
                    swapped = conn.execute(secrets.update().values(ciphertext=resealed, updated_at=_now())
                                           .where(_row(tenant, name), secrets.c.ciphertext == ciphertext)).rowcount
                if swapped:
                    rotated += 1
                    break
                ciphertext = self._ciphertext(tenant, name)
        self._close_legacy_binding()
        return rotated

    def _every_secret(self) -> list[Row]:
        with self.store.read() as conn:
            return conn.execute(select(secrets.c.tenant, secrets.c.name, secrets.c.ciphertext)).all()

    def _legacy_bound_at(self) -> str | None:
        with self.store.read() as conn:
            return _bound_at(conn)

    def _record_new_vault_bound(self) -> None:
        """A vault without a secret holds nothing an older SalesOS left unbound, and this one seals whatever it
        stores: recorded as bound, so it never passes for an upgraded one (health reads this without the key)."""
        with self.store.read() as conn:
            if conn.execute(select(secrets.c.tenant).limit(1)).first() is not None or _bound_at(conn) is not None:
                return
        bound = select(literal(_LEGACY_BOUND_AT), literal(_now())).where(~select(secrets.c.tenant).exists())
        with self.store.write() as conn:  # unless a secret was stored since it was read
            conn.execute(self.store.insert(vault_state).from_select([vault_state.c.name, vault_state.c.value], bound)
                         .on_conflict_do_nothing())

    def _close_legacy_binding(self) -> None:
        with self.store.write() as conn:
            conn.execute(self.store.insert(vault_state).values(name=_LEGACY_BOUND_AT, value=_now())
                         .on_conflict_do_nothing())

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
        with self.store.read() as conn:
            return conn.execute(select(secrets.c.ciphertext).where(_row(tenant, name))).scalar()

    def _decrypt(self, tenant: str, name: str, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise VaultError(f"no key in SALESOS_VAULT_KEYS opens the {name} of tenant {tenant!r}") from None


def _bound_at(conn: Connection) -> str | None:
    return conn.execute(select(vault_state.c.value).where(vault_state.c.name == _LEGACY_BOUND_AT)).scalar()


def _row(tenant: str, name: str):
    return (secrets.c.tenant == tenant) & (secrets.c.name == name)


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
