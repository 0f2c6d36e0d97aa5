"""The safe fetcher against hostile URLs and sites: each attack is a request a naive fetcher would make.

The sites are real HTTP servers on loopback. Names are resolved by a table
the test hands the fetcher (`www.acme.test` -> 127.0.0.1), and only tests
that say so allow 127.0.0.1; everything else runs the production policy, so
loopback there is refused like any other non-public address. 127.0.0.2 plays
the internal service an attacker wants to reach.
"""

from __future__ import annotations

import gzip
import threading

import pytest

from connector.providers.safe_fetch import FetchRefused, SafeFetcher
from tests.fakes.website import answer, certificate_for, website

WWW = "www.acme.test"


def names(table: dict[str, list[str]]):
    """A resolver answering from `table`, as DNS would (any other name does not exist)."""
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError(f"no such name: {host}")
        return table[host]
    return resolve


def allowing_the_site(**options) -> SafeFetcher:
    """The fetcher a test uses to reach its own site: www.acme.test is 127.0.0.1, and 127.0.0.1 is allowed."""
    table = {WWW: ["127.0.0.1"], **options.pop("table", {})}
    return SafeFetcher(resolve=names(table), allow=["127.0.0.1"], **{"time_limit": 5.0, **options})


def refusal(fetcher: SafeFetcher, url: str) -> FetchRefused:
    with pytest.raises(FetchRefused) as refused:
        fetcher.fetch(url)
    return refused.value


@pytest.fixture
def site():
    with website("127.0.0.1") as served:
        yield served


@pytest.fixture
def internal(site):
    """An internal service on 127.0.0.2, on the same port as the site (a rebinding answer keeps the port)."""
    with website("127.0.0.2", site.port) as served:
        served.page("/secret", "internal secret")
        yield served


# --- what is fetched ---------------------------------------------------------------------------------------------

def test_a_page_on_an_allowed_address_is_fetched_with_the_name_in_the_host_header(site):
    site.page("/", "<h1>Acme</h1>")
    page = allowing_the_site().fetch(site.url("/", WWW))
    assert (page.status, page.body, page.url) == (200, b"<h1>Acme</h1>", site.url("/", WWW))
    assert site.seen == [("/", f"{WWW}:{site.port}")]


@pytest.mark.parametrize("content_type", ["text/html", "TEXT/HTML; charset=ISO-8859-1", "application/xhtml+xml"])
def test_html_pages_are_fetched_and_decoded_by_their_charset(site, content_type):
    site.page("/", "<p>Café</p>".encode("latin-1" if "8859" in content_type else "utf-8"), content_type)
    assert allowing_the_site().fetch(site.url("/", WWW)).text == "<p>Café</p>"


def test_https_verifies_the_certificate_for_the_name_while_connecting_to_the_address_checked(tmp_path):
    """TLS is given the name (SNI, certificate check), not the address connected to: a certificate for the name
    passes, and the same server reached under another name fails the check."""
    server_tls, trusting = certificate_for(WWW, tmp_path)
    with website("127.0.0.1", tls=server_tls) as secure:
        secure.page("/", "<p>secure</p>")
        fetcher = SafeFetcher(resolve=names({WWW: ["127.0.0.1"], "other.acme.test": ["127.0.0.1"]}),
                              allow=["127.0.0.1"], ssl_context=trusting, time_limit=5.0)
        assert fetcher.fetch(secure.url("/", WWW)).body == b"<p>secure</p>"
        refused = refusal(fetcher, secure.url("/", "other.acme.test"))
        assert refused.rule == "network" and "ConnectError" in str(refused)
        assert secure.seen == [("/", f"{WWW}:{secure.port}")]


# --- urls refused before any connection --------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://www.acme.test/x", "gopher://www.acme.test:70/_GET",
                                 "data:text/html,<h1>hi</h1>", "javascript:alert(1)", "dict://www.acme.test:11211/",
                                 "//www.acme.test/", "www.acme.test/careers"])
