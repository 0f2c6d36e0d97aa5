"""Real SMTP servers for the channel tests: aiosmtpd on 127.0.0.1, with a throwaway certificate when TLS is wanted."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.channels.email import EmailDraft, Sender, render
from connector.channels.sink import free_port

USER, PASSWORD, TOKEN = "rep@acme.example", "correct horse", "ya29.valid-token"


def message(key: str = "t:ada@example.com:1", *, sent_at: dt.datetime | None = None) -> bytes:
    """A message exactly as the outreach job renders it."""
    draft = EmailDraft(key=key, to_name="Ada Lovelace", to_email="ada@example.com", title="CTO",
                       company_name="Analytical", message_type="value_first", hooks=["hiring SDRs"],
                       unsubscribe_url="https://salesos.example.com/u/tok")
    sender = Sender(name="Rep", email=USER, postal_address="1 Main St, Springfield")
    rendered = render(draft, sender, sent_at or dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    return rendered.message.as_bytes()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(directory: Path) -> Certificate:
    """A certificate for 127.0.0.1 that signs itself: trusted only by a client given it as its CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "salesos-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@dataclass
class Recorder:
    """Keeps what it is sent; answers each SMTP step with the reply set for it (None: accept)."""

    replies: dict[str, str] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    drop_next_mail: bool = False
    logins: list[str] = field(default_factory=list)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.drop_next_mail:
            self.drop_next_mail = False
            server.transport.close()
            return "421 4.4.2 closing"
        if "MAIL" in self.replies:
            return self.replies["MAIL"]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "RCPT" in self.replies:
            return self.replies["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if "DATA" in self.replies:
            return self.replies["DATA"]
        self.received.append(envelope.original_content)
        return "250 OK"

    async def auth_XOAUTH2(self, server, args):
        """Google's XOAUTH2: a refused token gets a 334 with a JSON error, then 535 after the client's empty line."""
        fields = dict(part.split("=", 1) for part in base64.b64decode(args[1]).decode().split("\x01") if part)
        if fields.get("user") == USER and fields.get("auth") == f"Bearer {TOKEN}":
            self.logins.append(f"xoauth2:{fields['user']}")
            return AuthResult(success=True, auth_data=fields["user"])
        await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}')
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")


def password_authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (USER.encode(),
                                                                                             PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # unhandled: aiosmtpd answers 535 itself


@contextmanager
def smtp_server(handler, **options):
    """An aiosmtpd server on 127.0.0.1 and a free port; `options` go to aiosmtpd's SMTP (tls_context, ...)."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
