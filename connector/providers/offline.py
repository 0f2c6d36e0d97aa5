"""The offline data provider: JSON Lines files and target-account CSV exports.

A bad row never stops a run: it is quarantined with its file, line number
and the rule it broke. A file that cannot be read at all is a ProviderError.
Rows marked as fictional sample data (`"sample": true`, or `true` in a CSV
`Sample` column) are read like any other, and the dataset names their files,
as it names an unmarked file that is mostly the sample's made-up companies
(`sample_check`).
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from agents.market import parse_range
from agents.models import CompanyRecord, PersonRecord, Signal
from agents.validation import describe, one_line, quote
from connector.providers.base import DataProvider, Dataset, ProviderError, Quarantined
from connector.providers.csv_columns import csv_columns
from connector.providers.file_check import check_files, usable_csv_columns
from connector.providers.sample_check import company_domains, judged_as_sample

_SIGNAL = TypeAdapter(Signal)


class OfflineProvider(DataProvider):
    def __init__(self, paths: list[Path]) -> None:
        self.paths = list(paths)

    def load(self) -> Dataset:
        check_files(self.paths)
        dataset = Dataset()
        for path in self.paths:
            if path.suffix.lower() == ".csv":
                _read_csv(path, dataset)
            else:
                _read_jsonl(path, dataset)
        unmarked = [path for path in self.paths if str(path) not in dataset.sample_files]  # marked: refused anyway
        for name in judged_as_sample({str(path): company_domains(path) for path in unmarked}):
            dataset.mark_sample(name)
        return dataset


def _read_jsonl(path: Path, dataset: Dataset) -> None:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            dataset.rows_read += 1
            reason = _add_json_row(line, dataset, str(path))
            if reason:
                dataset.quarantined.append(Quarantined(file=str(path), line=number, reason=reason))


def _add_json_row(line: str, dataset: Dataset, path: str) -> str | None:
    """Add one row to the dataset; return why it was refused, or None."""
    try:
        row = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    if row.get("sample") is True:
        dataset.mark_sample(path)
    kind = row.get("type")
    try:
        if kind == "company":
            dataset.companies.append(CompanyRecord.model_validate(row))
        elif kind == "person":
            person = PersonRecord.model_validate(row)
            dataset.add_person(person, person.model_dump_json(exclude_defaults=True))
        elif kind == "signal":
            signal = _SIGNAL.validate_python(row)
            dataset.add_signal(signal, signal.model_dump_json(exclude_defaults=True))
        elif kind is None:
            return "type: required field is missing (company, person or signal)"
        else:
            return f"type: unknown type {quote(kind)} (expected company, person or signal)"
    except ValidationError as exc:
        return "; ".join(f"{kind}.{problem}" for problem in describe(exc))
    return None


def _read_csv(path: Path, dataset: Dataset) -> None:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = usable_csv_columns(path, reader.fieldnames or [])
        for row in reader:
            dataset.rows_read += 1
            # one visible line before an amount is read from it
            values = {field: one_line(row.get(header) or "").strip() for field, header in columns.items()}
            if _csv_marked(values.pop("sample", "")):
                dataset.mark_sample(str(path))
            try:
                dataset.companies.append(_csv_company(values, path))
            except (ValidationError, ValueError) as exc:
                reason = "; ".join(f"company.{p}" for p in describe(exc)) if isinstance(exc, ValidationError) else str(exc)
                dataset.quarantined.append(Quarantined(file=str(path), line=reader.line_num, reason=reason))


def sample_files(paths: list[Path]) -> list[str]:
    """Which of a tenant's files are sample data, before a run reads them: those whose first row is marked (its
    source job checks every row), and those the sample's company domains give away, the files judged together
    (`sample_check.judged_as_sample`)."""
    marked = {str(path) for path in paths if _first_row_marked(path)}
    judged = judged_as_sample({str(path): company_domains(path) for path in paths if str(path) not in marked})
    return [str(path) for path in paths if str(path) in marked or str(path) in judged]


def _first_row_marked(path: Path) -> bool:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            sample = csv_columns(reader.fieldnames or []).get("sample")
            return sample is not None and _csv_marked((next(reader, None) or {}).get(sample) or "")
        for line in handle:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(row, dict) and row.get("sample") is True
    return False


def _csv_marked(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "1")


def _csv_company(values: dict[str, str], path: Path) -> CompanyRecord:
    record = {key: value for key, value in values.items() if value}
    for field in ("employee_count", "annual_revenue"):
        if field in record:
            record[field] = _amount(field, record[field])
    if "employee_count" in record:
        record["employee_count"] = round(record["employee_count"])
    record.setdefault("confidence", 0.6)
    return CompanyRecord.model_validate(record | {"source": f"csv:{path.stem}"})


def _amount(field: str, text: str) -> float:
    """"$12,000,000", "12M" or a bracket like "51-200" (its midpoint)."""
    try:
        bounds = parse_range(text)
    except ValueError:
        raise ValueError(f"company.{field}: {quote(text)} is not a number") from None
    low, high = bounds["min"], bounds["max"]
    if low is None or high is None:
        return low if high is None else high
    return (low + high) / 2


_cache: dict[tuple, Dataset] = {}
_cache_lock = threading.Lock()


def load_cached(paths: list[Path]) -> Dataset:
    """Load once per process while the files are unchanged (jobs of one run share it)."""
    key = tuple(_fingerprint(path) for path in paths)
    with _cache_lock:
        if key not in _cache:
            _cache.clear()  # keep one dataset: a worker serves one run at a time
            _cache[key] = OfflineProvider(paths).load()
        return _cache[key]


def _fingerprint(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        raise ProviderError(f"data file not found: {path}") from None
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
