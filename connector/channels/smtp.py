"""The SMTP backend (smtplib): any mail server, including Google Workspace and Microsoft 365.

Security is explicit: `starttls` (port 587, the server's certificate verified
against the system CAs or `ca_file`), `ssl` (implicit TLS, port 465) or `none`
(loopback only in practice: the local sink). A mailbox authenticates with a
password (AUTH PLAIN/LOGIN, whichever the server offers) or an OAuth access
token (XOAUTH2, which smtp.gmail.com and smtp.office365.com take).

One session is kept open across a batch of sends. If a reused session turns
out to be dropped before the server took any part of the message (at MAIL
FROM), it reconnects once and sends again; a drop after DATA began is never
retried here, since the server may have taken the message (the caller's send
ledger decides).

Replies become the errors of `connector.channels.base`, by the step they
answer: a 4xx anywhere is transient; at RCPT 5.1.x, 550, 551 and 553 refuse
the recipient; 530, 534, 535 are the mailbox's credential; 552 and 554 at
DATA refuse the message.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import smtplib
import ssl
from pathlib import Path
from typing import Literal

from connector.channels.base import (MailboxAuthError, MessageRejected, RecipientRejected, SendError, SendReceipt,
                                     TransientSendError)
from connector.channels.headers import message_id, parse_headers

Security = Literal["starttls", "ssl", "none"]
DEFAULT_TIMEOUT = 30.0  # seconds per socket operation: a stalled server never holds a worker longer
_AUTH_CODES = {530, 534, 535}
_RECIPIENT_CODES = {550, 551, 553}
_EOL = re.compile(rb"\r?\n")
_ENHANCED = re.compile(rb"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class SmtpChannel:
    """Sends through one SMTP server as one mailbox (`connector.channels.base.EmailChannel`)."""

    def __init__(self, host: str, port: int, *, security: Security = "starttls", username: str | None = None,
                 password: str | None = None, oauth_token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 ca_file: Path | str | None = None, local_hostname: str | None = None) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be starttls, ssl or none (got {security!r})")
        if password is not None and oauth_token is not None:
            raise ValueError("give a password or an oauth_token, not both")
        if (password is not None or oauth_token is not None) and not username:
            raise ValueError("username is required with a password or an oauth_token")
        self.host, self.port, self.security = host, port, security
        self._username, self._password, self._token = username, password, oauth_token
        self._timeout, self._local_hostname = timeout, local_hostname
        self._ca_file = str(ca_file) if ca_file is not None else None
        self._session: smtplib.SMTP | None = None

    def __repr__(self) -> str:  # never the password or the token
        return f"SmtpChannel({self.host}:{self.port}, security={self.security}, username={self._username!r})"

    def send(self, message: bytes, sender: str, recipients: list[str], *, thread_id: str | None = None) -> SendReceipt:
        """Send `message` as it is; `thread_id` is unused (SMTP threads by In-Reply-To and References)."""
        if not recipients:
            raise MessageRejected("no recipients", code="recipients")
        receipt = SendReceipt(message_id=message_id(parse_headers(message)), accepted_at=_now())
        reused = self._session is not None
        try:
            self._transaction(message, sender, recipients)
        except _DroppedBeforeData as exc:
            self._drop()
            if not reused:
                raise TransientSendError(f"{self.host}:{self.port} dropped the connection: {exc}", code="network")
            try:  # a kept session the server closed while idle: once more, on a new one
                self._transaction(message, sender, recipients)
            except _DroppedBeforeData as again:
                self._drop()
                raise TransientSendError(f"{self.host}:{self.port} dropped the connection: {again}",
                                         code="network") from None
        return receipt

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.quit()
            except (smtplib.SMTPException, OSError):
                session.close()

    def __enter__(self) -> SmtpChannel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _transaction(self, message: bytes, sender: str, recipients: list[str]) -> None:
        session = self._connected()
        try:
            try:
                code, reply = session.mail(sender, self._mail_options(session, message, sender, recipients))
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise _DroppedBeforeData(str(exc)) from None
            if code == 421:
                raise _DroppedBeforeData(_said(code, reply))
            if code != 250:
                raise self._refused("MAIL", code, reply)
            refused = []
            for recipient in recipients:
                code, reply = session.rcpt(recipient)
                if code not in (250, 251):
                    refused.append((recipient, code, reply))
            if len(refused) == len(recipients):
                recipient, code, reply = refused[0]
                raise self._refused("RCPT", code, reply, recipient=recipient)
            code, reply = session.data(_crlf(message))
            if code != 250:
                raise self._refused("DATA", code, reply)
        except SendError:
            self._reset()
            raise
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise self._refused("DATA", exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:  # dropped once the message was under way
            self._drop()
            raise TransientSendError(f"{self.host}:{self.port}: {exc or type(exc).__name__}", code="network") from None

    def _mail_options(self, session: smtplib.SMTP, message: bytes, sender: str, recipients: list[str]) -> list[str]:
        options = []
        if not message.isascii() and session.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not (sender.isascii() and all(recipient.isascii() for recipient in recipients)):
            if not session.has_extn("smtputf8"):
                raise MessageRejected(f"{self.host} does not take non-ASCII addresses (no SMTPUTF8)", code="smtputf8")
            options.append("SMTPUTF8")
        return options

    def _connected(self) -> smtplib.SMTP:
        if self._session is None:
            self._session = self._open()
        return self._session

    def _open(self) -> smtplib.SMTP:
        session: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                session = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self._local_hostname,
                                           timeout=self._timeout, context=self._tls_context())
            else:
                session = smtplib.SMTP(self.host, self.port, local_hostname=self._local_hostname,
                                       timeout=self._timeout)
            session.ehlo()
            if self.security == "starttls":
                if not session.has_extn("starttls"):
                    raise MailboxAuthError(f"{self.host}:{self.port} does not offer STARTTLS; the mailbox is set to "
                                           "require it (use security ssl for port 465)", code="starttls")
                code, reply = session.starttls(context=self._tls_context())
                if code != 220:
                    raise TransientSendError(f"STARTTLS refused: {_said(code, reply)}", code=str(code))
                session.ehlo()
            self._authenticate(session)
            return session
        except ssl.SSLCertVerificationError as exc:
            _discard(session)
            raise MailboxAuthError(f"the certificate of {self.host}:{self.port} is not trusted ({exc.verify_message}); "
                                   "fix the server's certificate or the mailbox's CA file", code="tls") from None
        except SendError:
            _discard(session)
            raise
        except smtplib.SMTPResponseException as exc:
            _discard(session)
            raise _transient_or(MailboxAuthError, "connecting", exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:
            _discard(session)
            raise TransientSendError(f"cannot reach {self.host}:{self.port}: {exc or type(exc).__name__}",
                                     code="network") from None

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._ca_file)

    def _authenticate(self, session: smtplib.SMTP) -> None:
        if self._password is None and self._token is None:
            return
        if not session.has_extn("auth"):
            raise MailboxAuthError(f"{self.host}:{self.port} offers no AUTH on this connection "
                                   f"(security is {self.security})", code="auth")
        try:
            if self._token is not None:
                initial = xoauth2(self._username or "", self._token)
                # On a refused token the server asks (334) for an empty line before it says 535.
                session.auth("XOAUTH2", lambda challenge=None: "" if challenge is not None else initial)
            else:  # one mechanism, one try: smtplib's login() would try the next on a refusal, and lock accounts faster
                offered = session.esmtp_features.get("auth", "").upper().split()
                mechanism = "PLAIN" if "PLAIN" in offered else "LOGIN"
                session.user, session.password = self._username or "", self._password
                session.auth(mechanism, session.auth_plain if mechanism == "PLAIN" else session.auth_login)
        except smtplib.SMTPNotSupportedError:
            raise MailboxAuthError(f"{self.host}:{self.port} does not take "
                                   f"{'XOAUTH2' if self._token else 'PLAIN or LOGIN'} authentication",
                                   code="auth") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise _transient_or(MailboxAuthError, "AUTH", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPException as exc:
            if "No suitable authentication method" in str(exc):
                raise MailboxAuthError(f"{self.host}:{self.port} offers no AUTH method SalesOS speaks",
                                       code="auth") from None
            raise

    def _refused(self, step: str, code: int, reply: bytes | str, recipient: str | None = None) -> SendError:
        said = _said(code, reply)
        if code == 421:
            self._drop()
        if 400 <= code < 500 or code < 200:
            return TransientSendError(f"{step} deferred by {self.host}: {said}", code=str(code))
        if code in _AUTH_CODES:
            return MailboxAuthError(f"{step} refused by {self.host}, the mailbox is not authenticated: {said}",
                                    code=str(code))
        enhanced = _enhanced(reply)
        if step == "RCPT":
            return RecipientRejected(f"{self.host} refused {recipient}: {said}", code=str(code))
        if step == "MAIL":
            if code == 552:
                return MessageRejected(f"{self.host} refused the message's size: {said}", code=str(code))
            return MailboxAuthError(f"{self.host} refused the sender address: {said}", code=str(code))
        if enhanced is not None and enhanced[0] == "5" and enhanced[1] == "7" and enhanced[2] in ("0", "8"):
            return MailboxAuthError(f"DATA refused by {self.host}: {said}", code=str(code))
        return MessageRejected(f"{self.host} refused the message: {said}", code=str(code))

    def _reset(self) -> None:
        """Ready the kept session for the next message (or drop it, if it cannot be)."""
        if self._session is None:
            return
        try:
            self._session.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        session, self._session = self._session, None
        _discard(session)


class _DroppedBeforeData(Exception):
    """The connection went before the server took any part of the message: sending again cannot duplicate it."""


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial response (smtplib base64-encodes it): `user=...^Aauth=Bearer ...^A^A`."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def xoauth2_base64(user: str, token: str) -> str:
    return base64.b64encode(xoauth2(user, token).encode()).decode()


def _crlf(message: bytes) -> bytes:
    """SMTP lines end in CRLF; smtplib sends bytes as they are, and a bare LF is refused (or worse, misread)."""
    return _EOL.sub(b"\r\n", message)


def _transient_or(permanent: type[SendError], step: str, code: int, reply: bytes | str) -> SendError:
    said = _said(code, reply)
    if 400 <= code < 500:
        return TransientSendError(f"{step}: {said}", code=str(code))
    return permanent(f"{step}: {said}", code=str(code))


def _enhanced(reply: bytes | str) -> tuple[str, str, str] | None:
    match = _ENHANCED.match(reply if isinstance(reply, bytes) else reply.encode())
    return (match[1].decode(), match[2].decode(), match[3].decode()) if match else None


def _said(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"[:300]


def _discard(session: smtplib.SMTP | None) -> None:
    if session is not None:
        try:
            session.close()
        except OSError:
            pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
