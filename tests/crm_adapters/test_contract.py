"""What every CRM adapter promises, run unchanged against the local CRM, HubSpot and Salesforce.

Jobs rely only on these behaviours, so a job that works on the local CRM works
on a tenant's CRM.
"""

from __future__ import annotations

import datetime as dt

import pytest

from crm_adapters.base import AccountWrite, ActivityWrite, Association, ContactWrite, MeetingWrite, TaskWrite
from crm_adapters.fields import fields_for
from tests.crm_adapters.backends import LocalBackend, hubspot_backend, salesforce_backend

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
COMPANY_FIELDS = {
    "fit_score": 0.7875, "fit_breakdown": {"industry": {"points": 0.25, "matched": ["Software"]}},
    "intent_score": 0.9, "intent_signals": [{"kind": "hiring", "points": 0.3, "date": "2026-10-01"}],
    "salesos_source": "apollo, pdl", "salesos_market": "Test market", "salesos_stage": "sourced",
}
CONTACT_FIELDS = {
    "priority_score": 0.85, "priority_tier": "TIER_1", "recommended_channel": "email",
    "sequencing": [{"step": 1, "channel": "email"}], "buying_authority": 1.0, "seniority": 10,
    "role_relevance": 0.9, "email_verified": True, "next_touch_at": T0, "sequence_state": "active",
    "personalization_hooks": ["Raised a Series B"], "objection_angles": [{"objection": "no budget"}],
    "engagement_score": 62.5,
}


@pytest.fixture(params=["local", "hubspot", "salesforce"])
def backend(request, tmp_path):
    if request.param == "local":
        local = LocalBackend(tmp_path / "crm.sqlite3")
        yield local
        local.crm.close()
        return
    with (hubspot_backend if request.param == "hubspot" else salesforce_backend)() as remote:
        yield remote


def account(domain: str = "acme.io", **changes) -> AccountWrite:
    return AccountWrite(**{"domain": domain, "name": "Acme", "industry": "Software", **changes})


def contact(email: str = "jane@acme.io", **changes) -> ContactWrite:
    return ContactWrite(**{"email": email, "name": "Jane Doe", "title": "VP Sales", "company_domain": "acme.io",
                           **changes})


def task(key: str = "outreach:t:jane@acme.io:1", email: str = "jane@acme.io") -> TaskWrite:
    return TaskWrite(key=key, contact_email=email, kind="call", subject="Call Jane", body="Ask about Q1",
                     due_at=T0)


def activity(key: str = "outreach:t:jane@acme.io:0") -> ActivityWrite:
    return ActivityWrite(key=key, contact_email="jane@acme.io", kind="email", subject="Hi", body="Hello Jane",
                         occurred_at=T0)


def meeting(key: str = "meeting:t:jane@acme.io:r1", email: str = "jane@acme.io", **changes) -> MeetingWrite:
    return MeetingWrite(**{"key": key, "contact_email": email, "owner_id": "75001", "subject": "Acme x SalesOS",
                           "start": T0, "end": T0 + dt.timedelta(minutes=30), "body": "Intro call",
                           "video_url": "https://meet.google.com/wix-pvpt-njj", **changes})


def test_every_field_reads_back_as_written(backend):
    crm = backend.crm
    crm.upsert_accounts([account(employee_count=120, annual_revenue=25e6, country="US", fields=COMPANY_FIELDS)])
    crm.upsert_contacts([contact(phone="+1 555 0100", linkedin_url="https://linkedin.com/in/jane", country="US",
                                 timezone="America/New_York", fields=CONTACT_FIELDS)])
    [acme] = crm.get_accounts()
    assert (acme.domain, acme.name, acme.industry, acme.employee_count, acme.annual_revenue, acme.country) == (
        "acme.io", "Acme", "Software", 120, 25e6, "US")
    assert backend.set_fields(acme.fields) == COMPANY_FIELDS
    [jane] = crm.get_contacts()
    assert (jane.email, jane.name, jane.title, jane.phone, jane.linkedin_url, jane.timezone, jane.company_domain) == (
        "jane@acme.io", "Jane Doe", "VP Sales", "+1 555 0100", "https://linkedin.com/in/jane", "America/New_York",
        "acme.io")
    assert jane.fields == CONTACT_FIELDS
    assert set(jane.fields) == {field.name for field in fields_for("contact")}


