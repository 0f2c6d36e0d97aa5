"""The send ledger: what SalesOS has done to whom, so it never does it twice.

RQ delivers jobs at least once. Every side effect has a key
(stage, tenant, record, step). A job leases the keys it is about to act on:
each lease has an owner and an expiry, is renewed while the job runs
(`Lease`), and is marked done only once the effect happened. Two workers
never hold one key: a key another owner holds is left to it (the job queues
that step again for when the lease lapses), a done key is skipped, and the
key of a worker that died mid-effect (kill -9, a lost machine) is taken over
once its lease lapses. A job that ends without doing a key (it failed, the
CRM said "not today") releases it at once. The effects themselves are
idempotent by key too (file name, task key, the SalesOS key stamped on CRM
records), which covers a death between an effect and its mark.

Leases are judged on each host's clock: hosts keep time by NTP, and a lease
(`LEASE_SECONDS`) is far longer than their drift.

A rep's changes to one record reach SalesOS in any order (CRMs retry late,
workers run jobs in parallel), so a change older than the last one applied
to its (tenant, record, property) is not applied at all
(`connector.change_order`): the check and the effect are one transaction.

The ledger also holds unsubscribe tokens: random, opaque, one per contact,
so an unsubscribe link reveals nothing and cannot be forged. An unsubscribe
takes effect here at once (every send checks it) and stays unsynced until a
job has written it into the tenant's CRM (`synced_at`), so a CRM write that
could not be queued or did not land is done later, never lost. `queued_at`
says when its CRM write was last queued (retries wait for it to age), and
`note` why it has not landed, or what syncing it found. One whose tenant was
uninstalled has no CRM left to write to: it is `abandoned_at`, with the
reason, and stays in force here; registering the tenant again
(`reopen_abandoned_unsubscribes`) makes it wait for its CRM write once more.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, and_, case, func, select, update
from sqlalchemy.sql import Select

from connector import change_order
from connector.store import Store, insert_for, open_store
from connector.store.schema import (effects, holds, parked, sequence_versions, suppressions, unsubscribe_tokens,
                                    unsubscribes)

SEQUENCE_STOPS = ("replied", "meeting_booked")  # suppressions that stop a sequence, not the address for good
LEASE_SECONDS = float(os.environ.get("SALESOS_LEASE_SECONDS", "120"))
_CHUNK = 500  # keys per statement: far below either engine's limit on bound values
_WAITING = and_(unsubscribes.c.synced_at.is_(None), unsubscribes.c.abandoned_at.is_(None))


def effect_key(stage: str, tenant: str, record: str, step: int | str) -> str:
    return f"{stage}:{tenant}:{record.lower()}:{step}"


def new_owner() -> str:
    """Who holds a lease: the host and process (for whoever reads the ledger) and a random part (unique)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class Claim:
    """The outcome of leasing keys: those now held, and those another owner holds, with when their lease lapses."""

    held: list[str]
    busy: dict[str, dt.datetime] = field(default_factory=dict)


