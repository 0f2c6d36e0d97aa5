"""Everything SalesOS creates under SALESOS_HOME is readable by its owner only, whatever the umask."""

from __future__ import annotations

import datetime as dt
import os
import stat
from email.message import EmailMessage
from pathlib import Path

import pytest

from connector.api_keys import ApiKeys
from connector.channels.email import write_eml
from connector.data_sources import TenantDataSources
from connector.deal_events import DealEvents
from connector.ledger import Ledger
from connector.runner import save_summary
from connector.settings import Settings
from connector.tenant_markets import TenantMarkets
from connector.tenants import TenantStore
from connector.vault import Vault, new_key
from crm_adapters.local import LocalCRM
from crm_adapters.record_index import RecordIndex


@pytest.fixture(autouse=True)
def permissive_umask():
    """The umask many systems ship (022) would leave every file world-readable; SalesOS must not rely on it."""
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def modes(home: Path) -> dict[str, str]:
    """Each path under `home` (and `home` itself) whose mode lets anyone but its owner in, with that mode."""
    paths = [home, *home.rglob("*")]
    return {str(path.relative_to(home)): oct(stat.S_IMODE(path.lstat().st_mode)) for path in paths
            if stat.S_IMODE(path.lstat().st_mode) & 0o077}


STORES = {
    "vault": lambda home: Vault(home / "salesos.sqlite3", new_key()),
    "tenants": lambda home: TenantStore(home / "salesos.sqlite3", Vault(home / "salesos.sqlite3", new_key())).all(),
    "ledger": lambda home: Ledger(home / "salesos.sqlite3"),
    "tenant markets": lambda home: TenantMarkets(home / "salesos.sqlite3").get("hubspot-1"),
    "deal events": lambda home: DealEvents(home / "salesos.sqlite3").history("hubspot-1", "1"),
    "record index": lambda home: RecordIndex(home / "salesos.sqlite3", "hubspot-1").children("contact", None),
    "local crm": lambda home: LocalCRM(home / "crm.sqlite3"),
    "tenant data sources": lambda home: TenantDataSources(home / "salesos.sqlite3").get("hubspot-1"),
    "api keys": lambda home: ApiKeys(home / "salesos.sqlite3").all("operator"),
}


@pytest.mark.parametrize("store", STORES)
def test_each_store_creates_its_database_and_journals_for_its_owner_only(tmp_path, store):
    home = tmp_path / "home"
    STORES[store](home)  # opened and used once
    written = sorted(path.name for path in home.iterdir())
    assert written and modes(home) == {}, f"{store} wrote {written}"


def test_a_wal_database_shares_its_owner_only_mode_with_its_wal_and_shm_files(tmp_path):
    home = tmp_path / "home"
    crm = LocalCRM(home / "crm.sqlite3")
    crm.upsert_accounts([])
    assert {"crm.sqlite3-wal", "crm.sqlite3-shm"} <= {path.name for path in home.iterdir()}
    assert modes(home) == {}
    crm.close()


def test_settings_create_salesos_home_for_its_owner_only(tmp_path):
    home = Settings(salesos_home=tmp_path / "a" / "home").home
    assert modes(home) == {}


def test_emails_and_run_summaries_are_for_their_owner_only(tmp_path):
    home = Settings(salesos_home=tmp_path / "home").home
    message = EmailMessage()
    message["To"] = "jane@acme.io"
    message.set_content("hello")
    write_eml(home / "outbox", "outreach:local:jane@acme.io:1", message.as_bytes())
    summary = {"run_id": "r1", "market": "m", "as_of": "2026-11-02", "finished_at": dt.datetime.now(dt.UTC).isoformat()}
    save_summary(home, summary)
    assert {path.name for path in home.rglob("*") if path.suffix != ".eml"} == {"last_run.json", "outbox", "r1.json",
                                                                              "runs"}
    assert len(list(home.glob("outbox/*.eml"))) == 1
    assert modes(home) == {}
