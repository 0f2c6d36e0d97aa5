"""The embedded SQLite CRM behaves like a real CRM: natural keys, no-op re-runs, per-record errors."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from crm_adapters.base import AccountWrite, ActivityWrite, Association, ContactWrite, TaskWrite
from crm_adapters.fields import fields_for
from crm_adapters.local import LocalCRM

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand, so `updated_at` checks never depend on the wall clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self) -> None:
        self.now += dt.timedelta(hours=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def crm(tmp_path, clock):
    crm = LocalCRM(tmp_path / "home" / "crm.sqlite3", clock=clock)
    yield crm
    crm.close()


def account(domain: str = "acme.io", **changes) -> AccountWrite:
    return AccountWrite(**{"domain": domain, "name": "Acme", "industry": "Software", **changes})


def contact(email: str = "jane@acme.io", **changes) -> ContactWrite:
    return ContactWrite(**{"email": email, "name": "Jane Doe", "title": "VP Sales", "company_domain": "acme.io",
                           **changes})


def task(key: str = "outreach:local:jane@acme.io:1") -> TaskWrite:
    return TaskWrite(key=key, contact_email="jane@acme.io", kind="call", subject="Call Jane", due_at=T0)


def activity(key: str = "outreach:local:jane@acme.io:0") -> ActivityWrite:
    return ActivityWrite(key=key, contact_email="jane@acme.io", kind="email", subject="Hi", occurred_at=T0)


def stored(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Look at the file directly, as the report or an admin's SQLite browser would."""
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def test_every_field_type_reads_back_as_written(crm):
    company_fields = {
        "fit_score": 0.7875, "fit_breakdown": {"industry": {"points": 0.25, "matched": ["Software"]}},
        "intent_score": 0.9, "intent_signals": [{"kind": "hiring", "points": 0.3, "date": dt.date(2026, 10, 1)}],
        "salesos_source": "apollo, pdl", "salesos_market": "Test market", "salesos_stage": "sourced",
    }
    contact_fields = {
        "priority_score": 0.85, "priority_tier": "TIER_1", "recommended_channel": "email",
        "sequencing": [{"step": 1, "channel": "email"}], "buying_authority": 1.0, "seniority": 10,
        "role_relevance": 0.9, "email_verified": True, "next_touch_at": T0, "sequence_state": "active",
        "personalization_hooks": ["Raised a Series B"], "objection_angles": [{"objection": "no budget"}],
        "engagement_score": 62.5,
    }
    crm.upsert_accounts([account(employee_count=120, annual_revenue=25e6, country="US", fields=company_fields)])
    crm.upsert_contacts([contact(phone="+1 555 0100", linkedin_url="https://linkedin.com/in/jane", country="US",
                                 timezone="America/New_York", fields=contact_fields)])

    [acme] = crm.get_accounts()
    assert (acme.domain, acme.name, acme.industry, acme.employee_count, acme.annual_revenue, acme.country) == (
        "acme.io", "Acme", "Software", 120, 25e6, "US")
    dates_as_text = [{"kind": "hiring", "points": 0.3, "date": "2026-10-01"}]
    assert acme.fields == {**company_fields, "intent_signals": dates_as_text}
    [jane] = crm.get_contacts()
    assert (jane.phone, jane.linkedin_url, jane.timezone, jane.company_domain) == (
        "+1 555 0100", "https://linkedin.com/in/jane", "America/New_York", "acme.io")
    assert jane.fields == contact_fields
    assert jane.fields["email_verified"] is True
    assert jane.fields["next_touch_at"].tzinfo is not None
    assert set(jane.fields) == {field.name for field in fields_for("contact")}


def test_ids_are_strings_of_the_row_ids_and_stable(crm):
    first = crm.upsert_accounts([account("acme.io"), account("globex.com")])
    again = crm.upsert_accounts([account("globex.com")])
    assert first.ids == {"acme.io": "1", "globex.com": "2"}
    assert again.ids == {"globex.com": "2"}
    assert [a.id for a in crm.get_accounts()] == ["1", "2"]


