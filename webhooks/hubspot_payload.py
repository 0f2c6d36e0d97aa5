"""A HubSpot webhook delivery, validated, and each of its events as a `CrmEvent`.

HubSpot posts a JSON array of up to 100 events. The docs name the event type
`eventType`; the v1 signature example, the SDK tests and real deliveries say
`subscriptionType`: either is accepted. Generic subscriptions
(`object.propertyChange`) name the object by `objectTypeId` ("0-1"); they are
given the same kind as the legacy ones (`contact.propertyChange`) so routing
has one spelling. Association events name `fromObjectId` instead of
`objectId`; the event is about the `from` side.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from agents.validation import describe
from webhooks.intake import Entry, event_json, identity_of

MAX_EVENTS = 100  # HubSpot: "Each request can contain up to 100 events"
OBJECT_TYPE_IDS = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-5": "ticket"}


class BadDelivery(ValueError):
    """The body is not a HubSpot delivery; `problems` says what and where, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class HubSpotEvent(BaseModel):
    """One event of a delivery; unknown fields are kept (the stage job may want them)."""

    model_config = ConfigDict(extra="allow")

    portalId: int = Field(gt=0)
    eventId: int | str
    occurredAt: int = Field(ge=0, le=10**14, description="epoch milliseconds (before the year 5138)")
    eventType: str | None = Field(default=None, min_length=3, max_length=100)
    subscriptionType: str | None = Field(default=None, min_length=3, max_length=100)
    objectId: int | str | None = None
    fromObjectId: int | str | None = None
    objectTypeId: str | None = None
    propertyName: str | None = Field(default=None, max_length=500)
    propertyValue: str | None = None
    changeSource: str | None = None
    sourceId: str | None = None

    @field_validator("propertyValue", "sourceId", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        """HubSpot sends property values as strings; a number or boolean is read as its text."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _typed_and_identified(self) -> HubSpotEvent:
        if not (self.eventType or self.subscriptionType):
            raise ValueError("eventType (or subscriptionType) is required")
        if self.objectId is None and self.fromObjectId is None:
            raise ValueError("objectId (or fromObjectId for association events) is required")
        return self

    @property
    def event_type(self) -> str:
        return self.eventType or self.subscriptionType or ""

    @property
    def object_id(self) -> str:
        return str(self.objectId if self.objectId is not None else self.fromObjectId)

    @property
    def object_type(self) -> str:
        head = self.event_type.split(".", 1)[0]
        if head == "object" and self.objectTypeId:
            return OBJECT_TYPE_IDS.get(self.objectTypeId, self.objectTypeId)
        return head

    @property
    def kind(self) -> str:
        return f"{self.object_type}.{self.event_type.rsplit('.', 1)[-1]}"

    @property
    def identity(self) -> str:
        """What makes two deliveries one event.

        `eventId` alone may repeat (the docs say so), so it is combined with
        everything that describes the change: portal, type, object, property,
        new value and when it happened. `attemptNumber` (differs on every
        retry) and `subscriptionId` (two subscriptions reporting one change)
        are left out on purpose, so both collapse to one event.
        """
        return identity_of(self.portalId, self.event_type, self.object_id, self.propertyName, self.propertyValue,
                           self.occurredAt, self.eventId)

    def entry(self, tenant: str, raw: dict[str, Any]) -> Entry:
        """The event for the tenant's inbox; `raw` (this event as HubSpot sent it) becomes the payload.

        Written straight to JSON (`event_json`): every field comes from this validated event.
        """
        identity = self.identity
        return Entry(tenant, identity, event_json(
            tenant=tenant, source="hubspot-webhook", kind=self.kind, object_type=self.object_type,
            object_id=self.object_id, property_name=self.propertyName,
            property_value=self.propertyValue, change_source=self.changeSource,
            occurred_at=dt.datetime.fromtimestamp(self.occurredAt / 1000, dt.UTC), identity=identity, payload=raw))


_DELIVERY = TypeAdapter(list[HubSpotEvent])


def parse_delivery(data: Any) -> list[HubSpotEvent]:
    """The events of a parsed JSON body; raises BadDelivery naming each problem (the first 10)."""
    if not isinstance(data, list):
        raise BadDelivery([f"body: must be a JSON array of events, got a JSON {_json_type(data)}"])
    if len(data) > MAX_EVENTS:
        raise BadDelivery([f"body: at most {MAX_EVENTS} events per request, got {len(data)}"])
    try:
        return _DELIVERY.validate_python(data)  # one call for the whole batch: the common case
    except ValidationError:
        pass
    problems = []
    for position, item in enumerate(data):  # the slow path names each problem by event
        try:
            HubSpotEvent.model_validate(item)
        except ValidationError as exc:
            problems.extend(f"event {position}: {line}" for line in describe(exc))
    raise BadDelivery(problems[:10])


def _json_type(value: Any) -> str:
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
