"""Rep edits win: SalesOS writes only what it changed, and never over a person's later edit."""

from __future__ import annotations

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