def test_reupserting_the_same_data_is_unchanged_with_no_duplicate_and_the_same_updated_at(crm, clock, tmp_path):
    records = [contact("jane@acme.io", fields={"sequencing": [{"b": 1, "a": 2}], "next_touch_at": T0}),
               contact("john@acme.io", fields={"email_verified": False, "seniority": 7})]
    first = crm.upsert_contacts(records)
    clock.advance()
    second = crm.upsert_contacts(records)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert second.ids == first.ids
    assert stored(tmp_path / "home" / "crm.sqlite3", "SELECT DISTINCT updated_at FROM contacts") == [
        (T0.isoformat(),)]
    assert crm.counts()["contacts"] == 2


def test_a_real_change_updates_the_row_and_its_updated_at(crm, clock, tmp_path):
    crm.upsert_accounts([account(fields={"fit_score": 0.5})])
    clock.advance()
    result = crm.upsert_accounts([account(fields={"fit_score": 0.75})])
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    assert stored(tmp_path / "home" / "crm.sqlite3", "SELECT created_at, updated_at FROM accounts") == [
        (T0.isoformat(), clock.now.isoformat())]
    assert crm.get_accounts()[0].fields["fit_score"] == 0.75


def test_the_same_instant_in_another_offset_is_unchanged(crm):
    crm.upsert_contacts([contact(fields={"next_touch_at": T0})])
    eastern = T0.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert crm.upsert_contacts([contact(fields={"next_touch_at": eastern})]).unchanged == 1


def test_a_partial_update_leaves_the_other_fields_alone(crm):
    crm.upsert_contacts([contact(phone="+1 555 0100", fields={"priority_tier": "TIER_2", "seniority": 7})])
    result = crm.upsert_contacts([ContactWrite(email="jane@acme.io", fields={"priority_tier": "TIER_1"})])
    assert result.updated == 1
    [jane] = crm.get_contacts()
    assert (jane.name, jane.title, jane.phone) == ("Jane Doe", "VP Sales", "+1 555 0100")
    assert jane.fields == {"priority_tier": "TIER_1", "seniority": 7}


def test_a_custom_field_given_as_none_is_cleared(crm):
    crm.upsert_contacts([contact(fields={"sequence_state": "active", "next_touch_at": T0})])
    crm.upsert_contacts([ContactWrite(email="jane@acme.io", fields={"sequence_state": "finished",
                                                                    "next_touch_at": None})])
    assert crm.get_contacts()[0].fields == {"sequence_state": "finished"}


def test_domain_and_email_keys_ignore_case_and_surrounding_space(crm):
    crm.upsert_accounts([account("Acme.IO")])
    crm.upsert_contacts([contact("Jane@Acme.io", company_domain="ACME.io")])
    accounts = crm.upsert_accounts([account(" acme.io ")])
    contacts = crm.upsert_contacts([contact("JANE@acme.IO", company_domain="acme.io")])
    assert (accounts.unchanged, contacts.unchanged) == (1, 1)
    assert list(accounts.ids) == ["acme.io"] and list(contacts.ids) == ["jane@acme.io"]
    assert [a.domain for a in crm.get_accounts(["ACME.io"])] == ["acme.io"]
    assert [c.email for c in crm.get_contacts(["jAnE@ACME.IO"])] == ["jane@acme.io"]
    assert [c.email for c in crm.get_contacts(company_domain="Acme.Io")] == ["jane@acme.io"]


def test_a_key_twice_in_one_batch_is_one_row_with_the_later_values(crm):
    result = crm.upsert_accounts([account(fields={"fit_score": 0.5}), account("ACME.io", fields={"fit_score": 0.6})])
    assert (result.created, result.updated) == (1, 1)
    assert [a.fields["fit_score"] for a in crm.get_accounts()] == [0.6]


def test_an_unknown_field_fails_its_record_and_the_rest_of_the_batch_is_written(crm):
    result = crm.upsert_accounts([account("acme.io", fields={"fit_scor": 0.5}), account("globex.com")])
    assert result.errors == {"acme.io": "unknown field 'fit_scor'"}
    assert result.created == 1 and list(result.ids) == ["globex.com"]
    assert [a.domain for a in crm.get_accounts()] == ["globex.com"]


