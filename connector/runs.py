"""What a run is: the market, the data, the date it is judged at."""

from __future__ import annotations

import datetime as dt
import secrets

from pydantic import BaseModel, Field

from agents.market import MarketDefinition
from agents.validation import quote

EARLIEST_AS_OF = dt.date(2000, 1, 1)  # fixed, so the demo's pinned date stays valid; nothing SalesOS reads is older
AS_OF_AHEAD = dt.timedelta(days=365)  # a run judged further ahead would plan its sequences years out: a typo


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
    new_only: bool = Field(default=False, description="pass over the companies already in the CRM (a scheduled "
                                                      "sourcing run: only new ones count toward its target)")


def new_run_id(clock: dt.datetime | None = None) -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    now = clock or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def as_of_date(value: object, today: dt.date | None = None) -> dt.date:
    """The date a user asks a run to be judged at: a date, or its ISO text ("2026-11-02"), within the bounds.

    Raises ValueError naming the rule. A time of day is refused, not dropped: a
    run is judged by the day. The bounds keep every date a run computes from it
    (signal windows, sequence days) far from the ends of the calendar.
    """
    today = today or dt.date.today()
    latest = today + AS_OF_AHEAD
    rule = f"expected a date like 2026-11-02, from {EARLIEST_AS_OF} to {latest} (a year from today)"
    if isinstance(value, dt.datetime):
        raise ValueError(f"{rule}, not a time (got {quote(value.isoformat())})")
    try:
        date = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{rule} (got {quote(value)})") from None
    if not EARLIEST_AS_OF <= date <= latest:
        raise ValueError(f"{rule} (got {date})")
    return date
