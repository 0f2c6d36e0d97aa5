"""Builds the I/O objects a stage job needs, from the worker's settings.

Kept apart from the jobs so the jobs read as decisions plus writes, and so a
later tenant-aware version only changes this file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from connector.channels.email import Sender
from connector.ledger import Ledger
from connector.providers.offline import load_cached
from connector.settings import Settings, load_settings
from crm_adapters.base import CRMAdapter
from crm_adapters.local import LocalCRM


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


class UnknownTenant(LookupError):
    pass


def crm_for(tenant: str) -> CRMAdapter:
    if tenant != "local":
        raise UnknownTenant(f"tenant {tenant!r} is not installed; only the local CRM is available")
    return _local_crm(settings().crm_path)


@lru_cache(maxsize=4)
def _local_crm(path: Path) -> LocalCRM:
    return LocalCRM(path)


@lru_cache(maxsize=4)
def _ledger(path: Path) -> Ledger:
    return Ledger(path)


def ledger() -> Ledger:
    return _ledger(settings().state_path)


def dataset(paths: list[str]):
    return load_cached([Path(path) for path in paths])


def sender() -> Sender:
    s = settings()
    return Sender(name=s.salesos_sender_name, email=s.salesos_sender_email, postal_address=s.salesos_postal_address)


def unsubscribe_url(token: str) -> str:
    return f"{settings().salesos_public_url.rstrip('/')}/unsubscribe/{token}"