def test_writing_the_same_records_again_creates_no_duplicate(backend):
    crm = backend.crm
    first = crm.upsert_accounts([account("acme.io"), account("globex.com")])
    again = crm.upsert_accounts([account("globex.com"), account("acme.io")])
    assert (first.created, again.created) == (2, 0)
    assert again.ids == first.ids
    assert backend.count("company") == 2


def test_a_changed_value_is_updated_in_place(backend):
    crm = backend.crm
    crm.upsert_accounts([account(fields={"fit_score": 0.5})])
    result = crm.upsert_accounts([account(fields={"fit_score": 0.75})])
    assert (result.created, result.updated) == (0, 1)
    assert [a.fields["fit_score"] for a in crm.get_accounts()] == [0.75]


def test_a_partial_update_leaves_the_other_fields_alone(backend):
    crm = backend.crm
    crm.upsert_contacts([contact(phone="+1 555 0100", fields={"priority_tier": "TIER_2", "seniority": 7})])
    crm.upsert_contacts([ContactWrite(email="jane@acme.io", fields={"priority_tier": "TIER_1"})])
    [jane] = crm.get_contacts()
    assert (jane.name, jane.title, jane.phone) == ("Jane Doe", "VP Sales", "+1 555 0100")
    assert backend.set_fields(jane.fields) == {"priority_tier": "TIER_1", "seniority": 7}


def test_a_field_given_as_none_is_cleared(backend):
    crm = backend.crm
    crm.upsert_contacts([contact(fields={"sequence_state": "active", "next_touch_at": T0})])
    crm.upsert_contacts([ContactWrite(email="jane@acme.io", fields={"sequence_state": "finished",
                                                                    "next_touch_at": None})])
    assert backend.set_fields(crm.get_contacts()[0].fields) == {"sequence_state": "finished"}


def test_keys_ignore_case_and_surrounding_space(backend):
    crm = backend.crm
    crm.upsert_accounts([account("Acme.IO")])
    crm.upsert_contacts([contact("Jane@Acme.io", company_domain="ACME.io")])
    accounts = crm.upsert_accounts([account(" acme.io ")])
    contacts = crm.upsert_contacts([contact("JANE@acme.IO", company_domain="acme.io")])
    assert list(accounts.ids) == ["acme.io"] and list(contacts.ids) == ["jane@acme.io"]
    assert (backend.count("company"), backend.count("contact")) == (1, 1)
    assert [a.domain for a in crm.get_accounts(["ACME.io"])] == ["acme.io"]
    assert [c.email for c in crm.get_contacts(["jAnE@ACME.IO"])] == ["jane@acme.io"]
    assert [c.email for c in crm.get_contacts(company_domain="Acme.Io")] == ["jane@acme.io"]


def test_a_bad_value_fails_its_record_by_name_and_the_rest_of_the_batch_lands(backend):
    crm = backend.crm
    result = crm.upsert_contacts([contact("jane@acme.io", fields={"priority_tier": "TIER_9"}),
                                  contact("john@acme.io"), contact("not-an-email")])
    assert result.errors["jane@acme.io"].startswith("priority_tier: 'TIER_9' is not one of TIER_1")
    assert "not-an-email" in result.errors
    assert list(result.ids) == ["john@acme.io"]
    assert [c.email for c in crm.get_contacts()] == ["john@acme.io"]


def test_a_link_that_is_not_http_never_reaches_a_crm_field_and_fails_only_its_record(backend):
    crm = backend.crm
    for n, link in enumerate(("javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,<b>x</b>")):
        contacts = crm.upsert_contacts([
            contact(f"jane{n}@acme.io", linkedin_url=link),
            contact(f"ann{n}@acme.io", fields={"personalization_hooks": [{"text": "Series B", "evidence": [
                {"source": "news", "url": link}]}]}),
            contact(f"joe{n}@acme.io", linkedin_url="https://linkedin.com/in/joe"),
        ])
        assert "linkedin_url" in contacts.errors[f"jane{n}@acme.io"]
        assert "personalization_hooks" in contacts.errors[f"ann{n}@acme.io"]
        assert f"joe{n}@acme.io" in contacts.ids
        accounts = crm.upsert_accounts([
            account(f"acme{n}.io", fields={"intent_signals": [{"rule": "Series B", "evidence": [{"url": link}]}]}),
            account(f"globex{n}.com", fields={"intent_signals": [{"evidence": [{"url": "http://news.example.com"}]}]}),
        ])
        assert "intent_signals" in accounts.errors[f"acme{n}.io"] and f"globex{n}.com" in accounts.ids
    assert sorted(c.email for c in crm.get_contacts()) == ["joe0@acme.io", "joe1@acme.io", "joe2@acme.io"]
    assert backend.count("company") == 3


