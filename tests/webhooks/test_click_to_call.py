"""Click-to-call links in call tasks: signed, expiring, and the only way a call is placed (Twilio via respx)."""

import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import respx

from connector import runtime
from connector.settings import Settings
from connector.tracking_links import LinkSigner, TrackingKeys
from connector.twilio_account import TwilioAccount, set_account, set_rep_phone
from connector.vault import Vault, new_key
from webhooks.app import create_app

SID = "AC" + "a" * 32
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Calls.json"
CREATED = json.loads((Path(__file__).parents[1] / "fixtures" / "providers" / "twilio_call_create_201.json")
                     .read_text())
TENANT = "hubspot-62515"


@pytest.fixture
def app(tmp_path, redis_url, monkeypatch):
    keys = new_key()
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", keys)
    runtime.settings.cache_clear()
    settings = Settings(salesos_home=tmp_path, salesos_vault_keys=keys)
    vault = Vault(settings.database_url, keys)
    set_account(vault, TENANT, TwilioAccount(account_sid=SID, auth_token="secret-auth-token",
                                             caller_id="+14155550100"))
    set_rep_phone(vault, TENANT, "owner-7", "+14155550123")
    app = create_app(redis_url=redis_url, settings=settings)
    yield app, vault, settings
    runtime.settings.cache_clear()


def link(vault, settings, now=None, **fields) -> str:
    signer = LinkSigner(settings.salesos_public_url, TrackingKeys(vault).keys())
    call = {"tenant": TENANT, "owner_id": "owner-7", "email": "jane@acme.io", "phone": "+442079460958"} | fields
    return urlsplit(signer.call_url(**call, now=now or dt.datetime.now(dt.UTC))).path


def test_a_call_link_shows_a_button_and_places_no_call_on_get(app):
    app, vault, settings = app
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CALLS).respond(201, json=CREATED)
        page = app.test_client().get(link(vault, settings))
    assert page.status_code == 200 and b"<button>Call</button>" in page.data and not route.called


def test_posting_a_call_link_rings_the_owner_then_dials_the_contact(app):
    app, vault, settings = app
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CALLS).respond(201, json=CREATED)
        page = app.test_client().post(link(vault, settings))
    sent = {name: values[0] for name, values in parse_qs(route.calls.last.request.content.decode()).items()}
    assert page.status_code == 200 and sent["To"] == "+14155550123" and "+442079460958" in sent["Twiml"]


@pytest.mark.parametrize("tamper", ["signature", "expired", "other key"])
def test_a_tampered_expired_or_foreign_call_link_places_no_call_and_gets_the_same_404(app, tamper):
    app, vault, settings = app
    path = link(vault, settings, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=15)) if tamper == "expired" \
        else link(vault, settings)
    if tamper == "signature":
        path = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    if tamper == "other key":
        other = LinkSigner(settings.salesos_public_url, [b"k" * 32])
        path = urlsplit(other.call_url(TENANT, "owner-7", "jane@acme.io", "+1", dt.datetime.now(dt.UTC))).path
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CALLS).respond(201, json=CREATED)
        page = app.test_client().post(path)
    assert page.status_code == 404 and not route.called and b"This link is not valid." in page.data


def test_a_call_for_an_owner_without_a_phone_says_calling_is_not_set_up(app):
    app, vault, settings = app
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CALLS).respond(201, json=CREATED)
        page = app.test_client().post(link(vault, settings, owner_id="owner-without-phone"))
    assert page.status_code == 409 and not route.called


def test_an_unsigned_call_token_of_deeply_nested_json_gets_the_same_404(app):
    import base64

    app, _, _ = app
    body = base64.urlsafe_b64encode(b"[" * 2200).rstrip(b"=").decode()
    page = app.test_client().post(f"/calls/{body}.{'A' * 22}")
    assert page.status_code == 404 and b"This link is not valid." in page.data


def test_a_second_post_of_one_link_within_a_minute_places_no_second_call(app):
    app, vault, settings = app
    path = link(vault, settings)
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CALLS).respond(201, json=CREATED)
        first, second = app.test_client().post(path), app.test_client().post(path)
    assert (first.status_code, second.status_code, route.call_count) == (200, 409, 1)


def test_a_contact_who_opted_out_is_not_called(app):
    from connector.ledger import Ledger

    app, vault, settings = app
    ledger = Ledger(settings.database_url)
    ledger.unsubscribe(ledger.unsubscribe_tokens(TENANT, ["jane@acme.io"])["jane@acme.io"])
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CALLS).respond(201, json=CREATED)
        page = app.test_client().post(link(vault, settings))
    assert page.status_code == 409 and not route.called
