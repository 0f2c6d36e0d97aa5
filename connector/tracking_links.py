"""Signed tracked links: a click URL that redirects to exactly the link we sent, and an open pixel.

A token is `base64url(payload) + "." + base64url(HMAC-SHA256(key, kind + payload)[:16])`. The payload is a
small JSON array (tenant, step key, email, and for a click the target), so the redirect needs no database
lookup and no state: the token is the record. The MAC covers the kind too, so an open token is never a
click token. Only http(s) URLs with a host are ever signed, and the redirect checks the target again, so a
token can lead nowhere else: no open redirect, whatever is tampered with.

Keys: SALESOS_TRACKING_SECRETS (comma-separated, newest first) when set; otherwise one random key made once
in the vault (`TrackingKeys.ensure`), with the previous one kept after `rotate` so links in emails already
sent keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import datetime as dt
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the vault (and cryptography) loads only where a secret is read
    from connector.vault import Vault


MAX_TOKEN_CHARS = 3000  # a 2,000-character target, base64 grown by a third, plus the rest
MAX_TARGET_CHARS = 2000
MAC_BYTES = 16
CLICK, OPEN, CALL = "c", "o", "k"
CALL_LINK_DAYS = 14  # a click-to-call link in a rep's task works this long
_KEY_TENANT = "_salesos"  # the vault's row for secrets that are SalesOS's own, not a tenant's
_CURRENT, _PREVIOUS = "tracking_secret", "tracking_secret_previous"
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # whitespace, controls and backslashes: browsers "fix" them


class UntrackableLink(ValueError):
    """A target we refuse to sign: not http(s), no host, too long, or with characters browsers rewrite."""


@dataclass(frozen=True)
class CallLink:
    """A verified click-to-call link: the owner whose phone rings first, and the contact they are put through to."""

    tenant: str
    owner_id: str
    email: str
    phone: str


@dataclass(frozen=True)
class TrackedLink:
    """What a verified token says."""

    kind: str  # CLICK or OPEN
    tenant: str
    step_key: str
    email: str
    target: str | None = None  # the click's destination


def check_target(target: str) -> str:
    """The target as given, if it is safe to redirect to; UntrackableLink naming the rule otherwise."""
    if len(target) > MAX_TARGET_CHARS:
        raise UntrackableLink(f"a tracked link's target must be at most {MAX_TARGET_CHARS} characters")
    if _UNSAFE.search(target):
        raise UntrackableLink("a tracked link's target must not contain whitespace, control characters or '\\'")
    try:
        parts = urlsplit(target)
        host = parts.hostname
    except ValueError:
        raise UntrackableLink("a tracked link's target must be a well-formed URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise UntrackableLink("a tracked link's target must be an http(s) URL with a host, like https://acme.io/x")
    return target


class LinkSigner:
    """Makes and reads tracked URLs with one key set: the first key signs, every key verifies."""

    def __init__(self, public_url: str, keys: Sequence[bytes]) -> None:
        if not keys or any(len(key) < 16 for key in keys):
            raise ValueError("tracking keys: at least one, each of 16 bytes or more")
        self._base = public_url.rstrip("/")
        self._keys = list(keys)

    def click_url(self, tenant: str, step_key: str, email: str, target: str) -> str:
        return f"{self._base}/t/c/{self._token(CLICK, [tenant, step_key, email.lower(), check_target(target)])}"

    def open_url(self, tenant: str, step_key: str, email: str) -> str:
        return f"{self._base}/t/o/{self._token(OPEN, [tenant, step_key, email.lower()])}.gif"

    def read(self, kind: str, token: str) -> TrackedLink | None:
        """The link a token of this kind stands for, or None for anything we did not sign (or no longer would)."""
        fields = self._fields(kind, token, 4 if kind == CLICK else 3)
        if fields is None:
            return None
        if kind == CLICK:
            try:
                check_target(fields[3])
            except UntrackableLink:  # signed by a version that allowed it, or a leaked key: still go nowhere
                return None
        return TrackedLink(kind, *fields)

    def call_url(self, tenant: str, owner_id: str, email: str, phone: str, now: dt.datetime) -> str:
        """A rep's click-to-call link: who calls (the contact's owner) whom, until CALL_LINK_DAYS from `now`."""
        expires = (now + dt.timedelta(days=CALL_LINK_DAYS)).astimezone(dt.UTC).isoformat()
        return f"{self._base}/calls/{self._token(CALL, [tenant, owner_id, email.lower(), phone, expires])}"

    def read_call(self, token: str, now: dt.datetime) -> CallLink | None:
        """The call a token stands for; None for anything we did not sign, or a link past its time."""
        fields = self._fields(CALL, token, 5)
        if fields is None or dt.datetime.fromisoformat(fields[4]) < now:
            return None
        return CallLink(*fields[:4])

    def _fields(self, kind: str, token: str, size: int) -> list[str] | None:
        """A token's fields when one of our keys signed it for `kind`: the MAC is checked before anything is parsed."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        if len(given) != MAC_BYTES or not any(hmac.compare_digest(given, _mac(key, kind, payload))
                                              for key in self._keys):
            return None  # checked before parsing: nothing we did not sign is ever parsed
        try:
            fields = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(fields, list) or len(fields) != size or not all(isinstance(f, str) for f in fields):
            return None
        return fields

    def _token(self, kind: str, fields: list[str]) -> str:
        payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        token = f"{_b64(payload)}.{_b64(_mac(self._keys[0], kind, payload))}"
        if len(token) > MAX_TOKEN_CHARS:
            raise UntrackableLink("a tracked link's tenant, step, email and target are too long to sign")
        return token


