"""API calls needed to write 1,000 accounts and 3,000 contacts, with every custom field and link, per CRM.

Each CRM is the local stand-in the tests use (a HubSpot server on loopback,
Salesforce through `responses`), so the figures count exactly the requests the
adapters send. The minimum is what the CRM's batch limits allow: HubSpot
upserts and links 100 per call; Salesforce upserts 200 per call and links a
contact to its account inside the contact upsert. Target: at most 1.05 x the
minimum. A second, identical run shows what the rep-edit guard saves.

Then one task and one logged email per contact, the way outreach writes them
(HubSpot creates 100 a call, Salesforce 200), an identical re-run, and a re-run
after every one of their ids was forgotten, as if each worker had been killed
between the CRM's answer and remembering it: it must find what was created,
and the CRM must still hold one of each. Last, a meeting for one contact in ten
(HubSpot meeting engagements, Salesforce Events), measured the same way.

    .venv/bin/python bench/crm_calls.py
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_adapters.base import (  # noqa: E402
    AccountWrite,
    ActivityWrite,
    Association,
    ContactWrite,
    MeetingWrite,
    TaskWrite,
)
from crm_adapters.guard import RepEditGuard  # noqa: E402

ACCOUNTS, CONTACTS = 1000, 3000
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


def accounts() -> list[AccountWrite]:
    return [AccountWrite(domain=f"company{n}.com", name=f"Company {n}", industry="Software", employee_count=50 + n,
                         annual_revenue=1e6 * (1 + n % 40), country="US", fields={
                             "fit_score": 0.8, "fit_breakdown": {"industry": {"points": 0.25}}, "intent_score": 0.5,
                             "intent_signals": [{"kind": "hiring", "date": "2026-10-01"}],
                             "salesos_source": "apollo", "salesos_market": "Bench", "salesos_stage": "sequenced"})
            for n in range(ACCOUNTS)]


def contacts() -> list[ContactWrite]:
    per = CONTACTS // ACCOUNTS
    return [ContactWrite(email=f"person{n}@company{n // per}.com", name=f"Person {n}", title="VP Sales",
                         phone="+1 555 0100", linkedin_url=f"https://linkedin.com/in/p{n}", country="US",
                         timezone="America/New_York", company_domain=f"company{n // per}.com", fields={
                             "priority_score": 0.85, "priority_tier": "TIER_1", "recommended_channel": "email",
                             "sequencing": [{"step": 1, "channel": "email"}], "buying_authority": 1.0,
                             "seniority": 10, "role_relevance": 0.9, "email_verified": True, "next_touch_at": T0,
                             "sequence_state": "active", "personalization_hooks": ["Series B"],
                             "objection_angles": [{"objection": "no budget"}]})
            for n in range(CONTACTS)]


def tasks() -> list[TaskWrite]:
    return [TaskWrite(key=f"outreach:bench:{c.email}:1", contact_email=c.email, kind="call", subject="Call",
                      body="Hook: Series B", due_at=T0) for c in contacts()]


def activities() -> list[ActivityWrite]:
    return [ActivityWrite(key=f"outreach:bench:{c.email}:0", contact_email=c.email, kind="email", subject="Hi",
                          body="Hello", occurred_at=T0) for c in contacts()]


def meetings() -> list[MeetingWrite]:
    return [MeetingWrite(key=f"meeting:bench:{c.email}:1", contact_email=c.email, owner_id="75001", subject="Intro",
                         start=T0, end=T0 + dt.timedelta(minutes=30), video_url="https://meet.google.com/abc-defg-hij")
            for c in contacts()[::10]]


def funnel_write(crm) -> None:
    """What the sourcing, contact and scoring jobs write, in their order."""
    people = contacts()
    for result in (crm.upsert_accounts(accounts()), crm.upsert_contacts(people),
                   crm.associate([Association(contact_email=c.email, company_domain=c.company_domain)
                                  for c in people])):
        if result.errors:
            raise SystemExit(f"write errors: {list(result.errors.items())[:3]}")


def measure(name: str, minimum: int, backend, count, connections=None) -> None:
    crm = RepEditGuard(backend.crm, backend.index)
    started = time.perf_counter()
    funnel_write(crm)
    first, seconds = count(), time.perf_counter() - started
    opened = f"   over {connections()} connections" if connections else ""
    funnel_write(crm)
    second = count() - first
    print(f"{name:<11} {first:>6} calls  minimum {minimum:>4}  ratio {first / minimum:.3f}  "
          f"(target <= 1.05)  {seconds:5.1f} s   identical re-run: {second} calls{opened}")


def outreach_write(crm) -> None:
    for result in (crm.create_tasks(tasks()), crm.log_activities(activities())):
        if result.errors:
            raise SystemExit(f"write errors: {list(result.errors.items())[:3]}")


def measure_created(minimum: int, backend, count, stored) -> None:
    """Tasks and emails: a first run, an identical re-run, and a re-run that remembers none of their ids."""
    crm = RepEditGuard(backend.crm, backend.index)
    before = count()
    outreach_write(crm)
    first = count() - before
    outreach_write(crm)
    again = count() - before - first
    backend.index.forget("task", [t.key for t in tasks()])
    backend.index.forget("activity", [a.key for a in activities()])
    outreach_write(crm)
    recovered = count() - before - first - again
    print(f"{'':<11} {first:>6} calls  minimum {minimum:>4}  for {len(tasks()):,} tasks and {len(activities()):,} "
          f"emails   identical re-run: {again} calls   ids forgotten: {recovered} calls, "
          f"{stored() - len(tasks()) - len(activities())} duplicates")


def measure_meetings(minimum: int, backend, count, stored) -> None:
    """Meetings: a first run, an identical re-run, and a re-run that remembers none of their ids."""
    booked = meetings()
    before = count()
    for _ in range(2):
        if (result := backend.crm.log_meetings(booked)).errors:
            raise SystemExit(f"write errors: {list(result.errors.items())[:3]}")
    first_two = count() - before
    backend.index.forget("meeting", [m.key for m in booked])
    backend.crm.log_meetings(booked)
    recovered = count() - before - first_two
    print(f"{'':<11} {first_two:>6} calls  minimum {minimum:>4}  for {len(booked):,} meetings, run twice   "
          f"ids forgotten: {recovered} calls, {stored() - len(booked)} duplicates")


def hubspot() -> None:
    from tests.crm_adapters.backends import hubspot_backend

    minimum = math.ceil(ACCOUNTS / 100) + 2 * math.ceil(CONTACTS / 100)
    with hubspot_backend() as backend:
        measure("HubSpot", minimum, backend, lambda: backend.fake.total_calls, lambda: len(backend.fake.clients))
        measure_created(2 * math.ceil(CONTACTS / 100), backend, lambda: backend.fake.total_calls,
                        lambda: len(backend.fake.objects["tasks"]) + len(backend.fake.objects["emails"]))
        measure_meetings(math.ceil(CONTACTS / 10 / 100), backend, lambda: backend.fake.total_calls,
                         lambda: len(backend.fake.objects["meetings"]))


def salesforce() -> None:
    from tests.crm_adapters.backends import salesforce_backend

    minimum = math.ceil(ACCOUNTS / 200) + math.ceil(CONTACTS / 200)
    with salesforce_backend() as backend:
        measure("Salesforce", minimum, backend, lambda: backend.fake.calls)
        measure_created(2 * math.ceil(CONTACTS / 200), backend, lambda: backend.fake.calls,
                        lambda: len(backend.fake.tasks))
        measure_meetings(math.ceil(CONTACTS / 10 / 200), backend, lambda: backend.fake.calls,
                         lambda: len(backend.fake.events))


def main() -> None:
    print(f"Writing {ACCOUNTS:,} accounts and {CONTACTS:,} contacts with every SalesOS field and link "
          f"(one call per record would be {ACCOUNTS + 2 * CONTACTS:,}):")
    hubspot()
    salesforce()


if __name__ == "__main__":
    main()
