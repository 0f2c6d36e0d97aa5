"""Canonical values of CRM records: natural keys and custom-field values, checked and encoded the same way for every CRM."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

from agents.urls import RULE as LINK_RULE, is_http_url
from agents.validation import clip, quote
from crm_adapters.fields import CustomField

JSON = json.JSONEncoder(sort_keys=True, default=str, allow_nan=False)  # sorted keys: equal values, equal text


def normal_domain(value: str) -> str:
    """Natural keys are compared lower-cased and trimmed, as CRMs do."""
    return value.strip().lower()


def normal_email(value: str) -> str:
    return value.strip().lower()


def created_key(kind: str, key: str) -> str:
    """The value of `ENGAGEMENT_KEY` on what SalesOS creates: a digest of its kind and key.

    A step's key holds an email of any length (Salesforce's External ID text stops at 255 characters) in any case
    (External IDs compare without it); 32 hex digits fit both and stay unique per kind, so a Salesforce Task made
    for a rep's to-do and one logging an email never share a key.
    """
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:32]


def check_domain(value: str) -> None:
    domain = normal_domain(value)
    if not domain or "@" in domain or "/" in domain or " " in domain:
        raise ValueError(f"domain {quote(value)} is not a bare domain like acme.io")


def check_email(value: str) -> None:
    local, at, host = normal_email(value).partition("@")
    if not (local and at and host) or "@" in host or " " in value.strip():
        raise ValueError(f"email {quote(value)} is not an email address")


def check_link(name: str, value: str | None) -> None:
    """A link SalesOS writes (a contact's LinkedIn URL) is an http(s) URL, or nothing."""
    if value is not None and not is_http_url(value):
        raise ValueError(f"{name}: {LINK_RULE} (got {quote(value)})")


def _check_links(name: str, value: Any) -> None:
    """Every `url` (or `*_url`) inside a JSON field, such as the evidence of `intent_signals`, is an http(s) URL."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (key == "url" or key.endswith("_url")) and isinstance(item, str):
                check_link(f"{name}: {key}", item)
            else:
                _check_links(name, item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_links(name, item)


def instant(name: str, value: Any) -> str:
    """Datetimes are stored in UTC so equal instants compare equal, whatever offset they were given in."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{name}: expected a datetime with a time zone, got {quote(value)}")
    return value.astimezone(dt.UTC).isoformat()


def encode(field: CustomField, value: Any) -> Any:
    """Check a custom field value against its definition and turn it into what its column stores."""
    name = field.name
    if field.type == "json":
        _check_links(name, value)
        try:
            return JSON.encode(value)
        except ValueError as exc:
            raise ValueError(f"{name}: not storable as JSON ({clip(str(exc))})") from exc
    if field.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {quote(value)}")
        return int(value)
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name}: expected a number, got {quote(value)}")
        return value
    if field.type == "datetime":
        return instant(name, value)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {quote(value)}")
    if field.type == "enum" and value not in field.options:
        raise ValueError(f"{name}: {quote(value)} is not one of {', '.join(field.options)}")
    return value


def decode(field: CustomField, value: Any) -> Any:
    if field.type == "json":
        return json.loads(value)
    if field.type == "bool":
        return bool(value)
    if field.type == "datetime":
        return dt.datetime.fromisoformat(value)
    return value
