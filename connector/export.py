"""The CRM's SalesOS view as plain JSON: what `export --json` prints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm_adapters.base import CRMAdapter
from crm_adapters.fields import fields_for

_COMPANY_FIELDS = [field.name for field in fields_for("company")]
_CONTACT_FIELDS = [field.name for field in fields_for("contact")]


def export_crm(crm: CRMAdapter) -> dict[str, list[dict[str, Any]]]:
    """Accounts keyed by `domain`, contacts by `email`; every custom field present (null when unset)."""
    accounts = [
        {
            "domain": account.domain,
            "name": account.name,
            "industry": account.industry,
            "employee_count": account.employee_count,
            "annual_revenue": account.annual_revenue,
            "country": account.country,
            **{name: _plain(account.fields.get(name)) for name in _COMPANY_FIELDS},
        }
        for account in sorted(crm.get_accounts(), key=lambda a: a.domain)
    ]
    contacts = [
        {
            "email": contact.email,
            "name": contact.name,
            "title": contact.title,
            "company_domain": contact.company_domain,
            "country": contact.country,
            "timezone": contact.timezone,
            "email_opt_out": contact.email_opt_out,
            **{name: _plain(contact.fields.get(name)) for name in _CONTACT_FIELDS},
        }
        for contact in sorted(crm.get_contacts(), key=lambda c: c.email)
    ]
    return {"accounts": accounts, "contacts": contacts}


def _plain(value: Any) -> Any:
    """Datetimes as ISO 8601 with their offset; everything else is JSON already."""
    return value.isoformat() if isinstance(value, dt.datetime) else value
