"""Each CRM the contract suite runs against, with a way to look inside it that bypasses the adapter."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm_adapters.base import CRMAdapter
from crm_adapters.calls import CallPolicy, StaticToken
from crm_adapters.hubspot import HubSpotCRM
from crm_adapters.local import LocalCRM
from crm_adapters.record_index import RecordIndex
from crm_adapters.salesforce import SalesforceCRM
from tests.crm_adapters.salesforce_fake import SalesforceFake
from tests.fakes.hubspot_server import FakeHubSpot, Server


class Backend:
    """An adapter plus the CRM's own view of what it stores: record counts and contact-company links."""

    crm: CRMAdapter
    unset_checkbox_reads_false = False  # Salesforce checkboxes are never empty

    def set_fields(self, fields: dict) -> dict:
        """The fields a record reads back with, minus what the CRM cannot leave unset."""
        if self.unset_checkbox_reads_false:
            return {name: value for name, value in fields.items() if value is not False}
        return fields

    def count(self, kind: str) -> int:
        raise NotImplementedError

    def links(self) -> set[tuple[str, str]]:
        raise NotImplementedError


class LocalBackend(Backend):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.crm = LocalCRM(path)

    def count(self, kind: str) -> int:
        return self.crm.counts()[{"company": "accounts", "contact": "contacts"}[kind]]

    def links(self) -> set[tuple[str, str]]:
        with sqlite3.connect(self.path) as db:
            return set(db.execute("SELECT c.email, a.domain FROM associations JOIN contacts c ON c.id = contact_id "
                                  "JOIN accounts a ON a.id = account_id").fetchall())


class HubSpotBackend(Backend):
    def __init__(self, fake: FakeHubSpot, index: RecordIndex) -> None:
        self.fake, self.index = fake, index
        self.crm = HubSpotCRM(StaticToken(fake.token), index, host=fake.url, policy=no_wait_policy())

    def count(self, kind: str) -> int:
        return len(self.fake.objects[{"company": "companies", "contact": "contacts"}[kind]])

    def links(self) -> set[tuple[str, str]]:
        objects = self.fake.objects
        return {(objects["contacts"][c]["email"], objects["companies"][a]["salesos_domain"])
                for source, c, target, a in self.fake.associations if (source, target) == ("contacts", "companies")}


class SalesforceBackend(Backend):
    unset_checkbox_reads_false = True

    def __init__(self, fake: SalesforceFake, index: RecordIndex) -> None:
        self.fake, self.index = fake, index
        self.crm = SalesforceCRM(StaticToken("00D-session-token"), index, instance_url=fake.instance_url,
                                 policy=no_wait_policy())

    def count(self, kind: str) -> int:
        return len(self.fake.accounts if kind == "company" else self.fake.contacts)

    def links(self) -> set[tuple[str, str]]:
        return self.fake.links()


class RefreshingToken:
    """A token source that hands out a new token when the old one is refused, and counts refreshes."""

    def __init__(self, first: str, then: str) -> None:
        self.current, self.then, self.refreshes = first, then, 0

    def access_token(self) -> str:
        return self.current

    def refresh_after_failure(self, rejected: str) -> str:
        self.refreshes += 1
        self.current = self.then
        return self.current


def no_wait_policy(**changes) -> CallPolicy:
    """Retries as in production, minus the sleeping; waits are recorded in `policy.waits`."""
    return CallPolicy(sleep=lambda seconds: None, jitter=lambda: 1.0, **changes)


@contextmanager
def scratch_index(tenant: str) -> Iterator[RecordIndex]:
    """A record index in a state database of its own, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="salesos-index-") as directory:
        yield RecordIndex(Path(directory) / "salesos.sqlite3", tenant)


@contextmanager
def salesforce_backend(tenant: str = "salesforce-00D000000000001AAA") -> Iterator[SalesforceBackend]:
    fake = SalesforceFake()
    with fake.active(), scratch_index(tenant) as index:
        yield SalesforceBackend(fake, index)


@contextmanager
def hubspot_backend(tenant: str = "hubspot-62515") -> Iterator[HubSpotBackend]:
    fake = FakeHubSpot()
    server = Server(fake)
    try:
        with scratch_index(tenant) as index:
            yield HubSpotBackend(fake, index)
    finally:
        server.stop()
