"""Salesforce adapter against the fake org: collections batching, per-record errors, limits and auth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import redis
import requests
import responses

from crm_adapters.base import AccountWrite, ActivityWrite, Association, ContactWrite, TaskWrite
from crm_adapters.calls import Budget, CallPolicy, StaticToken
from crm_adapters.errors import RateLimited, Transient
from crm_adapters.record_index import RecordIndex
from crm_adapters.salesforce import SalesforceCRM, classify
from crm_adapters.values import created_key
from tests.crm_adapters.backends import RefreshingToken
from tests.crm_adapters.salesforce_fake import SalesforceFake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
TENANT = "salesforce-00D5g000004XyZaEAK"


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the adapter asked for, instead of sleeping."""
    return []


@pytest.fixture
def index(tmp_path) -> RecordIndex:
    return RecordIndex(tmp_path / "salesos.sqlite3", TENANT)


def adapter(fake, sleeps: list[float], index: RecordIndex, tokens=None, **policy) -> SalesforceCRM:
    return SalesforceCRM(tokens or StaticToken("token-1"), index,
                         instance_url=fake.instance_url,
                         policy=CallPolicy(sleep=sleeps.append, jitter=lambda: 1.0, **policy))


@pytest.fixture
def crm(salesforce_fake, sleeps, index):
    crm = adapter(salesforce_fake, sleeps, index)
    yield crm
    crm.close()


def accounts(count: int, **fields) -> list[AccountWrite]:
    return [AccountWrite(domain=f"company{n}.com", name=f"Company {n}", fields={"fit_score": 0.5, **fields})
            for n in range(count)]


def jane(**changes) -> ContactWrite:
    return ContactWrite(**{"email": "jane@company0.com", "name": "Jane Doe", "title": "VP Sales",
                           "company_domain": "company0.com", **changes})


def call_task(key: str = "outreach:sf:jane@company0.com:1") -> TaskWrite:
    return TaskWrite(key=key, contact_email="jane@company0.com", kind="call", subject="Call Jane",
                     body="Ask about Q1", due_at=T0)


def test_a_thousand_accounts_take_five_upsert_calls(crm, salesforce_fake):
    result = crm.upsert_accounts(accounts(1000))
    assert (result.created, len(result.ids), result.errors) == (1000, 1000, {})
    assert salesforce_fake.calls == 5
    assert set(salesforce_fake.requests) == {
        ("PATCH", "/services/data/v59.0/composite/sobjects/Account/SalesOS_Domain__c")}


def test_upserting_again_updates_in_place_without_duplicates(crm, salesforce_fake):
    first = crm.upsert_accounts(accounts(3))
    again = crm.upsert_accounts(accounts(3, fit_score=0.75))
    assert (first.created, first.updated, again.created, again.updated) == (3, 0, 0, 3)
    assert again.ids == first.ids
    assert len(salesforce_fake.accounts) == 3
    assert {a["SalesOS_Fit_Score__c"] for a in salesforce_fake.accounts.values()} == {0.75}


def test_a_contact_upsert_links_its_account_with_no_extra_call(crm, salesforce_fake):
    crm.upsert_accounts(accounts(1))
    before = salesforce_fake.calls
    people = [jane(), jane(email="john@company0.com", name="John Roe")]
    assert crm.upsert_contacts(people).created == 2
    assert salesforce_fake.calls == before + 1
    assert salesforce_fake.links() == {("jane@company0.com", "company0.com"), ("john@company0.com", "company0.com")}
    linked = crm.associate([Association(contact_email=p.email, company_domain="company0.com") for p in people])
    assert (linked.created, linked.unchanged, linked.errors) == (0, 2, {})
    assert salesforce_fake.calls == before + 1


def test_links_for_contacts_upserted_without_a_company_cost_one_call_per_two_hundred(crm, salesforce_fake):
    crm.upsert_accounts(accounts(2))
    people = [ContactWrite(email=f"p{n}@company{n % 2}.com", name=f"Person {n}") for n in range(300)]
    crm.upsert_contacts(people)
    before = salesforce_fake.calls
    result = crm.associate([Association(contact_email=p.email, company_domain=p.email.partition("@")[2])
                            for p in people])
    assert (result.created, result.errors) == (300, {})
    assert salesforce_fake.calls == before + 2
    assert ("p7@company1.com", "company1.com") in salesforce_fake.links()
    assert len(salesforce_fake.contacts) == 300


