"""Fetching a URL that came from data (a company's website, a news link) without being turned against our network.

A URL in a data file, a provider's answer or a web page is chosen by someone
else. Fetched naively it reaches whatever the worker can reach: Redis, the
state database, an admin port on 127.0.0.1, the cloud metadata service at
169.254.169.254 (which hands out the machine's credentials). So a fetch here:

- takes only http and https URLs, with no user name or password in them;
- connects only to public addresses: the name is resolved once, here, every
  address it resolves to must be public, and the connection goes to an
  address that was checked (the HTTP library never resolves it again, so a
  name cannot answer a public address for the check and a private one for the
  connection: DNS rebinding), with the name kept for the Host header and TLS;
- checks at connection time, inside the transport, the host exactly as the
  HTTP library parsed it, so no other spelling of an address (`2130706433`,
  `0x7f.1`, `[::ffff:127.0.0.1]`) slips between a check and a connection;
- follows redirects itself, at most five, each hop checked like the first;
- ignores proxy settings (a proxy would resolve the name itself, unchecked);
- reads at most `max_bytes` of the body (decompressed), and stops at
  `time_limit` seconds for the whole fetch, redirects included;
- accepts only the content types asked for (HTML pages by default).

Anything else raises `FetchRefused`, whose `rule` says which rule refused it.
The resolver can be replaced (tests map names to a local server) and
addresses can be explicitly allowed (tests allow 127.0.0.1); with neither,
loopback is refused like every other non-public address.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from agents.validation import clip, quote

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_BYTES = 2_000_000
TIME_LIMIT = 10.0
MAX_REDIRECTS = 5
USER_AGENT = "Mozilla/5.0 (compatible; SalesOS/1.0; company research)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str], Iterable[str]]


class FetchRefused(Exception):
    """A URL was not fetched, or its answer not accepted. `rule` names the rule: scheme, userinfo, url, dns,
    address, redirects, status, content type, size, time or network. The message quotes at most 100 characters
    of the URL, never a password in it."""

    def __init__(self, rule: str, detail: str, url: str) -> None:
        shown = _USERINFO.sub(r"\1***@", url)
        super().__init__(f"{quote(shown)} not fetched ({rule}): {detail}")
        self.rule, self.detail = rule, detail


@dataclass(frozen=True)
class Page:
    """What a fetch answered: `url` is where it ended, after redirects."""

    url: str
    status: int
    content_type: str
    body: bytes
    encoding: str = "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.body.decode(self.encoding, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")


def system_resolve(host: str) -> list[str]:
    """Every address the system resolver gives `host`, in its order."""
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)))


class SafeFetcher:
    """Fetches URLs from data under the rules above. One fetcher serves any number of fetches, one at a time or
    in parallel: each fetch has its own connections."""

    def __init__(self, *, resolve: Resolve = system_resolve, allow: Iterable[str] = (), max_bytes: int = MAX_BYTES,
                 time_limit: float = TIME_LIMIT, max_redirects: int = MAX_REDIRECTS, user_agent: str = USER_AGENT,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._guard = _Guard(resolve, tuple(ipaddress.ip_network(item, strict=False) for item in allow))
        self._max_bytes, self._time_limit, self._max_redirects = max_bytes, time_limit, max_redirects
        self._user_agent = user_agent
        self._ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)

    def fetch(self, url: str, *, content_types: Iterable[str] = PAGE_TYPES) -> Page:
        """The page at `url`, or FetchRefused saying which rule it broke."""
        accepted = frozenset(kind.lower() for kind in content_types)
        deadline = time.monotonic() + self._time_limit
        headers = {"User-Agent": self._user_agent, "Accept": ", ".join(sorted(accepted)) or "*/*"}
        transport = _GuardedTransport(self._guard, self._ssl_context)
        with httpx.Client(transport=transport, trust_env=False, follow_redirects=False, headers=headers) as client:
            for _ in range(self._max_redirects + 1):
                target = _checked_url(url)
                try:
                    with client.stream("GET", target, timeout=self._timeout(deadline, url)) as response:
                        if response.status_code not in _REDIRECTS:
                            return self._page(response, accepted, deadline, url)
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchRefused("status", f"HTTP {response.status_code} without a Location", url)
                        url = str(response.url.join(location))
                except _Refused as refused:
                    raise FetchRefused(refused.rule, refused.detail, url) from None
                except httpx.TimeoutException:
                    raise FetchRefused("time", f"no answer within the time limit of {self._time_limit:g} s",
                                       url) from None
                except httpx.InvalidURL as exc:
                    raise FetchRefused("url", str(exc), url) from None
                except httpx.HTTPError as exc:
                    raise FetchRefused("network", f"{type(exc).__name__}: {clip(str(exc))}", url) from None
        raise FetchRefused("redirects", f"more than {self._max_redirects} redirects", url)

    def _page(self, response: httpx.Response, accepted: frozenset[str], deadline: float, url: str) -> Page:
        status = response.status_code
        if not 200 <= status < 300:
            raise FetchRefused("status", f"HTTP {status}", url)
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() not in accepted:
            raise FetchRefused("content type", f"{quote(content_type or 'none')} is not one of "
                               f"{', '.join(sorted(accepted))}", url)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchRefused("size", f"declares {declared} bytes, past the limit of {self._max_bytes}", url)
        body = bytearray()
        for chunk in response.iter_bytes():  # decompressed: a small gzip body cannot unpack past the limit
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchRefused("size", f"the body is past the limit of {self._max_bytes} bytes", url)
            if time.monotonic() > deadline:
                raise FetchRefused("time", f"not read within the time limit of {self._time_limit:g} s", url)
        return Page(url=str(response.url), status=status, content_type=content_type, body=bytes(body),
                    encoding=response.charset_encoding or "utf-8")

    def _timeout(self, deadline: float, url: str) -> httpx.Timeout:
        """Each wait (connect, each read) gets at most what is left of the whole fetch's time."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchRefused("time", f"not done within the time limit of {self._time_limit:g} s", url)
        return httpx.Timeout(left)


