"""The send ledger: each effect once, unsubscribe tokens stable and opaque."""

import datetime as dt

from connector.ledger import Ledger, effect_key
from connector.store import close_stores, open_store
from connector.store.schema import applied_changes


def waiting(ledger: Ledger) -> list[tuple[str, str]]:
    """(tenant, email) of every unsubscribe still waiting for its CRM write, oldest first, however recently its
    write was queued."""
    return ledger.due_unsubscribes(queued_before=dt.datetime.max.replace(tzinfo=dt.UTC), limit=10_000)


def test_effect_keys_ignore_email_case():
    assert effect_key("outreach", "t", "Jane@Acme.io", 1) == effect_key("outreach", "t", "jane@acme.io", 1)


def test_the_ledger_survives_reopening(tmp_path):
    key = effect_key("outreach", "local", "a@b.io", 0)
    first = Ledger(tmp_path / "state.sqlite3")
    first.claim([key], "worker-1")
    first.complete([key], "worker-1")
    close_stores()
    assert Ledger(tmp_path / "state.sqlite3").claim([key], "worker-2").held == []


def test_an_unsubscribe_token_is_stable_per_contact(tmp_path):
    ledger = Ledger(tmp_path / "state.sqlite3")
    first = ledger.unsubscribe_tokens("local", ["a@b.io", "c@d.io"])
    again = ledger.unsubscribe_tokens("local", ["A@B.io"])
    assert again["a@b.io"] == first["a@b.io"]
    assert first["a@b.io"] != first["c@d.io"]
    assert "a@b.io" not in first["a@b.io"]


def test_unsubscribing_by_token_records_the_contact(tmp_path):
    ledger = Ledger(tmp_path / "state.sqlite3")
    token = ledger.unsubscribe_tokens("local", ["a@b.io"])["a@b.io"]
    assert ledger.unsubscribe(token) == ("local", "a@b.io")
    assert ledger.unsubscribed("local", ["a@b.io", "c@d.io"]) == {"a@b.io"}


def test_an_unknown_token_unsubscribes_nobody(tmp_path):
    assert Ledger(tmp_path / "state.sqlite3").unsubscribe("forged") is None


def test_an_unsubscribe_stays_unsynced_until_its_crm_write_is_done(tmp_path):
    ledger = Ledger(tmp_path / "state.sqlite3")
    tokens = ledger.unsubscribe_tokens("hubspot-1", ["a@b.io", "c@d.io"])
    ledger.unsubscribe(tokens["a@b.io"])
    ledger.unsubscribe(tokens["c@d.io"])
    ledger.unsubscribe(tokens["a@b.io"])  # a second click changes nothing
    assert waiting(ledger) == [("hubspot-1", "a@b.io"), ("hubspot-1", "c@d.io")]
    ledger.unsubscribes_synced("hubspot-1", ["A@B.io"])
    assert waiting(ledger) == [("hubspot-1", "c@d.io")]
    assert ledger.unsubscribed("hubspot-1", ["a@b.io", "c@d.io"]) == {"a@b.io", "c@d.io"}


def test_unsubscribes_recorded_before_syncing_existed_are_synced_after_an_upgrade(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        db.execute("CREATE TABLE unsubscribes (tenant TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE, "
                   "at TEXT NOT NULL, PRIMARY KEY (tenant, email))")
        db.execute("INSERT INTO unsubscribes VALUES ('salesforce-00D1', 'a@b.io', '2026-11-01T00:00:00+00:00')")
    assert waiting(Ledger(tmp_path / "state.sqlite3")) == [("salesforce-00D1", "a@b.io")]


def test_a_change_dated_far_ahead_cannot_make_every_later_change_look_older(tmp_path):
    """A wrong clock or a forged date counts as now: the next real change still applies."""
    now = dt.datetime.now(dt.UTC)
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=lambda: now)  # SalesOS's clock, however slow the machine
    assert ledger.hold("hubspot-1", "ada@acme.io", "paused in the CRM", now + dt.timedelta(days=300))
    assert ledger.release_hold("hubspot-1", "ada@acme.io", now + dt.timedelta(seconds=1)) is not None


def test_an_order_poisoned_by_an_older_salesos_heals(tmp_path):
    """A far-future time stored before dates were bounded no longer outranks what really happens next."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ahead = round((dt.datetime.now(dt.UTC) + dt.timedelta(days=300)).timestamp() * 1_000_000)
    with open_store(tmp_path / "ledger.sqlite3").write() as conn:
        conn.execute(applied_changes.insert().values(tenant="hubspot-1", record="ada@acme.io",
                                                     property="sequence_state", occurred_at=ahead))
    assert ledger.hold("hubspot-1", "ada@acme.io", "paused in the CRM", dt.datetime.now(dt.UTC))
