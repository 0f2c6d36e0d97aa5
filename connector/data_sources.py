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
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from connector.store import Store, open_store
from connector.store.schema import tenant_data_sources

LOCAL = "local"
NO_DATA_SOURCE = ("{tenant} has no data source (no data files, no provider keys), and the bundled sample is fictional "
                  "(for the local CRM only): give it its data with `python -m connector tenants data-files {tenant} "
                  "FILE...`, or a data provider's key with `python -m connector tenants provider-key set {tenant} "
                  "NAME -`")
SAMPLE_REFUSED = ("{files}: fictional sample data (rows marked \"sample\", or mostly the sample's made-up companies), "
                  "which SalesOS writes into the local CRM only, never into {tenant}'s CRM; give it real data with "
                  "`python -m connector tenants data-files {tenant} FILE...`")


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


def forget_data_source(conn: Connection, tenant: str) -> None:
    """Uninstalling a tenant (`TenantStore.remove`, inside its write) drops its data source, so a re-install reads
    no old files."""
    conn.execute(tenant_data_sources.delete().where(tenant_data_sources.c.tenant == tenant))


def file_names_only(text: str, paths: list[str]) -> str:
    """`text` with each of these paths replaced by its file name: what a tenant is shown of the server's files."""
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, Path(path).name)
    return text


class TenantDataSources:
    """The data source of each CRM tenant, in SalesOS's state database (shared by every worker)."""

    def __init__(self, target: Store | Path | str) -> None:
        self._store = open_store(target)

    def set(self, tenant: str, source: DataSource) -> None:
        statement = self._store.insert(tenant_data_sources).values(
            tenant=tenant, source=source.model_dump_json(), updated_at=dt.datetime.now(dt.UTC).isoformat())
        with self._store.write() as conn:
            conn.execute(statement.on_conflict_do_update(
                index_elements=[tenant_data_sources.c.tenant],
                set_={"source": statement.excluded.source, "updated_at": statement.excluded.updated_at}))

    def get(self, tenant: str) -> DataSource | None:
        with self._store.read() as conn:
            text = conn.execute(select(tenant_data_sources.c.source).where(tenant_data_sources.c.tenant == tenant)
                                ).scalar()
        return DataSource.model_validate_json(text) if text is not None else None