def _checked_url(url: str) -> httpx.URL:
    """The URL as httpx reads it (the parser that will connect), if its scheme and form may be fetched."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchRefused("url", str(exc), str(url)) from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused("scheme", "only http and https URLs are fetched", url)
    if parsed.userinfo:
        raise FetchRefused("userinfo", "a URL with a user name or password is not fetched", url)
    if not parsed.host:
        raise FetchRefused("url", "the URL has no host", url)
    return parsed


class _Refused(Exception):
    """Raised inside the transport, where the URL is not known; `fetch` names the URL."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule, self.detail = rule, detail


class _Guard(httpcore.NetworkBackend):
    """httpcore's network backend, checking every address before it connects to it."""

    def __init__(self, resolve: Resolve, allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> None:
        self._resolve, self._allow = resolve, allow
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        *others, last = self._addresses(host, timeout)
        for address in others:  # the checked addresses, never the name: nothing resolves it again
            try:
                return self._tcp.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError:
                continue  # the next address, as a browser would
        return self._tcp.connect_tcp(str(last), port, timeout, local_address, socket_options)

    def sleep(self, seconds: float) -> None:
        self._tcp.sleep(seconds)

    def _addresses(self, host: str, timeout: float | None) -> list[Address]:
        """Every address `host` stands for, each of them public (or allowed), or _Refused."""
        literal = ip_literal(host)
        if literal is not None:
            addresses, named = [literal], ""
        else:
            # The system resolver takes no time limit: it answers in a thread of its own that the fetch stops
            # waiting for (a thread per lookup, not a pool: a pool's threads do not survive an RQ worker's fork).
            lookup: concurrent.futures.Future[Iterable[str]] = concurrent.futures.Future()
            threading.Thread(target=_settle, args=(lookup, self._resolve, host), daemon=True,
                             name="safe-fetch-dns").start()
            try:
                addresses = [ipaddress.ip_address(answer) for answer in lookup.result(timeout)]
            except concurrent.futures.TimeoutError:
                raise _Refused("time", f"{quote(host)} did not resolve within the time limit") from None
            except (OSError, ValueError, UnicodeError):
                raise _Refused("dns", f"{quote(host)} does not resolve") from None
            if not addresses:
                raise _Refused("dns", f"{quote(host)} does not resolve")
            named = f"{host} resolves to "
        for address in addresses:
            why = None if any(address in network for network in self._allow) else not_public(address)
            if why:
                raise _Refused("address", f"{named}{address}, {why}: only public addresses are fetched")
        return addresses


def _settle(future: concurrent.futures.Future, resolve: Resolve, host: str) -> None:
    try:
        future.set_result(list(resolve(host)))
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting fetch, which says what it means
        future.set_exception(exc)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool whose every connection goes through the guard."""

    def __init__(self, guard: _Guard, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx 0.28 has no argument for the pool's network backend: replace the pool it built with one that has it.
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=guard)


_IPV4_PART = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")  # a part of an IPv4 address in any form inet_aton reads
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are the IPv4 address
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # a network's own translator, to its own IPv4 networks


def ip_literal(host: str) -> Address | None:
    """The IP address `host` spells, in any form an HTTP client or resolver reads as one (`127.1`, `2130706433`,
    octal `0177.0.0.1`, hex `0x7f.1`, IPv6), or None for a name."""
    host = host.lower()
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if not host or not all(_IPV4_PART.match(part) for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def not_public(address: Address) -> str | None:
    """What makes `address` no place to fetch from, or None when it is a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        why = not_public(embedded)
        return f"which is {embedded}, {why}" if why else None
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address (this host)"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if address in _SHARED:
        return "a shared address (carrier-grade NAT, 100.64.0.0/10)"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address in _LOCAL_NAT64:
        return "a local-use NAT64 address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a special-purpose address (not globally routable)"
    return None


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches: IPv4-mapped, 6to4, or NAT64."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