class Ledger:
    def __init__(self, target: Store | Path | str, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 lease_seconds: float = LEASE_SECONDS) -> None:
        """`clock` is what leases and a change's time are judged against (`connector.change_order`)."""
        self._store = open_store(target)
        self._clock = clock
        self.lease_seconds = lease_seconds

    # --- effects ------------------------------------------------------------

    def claim(self, keys: Iterable[str], owner: str) -> Claim:
        """Lease every key not done and not held by another owner; a lapsed lease is taken over."""
        keys = list(dict.fromkeys(keys))
        now = self._clock()
        expires = _micros(now + dt.timedelta(seconds=self.lease_seconds))
        held: list[str] = []
        with self._store.write() as conn:
            for chunk in _chunks(keys):
                statement = insert_for(conn, effects).values(
                    [{"key": key, "status": "claimed", "claimed_at": now.isoformat(), "owner": owner,
                      "expires_at": expires} for key in chunk])
                statement = statement.on_conflict_do_update(
                    index_elements=[effects.c.key],
                    set_={"owner": owner, "claimed_at": now.isoformat(), "expires_at": expires},
                    where=(effects.c.status == "claimed") & (
                        effects.c.expires_at.is_(None) | (effects.c.expires_at <= _micros(now))
                        | (effects.c.owner == owner)))
                held.extend(conn.execute(statement.returning(effects.c.key)).scalars())
            mine = set(held)
            busy = {key: _moment(expires_at) for chunk in _chunks([k for k in keys if k not in mine])
                    for key, expires_at in conn.execute(select(effects.c.key, effects.c.expires_at).where(
                        effects.c.key.in_(chunk), effects.c.status == "claimed"))}
        return Claim(held=[key for key in keys if key in mine], busy=busy)

    def renew(self, keys: Iterable[str], owner: str) -> set[str]:
        """Push the owner's leases on these keys one lease further; returns the keys it still holds."""
        expires = _micros(self._clock() + dt.timedelta(seconds=self.lease_seconds))
        renewed: set[str] = set()
        with self._store.write() as conn:
            for chunk in _chunks(list(keys)):
                renewed.update(conn.execute(
                    update(effects).where(effects.c.key.in_(chunk), effects.c.owner == owner,
                                          effects.c.status == "claimed")
                    .values(expires_at=expires).returning(effects.c.key)).scalars())
        return renewed

    def complete(self, keys: Iterable[str], owner: str) -> None:
        """The effects happened: done for good (only keys this owner still holds)."""
        with self._store.write() as conn:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                conn.execute(update(effects).where(effects.c.key.in_(chunk), effects.c.owner == owner,
                                                   effects.c.status == "claimed")
                             .values(status="done", done_at=_now(), owner=None, expires_at=None))

    def release(self, keys: Iterable[str], owner: str) -> None:
        """The owner will not do these now: they are free to be claimed again at once."""
        with self._store.write() as conn:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                conn.execute(effects.delete().where(effects.c.key.in_(chunk), effects.c.owner == owner,
                                                    effects.c.status == "claimed"))

    def lease(self, keys: Iterable[str], owner: str | None = None) -> Lease:
        """`claim`, renewed in the background while the work goes on; use as a context manager."""
        return Lease(self, list(keys), owner or new_owner())

    def is_done(self, key: str) -> bool:
        with self._store.read() as conn:
            return conn.execute(select(effects.c.key).where(effects.c.key == key, effects.c.status == "done")).first() \
                is not None

    def claimed(self) -> list[tuple[str, str | None, dt.datetime | None]]:
        """Every key leased and not done: (key, owner, when the lease lapses). Empty once every job has ended."""
        with self._store.read() as conn:
            return [(key, owner, None if expires is None else _moment(expires)) for key, owner, expires in
                    conn.execute(select(effects.c.key, effects.c.owner, effects.c.expires_at)
                                 .where(effects.c.status == "claimed").order_by(effects.c.key))]

    # --- unsubscribes -------------------------------------------------------

    def unsubscribe_tokens(self, tenant: str, emails: Iterable[str]) -> dict[str, str]:
        """One stable random token per contact, created on first use (in one order, so two workers creating
        the same contacts' tokens at once never wait on each other)."""
        emails = sorted({email.lower() for email in emails})
        now = _now()
        tokens: dict[str, str] = {}
        with self._store.write() as conn:
            for chunk in _chunks(emails):
                conn.execute(insert_for(conn, unsubscribe_tokens).values(
                    [{"token": secrets.token_urlsafe(18), "tenant": tenant, "email": email, "created_at": now}
                     for email in chunk]).on_conflict_do_nothing())
                tokens.update(conn.execute(select(unsubscribe_tokens.c.email, unsubscribe_tokens.c.token).where(
                    unsubscribe_tokens.c.tenant == tenant, unsubscribe_tokens.c.email.in_(chunk))).all())
        return tokens

    def unsubscribe(self, token: str) -> tuple[str, str] | None:
        """Record an unsubscribe by token; return (tenant, email), None if unknown. It waits for a send to the
        contact that is under way (`sending`), so once it is committed no send begins."""
        with self._store.write() as conn:
            row = conn.execute(select(unsubscribe_tokens.c.tenant, unsubscribe_tokens.c.email)
                               .where(unsubscribe_tokens.c.token == token).with_for_update()).first()
            if row is None:
                return None
            conn.execute(insert_for(conn, unsubscribes).values(tenant=row.tenant, email=row.email, at=_now())
                         .on_conflict_do_nothing())
        return row.tenant, row.email

    def unsubscribe_address(self, tenant: str, email: str) -> bool:
        """`unsubscribe` for a contact named by address (an email provider's unsubscribe event, not our link):
        True when it is new. It waits for a send under way, like `unsubscribe`."""
        email = email.lower()
        with self._store.write() as conn:
            self._lock_tokens(conn, tenant, [email])
            return conn.execute(insert_for(conn, unsubscribes).values(tenant=tenant, email=email, at=_now())
                                .on_conflict_do_nothing(), execution_options={"preserve_rowcount": True}).rowcount > 0

    def suppress(self, tenant: str, email: str, reason: str) -> bool:
        """No message goes to this address again (it bounced hard, its owner complained): `unsubscribed` names it
        and `sending` leaves it out from the moment this returns (it waits for a send under way, like
        `unsubscribe`). Unlike an unsubscribe it is not written into the CRM: nobody opted out. True when new;
        the first reason stays."""
        email = email.lower()
        with self._store.write() as conn:
            self._lock_tokens(conn, tenant, [email])
            statement = insert_for(conn, suppressions).values(tenant=tenant, email=email, reason=reason, at=_now())
            if reason in SEQUENCE_STOPS:
                statement = statement.on_conflict_do_nothing()
            else:  # an opt-out, a bounce or a complaint outranks a stop: the address is never mailed again
                statement = statement.on_conflict_do_update(
                    index_elements=[suppressions.c.tenant, suppressions.c.email],
                    set_={"reason": statement.excluded.reason, "at": statement.excluded.at},
                    where=suppressions.c.reason.in_(SEQUENCE_STOPS))
            return conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount > 0

    def end_stop(self, tenant: str, email: str) -> bool:
        """A rep set a stopped sequence (a reply, a meeting) going again: its stop goes; an opt-out never does."""
        with self._store.write() as conn:
            return conn.execute(suppressions.delete().where(
                suppressions.c.tenant == tenant, suppressions.c.email == email.lower(),
                suppressions.c.reason.in_(SEQUENCE_STOPS))).rowcount > 0

    def suppressed(self, tenant: str, emails: Iterable[str]) -> dict[str, str]:
        """Which of these emails (lower case) are suppressed, with why."""
        wanted = list(dict.fromkeys(email.lower() for email in emails))
        with self._store.read() as conn:
            return {email: reason for chunk in _chunks(wanted) for email, reason in conn.execute(
                select(suppressions.c.email, suppressions.c.reason).where(suppressions.c.tenant == tenant,
                                                                          suppressions.c.email.in_(chunk)))}

    @staticmethod
    def _lock_tokens(conn: Connection, tenant: str, emails: list[str]) -> None:
        """The row locks `sending` takes, so a stop committed here and a send never overlap (SQLite: the write
        lock already does it)."""
        conn.execute(select(unsubscribe_tokens.c.token)
                     .where(unsubscribe_tokens.c.tenant == tenant, unsubscribe_tokens.c.email.in_(sorted(emails)))
                     .order_by(unsubscribe_tokens.c.email).with_for_update())

    @contextmanager
    def sending(self, tenant: str, emails: Sequence[str]) -> Iterator[set[str]]:
        """The contacts (lower case) a message may go to now, held so until the block ends: the check and the sends
        are one transaction that locks the contacts' unsubscribe tokens, which `unsubscribe` locks too. So an
        unsubscribe committed before the check stops the send, and one arriving during it waits for the block
        (SQLite: the database's write lock; PostgreSQL: the tokens' row locks, taken in one order by every
        sender, so two never wait on each other)."""
        emails = sorted({email.lower() for email in emails})
        with self._store.write() as conn:
            conn.execute(select(unsubscribe_tokens.c.token)
                         .where(unsubscribe_tokens.c.tenant == tenant, unsubscribe_tokens.c.email.in_(emails))
                         .order_by(unsubscribe_tokens.c.email).with_for_update())
            stopped = set(conn.execute(select(unsubscribes.c.email).where(unsubscribes.c.tenant == tenant,
                                                                          unsubscribes.c.email.in_(emails))).scalars())
            stopped.update(conn.execute(select(suppressions.c.email).where(suppressions.c.tenant == tenant,
                                                                           suppressions.c.email.in_(emails))).scalars())
            yield set(emails) - stopped

    def due_unsubscribes(self, queued_before: dt.datetime, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` waiting unsubscribes, oldest first, whose CRM write was never queued or last queued
        before `queued_before` (it failed, or its job was lost)."""
        before = queued_before.astimezone(dt.UTC).isoformat()
        with self._store.read() as conn:
            return list(conn.execute(
                select(unsubscribes.c.tenant, unsubscribes.c.email)
                .where(_WAITING, unsubscribes.c.queued_at.is_(None) | (unsubscribes.c.queued_at < before))
                .order_by(unsubscribes.c.at, unsubscribes.c.tenant, unsubscribes.c.email).limit(limit)).all())

    def waiting_unsubscribes(self, tenant: str, emails: Iterable[str]) -> list[str]:
        """Which of these emails (lower case) have an unsubscribe still waiting for its CRM write."""
        return sorted(self._emails_in(select(unsubscribes.c.email).where(unsubscribes.c.tenant == tenant, _WAITING),
                                      unsubscribes.c.email, emails))

    def unsubscribes_queued(self, tenant: str, emails: Iterable[str], at: dt.datetime | None = None) -> None:
        self._mark(tenant, emails, queued_at=(at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat())

    def unsubscribes_synced(self, tenant: str, emails: Iterable[str], note: str | None = None) -> None:
        self._mark(tenant, emails, synced_at=_now(), note=note)

    def unsubscribes_failed(self, tenant: str, reasons: dict[str, str]) -> None:
        """Why each CRM write did not land; the unsubscribe keeps waiting (the next pass queues it again)."""
        with self._store.write() as conn:
            for email, reason in reasons.items():
                conn.execute(update(unsubscribes).where(unsubscribes.c.tenant == tenant,
                                                        unsubscribes.c.email == email.lower()).values(note=reason))

    def abandon_unsubscribes(self, tenant: str, emails: Iterable[str], reason: str) -> None:
        """No CRM is left to write these into (the tenant was uninstalled): never queued again, kept with why."""
        self._mark(tenant, emails, abandoned_at=_now(), note=reason)

    def _mark(self, tenant: str, emails: Iterable[str], **values) -> None:
        with self._store.write() as conn:
            for chunk in _chunks(list(dict.fromkeys(email.lower() for email in emails))):
                conn.execute(update(unsubscribes).where(unsubscribes.c.tenant == tenant,
                                                        unsubscribes.c.email.in_(chunk)).values(**values))

    def unsubscribed(self, tenant: str, emails: Iterable[str]) -> set[str]:
        """Which of these emails (lower case) no message may go to ever: unsubscribed, or suppressed for a bounce or
        a complaint (`suppress`). A sequence stopped by a reply or a meeting is not among them: `sending` leaves
        those out too, but a rep may start them again."""
        return (self._emails_in(select(unsubscribes.c.email).where(unsubscribes.c.tenant == tenant),
                                unsubscribes.c.email, emails)
                | self._emails_in(select(suppressions.c.email).where(suppressions.c.tenant == tenant,
                                                                     suppressions.c.reason.not_in(SEQUENCE_STOPS)),
                                  suppressions.c.email, emails))

    # --- a rep's holds and tier changes --------------------------------------

    def hold(self, tenant: str, email: str, reason: str, changed_at: dt.datetime | None = None) -> bool:
        """A rep paused or stopped this contact's sequence in the CRM: no step runs until `release`.

        False (and nothing held) when a sequence change newer than `changed_at` was already applied.
        """
        email = email.lower()
        with self._store.write() as conn:
            if changed_at is not None and not self._newest(conn, tenant, email, "sequence_state", changed_at):
                return False
            statement = insert_for(conn, holds).values(tenant=tenant, email=email, reason=reason, at=_now())
            conn.execute(statement.on_conflict_do_update(
                index_elements=[holds.c.tenant, holds.c.email],
                set_={"reason": statement.excluded.reason, "at": statement.excluded.at}))
        return True

    def hold_reason(self, tenant: str, email: str) -> str | None:
        """Why the contact's sequence is held (a rep's pause, an out-of-office), None when it is not."""
        with self._store.read() as conn:
            return conn.execute(select(holds.c.reason).where(holds.c.tenant == tenant,
                                                              holds.c.email == email.lower())).scalar()

    def held(self, tenant: str, emails: Iterable[str]) -> set[str]:
        return self._emails_in(select(holds.c.email).where(holds.c.tenant == tenant), holds.c.email, emails)

    def park(self, tenant: str, key: str, email: str, item: str) -> None:
        """Keep a step that fell due while its contact was held, to run when the hold is released."""
        with self._store.write() as conn:
            statement = insert_for(conn, parked).values(key=key, tenant=tenant, email=email.lower(), item=item)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[parked.c.key],
                set_={"tenant": statement.excluded.tenant, "email": statement.excluded.email,
                      "item": statement.excluded.item}))

    def release_hold(self, tenant: str, email: str, changed_at: dt.datetime | None = None) -> dict[str, str] | None:
        """End a hold; returns the parked steps by key (as stored), kept until `unpark` says they are queued.

        None (and the hold kept) when a sequence change newer than `changed_at` was already applied.
        """
        email = email.lower()
        with self._store.write() as conn:
            if changed_at is not None and not self._newest(conn, tenant, email, "sequence_state", changed_at):
                return None
            conn.execute(holds.delete().where(holds.c.tenant == tenant, holds.c.email == email))
            return dict(conn.execute(select(parked.c.key, parked.c.item)
                                     .where(parked.c.tenant == tenant, parked.c.email == email)
                                     .order_by(parked.c.key)).all())

    def unpark(self, keys: Iterable[str]) -> None:
        with self._store.write() as conn:
            for chunk in _chunks(list(keys)):
                conn.execute(parked.delete().where(parked.c.key.in_(chunk)))

    def replace_sequence(self, tenant: str, email: str, changed_at: dt.datetime | None = None) -> int | None:
        """A new plan for the contact's sequence (a rep's tier override): its version, after which steps of older
        plans are dropped. None (and no new plan) when a tier change newer than `changed_at` was already applied."""
        email = email.lower()
        with self._store.write() as conn:
            if changed_at is not None and not self._newest(conn, tenant, email, "priority_tier", changed_at):
                return None
            statement = insert_for(conn, sequence_versions).values(tenant=tenant, email=email, version=1)
            return conn.execute(statement.on_conflict_do_update(
                index_elements=[sequence_versions.c.tenant, sequence_versions.c.email],
                set_={"version": sequence_versions.c.version + 1}).returning(sequence_versions.c.version)).scalar_one()

    def versions(self, tenant: str, emails: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(email.lower() for email in emails))
        with self._store.read() as conn:
            return {email: version for chunk in _chunks(wanted) for email, version in conn.execute(
                select(sequence_versions.c.email, sequence_versions.c.version).where(
                    sequence_versions.c.tenant == tenant, sequence_versions.c.email.in_(chunk)))}

    def _newest(self, conn: Connection, tenant: str, record: str, prop: str, changed_at: dt.datetime) -> bool:
        return change_order.newest(conn, tenant, record, prop, changed_at, self._clock())

    def _emails_in(self, query: Select, column, emails: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(email.lower() for email in emails))
        with self._store.read() as conn:
            return {email for chunk in _chunks(wanted) for email in conn.execute(query.where(column.in_(chunk))).scalars()}


class Lease:
    """Keys leased for one job, renewed every third of a lease while it runs; what it did not complete is
    released when it ends. `held`: the keys it may act on; `busy`: those another owner holds."""

    def __init__(self, ledger: Ledger, keys: list[str], owner: str) -> None:
        self._ledger, self._keys, self.owner = ledger, keys, owner
        self.held: list[str] = []
        self.busy: dict[str, dt.datetime] = {}
        self._open: set[str] = set()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> Lease:
        claim = self._ledger.claim(self._keys, self.owner)
        self.held, self.busy, self._open = claim.held, claim.busy, set(claim.held)
        if self._open:
            self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.owner}", daemon=True)
            self._renewer.start()
        return self

    def complete(self, keys: Iterable[str]) -> list[str]:
        """Done for good; returns the keys this lease still held (one taken over meanwhile is another's)."""
        keys = [key for key in keys if key in self._open]
        self._ledger.complete(keys, self.owner)
        self._open.difference_update(keys)
        return keys

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self._open:
            self._ledger.release(self._open, self.owner)
            self._open.clear()

    def _renew(self) -> None:
        while not self._stop.wait(self._ledger.lease_seconds / 3):
            open_keys = set(self._open)
            self._open.difference_update(open_keys - self._ledger.renew(open_keys, self.owner))  # taken over


def reopen_abandoned_unsubscribes(conn: Connection, tenant: str) -> int:
    """The tenant is registered again (`TenantStore.add`): it has a CRM again, so its abandoned unsubscribes wait
    for their CRM write once more, due at the dispatcher's next pass. Returns how many. Inside the caller's write."""
    return conn.execute(update(unsubscribes).where(
        unsubscribes.c.tenant == tenant, unsubscribes.c.abandoned_at.is_not(None), unsubscribes.c.synced_at.is_(None))
        .values(abandoned_at=None, queued_at=None, note=None)).rowcount


def unsubscribe_backlog(conn: Connection) -> list[tuple[str, int, int, str | None, str | None]]:
    """Per tenant with any: (tenant, waiting, abandoned, the newest note among them, when the oldest waiting one
    was made). `health` reads it."""
    newest = unsubscribes.alias("newest")
    newest_note = (select(newest.c.note).where(newest.c.tenant == unsubscribes.c.tenant, newest.c.synced_at.is_(None),
                                               newest.c.note.is_not(None))
                   .order_by(newest.c.at.desc()).limit(1).scalar_subquery())
    abandoned = unsubscribes.c.abandoned_at.is_not(None)
    return list(conn.execute(
        select(unsubscribes.c.tenant, func.sum(case((abandoned, 0), else_=1)), func.sum(case((abandoned, 1), else_=0)),
               newest_note, func.min(case((abandoned, None), else_=unsubscribes.c.at)))
        .where(unsubscribes.c.synced_at.is_(None)).group_by(unsubscribes.c.tenant)
        .order_by(unsubscribes.c.tenant)).all())


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _micros(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def _moment(micros: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(micros / 1_000_000, dt.UTC)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