def click_url(public_url: str, tenant: str, step_key: str, email: str, target: str, *,
              keys: Sequence[bytes]) -> str:
    return LinkSigner(public_url, keys).click_url(tenant, step_key, email, target)


def open_url(public_url: str, tenant: str, step_key: str, email: str, *, keys: Sequence[bytes]) -> str:
    return LinkSigner(public_url, keys).open_url(tenant, step_key, email)


# http(s) URLs in plain text, up to whitespace or a character that cannot end one ("<", ">", quotes).
_URL = re.compile(r"""https?://[^\s<>"']+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"


def rewrite_links(text: str, make_url: Callable[[str], str], *, keep: Callable[[str], bool] = lambda url: False) -> str:
    """Replace each http(s) URL in a plain-text body by `make_url(url)`, except unsubscribe links, links already
    tracked, those `keep` says to keep, and any we refuse to sign. Trailing sentence punctuation stays outside."""

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url, tail = url[:-1], url[-1] + tail
        path = urlsplit(url).path
        if path.startswith(("/unsubscribe/", "/t/c/", "/t/o/")) or keep(url):
            return url + tail
        try:
            return make_url(url) + tail
        except UntrackableLink:
            return url + tail

    return _URL.sub(replace, text)


class TrackingKeys:
    """The signing keys: the setting's when given, else the vault's (made once, rotated by an admin)."""

    def __init__(self, vault: Vault | None, configured: str | None = None) -> None:
        self._vault, self._configured = vault, configured

    def keys(self) -> list[bytes]:
        """Newest first. Makes the vault's key on first use (a concurrent maker's key stands)."""
        if self._configured:
            return [key.strip().encode() for key in self._configured.split(",") if key.strip()]
        if self._vault is None:
            raise ValueError("tracked links need SALESOS_TRACKING_SECRETS or the vault (SALESOS_VAULT_KEYS)")
        current = self._vault.get(_KEY_TENANT, _CURRENT)
        if current is None:
            self._vault.put_new(_KEY_TENANT, _CURRENT, secrets.token_urlsafe(32))
            current = self._vault.get(_KEY_TENANT, _CURRENT)
        previous = self._vault.get(_KEY_TENANT, _PREVIOUS)
        return [current.encode()] + ([previous.encode()] if previous else [])

    def rotate(self) -> None:
        """A new signing key; links signed with the one it replaces keep working, older ones stop."""
        if self._vault is None:
            raise ValueError("only the vault's tracking key rotates here: edit SALESOS_TRACKING_SECRETS instead")
        with self._vault.store.write():
            current = self._vault.get(_KEY_TENANT, _CURRENT)
            if current is not None:
                self._vault.put(_KEY_TENANT, _PREVIOUS, current)
            self._vault.put(_KEY_TENANT, _CURRENT, secrets.token_urlsafe(32))


def _mac(key: bytes, kind: str, payload: bytes) -> bytes:
    return hmac.new(key, kind.encode() + b"\0" + payload, hashlib.sha256).digest()[:MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
