"""Each CRM the contract suite runs against, with a way to look inside it that bypasses the adapter."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm_adapters.base import CRMAdapter
from crm_adapters.calls import CallPolicy, StaticToken
from crm_adapters.hubspot import HubSpotCRM
from crm_adapters.local import LocalCRM
from crm_adapters.record_index import RecordIndex
from crm_adapters.salesforce import SalesforceCRM
from crm_adapters.salesforce_map import TASK_DONE
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
        """Records of a kind (company, contact, task, activity) the CRM holds, read past the adapter."""
        raise NotImplementedError

    def links(self) -> set[tuple[str, str]]:
        raise NotImplementedError

    def restarted(self) -> CRMAdapter:
        """Another adapter on the same CRM, as a worker started after one was killed: it remembers no CRM id."""
        raise NotImplementedError


class LocalBackend(Backend):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.crm = LocalCRM(path)

    def count(self, kind: str) -> int:
        if kind == "meeting":
            with sqlite3.connect(self.path) as db:
                return db.execute("SELECT COUNT(*) FROM meetings").fetchone()[0]
        return self.crm.counts()[{"company": "accounts", "contact": "contacts", "task": "tasks",
                                  "activity": "activities"}[kind]]

    def links(self) -> set[tuple[str, str]]:
        with sqlite3.connect(self.path) as db:
            return set(db.execute("SELECT c.email, a.domain FROM associations JOIN contacts c ON c.id = contact_id "
                                  "JOIN accounts a ON a.id = account_id").fetchall())

    def restarted(self) -> CRMAdapter:
        return LocalCRM(self.path)


class HubSpotBackend(Backend):
    def __init__(self, fake: FakeHubSpot, state: Path, tenant: str) -> None:
        self.fake, self.state, self.index = fake, state, RecordIndex(state / "salesos.sqlite3", tenant)
        self.crm = HubSpotCRM(StaticToken(fake.token), self.index, host=fake.url, policy=no_wait_policy())

    def count(self, kind: str) -> int:
        types = {"company": ["companies"], "contact": ["contacts"], "task": ["tasks"], "activity": ["emails", "notes"],
                 "meeting": ["meetings"]}
        return sum(len(self.fake.objects[object_type]) for object_type in types[kind])

    def links(self) -> set[tuple[str, str]]:
        objects = self.fake.objects
        return {(objects["contacts"][c]["email"], objects["companies"][a]["salesos_domain"])
                for source, c, target, a in self.fake.associations if (source, target) == ("contacts", "companies")}

    def restarted(self) -> CRMAdapter:
        return HubSpotCRM(StaticToken(self.fake.token), empty_index(self.state, self.index.tenant),
                          host=self.fake.url, policy=no_wait_policy())


class SalesforceBackend(Backend):
    unset_checkbox_reads_false = True

    def __init__(self, fake: SalesforceFake, state: Path, tenant: str) -> None:
        self.fake, self.state, self.index = fake, state, RecordIndex(state / "salesos.sqlite3", tenant)
        self.crm = SalesforceCRM(StaticToken("00D-session-token"), self.index, instance_url=fake.instance_url,
                                 policy=no_wait_policy())

    def count(self, kind: str) -> int:
        if kind == "meeting":
            return len(self.fake.events)
        if kind in ("task", "activity"):  # both are Tasks; an activity is logged completed
            return sum((t["Status"] == TASK_DONE) == (kind == "activity") for t in self.fake.tasks.values())
        return len(self.fake.accounts if kind == "company" else self.fake.contacts)

    def links(self) -> set[tuple[str, str]]:
        return self.fake.links()

    def restarted(self) -> CRMAdapter:
        return SalesforceCRM(StaticToken("00D-session-token"), empty_index(self.state, self.index.tenant),
                             instance_url=self.fake.instance_url, policy=no_wait_policy())


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


def empty_index(state: Path, tenant: str) -> RecordIndex:
    """A record index that remembers nothing (a new worker's, as if no id was ever written down)."""
    return RecordIndex(state / f"empty-{uuid.uuid4().hex}.sqlite3", tenant)


@contextmanager
def salesforce_backend(tenant: str = "salesforce-00D000000000001AAA") -> Iterator[SalesforceBackend]:
    fake = SalesforceFake()
    with fake.active(), tempfile.TemporaryDirectory(prefix="salesos-state-") as state:
        yield SalesforceBackend(fake, Path(state), tenant)


@contextmanager
def hubspot_backend(tenant: str = "hubspot-62515") -> Iterator[HubSpotBackend]:
    fake = FakeHubSpot()
    server = Server(fake)
    try:
        with tempfile.TemporaryDirectory(prefix="salesos-state-") as state:
            yield HubSpotBackend(fake, Path(state), tenant)
    finally:
        server.stop()
