"""Who agreed to be texted, per tenant and phone number, and who took it back.

SalesOS texts a contact only with consent on record (a form they filled in,
a rep who recorded their spoken yes, an import from a system that had it).
Revoking wins: a STOP texted back revokes at once, and what the contact said
themselves outranks what others recorded for them. A number revoked by STOP
is re-opted in only by the contact (START, which Twilio also honours, or a
new form consent), never by a rep or an import: a stale spreadsheet must not
undo an opt-out. A STOP from a number with no consent on file is recorded
too, so a later import cannot grant it behind the contact's back.

Phones are E.164 (`connector.channels.phone_numbers`), emails lower case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, select

from connector.channels.phone_numbers import to_e164
from connector.store import Store, insert_for, open_store
from connector.store.schema import sms_consent

GrantSource = Literal["form", "rep", "import"]
RevokeSource = Literal["sms_stop", "twilio_opt_out", "form", "rep", "import"]
GRANT_SOURCES: tuple[str, ...] = GrantSource.__args__
REVOKE_SOURCES: tuple[str, ...] = RevokeSource.__args__
BY_CONTACT = frozenset({"sms_stop", "twilio_opt_out", "form"})  # revocations only the contact may lift
LIFTS_CONTACT_REVOCATION = frozenset({"form"})  # grants that may lift them (START is `resubscribe`)


class ConsentError(ValueError):
    """A grant or revoke SalesOS refuses; the message names the field and the rule."""


class SmsConsent:
    """The `sms_consent` table: grant, revoke and check, each in one transaction."""

    def __init__(self, target: Store | Path | str,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._store = open_store(target)
        self._clock = clock

    def grant(self, tenant: str, phone: str, *, source: GrantSource, email: str | None = None) -> None:
        """Record that the contact at `phone` agreed to texts; refused over a STOP unless the contact gave it."""
        if source not in GRANT_SOURCES:
            raise ConsentError(f"source: one of {', '.join(GRANT_SOURCES)} (got {source!r})")
        phone = to_e164(phone, field="phone")
        with self._store.write() as conn:
            row = _locked(conn, tenant, phone)
            if row is not None and row.revoked_at is not None and row.revoked_source in BY_CONTACT \
                    and source not in LIFTS_CONTACT_REVOCATION:
                raise ConsentError(f"source: the contact revoked SMS consent themselves ({row.revoked_source}); "
                                   f"only they can give it again (texting START, or a new form)")
            values = {"email": (email or (row.email if row else None) or None),
                      "granted_at": self._now(), "source": source, "revoked_at": None, "revoked_source": None}
            if values["email"]:
                values["email"] = values["email"].lower()
            statement = insert_for(conn, sms_consent).values(tenant=tenant, phone=phone, **values)
            conn.execute(statement.on_conflict_do_update(index_elements=[sms_consent.c.tenant, sms_consent.c.phone],
                                                         set_=values))

    def revoke(self, tenant: str, phone: str, source: RevokeSource) -> bool:
        """Take consent back at once; True when this changed anything (a second STOP changes nothing)."""
        if source not in REVOKE_SOURCES:
            raise ConsentError(f"source: one of {', '.join(REVOKE_SOURCES)} (got {source!r})")
        phone = to_e164(phone, field="phone")
        with self._store.write() as conn:
            row = _locked(conn, tenant, phone)
            if row is not None and row.revoked_at is not None:
                if row.revoked_source in BY_CONTACT or source not in BY_CONTACT:
                    return False
                # the contact's own word replaces a rep's: only the contact may lift it now
            values = {"revoked_at": self._now(), "revoked_source": source}
            statement = insert_for(conn, sms_consent).values(tenant=tenant, phone=phone, **values)
            conn.execute(statement.on_conflict_do_update(index_elements=[sms_consent.c.tenant, sms_consent.c.phone],
                                                         set_=values))
            return True

    def resubscribe(self, tenant: str, phone: str) -> bool:
        """The contact texted START (or YES, UNSTOP): consent they had before their STOP is back. A number that never
        agreed gains nothing (START lifts Twilio's block, it is no consent to marketing). True when restored."""
        phone = to_e164(phone, field="phone")
        with self._store.write() as conn:
            row = _locked(conn, tenant, phone)
            if row is None or row.granted_at is None or row.revoked_at is None \
                    or row.revoked_source not in ("sms_stop", "twilio_opt_out"):
                return False
            conn.execute(sms_consent.update().where(_key(tenant, phone)).values(revoked_at=None, revoked_source=None))
            return True

    def has_consent(self, tenant: str, phone: str) -> bool:
        """Whether `phone` may be texted now: consent granted and not revoked."""
        try:
            phone = to_e164(phone, field="phone")
        except ValueError:
            return False
        with self._store.read() as conn:
            row = conn.execute(select(sms_consent.c.granted_at, sms_consent.c.revoked_at)
                               .where(_key(tenant, phone))).first()
        return row is not None and row.granted_at is not None and row.revoked_at is None

    def consented(self, tenant: str, phones: list[str]) -> set[str]:
        """Which of `phones` (E.164) may be texted now, in one query: what a batch of steps asks."""
        if not phones:
            return set()
        with self._store.read() as conn:
            rows = conn.execute(select(sms_consent.c.phone).where(
                sms_consent.c.tenant == tenant, sms_consent.c.phone.in_(sorted(set(phones))),
                sms_consent.c.granted_at.is_not(None), sms_consent.c.revoked_at.is_(None))).scalars()
            return set(rows)

    def forget_tenant(self, tenant: str) -> int:
        with self._store.write() as conn:
            return conn.execute(sms_consent.delete().where(sms_consent.c.tenant == tenant)).rowcount

    def _now(self) -> str:
        return self._clock().astimezone(dt.UTC).isoformat()


def _key(tenant: str, phone: str):
    return (sms_consent.c.tenant == tenant) & (sms_consent.c.phone == phone)


def _locked(conn: Connection, tenant: str, phone: str):
    """The row, locked until the write ends (PostgreSQL; SQLite's write lock holds everything already)."""
    return conn.execute(select(sms_consent).where(_key(tenant, phone)).with_for_update()).first()
