"""A small IMAP4rev1 server on 127.0.0.1 for testing the IMAP reader: just what IMAPClient sends it.

CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE XOAUTH2, SELECT/EXAMINE (with
UIDVALIDITY and UIDNEXT), UID SEARCH (ALL, UID <set>, SINCE <date>), UID FETCH
of UID, RFC822.SIZE, INTERNALDATE, BODY.PEEK[] and BODY[], NOOP, LOGOUT. One
folder, INBOX. Every command line is recorded (`commands`) and a message read
with BODY[] (not PEEK) gets \\Seen, as a real server does, so a test can see
what the client asked for and what it changed.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field

_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    internal_date: dt.datetime
    flags: set[str] = field(default_factory=set)


class FakeImapServer:
    """`port` is where it listens; `implicit_tls` wraps every connection at once (port 993 style), `starttls`
    offers STARTTLS on a plain one. Use as a context manager."""

    def __init__(self, *, users: dict[str, str] | None = None, tokens: dict[str, str] | None = None,
                 tls: ssl.SSLContext | None = None, implicit_tls: bool = False, uidvalidity: int = 1000) -> None:
        self.users = dict(users or {})
        self.tokens = dict(tokens or {})  # XOAUTH2: user -> access token
        self.tls, self.implicit_tls = tls, implicit_tls
        self.uidvalidity = uidvalidity
        self.messages: list[StoredMessage] = []
        self.commands: list[str] = []  # each command line, tag removed (an AUTHENTICATE's response is not kept)
        self.logins: list[str] = []  # the users who logged in, with which mechanism ("LOGIN alice")
        self._next_uid = 1
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                _Session(server, self.request).run()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=True)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeImapServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def deliver(self, raw: bytes, internal_date: dt.datetime | None = None) -> int:
        """Add a message to INBOX; returns its UID."""
        with self._lock:
            uid = self._next_uid
            self._next_uid += 1
            self.messages.append(StoredMessage(uid, raw, internal_date or dt.datetime.now(dt.UTC)))
            return uid

    def renumber(self, uidvalidity: int) -> None:
        """What a server does when it rebuilds a folder: a new UIDVALIDITY and new UIDs for everything."""
        with self._lock:
            self.uidvalidity = uidvalidity
            for message in self.messages:
                message.uid = self._next_uid
                self._next_uid += 1

    def seen(self) -> set[int]:
        return {m.uid for m in self.messages if "\\Seen" in m.flags}


class _Session:
    def __init__(self, server: FakeImapServer, sock) -> None:
        self.server, self.sock = server, sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each reply line goes at once, as servers do
        self.tls_on = False
        self.user: str | None = None
        self.selected = False
        if server.implicit_tls:
            self._wrap()
        self.file = self.sock.makefile("rb")

    def _wrap(self) -> None:
        self.sock = self.server.tls.wrap_socket(self.sock, server_side=True)
        self.tls_on = True

    def send(self, line: bytes | str) -> None:
        self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def capabilities(self) -> str:
        caps = ["IMAP4rev1", "AUTH=XOAUTH2", "UIDPLUS"]
        if self.server.tls is not None and not self.tls_on:
            caps.append("STARTTLS")
        return " ".join(caps)

    def run(self) -> None:
        self.send("* OK fake IMAP ready")
        while True:
            line = self.file.readline(65536)
            if not line:
                return
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            command, _, args = rest.partition(b" ")
            command = command.upper()
            with self.server._lock:
                self.server.commands.append(rest.decode("utf-8", "replace"))
            handler = getattr(self, f"do_{command.decode('ascii', 'replace').lower()}", None)
            if handler is None:
                self.send(tag + b" BAD unknown command")
                continue
            if handler(tag, args) == "close":
                return

    def do_capability(self, tag: bytes, args: bytes):
        self.send(f"* CAPABILITY {self.capabilities()}")
        self.send(tag + b" OK CAPABILITY completed")

    def do_noop(self, tag: bytes, args: bytes):
        self.send(tag + b" OK NOOP completed")

    def do_starttls(self, tag: bytes, args: bytes):
        if self.server.tls is None or self.tls_on:
            self.send(tag + b" BAD STARTTLS not available")
            return
        self.send(tag + b" OK begin TLS negotiation")
        self._wrap()
        self.file = self.sock.makefile("rb")

    def do_login(self, tag: bytes, args: bytes):
        user, password = (_unquote(token) for token in _tokens(args)[:2])
        if self.server.users.get(user) != password:
            self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials")
            return
        self._logged_in(tag, user, "LOGIN")

    def do_authenticate(self, tag: bytes, args: bytes):
        if args.strip().upper() != b"XOAUTH2":
            self.send(tag + b" NO unsupported mechanism")
            return
        self.send("+ ")
        answer = self.file.readline(65536).strip()
        try:
            fields = dict(part.split("=", 1) for part in base64.b64decode(answer).decode().split("\x01") if part)
        except ValueError:
            self.send(tag + b" BAD malformed XOAUTH2 response")
            return
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        if not bearer.startswith("Bearer ") or self.server.tokens.get(user) != bearer[len("Bearer "):]:
            self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
            return
        self._logged_in(tag, user, "XOAUTH2")

    def _logged_in(self, tag: bytes, user: str, mechanism: str) -> None:
        self.user = user
        with self.server._lock:
            self.server.logins.append(f"{mechanism} {user}")
        self.send(tag + b" OK authenticated")

    def do_select(self, tag: bytes, args: bytes, verb: str = "SELECT"):
        if self.user is None:
            self.send(tag + b" NO not authenticated")
            return
        if _unquote(_tokens(args)[0]).upper() != "INBOX":
            self.send(tag + b" NO no such mailbox")
            return
        with self.server._lock:
            exists, validity, uidnext = len(self.server.messages), self.server.uidvalidity, self.server._next_uid
        self.send(f"* {exists} EXISTS")
        self.send("* 0 RECENT")
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        self.send(f"* OK [UIDVALIDITY {validity}] UIDs valid")
        self.send(f"* OK [UIDNEXT {uidnext}] Predicted next UID")
        self.selected = True
        mode = "READ-ONLY" if verb == "EXAMINE" else "READ-WRITE"
        self.send(tag + f" OK [{mode}] {verb} completed".encode())

    def do_examine(self, tag: bytes, args: bytes):
        self.do_select(tag, args, verb="EXAMINE")

    def do_uid(self, tag: bytes, args: bytes):
        if not self.selected:
            self.send(tag + b" NO no mailbox selected")
            return
        verb, _, rest = args.partition(b" ")
        if verb.upper() == b"SEARCH":
            self._search(tag, rest)
        elif verb.upper() == b"FETCH":
            self._fetch(tag, rest)
        else:
            self.send(tag + b" BAD unsupported UID command")

    def _search(self, tag: bytes, args: bytes) -> None:
        tokens = [_unquote(token) for token in _tokens(args)]
        with self.server._lock:
            messages = list(self.server.messages)
        matched = messages
        index = 0
        while index < len(tokens):
            key = tokens[index].upper()
            if key == "ALL":
                index += 1
            elif key == "UID":
                uids = _uid_set(tokens[index + 1], max((m.uid for m in messages), default=0))
                matched = [m for m in matched if m.uid in uids]
                index += 2
            elif key == "SINCE":
                day, month, year = tokens[index + 1].split("-")
                since = dt.date(int(year), _MONTHS.index(month) + 1, int(day))
                matched = [m for m in matched if m.internal_date.date() >= since]
                index += 2
            else:
                self.send(tag + b" BAD [CANNOT] unsupported search key")
                return
        self.send("* SEARCH" + "".join(f" {m.uid}" for m in matched))
        self.send(tag + b" OK SEARCH completed")

    def _fetch(self, tag: bytes, args: bytes) -> None:
        set_text, _, items_text = args.partition(b" ")
        items = items_text.decode().strip("()").upper().split()
        with self.server._lock:
            messages = list(self.server.messages)
        uids = _uid_set(set_text.decode(), max((m.uid for m in messages), default=0))
        for seq, message in enumerate(messages, start=1):
            if message.uid not in uids:
                continue
            parts = [f"UID {message.uid}".encode()]
            for item in items:
                if item == "RFC822.SIZE":
                    parts.append(f"RFC822.SIZE {len(message.raw)}".encode())
                elif item == "INTERNALDATE":
                    parts.append(f'INTERNALDATE "{_internal_date(message.internal_date)}"'.encode())
                elif item in ("BODY.PEEK[]", "BODY[]"):
                    if item == "BODY[]":
                        message.flags.add("\\Seen")
                    parts.append(b"BODY[] {%d}\r\n" % len(message.raw) + message.raw)
                elif item != "UID":
                    self.send(tag + b" BAD unsupported fetch item")
                    return
            self.send(b"* %d FETCH (" % seq + b" ".join(parts) + b")")
        self.send(tag + b" OK FETCH completed")

    def do_logout(self, tag: bytes, args: bytes):
        self.send("* BYE logging out")
        self.send(tag + b" OK LOGOUT completed")
        return "close"


def _tokens(args: bytes) -> list[bytes]:
    return [match.group(0) for match in _TOKEN.finditer(args)]


def _unquote(token: bytes) -> str:
    text = token.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _uid_set(text: str, largest: int) -> set[int]:
    """An IMAP sequence set over UIDs; `*` is the largest UID in the folder (so `n:*` always matches it)."""
    uids: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition(":")
        start = largest if low == "*" else int(low)
        end = start if not high else (largest if high == "*" else int(high))
        uids.update(range(min(start, end), max(start, end) + 1))
    return uids


def _internal_date(when: dt.datetime) -> str:
    when = when.astimezone(dt.UTC)
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year} {when:%H:%M:%S} +0000"
