"""What a data provider gives the funnel, and how it reports bad rows.

Real providers (Apollo, Hunter, job boards, ...) and the offline files all
produce the same `Dataset`: company records for the Lead Source, people and
dated signals per registered domain for the later stages, and the rows that
could not be used, each with where it was and why.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel

from agents.models import CompanyRecord, PersonRecord, Signal


class ProviderError(Exception):
    """The provider cannot be used at all (a missing file, a wrong format): not a bad row."""


class Quarantined(BaseModel):
    """A row that was set aside: `reason` names the field and the rule it broke."""

    file: str
    line: int
    reason: str


class Dataset:
    def __init__(self) -> None:
        self.companies: list[CompanyRecord] = []
        self.people_by_domain: dict[str, list[PersonRecord]] = defaultdict(list)
        self.signals_by_domain: dict[str, list[Signal]] = defaultdict(list)
        self.quarantined: list[Quarantined] = []
        self.rows_read = 0

    def people_for(self, domains: Iterable[str]) -> dict[str, list[PersonRecord]]:
        return {domain: self.people_by_domain.get(domain, []) for domain in domains}

    def signals_for(self, domains: Iterable[str]) -> dict[str, list[Signal]]:
        return {domain: self.signals_by_domain.get(domain, []) for domain in domains}


class DataProvider(ABC):
    @abstractmethod
    def load(self) -> Dataset: ...
