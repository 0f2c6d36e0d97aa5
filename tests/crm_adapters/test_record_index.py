"""The record index on each engine: ids and write stamps per tenant, kind and key, in batches past one IN (...)."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_adapters.record_index import RecordIndex, value_hash

TENANT = "salesforce-00D5g000004XyZaEAK"
MANY = 1_234  # more keys than one IN (...) takes


@pytest.fixture
def index(state_url) -> RecordIndex:
    return RecordIndex(state_url, TENANT)


def test_ids_remembered_in_a_batch_are_found_by_key_and_by_id(index):
    keys = {f"person{n}@acme.io": str(1000 + n) for n in range(MANY)}
    index.remember("contact", keys)
    asked = [*keys, "nobody@acme.io", "person0@acme.io"]  # unknown keys are left out, repeats answered once
    assert index.ids("contact", asked) == keys
    assert index.keys_of("contact", [str(1000 + n) for n in range(MANY)] + ["999"]) == {
        crm_id: key for key, crm_id in keys.items()}
    assert index.ids("company", keys) == {} and index.ids("contact", []) == {}


def test_a_key_remembered_again_gets_its_new_id_and_keeps_its_parent_unless_given_one(index):
    index.remember("task", {"t1": "00T1"}, parents={"t1": "ada@acme.io"})
    index.remember("task", {"t1": "00T2"})
    assert (index.ids("task", ["t1"]), index.parents("task", ["t1"])) == ({"t1": "00T2"}, {"t1": "ada@acme.io"})
    index.remember("task", {"t1": "00T3"}, parents={"t1": "bob@acme.io"})
    assert index.parents("task", ["t1"]) == {"t1": "bob@acme.io"}


def test_children_are_the_records_under_a_parent_or_all_of_a_kind(index):
    index.remember("task", {"a1": "1", "a2": "2"}, parents={"a1": "ada@acme.io", "a2": "ada@acme.io"})
    index.remember("task", {"b1": "3"}, parents={"b1": "bob@acme.io"})
    index.remember("note", {"n1": "4"}, parents={"n1": "ada@acme.io"})
    assert index.children("task", "ada@acme.io") == {"a1": "1", "a2": "2"}
    assert index.children("task", None) == {"a1": "1", "a2": "2", "b1": "3"}
    assert index.children("task", "carol@acme.io") == {}


def test_forgotten_keys_are_gone_and_the_others_stay(index):
    index.remember("company", {f"company{n}.com": str(n) for n in range(MANY)})
    index.forget("company", [f"company{n}.com" for n in range(1, MANY)])
    assert index.children("company", None) == {"company0.com": "0"}


def test_relinking_replaces_each_parents_other_links_in_one_batch(index):
    index.remember("link", {"ada@acme.io->old.io": "c1-a1", "bob@acme.io->b.io": "c2-a2"},
                   parents={"ada@acme.io->old.io": "ada@acme.io", "bob@acme.io->b.io": "bob@acme.io"})
    index.relink("link", {"ada@acme.io->new.io": "c1-a3"}, parents={"ada@acme.io->new.io": "ada@acme.io"})
    assert index.children("link", None) == {"ada@acme.io->new.io": "c1-a3", "bob@acme.io->b.io": "c2-a2"}


def test_stamps_hold_the_hash_of_the_value_last_written_per_field(index):
    written = {f"company{n}.com": {"fit_score": 0.5, "salesos_stage": "sourced"} for n in range(MANY)}
    index.stamp("company", written)
    index.stamp("company", {"company0.com": {"fit_score": 0.75}}, at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    stamps = index.stamps("company", written)
    assert len(stamps) == MANY
    assert stamps["company0.com"] == {"fit_score": value_hash(0.75), "salesos_stage": value_hash("sourced")}
    assert stamps["company1.com"]["fit_score"] == value_hash(0.5)
    assert index.is_echo("company", "company0.com", "fit_score", 0.75)
    assert not index.is_echo("company", "company0.com", "fit_score", 0.5)
    assert not index.is_echo("company", "company0.com", "intent_score", 0.5)


def test_keys_are_kept_as_given(index):
    """A task's key names its tenant in that tenant's case: two keys differing in case are two records."""
    index.remember("task", {f"outreach:{TENANT}:ada@acme.io:1": "00T1"})
    assert index.ids("task", [f"outreach:{TENANT}:ada@acme.io:1", f"outreach:{TENANT.lower()}:ada@acme.io:1"]) == {
        f"outreach:{TENANT}:ada@acme.io:1": "00T1"}


def test_each_tenant_sees_only_its_own_records(state_url):
    mine, theirs = RecordIndex(state_url, TENANT), RecordIndex(state_url, "hubspot-62515")
    mine.remember("contact", {"ada@acme.io": "1"}, parents={"ada@acme.io": "acme.io"})
    mine.stamp("contact", {"ada@acme.io": {"title": "CTO"}})
    assert theirs.ids("contact", ["ada@acme.io"]) == {} and theirs.keys_of("contact", ["1"]) == {}
    assert theirs.children("contact", None) == {} and theirs.stamps("contact", ["ada@acme.io"]) == {}
    theirs.forget("contact", ["ada@acme.io"])
    assert RecordIndex(state_url, TENANT).ids("contact", ["ada@acme.io"]) == {"ada@acme.io": "1"}  # another worker