def test_an_enum_value_outside_its_options_is_an_error_naming_the_field(crm):
    result = crm.upsert_contacts([contact(fields={"priority_tier": "TIER_9"}), contact("john@acme.io")])
    assert result.errors["jane@acme.io"].startswith("priority_tier: 'TIER_9' is not one of TIER_1")
    assert [c.email for c in crm.get_contacts()] == ["john@acme.io"]


@pytest.mark.parametrize("value", ["0.5", True, float("nan")])
def test_a_number_field_takes_only_finite_numbers(crm, value):
    result = crm.upsert_accounts([account(fields={"fit_score": value})])
    assert result.errors["acme.io"].startswith("fit_score: expected a number")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("email_verified", 1, "email_verified: expected true or false"),
    ("next_touch_at", dt.datetime(2026, 11, 2, 9), "next_touch_at: expected a datetime with a time zone"),
    ("next_touch_at", "2026-11-02T09:00:00+00:00", "next_touch_at: expected a datetime with a time zone"),
])
def test_bool_and_datetime_fields_take_only_their_type(crm, name, value, message):
    assert crm.upsert_contacts([contact(fields={name: value})]).errors["jane@acme.io"].startswith(message)


def test_a_malformed_natural_key_is_an_error_for_that_record(crm):
    accounts = crm.upsert_accounts([account("https://acme.io/"), account("globex.com")])
    contacts = crm.upsert_contacts([contact("not-an-email"), contact("jane@acme.io")])
    assert list(accounts.errors) == ["https://acme.io/"] and accounts.created == 1
    assert list(contacts.errors) == ["not-an-email"] and contacts.created == 1


def test_associating_twice_creates_one_link(crm):
    crm.upsert_accounts([account()])
    crm.upsert_contacts([contact()])
    link = Association(contact_email="Jane@Acme.io", company_domain="ACME.io")
    first, second = crm.associate([link]), crm.associate([link, link])
    assert (first.created, first.unchanged) == (1, 0)
    assert (second.created, second.unchanged) == (0, 2)
    assert first.ids == {"jane@acme.io->acme.io": "1-1"}
    assert crm.counts()["associations"] == 1


def test_a_link_to_a_missing_contact_or_account_is_an_error_for_that_link(crm):
    crm.upsert_accounts([account()])
    crm.upsert_contacts([contact()])
    result = crm.associate([
        Association(contact_email="ghost@acme.io", company_domain="acme.io"),
        Association(contact_email="jane@acme.io", company_domain="nowhere.io"),
        Association(contact_email="jane@acme.io", company_domain="acme.io"),
    ])
    assert result.errors == {"ghost@acme.io->acme.io": "no contact with email 'ghost@acme.io'",
                             "jane@acme.io->nowhere.io": "no account with domain 'nowhere.io'"}
    assert result.created == 1


def test_a_task_is_created_once_per_key(crm):
    first = crm.create_tasks([task()])
    second = crm.create_tasks([task(), task()])
    assert (first.created, second.created, second.unchanged) == (1, 0, 2)
    assert second.ids == first.ids == {"outreach:local:jane@acme.io:1": "1"}
    [stored_task] = crm.get_tasks("JANE@acme.io")
    assert (stored_task.subject, stored_task.status, stored_task.due_at) == ("Call Jane", "open", T0)


def test_an_activity_is_logged_once_per_key(crm):
    assert crm.log_activities([activity()]).created == 1
    assert crm.log_activities([activity()]).unchanged == 1
    assert [a.key for a in crm.get_activities()] == ["outreach:local:jane@acme.io:0"]
    assert crm.get_activities("john@acme.io") == []


def test_task_keys_keep_their_case(crm):
    assert list(crm.create_tasks([task("Step-A"), task("step-a")]).ids) == ["Step-A", "step-a"]


def test_an_older_database_gains_the_new_field_columns_when_opened(tmp_path):
    path = tmp_path / "crm.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE, name TEXT, "
                   "industry TEXT, employee_count INTEGER, annual_revenue REAL, country TEXT, fit_score REAL, "
                   "created_at TEXT NOT NULL, updated_at TEXT NOT NULL)")
        db.execute("INSERT INTO accounts (domain, name, fit_score, created_at, updated_at) "
                   "VALUES ('acme.io', 'Acme', 0.5, 'then', 'then')")
    crm = LocalCRM(path)
    try:
        columns = {row[1] for row in stored(path, "PRAGMA table_info(accounts)")}
        assert columns >= {field.name for field in fields_for("company")}
        assert crm.upsert_accounts([account(fields={"intent_signals": [{"kind": "funding"}]})]).updated == 1
        assert crm.get_accounts()[0].fields == {"fit_score": 0.5, "intent_signals": [{"kind": "funding"}]}
    finally:
        crm.close()
    LocalCRM(path).close()  # opening again changes nothing


