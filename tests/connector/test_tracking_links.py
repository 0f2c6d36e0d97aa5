"""Tracked links: signed, compact, verified with the current or the previous key, and never to a non-web target."""

from __future__ import annotations

import pytest

from connector.tracking_links import (
    CLICK, OPEN, LinkSigner, TrackingKeys, UntrackableLink, check_target, click_url, open_url, rewrite_links,
)
from connector.vault import Vault, new_key

KEY, OLD = b"k" * 32, b"o" * 32
BASE = "https://salesos.example.com"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".gif")


def test_a_click_url_reads_back_as_its_tenant_step_email_and_target():
    url = click_url(BASE, "hubspot-1", "step-2", "Ada@Acme.io", "https://acme.io/pricing?x=1", keys=[KEY])
    assert url.startswith(f"{BASE}/t/c/")
    link = LinkSigner(BASE, [KEY]).read(CLICK, token_of(url))
    assert (link.tenant, link.step_key, link.email, link.target) == (
        "hubspot-1", "step-2", "ada@acme.io", "https://acme.io/pricing?x=1")


def test_a_token_is_compact():
    url = click_url(BASE, "hubspot-62515", "outreach:3", "jane.doe@acme.io", "https://acme.io/case-study", keys=[KEY])
    assert len(token_of(url)) < 160


def test_an_open_token_is_not_a_click_token():
    url = open_url(BASE, "t", "s", "a@b.io", keys=[KEY])
    signer = LinkSigner(BASE, [KEY])
    assert signer.read(OPEN, token_of(url)).email == "a@b.io"
    assert signer.read(CLICK, token_of(url)) is None


def test_links_signed_with_the_previous_key_still_read_after_rotation():
    old_url = click_url(BASE, "t", "s", "a@b.io", "https://acme.io", keys=[OLD])
    assert LinkSigner(BASE, [KEY, OLD]).read(CLICK, token_of(old_url)).target == "https://acme.io"
    assert LinkSigner(BASE, [KEY]).read(CLICK, token_of(old_url)) is None


@pytest.mark.parametrize("target", ["//evil.com", "javascript:alert(1)", "data:text/html,x", "ftp://acme.io",
                                    "https:///nohost", "https://acme.io/\nLocation: x", "https://acme.io\\@evil.com",
                                    "https://acme.io/" + "a" * 2000])
def test_only_http_and_https_targets_with_a_host_are_ever_signed(target):
    with pytest.raises(UntrackableLink):
        check_target(target)
    with pytest.raises(UntrackableLink):
        click_url(BASE, "t", "s", "a@b.io", target, keys=[KEY])


def test_rewrite_tracks_every_web_link_but_the_unsubscribe_link():
    body = ("See https://acme.io/pricing. Or (http://acme.io/demo), and https://acme.io/a_(b).\n"
            "Unsubscribe: https://salesos.example.com/unsubscribe/tok123\nmailto:x@acme.io")
    rewritten = rewrite_links(body, lambda url: f"<{url}>")
    assert rewritten == ("See <https://acme.io/pricing>. Or (<http://acme.io/demo>), and <https://acme.io/a_(b)>.\n"
                         "Unsubscribe: https://salesos.example.com/unsubscribe/tok123\nmailto:x@acme.io")


def test_rewrite_leaves_links_the_caller_keeps_and_links_it_cannot_sign():
    signer = LinkSigner(BASE, [KEY])
    body = "Book: https://cal.example/ada and https://acme.io/ok"
    rewritten = rewrite_links(body, lambda url: signer.click_url("t", "s", "a@b.io", url),
                              keep=lambda url: url.startswith("https://cal.example"))
    assert rewritten.startswith("Book: https://cal.example/ada and https://salesos.example.com/t/c/")


def test_the_vault_makes_one_tracking_key_and_keeps_the_previous_one_on_rotation(tmp_path):
    vault = Vault(tmp_path / "state.sqlite3", new_key())
    keys = TrackingKeys(vault)
    first = keys.keys()
    assert keys.keys() == first and len(first) == 1
    keys.rotate()
    assert keys.keys()[1:] == first and keys.keys()[0] != first[0]


def test_configured_secrets_sign_newest_first():
    assert TrackingKeys(None, "new-secret-of-sixteen+, old-secret-of-sixteen+").keys() == [
        b"new-secret-of-sixteen+", b"old-secret-of-sixteen+"]
