"""Tracked clicks redirect to exactly what was signed and nowhere else; opens are counted as unreliable."""

from __future__ import annotations

import base64

import pytest

from connector.engagement_log import EngagementLog
from connector.settings import Settings
from connector.tracking_links import LinkSigner
from webhooks.app import create_app

SECRET = "tracking-secret-for-tests-0123456789"
BASE = "https://salesos.example.com"
TARGET = "https://acme.io/pricing?plan=team"


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path, salesos_tracking_secrets=SECRET, salesos_public_url=BASE)


@pytest.fixture
def client(settings):
    return create_app(settings=settings).test_client()


@pytest.fixture
def signer():
    return LinkSigner(BASE, [SECRET.encode()])


def path_of(url: str) -> str:
    return url.removeprefix(BASE)


def events(settings, email="ada@acme.io"):
    return EngagementLog(settings.database_url).events("hubspot-1", email)


def test_a_click_redirects_to_exactly_the_signed_target_and_is_recorded(client, settings, signer):
    answer = client.get(path_of(signer.click_url("hubspot-1", "step-1", "ada@acme.io", TARGET)))
    assert answer.status_code == 302 and answer.headers["Location"] == TARGET
    [click] = events(settings)
    assert (click.kind, click.step_key, click.detail, click.reliable) == ("click", "step-1", TARGET, True)


def test_clicking_the_same_link_twice_records_one_click(client, settings, signer):
    path = path_of(signer.click_url("hubspot-1", "step-1", "ada@acme.io", TARGET))
    assert client.get(path).status_code == client.get(path).status_code == 302
    assert len(events(settings)) == 1


def test_an_open_returns_a_gif_and_is_recorded_as_unreliable(client, settings, signer):
    answer = client.get(path_of(signer.open_url("hubspot-1", "step-1", "ada@acme.io")))
    assert answer.status_code == 200 and answer.mimetype == "image/gif" and answer.data.startswith(b"GIF89a")
    [opened] = events(settings)
    assert (opened.kind, opened.reliable) == ("open", False)


def _refused(answer) -> bool:
    return answer.status_code == 404 and "Location" not in answer.headers and b"href" not in answer.data


def test_a_token_with_a_changed_target_goes_nowhere(client, settings, signer):
    token = signer.click_url("hubspot-1", "s", "ada@acme.io", TARGET).rsplit("/", 1)[1]
    body, mac = token.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"https://acme.io", b"https://evil.com")
    forged = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    assert _refused(client.get(f"/t/c/{forged}.{mac}"))
    assert events(settings) == []


def test_a_token_with_a_changed_signature_goes_nowhere(client, signer):
    token = signer.click_url("hubspot-1", "s", "ada@acme.io", TARGET).rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert _refused(client.get(f"/t/c/{flipped}"))


def test_a_truncated_token_goes_nowhere(client, signer):
    token = signer.click_url("hubspot-1", "s", "ada@acme.io", TARGET).rsplit("/", 1)[1]
    assert _refused(client.get(f"/t/c/{token[:-3]}"))
    assert _refused(client.get(f"/t/c/{token.split('.')[0]}"))


def test_a_token_signed_with_another_key_goes_nowhere(client):
    other = LinkSigner(BASE, [b"another-key-entirely-0123456789"])
    assert _refused(client.get(path_of(other.click_url("hubspot-1", "s", "ada@acme.io", TARGET))))


@pytest.mark.parametrize("target", ["//evil.com", "javascript:alert(document.cookie)", "/\\evil.com"])
def test_a_token_signed_for_a_target_no_web_link_may_have_goes_nowhere(client, signer, target):
    """What a leaked key or an older SalesOS could have signed: the redirect checks the target again."""
    token = signer._token("c", ["hubspot-1", "s", "ada@acme.io", target])
    assert _refused(client.get(f"/t/c/{token}"))


@pytest.mark.parametrize("path", ["/t/c/%2F%2Fevil.com", "/t/c/javascript:alert(1)", "/t/c/https:%2F%2Fevil.com",
                                  "/t/c//evil.com", "/t/c/" + "A" * 5000 + ".AAAA", "/t/o/nothing.gif", "/t/c/..",
                                  "/t/c/a.b.c"])
def test_a_made_up_token_goes_nowhere(client, path):
    assert _refused(client.get(path))


def test_an_open_token_does_not_redirect(client, signer):
    token = signer.open_url("hubspot-1", "s", "ada@acme.io").rsplit("/", 1)[1].removesuffix(".gif")
    assert _refused(client.get(f"/t/c/{token}"))


def test_the_redirect_survives_a_database_that_cannot_record(client, settings, signer, monkeypatch):
    def broken(self, events):
        raise OSError("disk full")

    monkeypatch.setattr(EngagementLog, "record", broken)
    answer = client.get(path_of(signer.click_url("hubspot-1", "s", "ada@acme.io", TARGET)))
    assert answer.status_code == 302 and answer.headers["Location"] == TARGET


def test_without_any_tracking_key_every_link_is_refused(tmp_path, signer, monkeypatch):
    monkeypatch.delenv("SALESOS_VAULT_KEYS", raising=False)
    client = create_app(settings=Settings(salesos_home=tmp_path, salesos_public_url=BASE)).test_client()
    assert _refused(client.get(path_of(signer.click_url("hubspot-1", "s", "ada@acme.io", TARGET))))
