"""What every remote adapter does around a batch upsert, whatever the CRM.

Records are checked and merged by natural key before anything is sent (a key
twice in one batch is one record, later values winning), sent in chunks of the
CRM's batch size, and the ids of whatever landed are remembered even when a
later chunk fails, so a stop halfway (budget spent, grant revoked) forgets
nothing that was written. The failure carries the partial result on
`CRMError.partial` for the caller to account for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from crm_adapters.base import WriteResult
from crm_adapters.errors import CRMError
from crm_adapters.record_index import RecordIndex

T = TypeVar("T")
Record = dict[str, Any]


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def prepare(items: Iterable[tuple[str, Callable[[], Record]]], normal_key: Callable[[str], str],
            check: Callable[[str], None]) -> tuple[dict[str, Record], WriteResult]:
    """Check each key and build each record; a ValueError becomes that record's error, by key."""
    result, prepared = WriteResult(), {}
    for raw_key, build in items:
        key = normal_key(raw_key)
        try:
            check(raw_key)
            record = build()
        except ValueError as exc:
            result.errors[key] = str(exc)
            continue
        prepared[key] = {**prepared.get(key, {}), **record}
    return prepared, result


def upsert_in_chunks(index: RecordIndex, kind: str, prepared: dict[str, Record], result: WriteResult, size: int,
                     send: Callable[[dict[str, Record]], None]) -> WriteResult:
    """`send` each chunk (it fills `result`); remember the ids that landed, also when a chunk raises."""
    try:
        for chunk in chunks(list(prepared.items()), size):
            send(dict(chunk))
    except CRMError as exc:
        exc.partial = result
        raise
    finally:
        index.remember(kind, result.ids)
    return result
