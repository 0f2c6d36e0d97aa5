"""A website on a loopback address, for the safe fetcher's tests: pages, redirects, big and slow bodies, TLS.

Each route is a function of the request handler that writes the whole
answer itself, so a test can answer the way a hostile site would (a redirect
to the metadata address, a body that never ends, a server that drips a byte
at a time). HTTP/1.0: every answer closes its connection, so a body needs no
length. `stop` is set when the site closes: a route that waits or drips ends
with it, so no thread outlives its test.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Route = Callable[[BaseHTTPRequestHandler], None]


class Website:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str]] = []  # (path, Host header) of every request, in order
        self.stop = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.host, self.port = self._server.server_address[:2]

    def page(self, path: str, body: str | bytes, content_type: str | None = "text/html; charset=utf-8",
             status: int = 200) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = lambda handler: answer(handler, status, data, content_type)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = lambda handler: answer(handler, status, b"", "text/html", Location=location)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None,
           **headers: str) -> None:
    handler.send_response(status)
    if content_type is not None:
        handler.send_header("Content-Type", content_type)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def _handler(site: Website) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.seen.append((self.path, self.headers.get("Host", "")))
            route = site.routes.get(self.path)
            if route is None:
                answer(self, 404, b"<p>not here</p>", "text/html")
                return
            try:
                route(self)
            except (BrokenPipeError, ConnectionResetError):  # the fetcher stopped reading: what a limit does
                pass

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def website(host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[Website]:
    """A site serving on `host` (any 127/8 address on Linux) and `port` (0: one of its own), over TLS when given its
    context, until the block ends."""
    site = Website(host, port, tls)
    thread = threading.Thread(target=site._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.stop.set()
        site._server.shutdown()
        site._server.server_close()  # joins the request threads: `stop` has ended any that waited
        thread.join()


def certificate_for(name: str, folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `name`: the server's TLS context, and a client's that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client