def test_a_validation_error_is_reported_with_key_and_field_while_the_other_199_land(crm, salesforce_fake):
    batch = accounts(200)
    batch[42] = AccountWrite(domain="company42.com", name="Company 42", fields={"fit_score": 1e15})
    result = crm.upsert_accounts(batch)
    assert list(result.errors) == ["company42.com"]
    assert result.errors["company42.com"].startswith("SalesOS_Fit_Score__c: Fit score: value outside of valid range")
    assert "(NUMBER_OUTSIDE_VALID_RANGE)" in result.errors["company42.com"]
    assert (result.created, salesforce_fake.calls, len(salesforce_fake.accounts)) == (199, 1, 199)


def test_a_locked_record_is_retried_until_it_lands(crm, salesforce_fake, sleeps):
    salesforce_fake.fail_record("company3.com", "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this "
                                "record or 1 records: 001Dn0000000004IAA", times=2)
    result = crm.upsert_accounts(accounts(10))
    assert (result.created, result.errors) == (10, {})
    assert salesforce_fake.calls == 3
    assert len(sleeps) == 2


def test_a_record_still_locked_after_three_retries_is_reported(crm, salesforce_fake):
    salesforce_fake.fail_record("company3.com", "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", times=9)
    result = crm.upsert_accounts(accounts(10))
    assert result.errors == {"company3.com": "unable to obtain exclusive access (UNABLE_TO_LOCK_ROW)"}
    assert (result.created, salesforce_fake.calls) == (9, 4)


def test_an_error_salesforce_reports_for_one_record_is_reported_once_not_retried(crm, salesforce_fake):
    [_, bad] = json.loads((FIXTURES / "salesforce_composite_response.json").read_text())["compositeResponse"]
    [error] = bad["body"]
    salesforce_fake.fail_record("jane@company0.com", error["errorCode"], error["message"], tuple(error["fields"]))
    result = crm.upsert_contacts([jane(), jane(email="john@company0.com")])
    assert result.errors == {
        "jane@company0.com": "Email: Email: invalid email address: Not a real email address (INVALID_EMAIL_ADDRESS)"}
    assert list(result.ids) == ["john@company0.com"] and salesforce_fake.calls == 1


def test_a_batch_refused_whole_fails_its_records_and_the_next_batch_lands(crm, salesforce_fake):
    salesforce_fake.fail_next(400, [{"message": "No such column 'SalesOS_Fit_Score__c' on sobject of type Account",
                                     "errorCode": "INVALID_FIELD"}])
    result = crm.upsert_accounts(accounts(250))
    assert len(result.errors) == 200 and result.created == 50
    assert "(400 INVALID_FIELD): No such column" in result.errors["company0.com"]


def test_a_contact_without_a_name_is_created_with_its_email_local_part_as_last_name(crm, salesforce_fake):
    result = crm.upsert_contacts([ContactWrite(email="Solo.Person@company9.com")])
    assert (result.created, result.errors) == (1, {})
    assert salesforce_fake.contact("solo.person@company9.com")["LastName"] == "solo.person"
    assert salesforce_fake.calls == 2  # Salesforce refused it once for the missing LastName


