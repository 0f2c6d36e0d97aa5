"""Which CRM event starts which job: one table, read like a specification."""

from __future__ import annotations

import datetime as dt

from agents.events import CrmEvent
from connector.routing import route


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
    assert jobs(event(value="active")) == ["resume_sequence_job"]


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
    assert jobs(outbound("company", {"SalesOS_Prospect__c": True})) == ["prospect_job"]
    assert jobs(event("company", "company.propertyChange", "salesos_prospect", "false")) == []


def test_every_workflow_action_that_asks_for_research_prospects_the_company():
    for action in ("prospect_company", "find_buying_team", "score_contact"):
        assert jobs(event("company", f"workflow.{action}", None, None)) == ["prospect_job"]


def test_a_market_record_defined_in_the_crm_starts_a_run_of_it():
    assert jobs(event("market", "market.propertyChange", "salesos_definition", "name: x")) == ["market_defined_job"]


def outbound(object_type: str, fields: dict) -> CrmEvent:
    """A Salesforce Outbound Message notification: the record's selected fields as they are now."""
    return CrmEvent(tenant="salesforce-00D000000000001AAA", source="salesforce-outbound",
                    kind=f"{object_type}.updated", object_type=object_type, object_id="003000000000001AAA",
                    occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), identity="04l000000000001AAA",
                    payload={"fields": fields})


def test_an_outbound_message_is_routed_by_the_fields_it_carries():
    assert jobs(outbound("contact", {"SalesOS_Sequence_State__c": "paused", "Email": "j@a.io"})) == [
        "pause_sequence_job"]
    assert jobs(outbound("company", {"SalesOS_Prospect__c": "true"})) == ["prospect_job"]
    assert jobs(outbound("opportunity", {"StageName": "Negotiation"})) == ["record_deal_stage_job"]
    assert jobs(outbound("contact", {"Email": "j@a.io"})) == []


def test_the_routed_event_names_the_field_the_route_matched():
    [job] = route(outbound("salesos_market__c", {"Name": "EU", "Definition__c": "name: EU"}))
    assert (job.payload["event"]["property_name"], job.payload["event"]["property_value"]) == (
        "Definition__c", "name: EU")


def test_a_contacts_new_title_scores_its_company_again():
    assert jobs(event(name="jobtitle", value="Chief Revenue Officer")) == ["prospect_job"]
    assert jobs(outbound("contact", {"Title": "CRO", "Email": "j@a.io"})) == ["prospect_job"]


def test_a_reps_tier_override_plans_the_contacts_sequence_again():
    assert jobs(event(name="salesos_priority_tier", value="TIER_1")) == ["override_tier_job"]
