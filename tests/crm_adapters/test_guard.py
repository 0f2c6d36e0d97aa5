"""Rep edits win: SalesOS writes only what it changed, and never over a person's later edit."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_adapters.base import AccountWrite, ContactWrite
from crm_adapters.guard import RepEditGuard
from tests.crm_adapters.backends import hubspot_backend


@pytest.fixture
def hubspot():
    with hubspot_backend() as backend:
        backend.crm = RepEditGuard(backend.crm, backend.index)
        yield backend


def jane(**fields) -> ContactWrite:
    return ContactWrite(email="jane@acme.io", name="Jane Doe", title="VP Sales", company_domain="acme.io",
                        fields={"priority_tier": "TIER_2", "priority_score": 0.6, **fields})


def person_edits(hubspot, email: str, **properties: str) -> None:
    """What a rep does in the HubSpot UI: the property changes without SalesOS knowing."""
    [record] = [props for props in hubspot.fake.objects["contacts"].values() if props["email"] == email]
    record.update(properties)


def test_writing_the_same_values_again_costs_no_call(hubspot):
    hubspot.crm.upsert_contacts([jane()])
    before = hubspot.fake.total_calls
    result = hubspot.crm.upsert_contacts([jane()])
    assert (result.unchanged, result.updated, result.created) == (1, 0, 0)
    assert list(result.ids) == ["jane@acme.io"]
    assert hubspot.fake.total_calls == before


def test_only_the_changed_fields_are_sent(hubspot):
    hubspot.crm.upsert_contacts([jane()])
    person_edits(hubspot, "jane@acme.io", jobtitle="Head of Sales")
    hubspot.crm.upsert_contacts([jane(priority_score=0.9)])
    [stored] = hubspot.crm.get_contacts(["jane@acme.io"])
    assert stored.fields["priority_score"] == 0.9
    assert stored.title == "Head of Sales"  # SalesOS did not resend the title it had not changed


def test_a_field_a_person_changed_after_salesos_wrote_it_keeps_the_persons_value(hubspot):
    hubspot.crm.upsert_contacts([jane()])
    person_edits(hubspot, "jane@acme.io", salesos_priority_tier="TIER_1")
    result = hubspot.crm.upsert_contacts([jane(priority_tier="TIER_3", priority_score=0.3)])
    assert result.kept_edits == {"jane@acme.io": ["priority_tier"]}
    [stored] = hubspot.crm.get_contacts(["jane@acme.io"])
    assert (stored.fields["priority_tier"], stored.fields["priority_score"]) == ("TIER_1", 0.3)


def test_a_persons_edit_stays_on_every_later_run(hubspot):
    hubspot.crm.upsert_contacts([jane()])
    person_edits(hubspot, "jane@acme.io", salesos_priority_tier="TIER_1")
    hubspot.crm.upsert_contacts([jane(priority_tier="TIER_3")])
    hubspot.crm.upsert_contacts([jane(priority_tier="TIER_4")])
    assert hubspot.crm.get_contacts(["jane@acme.io"])[0].fields["priority_tier"] == "TIER_1"


def test_a_field_changed_back_by_nobody_is_updated_by_salesos(hubspot):
    hubspot.crm.upsert_contacts([jane()])
    result = hubspot.crm.upsert_contacts([jane(priority_tier="TIER_3")])
    assert result.updated == 1 and result.kept_edits == {}
    assert hubspot.crm.get_contacts(["jane@acme.io"])[0].fields["priority_tier"] == "TIER_3"


def test_salesos_own_writes_are_recognised_as_echoes(hubspot):
    hubspot.crm.upsert_accounts([AccountWrite(domain="acme.io", name="Acme", fields={"fit_score": 0.75})])
    index = hubspot.crm.index
    assert index.is_echo("company", "acme.io", "fit_score", 0.75)
    assert not index.is_echo("company", "acme.io", "fit_score", 0.5)


def test_a_failed_record_is_not_stamped_so_the_next_run_sends_it_again(hubspot):
    hubspot.fake.reject_values["TIER_2"] = "rejected for the test"
    assert "jane@acme.io" in hubspot.crm.upsert_contacts([jane()]).errors
    hubspot.fake.reject_values.clear()
    assert hubspot.crm.upsert_contacts([jane()]).created == 1


def test_a_record_deleted_in_the_crm_is_written_whole_when_salesos_changes_it(hubspot):
    hubspot.crm.upsert_contacts([jane()])
    hubspot.fake.objects["contacts"].clear()
    hubspot.crm.upsert_contacts([jane(priority_score=0.9)])
    [stored] = hubspot.crm.get_contacts(["jane@acme.io"])
    assert (stored.name, stored.title, stored.fields["priority_tier"], stored.fields["priority_score"]) == (
        "Jane Doe", "VP Sales", "TIER_2", 0.9)


def test_an_empty_or_double_spaced_value_read_back_from_the_crm_is_not_taken_for_a_persons_edit(hubspot):
    hubspot.crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane  Doe", title="")])
    result = hubspot.crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Doe Smith", title="CTO")])
    assert result.kept_edits == {}
    [stored] = hubspot.crm.get_contacts(["jane@acme.io"])
    assert (stored.name, stored.title) == ("Jane Doe Smith", "CTO")


def test_what_landed_before_a_budget_stop_is_stamped_and_a_persons_later_edit_survives(hubspot, redis_url):
    import redis

    from crm_adapters.calls import Budget
    from crm_adapters.errors import BudgetExhausted

    budget = Budget(redis.Redis.from_url(redis_url), "hubspot-62515", allowance=2, share=0.5)
    hubspot.crm.inner.policy.budget = budget
    people = [ContactWrite(email=f"p{n}@acme.io", fields={"priority_tier": "TIER_2"}) for n in range(150)]
    with pytest.raises(BudgetExhausted):
        hubspot.crm.upsert_contacts(people)
    hubspot.crm.inner.policy.budget = None
    person_edits(hubspot, "p0@acme.io", salesos_priority_tier="TIER_1")
    result = hubspot.crm.upsert_contacts([ContactWrite(email="p0@acme.io", fields={"priority_tier": "TIER_3"})])
    assert result.kept_edits == {"p0@acme.io": ["priority_tier"]}


def consent_stop() -> ContactWrite:
    """What an unsubscribe or an opt-out writes: the CRM's opt-out and a stopped sequence."""
    return ContactWrite(email="jane@acme.io", email_opt_out=True, consent_stop=True,
                        fields={"sequence_state": "unsubscribed", "next_touch_at": None})