def test_an_update_without_a_name_keeps_the_name(crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    result = crm.upsert_contacts([ContactWrite(email="jane@company0.com", fields={"priority_tier": "TIER_1"})])
    assert (result.updated, salesforce_fake.calls) == (1, 2)
    [stored] = crm.get_contacts(["jane@company0.com"])
    assert (stored.name, stored.title, stored.fields["priority_tier"]) == ("Jane Doe", "VP Sales", "TIER_1")


def test_every_field_reads_back_as_written(crm):
    company = {"fit_score": 0.7875, "fit_breakdown": {"industry": {"points": 0.25}}, "intent_score": 0.9,
               "intent_signals": [{"kind": "hiring", "date": "2026-10-01"}], "salesos_source": "apollo",
               "salesos_market": "Test market", "salesos_stage": "sourced"}
    person = {"priority_score": 0.85, "priority_tier": "TIER_1", "recommended_channel": "email",
              "sequencing": [{"step": 1}], "buying_authority": 1.0, "seniority": 10, "role_relevance": 0.9,
              "email_verified": True, "next_touch_at": T0.astimezone(dt.timezone(dt.timedelta(hours=-5))),
              "sequence_state": "active", "personalization_hooks": ["Series B"], "objection_angles": []}
    crm.upsert_accounts([AccountWrite(domain="company0.com", name="Acme", industry="Software", employee_count=120,
                                      annual_revenue=25e6, country="US", fields=company)])
    crm.upsert_contacts([jane(phone="+1 555 0100", linkedin_url="https://linkedin.com/in/jane", country="US",
                              timezone="America/New_York", fields=person)])
    [acme], [stored] = crm.get_accounts(), crm.get_contacts()
    assert (acme.domain, acme.name, acme.industry, acme.employee_count, acme.annual_revenue, acme.country) == (
        "company0.com", "Acme", "Software", 120, 25e6, "US")
    assert acme.fields == {**company, "prospect": False}  # a checkbox is never empty
    assert (stored.name, stored.phone, stored.linkedin_url, stored.timezone, stored.company_domain) == (
        "Jane Doe", "+1 555 0100", "https://linkedin.com/in/jane", "America/New_York", "company0.com")
    assert stored.fields == {**person, "next_touch_at": T0}


def test_reads_by_key_find_emails_with_quotes_and_any_case(crm):
    crm.upsert_contacts([jane(email="O'Brien@company0.com", name="Pat O'Brien")])
    assert [c.email for c in crm.get_contacts(["o'brien@COMPANY0.com"])] == ["o'brien@company0.com"]
    assert [c.name for c in crm.get_contacts(company_domain="Company0.COM")] == ["Pat O'Brien"]


def test_reads_by_long_keys_are_split_so_each_query_url_stays_under_salesforces_limit(crm, salesforce_fake):
    emails = [f"{'first.middle.last' * 4}.{n}@{'subsidiary-of-a-long-company-name' * 2}.com" for n in range(200)]
    crm.upsert_contacts([ContactWrite(email=email, name=f"Person {n}") for n, email in enumerate(emails)])
    before = salesforce_fake.calls
    assert len(crm.get_contacts(emails)) == 200
    assert salesforce_fake.calls - before > 1


def test_a_read_larger_than_one_page_follows_the_next_records_url(crm, salesforce_fake):
    salesforce_fake.page_size = 100
    crm.upsert_accounts(accounts(250))
    before = salesforce_fake.calls
    assert len(crm.get_accounts()) == 250
    assert salesforce_fake.calls == before + 3


def test_a_refused_token_is_refreshed_once_and_the_call_repeated(salesforce_fake, sleeps, index):
    tokens = RefreshingToken("token-1", "token-2")
    salesforce_fake.revoke("token-1")
    crm = adapter(salesforce_fake, sleeps, index, tokens)
    assert crm.upsert_accounts(accounts(1)).created == 1
    assert crm.upsert_accounts(accounts(2)).created == 1
    assert (tokens.refreshes, salesforce_fake.calls) == (1, 3)


def test_the_daily_request_limit_raises_rate_limited_without_retrying(crm, salesforce_fake, sleeps):
    salesforce_fake.limit_exceeded()
    with pytest.raises(RateLimited, match="TotalRequests Limit exceeded") as raised:
        crm.upsert_accounts(accounts(1))
    assert raised.value.daily is True
    assert (salesforce_fake.calls, sleeps) == (1, [])


def test_the_concurrent_request_limit_is_waited_out(crm, salesforce_fake, sleeps):
    salesforce_fake.fail_next(403, [{"message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    assert crm.upsert_accounts(accounts(1)).created == 1
    assert (salesforce_fake.calls, len(sleeps)) == (2, 1)


def test_a_503_is_retried_after_the_seconds_retry_after_asks_for(crm, salesforce_fake, sleeps):
    salesforce_fake.unavailable(retry_after=7)
    assert crm.upsert_accounts(accounts(1)).created == 1
    assert (salesforce_fake.calls, sleeps) == (2, [7.0])


def test_a_dropped_connection_is_transient():
    assert isinstance(classify(requests.ConnectionError("reset by peer")), Transient)


def test_sforce_limit_info_sets_the_budget_allowance_to_the_orgs(salesforce_fake, sleeps, index, redis_url):
    budget = Budget(redis.Redis.from_url(redis_url), TENANT, allowance=1_000_000, share=0.5)
    salesforce_fake.daily_limit = 15_000
    crm = adapter(salesforce_fake, sleeps, index, budget=budget)
    crm.upsert_accounts(accounts(1))
    assert (budget.allowance, budget.limit, budget.used()) == (15_000, 7_500, 1)


def test_a_task_is_created_once_per_key(crm, salesforce_fake):
    contact_id = crm.upsert_contacts([jane()]).ids["jane@company0.com"]
    first = crm.create_tasks([call_task()])
    before = salesforce_fake.calls
    second = crm.create_tasks([call_task(), call_task()])
    assert (first.created, second.created, second.unchanged) == (1, 0, 2)
    assert second.ids == first.ids and salesforce_fake.calls == before
    [stored] = salesforce_fake.tasks.values()
    assert (stored["WhoId"], stored["Status"], stored["TaskSubtype"], stored["ActivityDate"]) == (
        contact_id, "Not Started", "Call", "2026-11-02")
    [task] = crm.get_tasks("JANE@company0.com")
    assert (task.key, task.kind, task.subject, task.body, task.status, task.due_at) == (
        "outreach:sf:jane@company0.com:1", "call", "Call Jane", "Ask about Q1", "open", T0)


def test_a_task_for_a_contact_salesos_has_not_seen_finds_it_with_one_query(salesforce_fake, sleeps, index,
                                                                           tmp_path):
    adapter(salesforce_fake, sleeps, index).upsert_contacts([jane()])
    fresh = adapter(salesforce_fake, sleeps, RecordIndex(tmp_path / "other.sqlite3", TENANT))  # an empty index
    before = salesforce_fake.calls
    assert fresh.create_tasks([call_task()]).created == 1
    assert salesforce_fake.requests[before:] == [("GET", "/services/data/v59.0/query/"), (
        "PATCH", "/services/data/v59.0/composite/sobjects/Task/SalesOS_Key__c")]


def test_a_task_for_an_unknown_contact_is_an_error_for_that_task(crm):
    result = crm.create_tasks([call_task()])
    assert result.errors == {"outreach:sf:jane@company0.com:1": "no contact with email 'jane@company0.com'"}


def test_an_activity_is_logged_once_as_a_completed_email_task(crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    sent = ActivityWrite(key="outreach:sf:jane@company0.com:0", contact_email="jane@company0.com", kind="email",
                         subject="Hi", body="Hello Jane", occurred_at=T0)
    assert crm.log_activities([sent]).created == 1
    assert crm.log_activities([sent]).unchanged == 1
    [stored] = salesforce_fake.tasks.values()
    assert (stored["Status"], stored["TaskSubtype"], stored["IsReminderSet"]) == ("Completed", "Email", False)
    [logged] = crm.get_activities("jane@company0.com")
    assert (logged.kind, logged.subject, logged.occurred_at) == ("email", "Hi", T0)


def test_a_task_created_whose_answer_was_lost_is_sent_again_and_found_by_its_key_not_duplicated(crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    salesforce_fake.lose_next_answer()  # Salesforce creates the Task, the 503 comes back instead
    before = salesforce_fake.calls
    result = crm.create_tasks([call_task()])
    [(task_id, stored)] = salesforce_fake.tasks.items()
    assert (result.ids, result.created, result.updated, result.errors) == (
        {"outreach:sf:jane@company0.com:1": task_id}, 0, 1, {})  # the repeat found the first one
    assert stored["SalesOS_Key__c"] == created_key("task", "outreach:sf:jane@company0.com:1")
    assert salesforce_fake.calls - before == 2
    assert [t.id for t in crm.get_tasks("jane@company0.com")] == [task_id]


def test_a_task_and_an_activity_under_the_same_key_are_two_tasks(crm, salesforce_fake):
    """Both are Tasks in Salesforce; their SalesOS keys differ by kind, so neither upsert finds the other."""
    crm.upsert_contacts([jane()])
    key = "outreach:sf:jane@company0.com:1"
    crm.create_tasks([call_task(key)])
    crm.log_activities([ActivityWrite(key=key, contact_email="jane@company0.com", kind="email", subject="Hi",
                                      occurred_at=T0)])
    assert sorted(t["Status"] for t in salesforce_fake.tasks.values()) == ["Completed", "Not Started"]


def test_a_contact_whose_account_was_deleted_in_salesforce_is_still_written_unlinked(crm, salesforce_fake):
    crm.upsert_accounts(accounts(1))
    salesforce_fake.accounts.clear()
    result = crm.upsert_contacts([jane()])
    assert list(result.ids) == ["jane@company0.com"] and not result.errors
    assert salesforce_fake.contact("jane@company0.com").get("AccountId") is None
    linked = crm.associate([Association(contact_email="jane@company0.com", company_domain="company0.com")])
    assert "company0.com" in linked.errors["jane@company0.com->company0.com"]


def test_a_refreshed_token_reads_the_instance_url_again_so_a_moved_org_is_followed(sleeps, tmp_path):
    first, moved = SalesforceFake(), SalesforceFake("https://moved.my.salesforce.com")
    where = {"url": first.instance_url}

    class MovingToken:
        """The refresh answers with the org's new instance URL, as Salesforce does after a migration."""

        def access_token(self):
            return "moved-token" if where["url"] == moved.instance_url else "first-token"

        def refresh_after_failure(self, rejected):
            where["url"] = moved.instance_url
            return "moved-token"

    first.revoke("first-token")
    crm = SalesforceCRM(MovingToken(), RecordIndex(tmp_path / "salesos.sqlite3", "sf"),
                        instance_url=lambda: where["url"], policy=CallPolicy(sleep=sleeps.append))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        first.register(mock)
        moved.register(mock)
        assert crm.upsert_accounts(accounts(1)).created == 1
    assert len(moved.accounts) == 1 and not first.accounts


def test_an_account_a_rep_created_is_read_by_id_and_adopted_instead_of_duplicated(crm, salesforce_fake):
    rep_made = "001000000000777AAA"
    salesforce_fake.accounts[rep_made] = {"Id": rep_made, "Name": "Rep Made", "Website": "https://www.repmade.io"}
    assert crm.company_domain(rep_made) == "https://www.repmade.io"
    crm.adopt_company(rep_made, "repmade.io")
    result = crm.upsert_accounts([AccountWrite(domain="repmade.io", name="Rep Made", fields={"fit_score": 0.9})])
    assert result.ids == {"repmade.io": rep_made} and list(salesforce_fake.accounts) == [rep_made]


def test_an_account_whose_domain_another_account_holds_is_not_adopted(crm, salesforce_fake):
    crm.upsert_accounts(accounts(1))
    crm._index.forget("company", ["company0.com"])  # as if SalesOS's memory of it were lost
    rep_made = "001000000000777AAA"
    salesforce_fake.accounts[rep_made] = {"Id": rep_made, "Name": "Duplicate"}
    crm.adopt_company(rep_made, "company0.com")
    assert "SalesOS_Domain__c" not in salesforce_fake.accounts[rep_made]


def test_an_opt_out_ticks_the_contact_in_its_upsert_and_every_unconverted_lead_with_that_address(
        crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    lead = salesforce_fake.add_lead("JANE@company0.com")
    converted = salesforce_fake.add_lead("jane@company0.com", converted=True)
    other = salesforce_fake.add_lead("joe@company0.com")
    before = salesforce_fake.calls
    written = crm.upsert_contacts([ContactWrite(email="jane@company0.com", email_opt_out=True,
                                                fields={"sequence_state": "unsubscribed"})])
    assert list(written.ids) == ["jane@company0.com"] and not written.errors
    assert salesforce_fake.contact("jane@company0.com")["HasOptedOutOfEmail"] is True
    leads = salesforce_fake.leads
    assert (leads[lead]["HasOptedOutOfEmail"], leads[converted]["HasOptedOutOfEmail"],
            leads[other]["HasOptedOutOfEmail"]) == (True, False, False)
    assert salesforce_fake.calls - before == 4  # the contact upsert, the Contact and Lead queries, one Lead update
    assert [c.email_opt_out for c in crm.get_contacts(["jane@company0.com"])] == [True]


def test_a_lead_that_cannot_be_opted_out_keeps_the_contact_an_error_so_it_is_written_again(crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    lead = salesforce_fake.add_lead("jane@company0.com")
    salesforce_fake.fail_record(lead, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on cross-"
                                "reference id")
    written = crm.upsert_contacts([ContactWrite(email="jane@company0.com", email_opt_out=True)])
    assert written.ids == {} and "INSUFFICIENT_ACCESS_OR_READONLY" in written.errors["jane@company0.com"]
    assert crm.upsert_contacts([ContactWrite(email="jane@company0.com", email_opt_out=True)]).errors == {}
    assert salesforce_fake.leads[lead]["HasOptedOutOfEmail"] is True


def test_a_contact_a_rep_opted_out_in_salesforce_reads_as_opted_out(crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    salesforce_fake.contact("jane@company0.com")["HasOptedOutOfEmail"] = True
    assert [c.email_opt_out for c in crm.get_contacts(["jane@company0.com"])] == [True]


def test_opting_out_an_address_ticks_every_contact_and_unconverted_lead_with_it_and_creates_nothing(
        crm, salesforce_fake):
    reps_contact = salesforce_fake.add_contact("Jane@Company0.com")  # a rep's own: no SalesOS key
    lead = salesforce_fake.add_lead("jane@company0.com")
    converted = salesforce_fake.add_lead("jane@company0.com", converted=True)
    other = salesforce_fake.add_lead("joe@company0.com")
    before = salesforce_fake.calls
    assert crm.opt_out(["jane@company0.com", "gone@company0.com"]) == {}
    assert salesforce_fake.contacts[reps_contact]["HasOptedOutOfEmail"] is True
    leads = salesforce_fake.leads
    assert (leads[lead]["HasOptedOutOfEmail"], leads[converted]["HasOptedOutOfEmail"],
            leads[other]["HasOptedOutOfEmail"]) == (True, False, False)
    assert list(salesforce_fake.contacts) == [reps_contact] and salesforce_fake.contact("gone@company0.com") is None
    assert salesforce_fake.calls - before == 3  # the Contact query, the Lead query, one update of both


def test_opting_out_many_addresses_costs_a_query_per_200_per_object_and_an_update_per_200_records(
        crm, salesforce_fake):
    emails = [f"person{n}@company0.com" for n in range(250)]
    leads = [salesforce_fake.add_lead(email) for email in emails]
    before = salesforce_fake.calls
    assert crm.opt_out(emails) == {}
    assert all(salesforce_fake.leads[lead]["HasOptedOutOfEmail"] for lead in leads)
    assert salesforce_fake.calls - before == 2 + 2 + 2


def test_an_address_whose_lead_cannot_be_opted_out_is_reported_with_salesforces_reason(crm, salesforce_fake):
    lead = salesforce_fake.add_lead("jane@company0.com")
    salesforce_fake.fail_record(lead, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights")
    refused = crm.opt_out(["jane@company0.com"])
    assert list(refused) == ["jane@company0.com"] and "INSUFFICIENT_ACCESS_OR_READONLY" in refused["jane@company0.com"]
    assert crm.opt_out(["jane@company0.com"]) == {} and salesforce_fake.leads[lead]["HasOptedOutOfEmail"] is True


def test_an_opt_out_written_with_the_contact_also_ticks_a_reps_other_contact_with_that_address(crm, salesforce_fake):
    crm.upsert_contacts([jane()])
    duplicate = salesforce_fake.add_contact("jane@company0.com")
    written = crm.upsert_contacts([ContactWrite(email="jane@company0.com", email_opt_out=True)])
    assert list(written.ids) == ["jane@company0.com"] and not written.errors
    assert salesforce_fake.contacts[duplicate]["HasOptedOutOfEmail"] is True
