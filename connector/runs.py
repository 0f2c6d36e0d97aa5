"""What a run is: the market, the data, the date it is judged at."""

from __future__ import annotations

import datetime as dt
import secrets

from pydantic import BaseModel, Field

from agents.market import MarketDefinition


class RunContext(BaseModel):
    """Travels inside every job of a run, so any worker can pick any job up."""

    run_id: str
    tenant: str = "local"
    market: MarketDefinition
    data_files: list[str] | None = Field(default=None, description="None: the tenant's data source, when the run starts")
    as_of: dt.date
    send_now: bool = False
    batch_size: int = Field(default=250, ge=1)
    domains: list[str] | None = Field(default=None, description="only these companies (a rep's request from the CRM)")


def new_run_id(clock: dt.datetime | None = None) -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    now = clock or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
