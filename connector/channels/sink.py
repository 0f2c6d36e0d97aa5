"""The local SMTP sink: the embedded default's mail server, whose messages land in the outbox.

`make demo` and `connector run` need no mail account: the SMTP backend sends
to this server on 127.0.0.1, and each message it receives is written into the
outbox exactly where local mode writes it (`connector.channels.email.write_eml`,
named from the message's `X-SalesOS-Step`), so a retried step rewrites one file
and the demo's reader finds the messages where it always did. A message without
that header is named from its Message-ID (else from its content).

It binds loopback only and takes messages up to MAX_MESSAGE_BYTES. It accepts
any envelope: it delivers nothing anywhere, it only files what it is given.

Standalone: `python -m connector.channels.sink --outbox DIR [--port N]` prints
the port it listens on, on one line, then serves until it is stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import socket
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from connector.channels.email import write_eml
from connector.channels.headers import header, parse_headers

HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a SalesOS message is a few kilobytes; this bounds what a stray client can send
_BIND_ATTEMPTS = 5


class OutboxHandler:
    """aiosmtpd's DATA hook: each message into the outbox, under the name local mode gives it."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.deliveries = 0  # messages received: a file written over by a second delivery still counts twice

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.file(content)
        self.deliveries += 1
        return "250 2.0.0 OK: filed in the outbox"

    def file(self, content: bytes) -> Path:
        """Write one received message (CRLF line endings back to LF, as local mode writes it)."""
        message = content.replace(b"\r\n", b"\n")
        return write_eml(self.outbox, outbox_key(message), message)


def outbox_key(message: bytes) -> str:
    """The key `write_eml` names the message's file from: its step, else its Message-ID, else its content."""
    headers = parse_headers(message)
    step = header(headers, "X-SalesOS-Step")
    if step is not None:
        return step
    return header(headers, "Message-ID") or "sha256:" + hashlib.sha256(message).hexdigest()


def free_port(host: str = HOST) -> int:
    """A port free on `host` right now (aiosmtpd's Controller cannot bind port 0: it connects to its port to start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class LocalSink:
    """The sink on 127.0.0.1, as a context manager: `with LocalSink(outbox) as sink: ... sink.port`."""

    def __init__(self, outbox: Path, port: int = 0, *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.outbox = Path(outbox)
        self.host = HOST
        self.port = port
        self._max = max_message_bytes
        self._controller: Controller | None = None
        self._handler = OutboxHandler(self.outbox)

    @property
    def deliveries(self) -> int:
        return self._handler.deliveries

    def start(self) -> LocalSink:
        """Listen; with port 0, on a free port (picked, then bound; picked again if another process took it first)."""
        attempts = 1 if self.port else _BIND_ATTEMPTS
        for attempt in range(attempts):
            port = self.port or free_port()
            controller = Controller(self._handler, hostname=HOST, port=port,
                                    data_size_limit=self._max, ident="SalesOS local sink")
            try:
                controller.start()
            except Exception:
                if attempt + 1 == attempts:
                    raise
                continue
            self._controller, self.port = controller, port
            return self
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LocalSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connector.channels.sink",
                                     description="SalesOS's local SMTP sink: messages sent to it land in the outbox.")
    parser.add_argument("--outbox", type=Path, required=True, help="the directory messages are written into")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 (default) picks a free one")
    options = parser.parse_args(argv)
    if not 0 <= options.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    stopped = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopped.set())
    with LocalSink(options.outbox, options.port) as sink:
        sys.stdout.write(f"{sink.port}\n")
        sys.stdout.flush()
        stopped.wait()


if __name__ == "__main__":
    main()
