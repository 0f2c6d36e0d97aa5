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

from pydantic import BaseModel, TypeAdapter

from agents.models import CompanyRecord, PersonRecord, Signal


_SIGNAL = TypeAdapter(Signal)


class ProviderError(Exception):
    """The provider cannot be used at all (a missing file, a wrong format): not a bad row."""


class Quarantined(BaseModel):
    """A row that was set aside: `reason` names the field and the rule it broke."""

    file: str
    line: int
    reason: str


class Dataset:
    """Companies as models; people and signals kept as raw rows per domain.

    Every row is validated when the dataset is loaded (so bad rows are
    quarantined up front), but only companies are kept as models: people and
    signals are rebuilt for the domains a job asks for. On 10,000 companies
    that keeps a worker's copy of the data several times smaller.
    """

    def __init__(self) -> None:
        self.companies: list[CompanyRecord] = []
        self.quarantined: list[Quarantined] = []
        self.rows_read = 0
        self.sample_files: list[str] = []  # files holding rows marked as fictional sample data
        self._people: dict[str, list[str]] = defaultdict(list)
        self._signals: dict[str, list[str]] = defaultdict(list)

    def mark_sample(self, path: str) -> None:
        if path not in self.sample_files:
            self.sample_files.append(path)

    def add_person(self, person: PersonRecord, raw: str) -> None:
        self._people[person.company_domain].append(raw)

    def add_signal(self, signal: Signal, raw: str) -> None:
        self._signals[signal.company_domain].append(raw)

    def people_for(self, domains: Iterable[str]) -> dict[str, list[PersonRecord]]:
        return {domain: [PersonRecord.model_validate_json(raw) for raw in self._people.get(domain, ())]
                for domain in domains}

    def signals_for(self, domains: Iterable[str]) -> dict[str, list[Signal]]:
        return {domain: [_SIGNAL.validate_json(raw) for raw in self._signals.get(domain, ())]
                for domain in domains}

    def counts(self) -> dict[str, int]:
        return {
            "companies": len(self.companies),
            "people": sum(map(len, self._people.values())),
            "signals": sum(map(len, self._signals.values())),
        }


class DataProvider(ABC):
    @abstractmethod
    def load(self) -> Dataset: ...
