"""Which HubSpot change events SalesOS caused itself, so they never start an agent again.

Every SalesOS write to a portal comes back as a `propertyChange` webhook. Left
alone, a score written by the scoring job would look like a rep's change and
re-score the contact, which writes the score again: a loop. Two signs mark an
event as SalesOS's own:

- HubSpot says so: `changeSource` is INTEGRATION or API and `sourceId` names
  SalesOS's app id (HUBSPOT_APP_ID, when configured). [Inference: HubSpot
  gives an app's writes that source; the id may arrive bare or as `x:<id>`.]
- The record index says so: the new value is exactly what SalesOS last wrote
  to that field of that record (`RecordIndex` write stamps, kept by
  `RepEditGuard`). This works without any configuration and also catches a
  private-app token's writes. A rep who sets a field to the very value
  SalesOS wrote changes nothing SalesOS must react to.

The record index stores canonical field names and values, so the HubSpot
property is mapped back (`crm_adapters.hubspot_map`) and its text converted
with `from_hubspot` before the stamps are compared; one query per batch and
record kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.store import Store
from crm_adapters.fields import CustomField
from crm_adapters.hubspot_map import COMPANIES, CONTACTS, ObjectMap, from_hubspot
from crm_adapters.record_index import RecordIndex, value_hash
from webhooks.hubspot_payload import HubSpotEvent

_SELF_SOURCES = frozenset({"INTEGRATION", "API"})
_NUMBER_ATTRS = frozenset({"employee_count", "annual_revenue"})


def _property_map(spec: ObjectMap) -> dict[str, tuple[str, CustomField]]:
    """HubSpot property -> (canonical name, how to read its text) for everything SalesOS stamps."""
    found = {field.hubspot_name: (name, field) for name, field in spec.custom.items()}
    for attr, prop in spec.standard.items():
        kind = "number" if attr in _NUMBER_ATTRS else "text"
        found.setdefault(prop, (attr, CustomField(attr, spec.kind, kind, attr, attr)))
    return found


_PROPERTIES = {"company": _property_map(COMPANIES), "contact": _property_map(CONTACTS)}


class EchoFilter:
    """Drops a batch's echoes of SalesOS's own writes; one per app, shared by its request threads."""

    def __init__(self, database: Store | Path | str, app_id: str | None) -> None:
        self._database, self._app_id = database, (app_id or "").strip() or None

    def own(self, tenant: str, events: list[HubSpotEvent]) -> set[int]:
        """Positions (in `events`) of the events SalesOS caused."""
        mine = {i for i, event in enumerate(events) if self._by_source(event)}
        candidates: dict[str, list[tuple[int, HubSpotEvent, str, Any]]] = {}
        for i, event in enumerate(events):
            if i in mine or event.propertyName is None or not event.kind.endswith(".propertyChange"):
                continue
            if event.changeSource and event.changeSource.upper() not in _SELF_SOURCES:
                continue  # a person (CRM_UI, mobile, import...) setting a value SalesOS once wrote is not an echo
            mapped = _PROPERTIES.get(event.object_type, {}).get(event.propertyName)
            if mapped is None:
                continue
            name, field = mapped
            try:
                value = from_hubspot(field, event.propertyValue)
            except ValueError:  # not a value SalesOS could have written
                continue
            candidates.setdefault(event.object_type, []).append((i, event, name, value))
        if candidates:
            index = RecordIndex(self._database, tenant)
            for kind, items in candidates.items():
                keys = index.keys_of(kind, {event.object_id for _, event, _, _ in items})
                stamps = index.stamps(kind, set(keys.values()))
                for i, event, name, value in items:
                    key = keys.get(event.object_id)
                    if key is not None and stamps.get(key, {}).get(name) == value_hash(value):
                        mine.add(i)
        return mine

    def _by_source(self, event: HubSpotEvent) -> bool:
        if self._app_id is None or (event.changeSource or "").upper() not in _SELF_SOURCES:
            return False
        return (event.sourceId or "").rsplit(":", 1)[-1].strip() == self._app_id
