"""Each tenant's data source: where its runs read companies, people and signals.

The bundled sample (`data/`) is fictional, so it is the local CRM's data and
never a customer's: a HubSpot or Salesforce tenant reads only the source an
admin gave it (`tenants data-files`, `tenants provider-key`), and with none its
runs stop and say so.
Sample rows carry a mark (`"sample": true`, a CSV `Sample` column), so a copy
or an excerpt of the sample is refused like the bundled files themselves; one
whose marks were stripped is known by its made-up company domains
(`connector.providers.sample_check`). What crosses to a tenant (an API run's
reasons, a workflow action's result) names files, never their server paths.

A tenant's source is its files, its data-provider keys
(`connector.providers.keys`), or both: with keys and no files its runs read
no file and search the providers.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from connector.private_files import connect

LOCAL = "local"
NO_DATA_SOURCE = ("{tenant} has no data source (no data files, no provider keys), and the bundled sample is fictional "
                  "(for the local CRM only): give it its data with `python -m connector tenants data-files {tenant} "
                  "FILE...`, or a data provider's key with `python -m connector tenants provider-key set {tenant} "
                  "NAME -`")
SAMPLE_REFUSED = ("{files}: fictional sample data (rows marked \"sample\", or mostly the sample's made-up companies), "
                  "which SalesOS writes into the local CRM only, never into {tenant}'s CRM; give it real data with "
                  "`python -m connector tenants data-files {tenant} FILE...`")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenant_data_sources (tenant TEXT PRIMARY KEY, source TEXT NOT NULL, updated_at TEXT NOT NULL)
"""


class DataSource(BaseModel):
    kind: Literal["files"] = "files"
    files: list[str] = Field(min_length=1, description="absolute paths of JSONL or CSV files")


class NoData(LookupError):
    """The tenant has nothing it may read: no data source, or only fictional sample data."""


def files_for(tenant: str, configured: list[Path], source: DataSource | None,
              has_provider_keys: bool = False) -> list[Path]:
    """The files a run of `tenant` reads: SALESOS_DATA_FILES (`configured`) for the local CRM, else its source;
    none for a CRM tenant with provider keys and no files (its runs search the providers instead)."""
    if tenant == LOCAL:
        return list(configured)
    if source is None:
        if has_provider_keys:
            return []
        raise NoData(NO_DATA_SOURCE.format(tenant=tenant))
    return [Path(path) for path in source.files]


def refuse_sample(tenant: str, sample_files: list[str]) -> None:
    """Raise NoData when a CRM tenant would read files holding sample data; the reason names them by file name."""
    if tenant != LOCAL and sample_files:
        raise NoData(SAMPLE_REFUSED.format(files=", ".join(Path(path).name for path in sample_files), tenant=tenant))


def forget_data_source(db: sqlite3.Connection, tenant: str) -> None:
    """Uninstalling a tenant (`TenantStore.remove`) drops its data source, so a re-install reads no old files."""
    db.execute(_SCHEMA)
    db.execute("DELETE FROM tenant_data_sources WHERE tenant = ?", (tenant,))


def file_names_only(text: str, paths: list[str]) -> str:
    """`text` with each of these paths replaced by its file name: what a tenant is shown of the server's files."""
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, Path(path).name)
    return text


class TenantDataSources:
    """The data source of each CRM tenant, in SalesOS's state database (shared by every worker)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)

    def set(self, tenant: str, source: DataSource) -> None:
        self._db.execute(
            "INSERT INTO tenant_data_sources (tenant, source, updated_at) VALUES (?, ?, ?) ON CONFLICT (tenant) "
            "DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
            (tenant, source.model_dump_json(), dt.datetime.now(dt.UTC).isoformat()))

    def get(self, tenant: str) -> DataSource | None:
        row = self._db.execute("SELECT source FROM tenant_data_sources WHERE tenant = ?", (tenant,)).fetchone()
        return DataSource.model_validate_json(row[0]) if row else None

    def close(self) -> None:
        self._db.close()