def test_a_consent_stop_is_written_over_a_reps_pause_of_the_sequence(hubspot):
    hubspot.crm.upsert_contacts([jane(sequence_state="active",
                                      next_touch_at=dt.datetime(2026, 12, 7, 14, tzinfo=dt.UTC))])
    person_edits(hubspot, "jane@acme.io", salesos_sequence_state="paused", salesos_priority_tier="TIER_1")
    result = hubspot.crm.upsert_contacts([consent_stop()])
    assert list(result.ids) == ["jane@acme.io"] and result.kept_edits == {}
    [stored] = hubspot.crm.get_contacts(["jane@acme.io"])
    assert (stored.fields["sequence_state"], stored.fields.get("next_touch_at"), stored.email_opt_out) == (
        "unsubscribed", None, True)
    assert stored.fields["priority_tier"] == "TIER_1"  # the rep's other edits stay


def test_a_consent_stop_is_written_again_when_a_rep_restarted_what_salesos_had_stopped(hubspot):
    hubspot.crm.upsert_contacts([jane(sequence_state="unsubscribed")])
    person_edits(hubspot, "jane@acme.io", salesos_sequence_state="active")
    hubspot.crm.upsert_contacts([consent_stop()])
    assert hubspot.crm.get_contacts(["jane@acme.io"])[0].fields["sequence_state"] == "unsubscribed"


def test_an_ordinary_stop_still_leaves_a_reps_pause_alone(hubspot):
    hubspot.crm.upsert_contacts([jane(sequence_state="active")])
    person_edits(hubspot, "jane@acme.io", salesos_sequence_state="paused")
    result = hubspot.crm.upsert_contacts([ContactWrite(email="jane@acme.io", fields={"sequence_state": "unsubscribed"})])
    assert result.kept_edits == {"jane@acme.io": ["sequence_state"]}
    assert hubspot.crm.get_contacts(["jane@acme.io"])[0].fields["sequence_state"] == "paused"


def test_a_consent_stop_can_only_stop_a_sequence():
    with pytest.raises(ValueError, match="consent_stop"):
        ContactWrite(email="jane@acme.io", consent_stop=True, fields={"sequence_state": "active"})


def test_a_consent_stop_wins_over_another_write_of_the_same_contact_in_one_batch(hubspot):
    hubspot.crm.upsert_contacts([jane(sequence_state="paused")])
    hubspot.crm.upsert_contacts([consent_stop(),
                                 ContactWrite(email="jane@acme.io", fields={"sequence_state": "active"})])
    assert hubspot.crm.get_contacts(["jane@acme.io"])[0].fields["sequence_state"] == "unsubscribed"


@pytest.mark.parametrize("history", ["written by SalesOS, then deleted", "never in the CRM"])
def test_a_consent_stop_never_creates_a_contact_the_crm_does_not_have(hubspot, history):
    """A rep may have deleted the contact on the person's request: an unsubscribe must not bring it back."""
    if history.startswith("written"):
        hubspot.crm.upsert_contacts([jane(sequence_state="active")])
        hubspot.fake.objects["contacts"].clear()
    result = hubspot.crm.upsert_contacts([consent_stop()])
    assert hubspot.fake.objects["contacts"] == {}
    assert result.ids == {} and "not in the CRM" in result.errors["jane@acme.io"]
