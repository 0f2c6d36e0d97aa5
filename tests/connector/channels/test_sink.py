"""The local SMTP sink files what it receives in the outbox, as local mode would have written it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from connector.channels.base import MessageRejected
from connector.channels.email import write_eml
from connector.channels.sink import LocalSink
from connector.channels.smtp import SmtpChannel
from tests.connector.channels.smtp_servers import message

SENDER, TO = "rep@acme.example", ["ada@example.com"]


def _send(sink: LocalSink, raw: bytes) -> None:
    with SmtpChannel(sink.host, sink.port, security="none") as channel:
        channel.send(raw, SENDER, TO)


def test_a_message_sent_to_the_sink_lands_in_the_outbox_under_its_steps_name(tmp_path):
    raw = message("t:ada@example.com:1")
    with LocalSink(tmp_path / "outbox") as sink:
        _send(sink, raw)
    expected = write_eml(tmp_path / "local", "t:ada@example.com:1", raw).name
    assert [path.name for path in (tmp_path / "outbox").iterdir()] == [expected]
    assert (tmp_path / "outbox" / expected).read_bytes() == raw  # byte for byte what local mode writes


def test_a_retried_step_rewrites_its_one_file(tmp_path):
    later = dt.datetime(2026, 3, 2, 9, 5, tzinfo=dt.UTC)
    with LocalSink(tmp_path / "outbox") as sink:
        _send(sink, message("t:ada@example.com:1"))
        _send(sink, message("t:ada@example.com:1", sent_at=later))
    files = list((tmp_path / "outbox").iterdir())
    assert len(files) == 1
    assert b"09:05:00" in files[0].read_bytes()


def test_a_message_without_a_step_is_named_from_its_message_id(tmp_path):
    raw = b"From: rep@acme.example\nTo: ada@example.com\nMessage-ID: <abc@acme.example>\nSubject: hi\n\nHello\n"
    with LocalSink(tmp_path / "outbox") as sink:
        _send(sink, raw)
    assert [path.name for path in (tmp_path / "outbox").iterdir()] == [write_eml(tmp_path, "<abc@acme.example>",
                                                                               raw).name]


def test_the_sink_listens_on_loopback_only(tmp_path):
    with LocalSink(tmp_path / "outbox") as sink:
        assert sink.host == "127.0.0.1"
        assert sink._controller.server.sockets[0].getsockname()[0] == "127.0.0.1"


def test_a_message_over_the_size_bound_is_refused_and_not_filed(tmp_path):
    with LocalSink(tmp_path / "outbox", max_message_bytes=2000) as sink:
        with pytest.raises(MessageRejected) as refused:
            _send(sink, message() + (b"x" * 70 + b"\n") * 100)
    assert refused.value.code == "552"
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


def test_the_standalone_sink_prints_its_port_and_files_what_it_is_sent(tmp_path):
    outbox = tmp_path / "outbox"
    process = subprocess.Popen([sys.executable, "-m", "connector.channels.sink", "--outbox", str(outbox)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3])
    try:
        port = int(process.stdout.readline())
        with SmtpChannel("127.0.0.1", port, security="none") as channel:
            channel.send(message(), SENDER, TO)
        assert len(list(outbox.iterdir())) == 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