def test_an_opt_out_rides_with_the_contact_write_and_reads_back(backend):
    crm = backend.crm
    crm.upsert_contacts([contact(fields={"sequence_state": "active"}), contact("joe@acme.io")])
    assert {c.email: c.email_opt_out for c in crm.get_contacts()} == {"jane@acme.io": False, "joe@acme.io": False}
    written = crm.upsert_contacts([ContactWrite(email="jane@acme.io", email_opt_out=True,
                                                fields={"sequence_state": "unsubscribed", "next_touch_at": None})])
    assert list(written.ids) == ["jane@acme.io"] and not written.errors
    read = {c.email: (c.email_opt_out, c.fields.get("sequence_state")) for c in crm.get_contacts()}
    assert read == {"jane@acme.io": (True, "unsubscribed"), "joe@acme.io": (False, None)}


def test_an_unknown_field_fails_its_record_only(backend):
    result = backend.crm.upsert_accounts([account("acme.io", fields={"fit_scor": 0.5}), account("globex.com")])
    assert result.errors == {"acme.io": "unknown field 'fit_scor'"}
    assert list(result.ids) == ["globex.com"]


def test_associating_twice_creates_one_link(backend):
    crm = backend.crm
    crm.upsert_accounts([account()])
    crm.upsert_contacts([contact()])
    link = Association(contact_email="Jane@Acme.io", company_domain="ACME.io")
    first, second = crm.associate([link]), crm.associate([link, link])
    assert first.created + first.unchanged == 1
    assert second.created == 0 and not second.errors
    assert backend.links() == {("jane@acme.io", "acme.io")}


def test_a_link_to_a_missing_record_is_an_error_for_that_link(backend):
    crm = backend.crm
    crm.upsert_accounts([account()])
    crm.upsert_contacts([contact(company_domain=None)])
    result = crm.associate([
        Association(contact_email="ghost@acme.io", company_domain="acme.io"),
        Association(contact_email="jane@acme.io", company_domain="nowhere.io"),
        Association(contact_email="jane@acme.io", company_domain="acme.io"),
    ])
    assert set(result.errors) == {"ghost@acme.io->acme.io", "jane@acme.io->nowhere.io"}
    assert "ghost@acme.io" in result.errors["ghost@acme.io->acme.io"]
    assert "nowhere.io" in result.errors["jane@acme.io->nowhere.io"]
    assert backend.links() == {("jane@acme.io", "acme.io")}


def test_a_task_is_created_once_per_key(backend):
    crm = backend.crm
    crm.upsert_contacts([contact()])
    first = crm.create_tasks([task()])
    second = crm.create_tasks([task(), task()])
    assert (first.created, second.created) == (1, 0)
    assert second.ids == first.ids
    [stored] = crm.get_tasks("JANE@acme.io")
    assert (stored.key, stored.subject, stored.body, stored.status, stored.due_at) == (
        "outreach:t:jane@acme.io:1", "Call Jane", "Ask about Q1", "open", T0)


def test_an_activity_is_logged_once_per_key(backend):
    crm = backend.crm
    crm.upsert_contacts([contact()])
    assert crm.log_activities([activity()]).created == 1
    assert crm.log_activities([activity()]).created == 0
    [logged] = crm.get_activities("jane@acme.io")
    assert (logged.key, logged.subject, logged.occurred_at) == ("outreach:t:jane@acme.io:0", "Hi", T0)
    assert crm.get_activities("john@acme.io") == []


def test_a_meeting_is_logged_once_per_key_on_its_contact_with_its_owner(backend):
    crm = backend.crm
    crm.upsert_contacts([contact()])
    first = crm.log_meetings([meeting()])
    again = crm.log_meetings([meeting(), meeting()])
    assert (first.created, again.created, again.ids, again.errors) == (1, 0, first.ids, {})
    assert backend.count("meeting") == 1
    [stored] = crm.get_meetings("JANE@acme.io")
    assert (stored.id, stored.key, stored.contact_email, stored.owner_id) == (
        first.ids["meeting:t:jane@acme.io:r1"], "meeting:t:jane@acme.io:r1", "jane@acme.io", "75001")
    assert (stored.subject, stored.body, stored.start, stored.end) == (
        "Acme x SalesOS", "Intro call", T0, T0 + dt.timedelta(minutes=30))
    assert stored.video_url == "https://meet.google.com/wix-pvpt-njj"
    assert crm.get_meetings("john@acme.io") == []