def test_a_local_crm_from_before_opt_outs_gains_the_column_and_reads_its_contacts_as_not_opted_out(tmp_path):
    path = tmp_path / "crm.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, "
                   "name TEXT, title TEXT, phone TEXT, linkedin_url TEXT, country TEXT, timezone TEXT, "
                   "company_domain TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)")
        db.execute("INSERT INTO contacts (email, created_at, updated_at) VALUES ('jane@acme.io', 'then', 'then')")
    crm = LocalCRM(path)
    try:
        assert [c.email_opt_out for c in crm.get_contacts()] == [False]
        crm.upsert_contacts([ContactWrite(email="jane@acme.io", email_opt_out=True)])
        assert [c.email_opt_out for c in crm.get_contacts()] == [True]
    finally:
        crm.close()


def test_each_write_call_is_one_transaction(crm):
    crm.upsert_accounts([account(f"co{i}.io") for i in range(600)])
    statements: list[str] = []
    crm._db.set_trace_callback(statements.append)
    crm.upsert_accounts([account(f"co{i}.io", fields={"fit_score": 0.1}) for i in range(1200)])
    assert sum(statement.startswith("BEGIN") for statement in statements) == 1
    assert sum(statement.startswith("COMMIT") for statement in statements) == 1


def test_more_keys_than_sqlite_allows_parameters_are_read_and_written(crm):
    domains = [f"co{i}.io" for i in range(2500)]
    result = crm.upsert_accounts([account(domain) for domain in domains])
    assert result.created == 2500 and len(result.ids) == 2500
    assert len(crm.get_accounts([*domains, "missing.io"])) == 2500
    assert crm.get_accounts([]) == []
    crm.upsert_contacts([contact(f"p{i}@{domain}") for i, domain in enumerate(domains)])
    assert len(crm.get_contacts([f"P{i}@{domain}" for i, domain in enumerate(domains)])) == 2500
    assert len(crm.get_contacts([f"p{i}@{domain}" for i, domain in enumerate(domains)], "acme.io")) == 2500


def _write_from_a_worker(args: tuple[str, int]) -> tuple[int, int]:
    """One RQ worker's share: its own accounts plus accounts every worker writes, in small batches."""
    path, worker = args
    crm = LocalCRM(Path(path))
    created = updated = 0
    try:
        for batch in range(10):
            own = [account(f"w{worker}-{batch}-{i}.io") for i in range(50)]
            shared = [account(f"shared-{batch}-{i}.io", fields={"salesos_market": f"m{worker}"}) for i in range(50)]
            result = crm.upsert_accounts(own + shared)
            assert not result.errors, result.errors
            links = crm.upsert_contacts([contact(f"p@{a.domain}", company_domain=a.domain) for a in own])
            created, updated = created + result.created + links.created, updated + result.updated
    finally:
        crm.close()
    return created, updated


def test_writers_in_separate_processes_neither_lose_rows_nor_fail_on_the_lock(tmp_path):
    path = tmp_path / "crm.sqlite3"
    LocalCRM(path).close()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_write_from_a_worker, [(str(path), worker) for worker in range(4)])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 4 * 500 + 500
        assert db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 4 * 500
    assert sum(created for created, _ in results) == 4 * 500 + 500 + 4 * 500


def test_counts_cover_every_table(crm):
    crm.upsert_accounts([account()])
    crm.upsert_contacts([contact(), contact("john@acme.io")])
    crm.associate([Association(contact_email="jane@acme.io", company_domain="acme.io")])
    crm.create_tasks([task()])
    crm.log_activities([activity()])
    assert crm.counts() == {"accounts": 1, "contacts": 2, "associations": 1, "tasks": 1, "activities": 1}
