"""The IMAP reader against a local IMAP server (tests/fakes/imap_server.py), over TLS as in production."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from connector.inbound.base import InboundAuthError, InboundError, TransientInboundError
from connector.inbound.base import ImapConfig
from connector.inbound.imap import ImapReader
from tests.fakes.imap_server import FakeImapServer
from tests.fakes.website import certificate_for

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def mail(subject: str, size: int = 0) -> bytes:
    return (f"From: Ada <ada@example.com>\r\nTo: rep@salesos.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n\r\nHi.\r\n").encode() + b"x" * size


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return certificate_for("localhost", tmp_path_factory.mktemp("imap-tls"))


@pytest.fixture
def server(tls):
    server_context, _ = tls
    with FakeImapServer(users={"rep@salesos.test": "s3cret"}, tokens={"rep@salesos.test": "ya29.token"},
                        tls=server_context, implicit_tls=True) as fake:
        yield fake


def reader(server, tls, **kwargs) -> ImapReader:
    _, client_context = tls
    security = kwargs.pop("security", "ssl")
    credential = kwargs if {"password", "access_token"} & kwargs.keys() else {"password": "s3cret", **kwargs}
    config = ImapConfig(host="localhost", port=server.port, security=security, username="rep@salesos.test", timeout=5)
    return ImapReader("t1", "rep@salesos.test", config, ssl_context=client_context, now=lambda: NOW, **credential)


def test_a_first_poll_reads_the_last_days_of_mail_and_not_older(server, tls):
    server.deliver(mail("old"), NOW - dt.timedelta(days=10))
    recent = server.deliver(mail("recent"), NOW - dt.timedelta(hours=3))
    messages, cursor = reader(server, tls).fetch_new(None, 10)
    assert [m.raw for m in messages] == [mail("recent")]
    assert messages[0].provider_id == f"1000:{recent}" and messages[0].source == "imap"
    assert messages[0].received_at == NOW - dt.timedelta(hours=3)
    assert cursor == f"1000:{recent}"


def test_a_first_poll_of_an_empty_window_starts_after_the_newest_message(server, tls):
    old = server.deliver(mail("old"), NOW - dt.timedelta(days=10))
    messages, cursor = reader(server, tls).fetch_new(None, 10)
    assert messages == [] and cursor == f"1000:{old}"
    assert reader(server, tls).fetch_new(cursor, 10) == ([], cursor)


def test_the_next_poll_reads_only_what_arrived_after_the_cursor(server, tls):
    server.deliver(mail("first"), NOW)
    _, cursor = reader(server, tls).fetch_new(None, 10)
    second = server.deliver(mail("second"), NOW)
    messages, cursor = reader(server, tls).fetch_new(cursor, 10)
    assert [m.raw for m in messages] == [mail("second")] and cursor == f"1000:{second}"


def test_reading_never_marks_mail_as_seen(server, tls):
    server.deliver(mail("unread reply"), NOW)
    reader(server, tls).fetch_new(None, 10)
    assert server.seen() == set()
    assert any(command.startswith("EXAMINE") for command in server.commands)


def test_a_poll_reads_at_most_its_limit_oldest_first_and_the_rest_next_time(server, tls):
    uids = [server.deliver(mail(f"m{i}"), NOW) for i in range(5)]
    first, cursor = reader(server, tls).fetch_new(None, 2)
    rest, cursor = reader(server, tls).fetch_new(cursor, 10)
    assert [m.provider_id for m in first + rest] == [f"1000:{uid}" for uid in uids]


def test_a_message_over_the_size_bound_is_skipped_by_id_without_its_body_being_fetched(server, tls, caplog):
    big = server.deliver(mail("huge", size=5000), NOW)
    small = server.deliver(mail("small"), NOW)
    with caplog.at_level(logging.WARNING):
        messages, cursor = reader(server, tls, max_bytes=1000).fetch_new(None, 10)
    assert [m.provider_id for m in messages] == [f"1000:{small}"] and cursor == f"1000:{small}"
    assert f"1000:{big} skipped" in caplog.text
    body_fetches = [c for c in server.commands if c.startswith("UID FETCH") and "BODY" in c]
    assert body_fetches == [f"UID FETCH {small} (BODY.PEEK[] INTERNALDATE)"]


def test_a_changed_uidvalidity_rereads_the_recent_days_not_the_whole_folder(server, tls):
    server.deliver(mail("ancient"), NOW - dt.timedelta(days=30))
    server.deliver(mail("yesterday"), NOW - dt.timedelta(days=1))
    _, cursor = reader(server, tls).fetch_new(None, 10)
    server.renumber(2000)
    messages, cursor = reader(server, tls).fetch_new(cursor, 10)
    assert [m.raw for m in messages] == [mail("yesterday")]
    assert cursor.startswith("2000:")


def test_xoauth2_logs_in_with_the_access_token(server, tls):
    server.deliver(mail("hello"), NOW)
    messages, _ = reader(server, tls, access_token=lambda: "ya29.token").fetch_new(None, 10)
    assert len(messages) == 1 and server.logins == ["XOAUTH2 rep@salesos.test"]


def test_a_refused_password_is_an_auth_error(server, tls):
    with pytest.raises(InboundAuthError, match="refused"):
        reader(server, tls, password="wrong").fetch_new(None, 10)


def test_a_refused_access_token_is_an_auth_error(server, tls):
    with pytest.raises(InboundAuthError):
        reader(server, tls, access_token=lambda: "expired").fetch_new(None, 10)


def test_starttls_upgrades_a_plain_connection_before_logging_in(tls):
    server_context, client_context = tls
    with FakeImapServer(users={"rep@salesos.test": "s3cret"}, tls=server_context) as plain:
        plain.deliver(mail("over starttls"), NOW)
        messages, _ = reader(plain, tls, security="starttls").fetch_new(None, 10)
    assert len(messages) == 1
    assert plain.commands.index("STARTTLS") < next(i for i, c in enumerate(plain.commands) if c.startswith("LOGIN"))


def test_a_server_without_starttls_gets_no_password(tls):
    with FakeImapServer(users={"rep@salesos.test": "s3cret"}) as plain:  # no TLS at all
        with pytest.raises(InboundError, match="STARTTLS"):
            reader(plain, tls, security="starttls").fetch_new(None, 10)
        assert not any(command.startswith("LOGIN") for command in plain.commands)


def test_an_untrusted_certificate_is_refused_before_logging_in(server, tmp_path):
    _, stranger = certificate_for("localhost", tmp_path)
    config = ImapConfig(host="localhost", port=server.port, username="rep@salesos.test", timeout=5)
    with pytest.raises(InboundError, match="not trusted"):
        ImapReader("t1", "rep@salesos.test", config, password="s3cret", ssl_context=stranger).fetch_new(None, 10)
    assert server.logins == []


def test_an_unreachable_server_is_transient(tls):
    with FakeImapServer(tls=tls[0], implicit_tls=True) as gone:
        port = gone.port
    config = ImapConfig(host="127.0.0.1", port=port, username="rep@salesos.test", timeout=2)
    with pytest.raises(TransientInboundError):
        ImapReader("t1", "rep@salesos.test", config, password="x", ssl_context=tls[1]).fetch_new(None, 10)


def test_a_cursor_of_another_shape_is_an_error_naming_the_cursor(server, tls):
    with pytest.raises(ValueError, match="cursor"):
        reader(server, tls).fetch_new("https://graph.microsoft.com/v1.0/delta", 10)
