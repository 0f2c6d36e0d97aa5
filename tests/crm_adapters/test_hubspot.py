"""HubSpot adapter against the local HubSpot: batching, partial failures, limits and auth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import redis

from crm_adapters.base import AccountWrite, Association, ContactWrite, TaskWrite
from crm_adapters.calls import Budget, StaticToken
from crm_adapters.errors import BudgetExhausted, GrantRevoked, RateLimited
from crm_adapters.hubspot import HubSpotCRM
from crm_adapters.values import created_key
from tests.crm_adapters.backends import RefreshingToken, hubspot_backend, no_wait_policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture
def hubspot():
    with hubspot_backend() as backend:
        yield backend


def accounts(count: int) -> list[AccountWrite]:
    return [AccountWrite(domain=f"company{n}.com", name=f"Company {n}", fields={"fit_score": 0.5})
            for n in range(count)]


def contacts(count: int, per_company: int = 3) -> list[ContactWrite]:
    return [ContactWrite(email=f"person{n}@company{n // per_company}.com", name=f"Person {n}",
                         company_domain=f"company{n // per_company}.com", fields={"priority_tier": "TIER_2"})
            for n in range(count)]


def test_a_thousand_companies_take_ten_upsert_calls(hubspot):
    result = hubspot.crm.upsert_accounts(accounts(1000))
    assert result.created == 1000
    assert hubspot.fake.calls["/crm/v3/objects/companies/batch/upsert"] == 10
    assert hubspot.fake.total_calls == 10


def test_linking_contacts_costs_one_call_per_hundred_and_no_lookups(hubspot):
    hubspot.crm.upsert_accounts(accounts(100))
    hubspot.crm.upsert_contacts(contacts(300))
    before = hubspot.fake.total_calls
    result = hubspot.crm.associate([Association(contact_email=c.email, company_domain=c.company_domain)
                                    for c in contacts(300)])
    assert result.created == 300 and not result.errors
    assert hubspot.fake.total_calls - before == 3
    assert len(hubspot.links()) == 300


def test_a_second_association_run_makes_no_call(hubspot):
    hubspot.crm.upsert_accounts(accounts(1))
    hubspot.crm.upsert_contacts(contacts(1))
    links = [Association(contact_email="person0@company0.com", company_domain="company0.com")]
    hubspot.crm.associate(links)
    before = hubspot.fake.total_calls
    assert hubspot.crm.associate(links).unchanged == 1
    assert hubspot.fake.total_calls == before


def test_a_record_hubspot_rejects_in_a_207_is_reported_and_the_other_99_land(hubspot):
    hubspot.fake.reject_values["Company 7"] = 'Property "name" is not valid'
    result = hubspot.crm.upsert_accounts(accounts(100))
    assert list(result.errors) == ["company7.com"]
    assert "VALIDATION_ERROR" in result.errors["company7.com"] and '"name"' in result.errors["company7.com"]
    assert result.created == 99 and hubspot.count("company") == 99


def test_a_batch_refused_whole_is_split_until_the_bad_record_stands_alone(hubspot):
    hubspot.fake.whole_batch_validation = True
    hubspot.fake.reject_values["Company 42"] = 'Property "name" is not valid'
    result = hubspot.crm.upsert_accounts(accounts(100))
    assert list(result.errors) == ["company42.com"]
    assert result.created == 99
    assert hubspot.fake.calls["/crm/v3/objects/companies/batch/upsert"] <= 1 + 2 * 7


def test_a_record_failing_for_a_transient_reason_is_retried(hubspot):
    hubspot.fake.record_errors["company3.com"] = ["RATE_LIMITS"]
    result = hubspot.crm.upsert_accounts(accounts(10))
    assert result.created == 10 and not result.errors
    assert hubspot.fake.calls["/crm/v3/objects/companies/batch/upsert"] == 2


def test_a_record_that_keeps_failing_transiently_is_reported_not_dropped(hubspot):
    hubspot.fake.record_errors["company3.com"] = ["LOCKED"] * 10
    result = hubspot.crm.upsert_accounts(accounts(10))
    assert list(result.errors) == ["company3.com"] and result.errors["company3.com"].startswith("LOCKED")
    assert result.created == 9


def test_429_with_retry_after_waits_as_told_then_succeeds(hubspot):
    hubspot.fake.fail("/batch/upsert", 429, {"status": "error", "message": "You have reached your secondly limit.",
                                             "errorType": "RATE_LIMIT", "policyName": "SECONDLY"},
                      headers={"Retry-After": "3"}, times=2)
    result = hubspot.crm.upsert_accounts(accounts(5))
    assert result.created == 5
    assert hubspot.crm.policy.waits == [3.0, 3.0]


def test_429_without_retry_after_uses_the_rate_limit_interval_header(hubspot):
    hubspot.fake.fail("/batch/upsert", 429, {"status": "error", "message": "ten secondly", "policyName": "TEN_SECONDLY_ROLLING"},
                      headers={"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    assert hubspot.crm.upsert_accounts(accounts(1)).created == 1
    assert hubspot.crm.policy.waits == [10.0]


def test_the_daily_limit_stops_without_retrying(hubspot):
    body = json.loads((FIXTURES / "hubspot_rate_limit_429_daily.json").read_text())
    hubspot.fake.fail("/batch/upsert", 429, body, times=5)
    with pytest.raises(RateLimited) as raised:
        hubspot.crm.upsert_accounts(accounts(1))
    assert raised.value.daily and "DAILY" in str(raised.value)
    assert hubspot.fake.calls["/crm/v3/objects/companies/batch/upsert"] == 1


def test_a_5xx_is_retried_with_backoff_then_succeeds(hubspot):
    hubspot.fake.fail("/batch/upsert", 502, times=2)
    assert hubspot.crm.upsert_accounts(accounts(3)).created == 3
    assert hubspot.crm.policy.waits == [0.5, 1.0]


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(hubspot):
    tokens = RefreshingToken("expired-token", then=hubspot.fake.token)
    crm = HubSpotCRM(tokens, hubspot.index, host=hubspot.fake.url, policy=no_wait_policy())
    assert crm.upsert_accounts(accounts(2)).created == 2
    assert tokens.refreshes == 1


def test_a_refused_private_app_token_stops_with_the_revoked_grant(hubspot):
    crm = HubSpotCRM(StaticToken("revoked-token"), hubspot.index, host=hubspot.fake.url, policy=no_wait_policy())
    with pytest.raises(GrantRevoked):
        crm.upsert_accounts(accounts(1))


def test_the_budget_stops_salesos_at_its_share_of_the_daily_allowance(hubspot, redis_url):
    conn = redis.Redis.from_url(redis_url)
    budget = Budget(conn, "hubspot-1", allowance=10, share=0.5)
    crm = HubSpotCRM(RefreshingToken(hubspot.fake.token, hubspot.fake.token), hubspot.index,
                     host=hubspot.fake.url, policy=no_wait_policy(budget=budget))
    crm.upsert_accounts(accounts(500))
    with pytest.raises(BudgetExhausted, match=r"50% share .*\(5 of 10 calls\)"):
        crm.upsert_accounts(accounts(600))
    assert hubspot.fake.calls["/crm/v3/objects/companies/batch/upsert"] == 5
    assert budget.used() == 5


def test_the_documented_207_answer_reports_the_failed_record_and_keeps_the_created_one(hubspot):
    body = json.loads((FIXTURES / "hubspot_batch_create_multistatus_207.json").read_text())
    failed_key = body["errors"][0]["context"]["objectWriteTraceId"][0]
    hubspot.crm.upsert_contacts(contacts(1))
    hubspot.fake.fail("/crm/v3/objects/tasks/batch/create", 207, body)
    result = hubspot.crm.create_tasks([
        TaskWrite(key="call-1", contact_email="person0@company0.com", kind="call", subject="Call", due_at=T0),
        TaskWrite(key=failed_key, contact_email="person0@company0.com", kind="call", subject="Call", due_at=T0),
    ])
    assert result.ids == {"call-1": "1145814089"}
    assert list(result.errors) == [failed_key]
    assert result.errors[failed_key].startswith("VALIDATION_ERROR: Property values were not valid")


def test_no_token_reaches_a_log_line_when_one_is_refused_and_refreshed(hubspot, caplog):
    caplog.set_level("DEBUG")
    tokens = RefreshingToken("pat-expired-0123456789", then=hubspot.fake.token)
    crm = HubSpotCRM(tokens, hubspot.index, host=hubspot.fake.url, policy=no_wait_policy())
    hubspot.fake.fail("/batch/upsert", 503)
    crm.upsert_accounts(accounts(2))
    assert tokens.refreshes == 1 and caplog.records
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "pat-expired-0123456789" not in logged and hubspot.fake.token not in logged


def call_tasks(*keys: str) -> list[TaskWrite]:
    return [TaskWrite(key=key, contact_email="person0@company0.com", kind="call", subject="Call", due_at=T0)
            for key in keys]


TASK_CALLS = ("/crm/v3/objects/tasks/batch/create", "/crm/v3/objects/tasks/batch/read")


def test_each_task_carries_its_salesos_key_and_a_first_run_creates_a_hundred_a_call_with_no_lookup(hubspot):
    hubspot.crm.upsert_contacts(contacts(1))
    result = hubspot.crm.create_tasks(call_tasks(*(f"call-{n}" for n in range(250))))
    assert result.created == 250 and not result.errors
    assert [hubspot.fake.calls[path] for path in TASK_CALLS] == [3, 0]
    stored = hubspot.fake.objects["tasks"][result.ids["call-7"]]
    assert stored["salesos_key"] == created_key("task", "call-7")


def test_a_task_create_whose_answer_was_lost_is_sent_again_and_finds_the_task_it_made(hubspot):
    hubspot.crm.upsert_contacts(contacts(1))
    hubspot.fake.lose_answer("/crm/v3/objects/tasks/batch/create", 502)  # created, then answered 502
    result = hubspot.crm.create_tasks(call_tasks("call-1"))
    [task_id] = hubspot.fake.objects["tasks"]
    assert (result.ids, result.created, result.unchanged, result.errors) == ({"call-1": task_id}, 0, 1, {})
    assert [hubspot.fake.calls[path] for path in TASK_CALLS] == [2, 1]  # 502, then refused as a duplicate: read
    assert [t.id for t in hubspot.crm.get_tasks("person0@company0.com")] == [task_id]


@pytest.mark.parametrize("per_record", [False, True], ids=["batch-refused-409", "record-refused-207"])
def test_a_batch_holding_a_task_a_killed_worker_created_finds_that_one_and_creates_the_others(hubspot, per_record):
    hubspot.crm.upsert_contacts(contacts(1))
    first = hubspot.crm.create_tasks(call_tasks("call-2")).ids["call-2"]
    hubspot.index.forget("task", ["call-2"])  # its id was never written down
    hubspot.fake.conflicts_per_record = per_record
    before = [hubspot.fake.calls[path] for path in TASK_CALLS]

    result = hubspot.crm.create_tasks(call_tasks("call-1", "call-2", "call-3"))

    assert (result.created, result.unchanged, result.errors, result.ids["call-2"]) == (2, 1, {}, first)
    assert len(hubspot.fake.objects["tasks"]) == 3
    calls = [hubspot.fake.calls[path] - was for path, was in zip(TASK_CALLS, before)]
    assert calls == ([1, 1] if per_record else [2, 1])  # the refused create, one read, (the rest sent again)


def test_a_create_refused_for_another_reason_is_not_taken_for_a_duplicate(hubspot):
    hubspot.crm.upsert_contacts(contacts(1))
    hubspot.fake.fail("/crm/v3/objects/tasks/batch/create", 400,
                      {"status": "error", "category": "VALIDATION_ERROR", "message": "hs_timestamp is required"})
    result = hubspot.crm.create_tasks(call_tasks("call-1"))
    assert "hs_timestamp is required" in result.errors["call-1"]  # that record's failure, alone
    assert hubspot.fake.objects["tasks"] == {} and hubspot.index.ids("task", ["call-1"]) == {}


def test_a_portal_without_the_salesos_key_property_refuses_the_task_by_name(hubspot):
    del hubspot.fake.properties["tasks"]["salesos_key"]  # installed before it existed, provision not run again
    hubspot.crm.upsert_contacts(contacts(1))
    result = hubspot.crm.create_tasks(call_tasks("call-1"))
    assert 'Property "salesos_key" does not exist' in result.errors["call-1"]
    assert hubspot.fake.objects["tasks"] == {}


def test_a_task_batch_refused_whole_is_split_so_only_the_bad_task_fails_and_the_others_are_created_once(hubspot):
    hubspot.crm.upsert_contacts(contacts(10))
    hubspot.fake.whole_batch_validation = True  # HubSpot validates every input of a batch create before any
    hubspot.fake.reject_values["Call 6"] = 'Property "hs_task_subject" is not valid'
    tasks = [TaskWrite(key=f"call-{n}", contact_email=f"person{n}@company{n // 3}.com", kind="call",
                       subject=f"Call {n}", due_at=T0) for n in range(10)]
    result = hubspot.crm.create_tasks(tasks)
    assert list(result.errors) == ["call-6"] and '"hs_task_subject"' in result.errors["call-6"]
    assert result.created == 9 and len(hubspot.fake.objects["tasks"]) == 9
    assert hubspot.fake.calls["/crm/v3/objects/tasks/batch/create"] <= 1 + 2 * 4
    assert hubspot.crm.create_tasks(tasks).created == 0 and len(hubspot.fake.objects["tasks"]) == 9


def test_a_batch_refused_for_a_reason_no_record_causes_is_not_split(hubspot):
    hubspot.fake.fail("/batch/upsert", 403, {"status": "error", "category": "MISSING_SCOPES",
                                             "message": "This app hasn't been granted all required scopes"})
    result = hubspot.crm.upsert_accounts(accounts(100))
    assert len(result.errors) == 100 and "MISSING_SCOPES" in result.errors["company0.com"]
    assert hubspot.fake.calls["/crm/v3/objects/companies/batch/upsert"] == 1


def test_listing_reads_only_salesos_records_two_hundred_per_search_call(hubspot):
    hubspot.crm.upsert_accounts(accounts(450))
    for n in range(30):  # companies people made in HubSpot, not SalesOS's to export
        hubspot.fake.objects["companies"][str(9000 + n)] = {"name": f"Manual {n}", "domain": f"manual{n}.com"}
    found = hubspot.crm.get_accounts()
    assert len(found) == 450 and all(a.domain.startswith("company") for a in found)
    assert hubspot.fake.calls["/crm/v3/objects/companies/search"] == 3


def test_a_waiting_workflow_action_is_completed_with_its_outputs(hubspot):
    from crm_adapters.hubspot_callbacks import complete_callback

    complete_callback(StaticToken(hubspot.fake.token), "ap-102670506-56776413549-7-0",
                      {"hs_execution_state": "SUCCESS", "salesos_result": "1 qualified"}, host=hubspot.fake.url,
                      policy=no_wait_policy())
    assert hubspot.fake.completed == {"ap-102670506-56776413549-7-0": {"hs_execution_state": "SUCCESS",
                                                                       "salesos_result": "1 qualified"}}


def test_a_company_a_rep_created_is_read_by_id_for_its_domain(hubspot):
    hubspot.fake.objects["companies"]["777"] = {"name": "Rep Made", "domain": "www.repmade.io"}
    assert hubspot.crm.company_domain("777") == "www.repmade.io"
    assert hubspot.crm.company_domain("404404") is None


def test_adopting_a_reps_company_makes_the_next_upsert_update_it(hubspot):
    hubspot.fake.objects["companies"]["777"] = {"name": "Rep Made", "domain": "repmade.io"}
    hubspot.crm.adopt_company("777", "RepMade.io")
    result = hubspot.crm.upsert_accounts([AccountWrite(domain="repmade.io", name="Rep Made", fields={"fit_score": 0.9})])
    assert result.ids == {"repmade.io": "777"} and list(hubspot.fake.objects["companies"]) == ["777"]


def test_a_company_whose_domain_salesos_already_writes_elsewhere_is_not_adopted(hubspot):
    hubspot.crm.upsert_accounts(accounts(1))
    hubspot.fake.objects["companies"]["777"] = {"name": "Duplicate", "domain": "company0.com"}
    hubspot.crm.adopt_company("777", "company0.com")
    assert "salesos_domain" not in hubspot.fake.objects["companies"]["777"]


def test_a_runs_calls_share_a_few_kept_alive_connections(hubspot):
    hubspot.crm.upsert_accounts(accounts(300))
    hubspot.crm.upsert_contacts(contacts(300))
    hubspot.crm.associate([Association(contact_email=c.email, company_domain=c.company_domain)
                           for c in contacts(300)])
    assert hubspot.fake.total_calls == 9
    assert len(hubspot.fake.clients) == 3  # companies, contacts, associations v4: one pool each


def test_an_opt_out_is_one_unsubscribe_all_call_per_contact_then_the_usual_batch_upsert(hubspot):
    hubspot.crm.upsert_contacts(contacts(3))
    before = hubspot.fake.total_calls
    written = hubspot.crm.upsert_contacts([ContactWrite(email=c.email, email_opt_out=True,
                                                        fields={"sequence_state": "unsubscribed"}) for c in contacts(2)])
    assert sorted(written.ids) == ["person0@company0.com", "person1@company0.com"] and not written.errors
    assert hubspot.fake.unsubscribed_from_all == ["person0@company0.com", "person1@company0.com"]
    assert hubspot.fake.total_calls - before == 2 + 1  # hs_email_optout is read-only: it is never written
    optouts = {p["email"]: p.get("hs_email_optout") for p in hubspot.fake.objects["contacts"].values()}
    assert optouts == {"person0@company0.com": "true", "person1@company0.com": "true", "person2@company0.com": None}


def test_a_portal_that_never_granted_the_opt_out_scope_still_shows_the_stopped_sequence_and_is_told_how_to_grant_it(
        hubspot):
    hubspot.fake.scopes.clear()
    hubspot.crm.upsert_contacts(contacts(2))
    written = hubspot.crm.upsert_contacts([
        ContactWrite(email="person0@company0.com", email_opt_out=True, fields={"sequence_state": "unsubscribed"}),
        ContactWrite(email="person1@company0.com", fields={"sequence_state": "paused"})])
    assert list(written.ids) == ["person1@company0.com"]  # the opt-out did not land: not done, so it is retried
    reason = written.errors["person0@company0.com"]
    assert "communication_preferences.write" in reason and "re-install" in reason
    stored = {p["email"]: (p.get("salesos_sequence_state"), p.get("hs_email_optout"))
              for p in hubspot.fake.objects["contacts"].values()}
    assert stored == {"person0@company0.com": ("unsubscribed", None), "person1@company0.com": ("paused", None)}


def test_a_contact_a_rep_unsubscribed_in_hubspot_reads_as_opted_out(hubspot):
    hubspot.crm.upsert_contacts(contacts(2))
    [(_, jane)] = [item for item in hubspot.fake.objects["contacts"].items()
                   if item[1]["email"] == "person0@company0.com"]
    jane["hs_email_optout"] = "true"
    before = hubspot.fake.total_calls
    read = {c.email: c.email_opt_out for c in hubspot.crm.get_contacts([c.email for c in contacts(2)])}
    assert read == {"person0@company0.com": True, "person1@company0.com": False}
    assert hubspot.fake.total_calls - before == 1


def test_opting_out_an_address_without_a_contact_records_hubspots_opt_out_and_creates_no_contact(hubspot):
    """HubSpot keeps email consent per address, contact or not: a contact made later for it is opted out."""
    before = dict(hubspot.fake.calls)
    assert hubspot.crm.opt_out(["Gone@Company0.com", "not an address"]) == {
        "not an address": "email 'not an address' is not an email address"}
    assert hubspot.fake.objects["contacts"] == {} and hubspot.fake.unsubscribed_from_all == ["gone@company0.com"]
    calls = {path: n - before.get(path, 0) for path, n in hubspot.fake.calls.items() if n != before.get(path)}
    assert calls == {"/communication-preferences/v4/statuses/gone@company0.com/unsubscribe-all": 1}
    hubspot.crm.upsert_contacts([ContactWrite(email="gone@company0.com", name="Back Again")])
    assert [c.email_opt_out for c in hubspot.crm.get_contacts(["gone@company0.com"])] == [True]
