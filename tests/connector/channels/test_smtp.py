"""SmtpChannel against real aiosmtpd servers: TLS, authentication, one kept session, and each reply's meaning."""

from __future__ import annotations

import pytest

from connector.channels.base import (MailboxAuthError, MessageRejected, RecipientRejected, TransientSendError)
from connector.channels.sink import free_port
from connector.channels.smtp import SmtpChannel
from tests.connector.channels.smtp_servers import (PASSWORD, TOKEN, USER, Recorder, message, password_authenticator,
                                                   self_signed, smtp_server)

TO = ["ada@example.com"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


def _starttls_server(certificate, handler, **options):
    return smtp_server(handler, tls_context=certificate.server_context(), require_starttls=True,
                       auth_require_tls=True, **options)


def test_the_receipt_carries_the_messages_own_message_id(tmp_path):
    recorder = Recorder()
    with smtp_server(recorder) as server, SmtpChannel(server.hostname, server.port, security="none") as channel:
        receipt = channel.send(message(), USER, TO)
    assert receipt.message_id.startswith("<") and receipt.message_id.endswith("@acme.example>")
    assert f"Message-ID: {receipt.message_id}".encode() in recorder.received[0]


def test_lines_go_out_with_crlf_endings():
    recorder = Recorder()
    with smtp_server(recorder) as server, SmtpChannel(server.hostname, server.port, security="none") as channel:
        channel.send(message(), USER, TO)
    assert b"\n" not in recorder.received[0].replace(b"\r\n", b"")


def test_starttls_with_the_servers_ca_file_and_a_password_delivers(certificate):
    recorder = Recorder()
    with _starttls_server(certificate, recorder, authenticator=password_authenticator, auth_required=True) as server:
        with SmtpChannel(server.hostname, server.port, security="starttls", username=USER, password=PASSWORD,
                         ca_file=certificate.cert) as channel:
            channel.send(message(), USER, TO)
    assert len(recorder.received) == 1


def test_a_wrong_password_is_a_mailbox_auth_error(certificate):
    with _starttls_server(certificate, Recorder(), authenticator=password_authenticator, auth_required=True) as server:
        with SmtpChannel(server.hostname, server.port, username=USER, password="wrong",
                         ca_file=certificate.cert) as channel:
            with pytest.raises(MailboxAuthError) as refused:
                channel.send(message(), USER, TO)
    assert refused.value.code == "535"


def test_a_server_whose_certificate_is_not_trusted_is_refused_before_anything_is_sent(certificate):
    recorder = Recorder()
    with _starttls_server(certificate, recorder, authenticator=password_authenticator) as server:
        with SmtpChannel(server.hostname, server.port, username=USER, password=PASSWORD) as channel:  # system CAs
            with pytest.raises(MailboxAuthError) as refused:
                channel.send(message(), USER, TO)
    assert refused.value.code == "tls" and recorder.received == []


def test_a_mailbox_set_to_starttls_refuses_a_server_without_it():
    with smtp_server(Recorder()) as server, SmtpChannel(server.hostname, server.port) as channel:
        with pytest.raises(MailboxAuthError) as refused:
            channel.send(message(), USER, TO)
    assert refused.value.code == "starttls"


def test_implicit_tls_delivers(certificate):
    recorder = Recorder()
    with smtp_server(recorder, ssl_context=certificate.server_context()) as server:
        with SmtpChannel(server.hostname, server.port, security="ssl", ca_file=certificate.cert) as channel:
            channel.send(message(), USER, TO)
    assert len(recorder.received) == 1


def test_an_xoauth2_token_the_server_accepts_authenticates(certificate):
    recorder = Recorder()
    with _starttls_server(certificate, recorder, auth_required=True) as server:
        with SmtpChannel(server.hostname, server.port, username=USER, oauth_token=TOKEN,
                         ca_file=certificate.cert) as channel:
            channel.send(message(), USER, TO)
    assert recorder.logins == [f"xoauth2:{USER}"] and len(recorder.received) == 1


def test_an_xoauth2_token_the_server_refuses_is_a_mailbox_auth_error(certificate):
    recorder = Recorder()
    with _starttls_server(certificate, recorder, auth_required=True) as server:
        with SmtpChannel(server.hostname, server.port, username=USER, oauth_token="ya29.revoked",
                         ca_file=certificate.cert) as channel:
            with pytest.raises(MailboxAuthError) as refused:
                channel.send(message(), USER, TO)
    assert refused.value.code == "535" and recorder.received == []


def test_one_session_carries_a_batch_of_sends():
    recorder = Recorder()
    with smtp_server(recorder) as server, SmtpChannel(server.hostname, server.port, security="none") as channel:
        channel.send(message("t:a@example.com:1"), USER, ["a@example.com"])
        session = channel._session
        channel.send(message("t:b@example.com:1"), USER, ["b@example.com"])
        assert channel._session is session
    assert len(recorder.received) == 2


def test_a_kept_session_the_server_dropped_is_reopened_once_and_the_message_goes():
    recorder = Recorder()
    with smtp_server(recorder) as server, SmtpChannel(server.hostname, server.port, security="none") as channel:
        channel.send(message("t:a@example.com:1"), USER, ["a@example.com"])
        recorder.drop_next_mail = True
        channel.send(message("t:b@example.com:1"), USER, ["b@example.com"])
    assert len(recorder.received) == 2


def test_a_new_session_dropped_at_once_is_transient_not_retried():
    recorder = Recorder(drop_next_mail=True)
    with smtp_server(recorder) as server, SmtpChannel(server.hostname, server.port, security="none") as channel:
        with pytest.raises(TransientSendError):
            channel.send(message(), USER, TO)
    assert recorder.received == []


def test_a_server_that_is_not_there_is_transient():
    with SmtpChannel("127.0.0.1", free_port(), security="none", timeout=2) as channel:
        with pytest.raises(TransientSendError) as refused:
            channel.send(message(), USER, TO)
    assert refused.value.code == "network"


@pytest.mark.parametrize(("step", "reply", "error"), [
    ("MAIL", "451 4.3.0 try again later", TransientSendError),
    ("RCPT", "450 4.2.1 mailbox busy", TransientSendError),
    ("DATA", "452 4.3.1 insufficient storage", TransientSendError),
    ("RCPT", "550 5.1.1 no such user", RecipientRejected),
    ("RCPT", "553 5.1.3 bad address syntax", RecipientRejected),
    ("RCPT", "551 5.1.6 user has moved", RecipientRejected),
    ("MAIL", "530 5.7.0 authentication required", MailboxAuthError),
    ("RCPT", "535 5.7.8 authentication failed", MailboxAuthError),
    ("MAIL", "552 5.3.4 message too big", MessageRejected),
    ("DATA", "552 5.3.4 message too big", MessageRejected),
    ("DATA", "554 5.7.1 message refused as spam", MessageRejected),
], ids=lambda value: value if isinstance(value, str) and len(value) < 5 else None)
def test_each_reply_means_what_the_caller_must_do(step, reply, error):
    with smtp_server(Recorder(replies={step: reply})) as server:
        with SmtpChannel(server.hostname, server.port, security="none") as channel:
            with pytest.raises(error) as refused:
                channel.send(message(), USER, TO)
    assert refused.value.code == reply[:3]
    assert type(refused.value) is error


def test_after_a_refused_recipient_the_session_sends_the_next_message():
    recorder = Recorder(replies={"RCPT": "550 5.1.1 no such user"})
    with smtp_server(recorder) as server, SmtpChannel(server.hostname, server.port, security="none") as channel:
        with pytest.raises(RecipientRejected):
            channel.send(message("t:a@example.com:1"), USER, ["a@example.com"])
        recorder.replies.clear()
        channel.send(message("t:b@example.com:1"), USER, ["b@example.com"])
    assert len(recorder.received) == 1


def test_a_message_without_a_message_id_is_rejected_before_connecting():
    channel = SmtpChannel("127.0.0.1", free_port(), security="none")
    with pytest.raises(MessageRejected) as refused:
        channel.send(b"From: a@b.example\nSubject: x\n\nbody\n", USER, TO)
    assert refused.value.code == "message-id"


def test_the_channels_repr_never_shows_its_secret():
    channel = SmtpChannel("smtp.gmail.com", 587, username=USER, oauth_token=TOKEN)
    assert TOKEN not in repr(channel) and TOKEN not in str(channel)
