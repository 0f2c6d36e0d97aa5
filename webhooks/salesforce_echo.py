"""Which Outbound Message notifications are only the echo of SalesOS's own writes.

An Outbound Message says nothing about what changed: it carries the fields the
admin selected, as they are now. Two signals tell SalesOS's writes apart:

- the write stamps in the `RecordIndex` (a hash of each value SalesOS last
  wrote): a SalesOS-written field whose value no longer matches its stamp was
  changed by someone else, so that notification is never an echo;
- `LastModifiedById`, when the message carries it and the tenant stored its
  integration user (the user whose OAuth grant SalesOS writes with): the last
  change was SalesOS's own exactly when it names that user. (When an admin
  installed SalesOS as themselves, their own edits of fields SalesOS never
  writes look like SalesOS's; a dedicated integration user avoids that.)

Without a stored integration user a notification counts as an echo only when
every field it carries (the record's key and system fields aside) is one
SalesOS wrote, with the value SalesOS wrote: a field SalesOS never stamped may
be a person's edit, and forwarding one echo too many costs a no-op job (the
rep-edit guard skips unchanged values), while dropping a person's edit loses it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from crm_adapters.fields import CustomField
from crm_adapters.record_index import RecordIndex, value_hash
from crm_adapters.salesforce_map import ACCOUNTS, CONTACTS, ObjectMap, join_name, parse_datetime
from webhooks.salesforce_soap import Notification, same_id

SYSTEM_FIELDS = frozenset({"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                           "SystemModstamp", "IsDeleted", "LastActivityDate", "LastViewedDate", "LastReferencedDate"})
MAPS: dict[str, ObjectMap] = {ACCOUNTS.sobject: ACCOUNTS, CONTACTS.sobject: CONTACTS}
_NUMBERS = frozenset({"employee_count", "annual_revenue"})
_NAME_PARTS = ("FirstName", "LastName")
_UNREADABLE = object()  # a value that cannot be what SalesOS wrote (e.g. text in a JSON field)


def natural_key(note: Notification) -> str | None:
    """The record's SalesOS key (domain or email) when the message carries it."""
    spec = MAPS.get(note.sobject)
    if spec is None:
        return None
    value = note.fields.get(spec.id_field) or (note.fields.get("Email") if spec is CONTACTS else None)
    return spec.normal_key(value) if value and value.strip() else None


def own_writes(notes: list[Notification], index: RecordIndex | None, integration_user: str | None) -> set[str]:
    """Ids of the notifications that are echoes of SalesOS's writes (see the module docstring)."""
    verdicts = _stamp_verdicts(notes, index) if index is not None else {}
    echoes = set()
    for note in notes:
        found = verdicts.get(note.id, [])
        if False in found:
            continue
        modified_by = note.fields.get("LastModifiedById")
        if integration_user and modified_by:
            if same_id(modified_by, integration_user):
                echoes.add(note.id)
        elif found and all(found):
            echoes.add(note.id)
    return echoes


def _stamp_verdicts(notes: list[Notification], index: RecordIndex) -> dict[str, list[bool | None]]:
    """Per notification, per field: True (SalesOS's value), False (someone else's), None (no stamp to tell)."""
    verdicts: dict[str, list[bool | None]] = {}
    for spec in MAPS.values():
        mine = [note for note in notes if note.sobject == spec.sobject]
        if not mine:
            continue
        keys = {note.id: natural_key(note) for note in mine}
        unkeyed = [note.object_id for note in mine if keys[note.id] is None]
        by_id = index.keys_of(spec.kind, unkeyed) if unkeyed else {}
        keys = {note.id: keys[note.id] or by_id.get(note.object_id) for note in mine}
        stamps = index.stamps(spec.kind, [key for key in keys.values() if key])
        for note in mine:
            stamped = stamps.get(keys[note.id] or "", {})
            verdicts[note.id] = [_verdict(stamped, name, value) for name, value in _canonical(spec, note)]
    return verdicts


def _verdict(stamped: dict[str, str], name: str | None, value: Any) -> bool | None:
    if name is None or name not in stamped:
        return None
    return value is not _UNREADABLE and value_hash(value) == stamped[name]


def _canonical(spec: ObjectMap, note: Notification) -> list[tuple[str | None, Any]]:
    """The notification's fields as (SalesOS name, value); None for a field SalesOS has no name for."""
    readers = _READERS[spec.sobject]
    keys = {spec.id_field, "Email"} if spec is CONTACTS else {spec.id_field}
    pairs: list[tuple[str | None, Any]] = []
    for api_name, text in note.fields.items():
        if api_name in SYSTEM_FIELDS or api_name in keys or (spec is CONTACTS and api_name in _NAME_PARTS):
            continue
        name, read = readers.get(api_name, (None, str))
        pairs.append((name, _read(read, text)))
    parts = [part for part in _NAME_PARTS if part in note.fields]
    if spec is CONTACTS and parts:  # SalesOS writes one name; Salesforce splits it in two
        whole = len(parts) == len(_NAME_PARTS)
        pairs.append(("name" if whole else None, join_name(*(note.fields.get(part) for part in _NAME_PARTS))))
    return pairs


def _readers(spec: ObjectMap) -> dict[str, tuple[str, Callable[[str], Any]]]:
    readers: dict[str, tuple[str, Callable[[str], Any]]] = {
        api: (attr, float if attr in _NUMBERS else str) for attr, api in spec.standard.items()}
    readers.update({f.salesforce_name: (name, _custom_reader(f)) for name, f in spec.custom.items()})
    return readers


def _custom_reader(field: CustomField) -> Callable[[str], Any]:
    return {"number": float, "bool": lambda text: text.strip() == "true", "json": json.loads,
            "datetime": parse_datetime}.get(field.type, str)


def _read(read: Callable[[str], Any], text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    try:
        return read(text)
    except ValueError:
        return _UNREADABLE


_READERS = {sobject: _readers(spec) for sobject, spec in MAPS.items()}