def test_only_http_and_https_urls_are_fetched(url):
    refused = refusal(allowing_the_site(), url)
    assert refused.rule == "scheme" and "only http and https" in str(refused)


@pytest.mark.parametrize("userinfo", ["user:secret@", "user@", ":@", "www.acme.test@"])
def test_a_url_with_user_info_is_refused(site, userinfo):
    site.page("/", "ok")
    refused = refusal(allowing_the_site(), f"http://{userinfo}{WWW}:{site.port}/")
    assert refused.rule == "userinfo" and "secret" not in str(refused)
    assert site.seen == []


def test_a_refusal_quotes_at_most_a_hundred_characters_of_the_url():
    refused = refusal(SafeFetcher(time_limit=2.0), "http://10.0.0.1/" + "a" * 5000)
    assert refused.rule == "address" and "a" * 100 not in str(refused) and len(str(refused)) < 300


# --- addresses that are not public -------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f.1", "0x7f000001", "017700000001",
                                  "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost"])
def test_loopback_in_any_spelling_is_refused_by_default(site, host):
    site.page("/", "what only this machine should see")
    refused = refusal(SafeFetcher(time_limit=2.0), f"http://{host}:{site.port}/")
    assert refused.rule == "address" and "loopback" in str(refused)
    assert site.seen == []


def test_a_dotted_address_with_a_leading_zero_is_refused_as_no_url(site):
    """httpx will not read `0177.0.0.1` (octal 127.0.0.1) as an address, nor connect to it as a name."""
    site.page("/", "what only this machine should see")
    refused = refusal(SafeFetcher(time_limit=2.0), f"http://0177.0.0.1:{site.port}/")
    assert refused.rule == "url" and "Invalid IPv4 address" in str(refused)
    assert site.seen == []


@pytest.mark.parametrize("host, kind", [
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("[fd12:3456::1]", "private"),
    ("[fc00::1]", "private"), ("[::ffff:10.0.0.1]", "private"),
    ("169.254.169.254", "link-local"), ("[fe80::1]", "link-local"), ("[::ffff:169.254.169.254]", "link-local"),
    ("[64:ff9b::a9fe:a9fe]", "link-local"), ("[2002:a9fe:a9fe::1]", "link-local"),
    ("100.64.0.1", "shared"), ("100.127.255.254", "shared"),
    ("0.0.0.0", "unspecified"), ("0", "unspecified"), ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("[ff02::1]", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("[fec0::1]", "site-local"),
    ("192.0.2.1", "special-purpose"), ("198.18.0.1", "special-purpose"),
])
def test_non_public_addresses_are_refused_naming_what_they_are(host, kind):
    refused = refusal(SafeFetcher(time_limit=2.0), f"http://{host}/latest/meta-data/")
    assert refused.rule == "address" and kind in str(refused)


def test_a_name_that_resolves_to_a_private_address_is_refused():
    refused = refusal(SafeFetcher(resolve=names({"intranet.acme.test": ["10.1.2.3"]}), time_limit=2.0),
                      "http://intranet.acme.test/admin")
    assert refused.rule == "address" and "10.1.2.3" in str(refused) and "private" in str(refused)


def test_a_name_with_one_non_public_address_among_public_ones_is_refused():
    fetcher = SafeFetcher(resolve=names({WWW: ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
                                              "169.254.169.254"]}), time_limit=2.0)
    refused = refusal(fetcher, f"http://{WWW}/")
    assert refused.rule == "address" and "169.254.169.254" in str(refused)


def test_a_name_that_does_not_resolve_is_refused_saying_so():
    refused = refusal(SafeFetcher(resolve=names({})), "https://gone.acme.test/")
    assert refused.rule == "dns" and "gone.acme.test" in str(refused)


def test_loopback_is_refused_unless_the_fetcher_is_told_to_allow_it(site):
    site.page("/", "ok")
    refused = refusal(SafeFetcher(resolve=names({WWW: ["127.0.0.1"]})), site.url("/", WWW))
    assert refused.rule == "address" and "loopback" in str(refused)
    assert site.seen == []


