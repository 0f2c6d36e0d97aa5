"""Which CRM event starts which job: one table, read like a specification."""

from __future__ import annotations

import datetime as dt

from connector.routing import route
from webhooks.intake import CrmEvent


def event(object_type="contact", kind="contact.propertyChange", name="salesos_sequence_state", value="paused",
          object_id="501") -> CrmEvent:
    return CrmEvent(tenant="hubspot-62515", source="hubspot-webhook", kind=kind, object_type=object_type,
                    object_id=object_id, property_name=name, property_value=value,
                    occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), identity=f"id-{object_id}-{value}")


def jobs(e: CrmEvent) -> list[str]:
    return [job.func.rsplit(".", 1)[1] for job in route(e)]


def test_a_rep_pausing_or_stopping_a_sequence_pauses_it():
    assert jobs(event(value="paused")) == jobs(event(value="STOPPED")) == ["pause_sequence_job"]


def test_a_rep_setting_a_sequence_back_in_progress_resumes_it():
    assert jobs(event(value="in_progress")) == ["resume_sequence_job"]


def test_a_deal_stage_change_is_recorded_in_either_crm():
    assert jobs(event("deal", "deal.propertyChange", "dealstage", "contractsent")) == ["record_deal_stage_job"]
    assert jobs(event("opportunity", "Opportunity.updated", "StageName", "Negotiation")) == ["record_deal_stage_job"]


def test_an_event_no_route_wants_starts_nothing():
    assert route(event(name="lifecyclestage", value="lead")) == []
    assert route(event("company", "company.creation", None, None)) == []


def test_the_job_key_is_the_same_for_a_redispatched_event():
    assert [job.key for job in route(event())] == [job.key for job in route(event())]
    assert route(event())[0].key != route(event(object_id="502"))[0].key


def test_a_rep_ticking_prospect_on_a_company_prospects_it_in_either_crm():
    assert jobs(event("company", "company.propertyChange", "salesos_prospect", "true")) == ["prospect_job"]
    assert jobs(event("account", "Account.updated", "SalesOS_Prospect__c", "true")) == ["prospect_job"]
    assert jobs(event("company", "company.propertyChange", "salesos_prospect", "false")) == []


def test_every_workflow_action_that_asks_for_research_prospects_the_company():
    for action in ("prospect_company", "find_buying_team", "score_contact"):
        assert jobs(event("company", f"workflow.{action}", None, None)) == ["prospect_job"]


def test_a_market_record_defined_in_the_crm_starts_a_run_of_it():
    assert jobs(event("market", "market.propertyChange", "salesos_definition", "name: x")) == ["market_defined_job"]
