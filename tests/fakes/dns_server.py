"""A tiny authoritative DNS server on a loopback UDP port, for tests (no real DNS is reachable here).

It answers from a zone given as data, with dnspython's own message code:
records per (name, type); a name it does not know is NXDOMAIN; a known name
without records of the asked type is an empty NOERROR (no answer); names in
`servfail` get SERVFAIL, names in `silent` get no reply at all (the resolver
times out). Every question is recorded, so a test can count lookups.
"""

from __future__ import annotations

import socketserver
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset


class LocalDns:
    def __init__(self, records: dict[tuple[str, str], list[str]] | None = None, *, names: set[str] = frozenset(),
                 servfail: set[str] = frozenset(), silent: set[str] = frozenset()) -> None:
        self.records = dict(records or {})
        self.names = {name for name, _ in self.records} | set(names) | set(servfail) | set(silent)
        self.servfail, self.silent = set(servfail), set(silent)
        self.questions: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = server.answer(data)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        self._server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> LocalDns:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def resolver(self, lifetime: float = 3.0) -> dns.resolver.Resolver:
        """A resolver that asks this server only."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = lifetime
        return resolver

    def asked(self, name: str) -> list[str]:
        """The types asked about `name`, in order."""
        with self._lock:
            return [rdtype for asked, rdtype in self.questions if asked == name]

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.questions.append((name, rdtype))
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif self.records.get((name, rdtype)):
            response.answer.append(dns.rrset.from_text(question.name, 300, "IN", rdtype, *self.records[(name, rdtype)]))
        return response.to_wire()
