"""Polling a mailbox moves its stored cursor only once every message was handled."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from connector.inbound.base import InboundMessage, TransientInboundError
from connector.inbound.cursors import InboundCursors
from connector.inbound.poll import poll_mailbox
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, new_key


def message(number: int) -> InboundMessage:
    return InboundMessage(tenant="t1", mailbox="rep@salesos.test", source="imap", provider_id=f"7:{number}",
                          raw=f"Subject: {number}\r\n\r\nhi\r\n".encode(), received_at=dt.datetime.now(dt.UTC))


class ScriptedReader:
    """A reader whose mailbox is a list: the cursor is how many messages were read."""

    def __init__(self, count: int) -> None:
        self.mailbox = [message(n) for n in range(count)]
        self.asked: list[str | None] = []

    def fetch_new(self, cursor: str | None, limit: int) -> tuple[list[InboundMessage], str]:
        self.asked.append(cursor)
        start = int(cursor or 0)
        batch = self.mailbox[start:start + limit]
        return batch, str(start + len(batch))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """One database for the module (migrating a new one per test costs more than the tests): each test polls a
    tenant of its own."""
    return tmp_path_factory.mktemp("inbound-poll") / "state.sqlite3"


@pytest.fixture
def cursors(database):
    return InboundCursors(database)


@pytest.fixture
def tenant():
    return f"t-{uuid.uuid4().hex[:8]}"


def test_cursors_are_kept_per_tenant_and_mailbox_whatever_the_address_case(state_url):
    cursors = InboundCursors(state_url)
    cursors.put("t1", "Rep@SalesOS.test", "1000:5")
    cursors.put("t2", "rep@salesos.test", "4021")
    assert cursors.get("t1", "rep@salesos.test") == "1000:5"
    assert cursors.get("t2", "REP@salesos.test") == "4021"
    assert cursors.get("t1", "other@salesos.test") is None


def test_a_cursor_put_expecting_an_older_one_does_not_move_it(state_url):
    cursors = InboundCursors(state_url)
    cursors.put("t1", "rep@salesos.test", "1000:9")
    assert cursors.put("t1", "rep@salesos.test", "1000:5", expected="1000:3") is False
    assert cursors.get("t1", "rep@salesos.test") == "1000:9"
    assert cursors.put("t1", "rep@salesos.test", "1000:12", expected="1000:9") is True


def test_a_poll_hands_each_message_over_and_then_stores_the_new_cursor(cursors, tenant):
    reader, handled = ScriptedReader(3), []
    assert poll_mailbox(reader, cursors, tenant, "rep@salesos.test", 2, handled.append) == handled
    assert [m.provider_id for m in handled] == ["7:0", "7:1"]
    assert cursors.get(tenant, "rep@salesos.test") == "2"
    poll_mailbox(reader, cursors, tenant, "rep@salesos.test", 2, handled.append)
    assert reader.asked == [None, "2"] and len(handled) == 3


def test_a_handler_that_fails_leaves_the_cursor_so_the_messages_are_read_again(cursors, tenant):
    reader, handled = ScriptedReader(3), []

    def crash_on_second(message: InboundMessage) -> None:
        if message.provider_id == "7:1":
            raise RuntimeError("worker died")
        handled.append(message)

    with pytest.raises(RuntimeError):
        poll_mailbox(reader, cursors, tenant, "rep@salesos.test", 10, crash_on_second)
    assert cursors.get(tenant, "rep@salesos.test") is None
    again = poll_mailbox(reader, cursors, tenant, "rep@salesos.test", 10, handled.append)
    assert [m.provider_id for m in again] == ["7:0", "7:1", "7:2"]


def test_a_reader_error_leaves_the_cursor(cursors, tenant):
    class Down(ScriptedReader):
        def fetch_new(self, cursor, limit):
            raise TransientInboundError("IMAP server: ConnectionResetError")

    cursors.put(tenant, "rep@salesos.test", "5")
    with pytest.raises(TransientInboundError):
        poll_mailbox(Down(0), cursors, tenant, "rep@salesos.test", 10, lambda m: None)
    assert cursors.get(tenant, "rep@salesos.test") == "5"


def test_a_poll_that_overlapped_another_does_not_move_the_cursor_back(cursors, tenant):
    reader = ScriptedReader(5)

    def another_poll_finishes_first(message: InboundMessage) -> None:
        cursors.put(tenant, "rep@salesos.test", "5")

    poll_mailbox(reader, cursors, tenant, "rep@salesos.test", 2, another_poll_finishes_first)
    assert cursors.get(tenant, "rep@salesos.test") == "5"


def test_a_limit_below_one_is_refused_naming_it(cursors, tenant):
    with pytest.raises(ValueError, match="limit"):
        poll_mailbox(ScriptedReader(1), cursors, tenant, "rep@salesos.test", 0, lambda m: None)


def test_removing_a_tenant_forgets_its_mailboxes_cursors(tmp_path):
    key = new_key()
    store = TenantStore(tmp_path / "state.sqlite3", Vault(tmp_path / "state.sqlite3", key))
    store.add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
              {"access_token": "pat-na1-1"})
    cursors = InboundCursors(tmp_path / "state.sqlite3")
    cursors.put("hubspot-62515", "rep@salesos.test", "4021")
    cursors.put("hubspot-7", "rep@salesos.test", "17")
    store.remove("hubspot-62515")
    assert cursors.get("hubspot-62515", "rep@salesos.test") is None
    assert cursors.get("hubspot-7", "rep@salesos.test") == "17"
