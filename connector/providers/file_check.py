"""Whether a data file can be read at all, decided before any job is queued.

A bad row is quarantined and the run goes on; a bad file is a mistake to fix
first (a typo in the path, an Excel export saved as UTF-16, a CSV without a
domain column), so it is refused whole with one line naming the file and the
problem, and nothing runs. The bytes are read once, in chunks, so a large
file costs one pass and no memory; the rows are parsed only as far as the
first usable one.
"""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path

from agents.validation import clip
from connector.providers.base import ProviderError
from connector.providers.csv_columns import csv_columns

JSONL = frozenset({".jsonl", ".ndjson"})
SUFFIXES = JSONL | {".csv"}
_CHUNK = 1 << 20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_TEXT_BYTES = bytes(range(1, 0x100))  # a NUL is binary; a stray control character in text is stripped at ingestion


def check_files(paths: list[Path]) -> None:
    """Raise ProviderError for the first file that cannot be used: missing, a directory, an unknown type,
    unreadable, empty, binary, not UTF-8, or without a usable row or column."""
    for path in paths:
        check_file(path)


def file_problems(paths: list[Path]) -> list[str]:
    """One line per file that cannot be used, naming the file and the problem."""
    problems = []
    for path in paths:
        try:
            check_file(path)
        except ProviderError as exc:
            problems.append(str(exc))
    return problems


def check_file(path: Path) -> None:
    if not path.exists():
        raise ProviderError(f"data file not found: {path}")
    if path.is_dir():
        raise ProviderError(f"{path}: is a directory, not a data file")
    if path.suffix.lower() not in SUFFIXES:
        raise ProviderError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl or .csv")
    try:
        _check_text(path)
        if path.suffix.lower() == ".csv":
            _check_csv(path)
        else:
            _check_jsonl(path)
    except OSError as exc:
        raise ProviderError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def usable_csv_columns(path: Path, headers: list[str]) -> dict[str, str]:
    """The column of each field the CSV has; a file without a name and a domain column cannot be read."""
    columns = csv_columns(headers)
    missing = [field for field in ("name", "domain") if field not in columns]
    if missing:
        raise ProviderError(f"{path}: no {' or '.join(missing)} column (headers: {clip(', '.join(headers))})")
    return columns


def _check_text(path: Path) -> None:
    """UTF-8 text with something in it. A NUL byte, which no text holds, means a binary file (or UTF-16, said as
    such)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, blank = 1, True
    with path.open("rb") as handle:
        chunk = handle.read(_CHUNK)
        if chunk.startswith(_UTF16_BOMS):
            raise ProviderError(f"{path}: is UTF-16 text; save it as UTF-8")
        while chunk:
            control = chunk.translate(None, _TEXT_BYTES)
            if control:
                where = line + chunk.count(b"\n", 0, min(chunk.index(byte) for byte in set(control)))
                raise ProviderError(f"{path}: is a binary file, not text (byte {min(control):#04x} on line "
                                    f"{where}); use a .csv or .jsonl text file")
            held = decoder.getstate()[0]  # the start of a character cut by the previous chunk's end
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                data = held + chunk  # what the error's position counts in
                where = line + data.count(b"\n", 0, exc.start)
                raise ProviderError(f"{path}: is not UTF-8 text (byte {data[exc.start]:#04x} on line {where}); "
                                    "save it as UTF-8") from None
            line += chunk.count(b"\n")
            blank = blank and not chunk.strip()
            chunk = handle.read(_CHUNK)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ProviderError(f"{path}: is not UTF-8 text (it ends inside a character); save it as UTF-8") from None
    if blank:
        raise ProviderError(f"{path}: is empty")


def _check_csv(path: Path) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            headers = next(reader, [])
            usable_csv_columns(path, headers)
            if not any(any(cell.strip() for cell in row) for row in reader):
                raise ProviderError(f"{path}: has a header row and no rows")
        except csv.Error as exc:  # a field past the csv module's limit, a quote never closed before a NUL...
            raise ProviderError(f"{path}: is not a CSV the reader can parse (line {reader.line_num}: {exc})") from None


def _check_jsonl(path: Path) -> None:
    """At least one line must be a JSON object; the others are judged (and quarantined) row by row."""
    with path.open(encoding="utf-8-sig") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                if isinstance(json.loads(line), dict):
                    return
            except json.JSONDecodeError:
                continue
    raise ProviderError(f"{path}: no line is a JSON object, so it is not JSON Lines (one object per line)")
