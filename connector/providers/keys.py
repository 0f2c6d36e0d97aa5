"""Each tenant's API keys for the data providers (Apollo, People Data Labs, Hunter, ...), in the vault.

A provider key is a secret like a CRM token: the vault holds it encrypted as
`provider:<name>`, sealed to its tenant and name (a ciphertext copied into
another tenant's row, or another provider's, does not open there),
`rotate-keys` re-encrypts it, and uninstalling its tenant deletes it. Nothing
here logs, prints or quotes a key.

Each tenant's runs use its own keys and nobody else's. The local CRM (the
demo, or a deployment that is its own single customer) also reads
`<NAME>_API_KEY` from the environment for each provider it has no stored key
for. A HubSpot or Salesforce tenant never does: the server's environment is
the operator's provider account, not the customer's, and a tenant without a
key for a provider simply goes without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel

from agents.validation import quote
from connector.data_sources import LOCAL
from connector.providers.http import spec
from connector.vault import Vault

# The keyed providers of issue 10, whether or not their spec is written yet (`spec.known()` adds the rest).
DOCUMENTED = ("apollo", "crunchbase", "hunter", "newsapi", "pdl")
MAX_LENGTH = 500  # the longest key SalesOS stores: real ones are 20-100 characters
_PREFIX = "provider:"


class ProviderKeyError(ValueError):
    """A provider SalesOS does not know, or a key it will not store (the message never quotes the key)."""


class KeyStatus(BaseModel):
    """What `tenants provider-key list` shows of one provider's key: whether there is one, never what it is."""

    provider: str
    set: bool
    source: Literal["vault", "environment"] | None = None
    variable: str | None = None  # the environment variable a local key comes from
    updated_at: str | None = None  # when the stored key was last set


def known() -> list[str]:
    """The providers that take a key: the documented ones and every spec whose API has one (not the public job
    boards or Wayback, which need none)."""
    keyed = {name for name in spec.known() if spec.load_spec(name, {}).auth.kind != "none"}
    return sorted(set(DOCUMENTED) | keyed)


def env_variable(name: str) -> str:
    return f"{name.upper()}_API_KEY"


def check_name(name: str) -> str:
    providers = known()
    if name not in providers:
        raise ProviderKeyError(f"{quote(name)} is not a provider SalesOS knows; known providers: "
                               f"{', '.join(providers)}")
    return name


def check_key(key: str) -> str:
    """The key, if it may be one: a provider key is one word of printable ASCII (it travels in a header or a
    query string), so a space, line break or control character means something else was pasted with it."""
    if not key:
        raise ProviderKeyError("the key is empty")
    if len(key) > MAX_LENGTH:
        raise ProviderKeyError(f"the key is {len(key)} characters long, over the {MAX_LENGTH} a provider key may have")
    if any(char.isspace() for char in key):
        raise ProviderKeyError("the key holds whitespace (a space, tab or line break): paste the key alone")
    if not all("!" <= char <= "~" for char in key):
        raise ProviderKeyError("the key holds control or non-ASCII characters: a provider key is printable ASCII")
    return key


def set_key(vault: Vault, tenant: str, name: str, key: str) -> None:
    """Store (or replace) the tenant's key for the provider, encrypted."""
    vault.put(tenant, _PREFIX + check_name(name), check_key(key))


def remove_key(vault: Vault, tenant: str, name: str) -> bool:
    """Delete the tenant's stored key for the provider; True when there was one."""
    return vault.delete(tenant, _PREFIX + check_name(name))


def stored_keys(vault: Vault, tenant: str) -> dict[str, str]:
    """When each of the tenant's stored provider keys was last set, by provider; no key is opened."""
    return {name.removeprefix(_PREFIX): when for name, when in vault.written(tenant, _PREFIX).items()}


def provider_keys(tenant: str, vault: Vault | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The keys a run of `tenant` calls providers with, by provider: its own from the vault and, for the local
    CRM only, `<NAME>_API_KEY` from `environ` where it stored none. `vault` None: no vault is configured (the
    local demo without SALESOS_VAULT_KEYS), so only the local CRM's environment keys exist.

    Raises VaultError when a stored key does not open for this tenant, ProviderKeyError when an environment
    key breaks the rules of `check_key` (naming the variable, never the value)."""
    stored = stored_keys(vault, tenant) if vault is not None else {}
    keys = {}
    for name in known():
        key = vault.get(tenant, _PREFIX + name) if name in stored else None
        if key is None and tenant == LOCAL:
            key = _from_environment(name, environ)
        if key is not None:
            keys[name] = key
    return keys


def key_statuses(tenant: str, vault: Vault, environ: Mapping[str, str]) -> list[KeyStatus]:
    """Every known provider, with whether the tenant has a key for it and where from; opens no key."""
    stored = stored_keys(vault, tenant)
    statuses = []
    for name in known():
        variable = env_variable(name)
        if name in stored:
            statuses.append(KeyStatus(provider=name, set=True, source="vault", updated_at=stored[name]))
        elif tenant == LOCAL and environ.get(variable, "").strip():
            statuses.append(KeyStatus(provider=name, set=True, source="environment", variable=variable))
        else:
            statuses.append(KeyStatus(provider=name, set=False))
    return statuses


def _from_environment(name: str, environ: Mapping[str, str]) -> str | None:
    variable = env_variable(name)
    value = environ.get(variable, "").strip()
    if not value:
        return None
    try:
        return check_key(value)
    except ProviderKeyError as exc:
        raise ProviderKeyError(f"{variable}: {exc}") from None