def test_a_meeting_with_a_place_and_no_owner_reads_back_so(backend):
    backend.crm.upsert_contacts([contact()])
    backend.crm.log_meetings([meeting(owner_id=None, video_url=None, location="Acme HQ, Room 4")])
    [stored] = backend.crm.get_meetings()
    assert (stored.location, stored.video_url) == ("Acme HQ, Room 4", None)


def test_a_meeting_for_a_missing_contact_or_with_a_bad_link_or_time_fails_alone(backend):
    crm = backend.crm
    crm.upsert_contacts([contact()])
    result = crm.log_meetings([
        meeting("m:ghost", email="ghost@acme.io"),
        meeting("m:link", video_url="javascript:alert(1)"),
        meeting("m:time", end=T0),
        meeting("m:ok"),
    ])
    assert set(result.errors) == {"m:ghost", "m:link", "m:time"} and list(result.ids) == ["m:ok"]
    assert "ghost@acme.io" in result.errors["m:ghost"] and "video_url" in result.errors["m:link"]
    assert result.errors["m:time"].startswith("end:")
    assert backend.count("meeting") == 1


def test_more_meetings_than_one_batch_are_all_logged(backend):
    backend.crm.upsert_contacts([contact()])
    result = backend.crm.log_meetings([meeting(f"m:{n}") for n in range(205)])
    assert (result.created, result.errors) == (205, {})
    assert backend.count("meeting") == 205


class KilledAfterCreating(Exception):
    """The worker died (kill -9) after the CRM took the create and before it wrote down the CRM's id."""


def kill_after_creating(backend, monkeypatch) -> None:
    """From now on a remote adapter dies right after the CRM answers a create. The local CRM has nothing to write
    down: its row is its key, one transaction, so a kill leaves the row whole or absent."""
    if isinstance(backend, LocalBackend):
        return
    remember = backend.index.remember

    def die_on_created(kind, ids, parents=None):
        if kind in ("task", "activity", "meeting"):
            raise KilledAfterCreating
        remember(kind, ids, parents)

    monkeypatch.setattr(backend.index, "remember", die_on_created)


@pytest.mark.parametrize("kind", ["task", "activity", "meeting"])
def test_what_a_killed_worker_created_is_found_by_its_key_by_the_next_worker_not_created_again(backend, kind,
                                                                                                 monkeypatch):
    backend.crm.upsert_contacts([contact()])
    record, write, read = {"task": (task(), "create_tasks", "get_tasks"),
                           "activity": (activity(), "log_activities", "get_activities"),
                           "meeting": (meeting(), "log_meetings", "get_meetings")}[kind]
    kill_after_creating(backend, monkeypatch)
    try:
        getattr(backend.crm, write)([record])
    except KilledAfterCreating:
        pass
    assert backend.count(kind) == 1  # it landed

    restarted = backend.restarted()  # a new worker, with no id remembered, runs the step again
    result = getattr(restarted, write)([record])
    assert (result.created, list(result.ids), result.errors) == (0, [record.key], {})
    assert backend.count(kind) == 1
    [stored] = getattr(restarted, read)("jane@acme.io")
    assert (stored.id, stored.key) == (result.ids[record.key], record.key)  # found, and remembered with its contact
    assert getattr(restarted, write)([record]).unchanged == 1
    restarted.close()


def test_more_records_than_one_batch_are_all_written(backend):
    crm = backend.crm
    result = crm.upsert_accounts([account(f"company{n}.com", name=f"Company {n}") for n in range(250)])
    assert result.created == 250 and not result.errors
    assert len(crm.get_accounts()) == 250
    assert len(crm.get_accounts([f"company{n}.com" for n in range(0, 250, 2)])) == 125


def test_opting_out_addresses_opts_out_their_contacts_and_creates_none_for_the_others(backend):
    backend.crm.upsert_contacts([contact()])
    assert backend.crm.opt_out(["Jane@Acme.io", "nobody@acme.io"]) == {}
    assert [c.email_opt_out for c in backend.crm.get_contacts(["jane@acme.io", "nobody@acme.io"])] == [True]
    assert backend.count("contact") == 1