def test_the_name_is_resolved_once_and_the_connection_goes_to_the_address_checked(site, internal):
    """DNS rebinding: a name answering a public address for the check and an internal one for the connection."""
    site.page("/", "public page")
    internal.page("/", "internal secret")
    answers = [["127.0.0.1"]]

    def rebinding(host: str) -> list[str]:
        return answers.pop() if answers else ["127.0.0.2"]

    page = SafeFetcher(resolve=rebinding, allow=["127.0.0.1"], time_limit=5.0).fetch(site.url("/", WWW))
    assert page.body == b"public page" and internal.seen == []


def test_when_one_checked_address_does_not_answer_the_next_is_tried(site):
    site.page("/", "second address")
    fetcher = SafeFetcher(resolve=names({WWW: ["127.0.0.3", "127.0.0.1"]}), allow=["127.0.0.0/8"], time_limit=5.0)
    assert fetcher.fetch(site.url("/", WWW)).body == b"second address"


def test_proxy_settings_in_the_environment_are_not_used(site, internal, monkeypatch):
    """A proxy resolves the name itself, after the check: the fetcher always connects directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, internal.url(""))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    site.page("/", "direct")
    assert allowing_the_site().fetch(site.url("/", WWW)).body == b"direct"
    assert internal.seen == []


# --- redirects ---------------------------------------------------------------------------------------------------

def test_redirects_are_followed_to_the_page(site):
    site.redirect("/", "/r2", 301)
    site.redirect("/r2", "r3", 303)
    site.redirect("/r3", site.url("/r4", WWW), 307)
    site.redirect("/r4", "/careers", 308)
    site.page("/careers", "<h1>Join us</h1>")
    page = allowing_the_site().fetch(site.url("/", WWW))
    assert page.body == b"<h1>Join us</h1>" and page.url == site.url("/careers", WWW)


def test_a_redirect_to_a_loopback_address_is_refused(site, internal):
    site.redirect("/", internal.url("/secret"))
    refused = refusal(allowing_the_site(), site.url("/", WWW))
    assert refused.rule == "address" and "loopback" in str(refused) and "127.0.0.2" in str(refused)
    assert internal.seen == []


def test_a_redirect_to_the_cloud_metadata_address_is_refused(site):
    site.redirect("/", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    refused = refusal(allowing_the_site(), site.url("/", WWW))
    assert refused.rule == "address" and "169.254.169.254" in str(refused) and "link-local" in str(refused)


@pytest.mark.parametrize("spelling", ["0xa9fea9fe", "2852039166", "[::ffff:a9fe:a9fe]"])
def test_a_redirect_to_the_metadata_address_spelled_otherwise_is_refused(site, spelling):
    site.redirect("/", f"http://{spelling}/latest/meta-data/")
    refused = refusal(allowing_the_site(), site.url("/", WWW))
    assert refused.rule == "address" and "link-local" in str(refused)


def test_a_redirect_to_a_name_resolving_to_an_internal_address_is_refused(site, internal):
    site.redirect("/", internal.url("/secret", "intranet.acme.test"))
    refused = refusal(allowing_the_site(table={"intranet.acme.test": ["127.0.0.2"]}), site.url("/", WWW))
    assert refused.rule == "address" and "intranet.acme.test" in str(refused)
    assert internal.seen == []


@pytest.mark.parametrize("location, rule", [("file:///etc/passwd", "scheme"), ("gopher://127.0.0.2:6379/_x", "scheme"),
                                            ("http://admin:admin@www.acme.test/", "userinfo")])
def test_a_redirect_to_a_url_that_would_be_refused_is_refused(site, location, rule):
    site.redirect("/", location)
    assert refusal(allowing_the_site(), site.url("/", WWW)).rule == rule


def test_five_redirects_are_followed_and_a_sixth_is_refused(site):
    for hop in range(6):
        site.redirect(f"/{hop}", f"/{hop + 1}")
    site.page("/6", "end")
    fetcher = allowing_the_site()
    assert fetcher.fetch(site.url("/1", WWW)).body == b"end"
    refused = refusal(fetcher, site.url("/0", WWW))
    assert refused.rule == "redirects" and "5" in str(refused)


def test_a_redirect_loop_is_refused(site):
    site.redirect("/", "/")
    assert refusal(allowing_the_site(), site.url("/", WWW)).rule == "redirects"


# --- size, time, content ------------------------------------------------------------------------------------------

def test_a_body_past_the_size_limit_is_refused_without_reading_the_rest(site):
    sent_all = threading.Event()

    def endless(handler):
        answer(handler, 200, b"<html>", "text/html")
        for _ in range(1024):  # 64 MB: far more than loopback's socket buffers hold unread
            handler.wfile.write(b"x" * 65536)
        sent_all.set()

    site.routes["/"] = endless
    refused = refusal(allowing_the_site(max_bytes=100_000), site.url("/", WWW))
    assert refused.rule == "size" and "100000" in str(refused)
    assert not sent_all.is_set()


def test_a_declared_length_past_the_limit_is_refused_before_the_body_is_read(site):
    def huge(handler):
        answer(handler, 200, b"<html>", "text/html", Content_Length="10000000000")
        site.stop.wait()

    site.routes["/"] = huge
    assert refusal(allowing_the_site(max_bytes=100_000), site.url("/", WWW)).rule == "size"


def test_a_compressed_body_is_limited_by_its_decompressed_size(site):
    bomb = gzip.compress(b"<html>" + b" " * 5_000_000)
    site.routes["/"] = lambda handler: answer(handler, 200, bomb, "text/html", Content_Encoding="gzip")
    assert len(bomb) < 100_000
    assert refusal(allowing_the_site(max_bytes=1_000_000), site.url("/", WWW)).rule == "size"


def test_a_body_dripped_slowly_is_cut_at_the_total_time_limit(site):
    def drip(handler):
        answer(handler, 200, b"<html>", "text/html")
        for _ in range(100):  # a byte every 50 ms: each read is quick, the whole takes 5 s
            handler.wfile.write(b"x")
            if site.stop.wait(0.05):
                return

    site.routes["/"] = drip
    refused = refusal(allowing_the_site(time_limit=0.5), site.url("/", WWW))
    assert refused.rule == "time" and "0.5 s" in str(refused)


def test_a_server_that_never_answers_is_cut_at_the_total_time_limit(site):
    site.routes["/"] = lambda handler: site.stop.wait()
    assert refusal(allowing_the_site(time_limit=0.5), site.url("/", WWW)).rule == "time"


def test_a_name_that_takes_too_long_to_resolve_is_cut_at_the_total_time_limit(site):
    site.page("/", "late")
    released = threading.Event()

    def slow(host: str) -> list[str]:
        released.wait(10)  # a resolver that does not answer: the fetch must not wait for it
        return ["127.0.0.1"]

    try:
        refused = refusal(SafeFetcher(resolve=slow, allow=["127.0.0.1"], time_limit=0.5), site.url("/", WWW))
    finally:
        released.set()
    assert refused.rule == "time" and WWW in str(refused)
    assert site.seen == []


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/svg+xml", "application/json",
                                          "text/htmlx", None])
def test_a_page_that_is_not_html_is_refused(site, content_type):
    site.page("/", b"\x89PNG...", content_type)
    refused = refusal(allowing_the_site(), site.url("/", WWW))
    assert refused.rule == "content type"
    assert site.seen == [("/", f"{WWW}:{site.port}")]


@pytest.mark.parametrize("status", [404, 500, 403])
def test_an_error_status_is_refused_naming_it(site, status):
    site.page("/", "<p>no</p>", status=status)
    refused = refusal(allowing_the_site(), site.url("/", WWW))
    assert refused.rule == "status" and str(status) in str(refused)
