"""Installing from the admin's browser: consent redirects, callbacks, the pages they end on, uninstall."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connector.settings import Settings
from connector.tenants import TenantStore
from connector.vault import Vault, new_key
from crm_adapters.manifests import HUBSPOT_SCOPES
from webhooks.app import create_app

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "crm"
PUBLIC = "https://salesos.example.com"
HUBSPOT_TOKEN_URL = "https://api.hubapi.com/oauth/2026-03/token"
HUBSPOT_INTROSPECT_URL = "https://api.hubapi.com/oauth/2026-03/token/introspect"
HUBSPOT_REVOKE_URL = "https://api.hubapi.com/oauth/2026-03/token/revoke"
SALESFORCE_TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"
CODE = "one-time-code-5c2e7d"
ORG = "00D5g000004XyZaEAK"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


HUBSPOT_TOKENS = fixture("hubspot_oauth_token_response_2025.json")
SALESFORCE_TOKENS = fixture("salesforce_oauth_token_response.json")


def make_settings(tmp_path, **overrides) -> Settings:
    values = dict(salesos_home=tmp_path, salesos_vault_keys=new_key(), salesos_public_url=PUBLIC,
                  salesos_session_secret="session-secret-for-tests", hubspot_client_id="hs-client",
                  hubspot_client_secret="hs-client-secret", salesforce_client_id="sf-client",
                  salesforce_client_secret="sf-client-secret")
    return Settings(**(values | overrides))


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def client(settings):
    return create_app(settings=settings).test_client()


@pytest.fixture
def store(settings):
    return TenantStore(settings.state_path, Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()))


@pytest.fixture
def crm():
    with respx.mock(assert_all_called=False) as router:
        yield router


def query(location: str) -> dict[str, str]:
    return {key: value for key, [value] in parse_qs(urlsplit(location).query).items()}


def form(request: httpx.Request) -> dict[str, str]:
    return {key: value for key, [value] in parse_qs(request.content.decode()).items()}


def start(client, crm_name: str) -> dict[str, str]:
    """Begin an install; returns the authorize URL's query."""
    response = client.get(f"/oauth/{crm_name}/install")
    assert response.status_code == 302
    return query(response.headers["Location"])


def finish(client, crm_name: str, state: str, code: str = CODE):
    return client.get(f"/oauth/{crm_name}/callback", query_string={"code": code, "state": state})


def install_hubspot(client, crm) -> None:
    crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    response = finish(client, "hubspot", start(client, "hubspot")["state"])
    assert response.status_code == 302


def test_hubspot_install_redirects_to_consent_with_the_app_scopes_and_a_state(client):
    response = client.get("/oauth/hubspot/install")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "app.hubspot.com", "/oauth/authorize")
    params = query(response.headers["Location"])
    assert params["client_id"] == "hs-client"
    assert params["redirect_uri"] == f"{PUBLIC}/oauth/hubspot/callback"
    app_config = json.loads((ROOT / "manifest/hubspot/src/app/app-hsmeta.json").read_text())
    assert params["scope"].split(" ") == list(HUBSPOT_SCOPES) == app_config["config"]["auth"]["requiredScopes"]
    assert len(params["state"]) >= 32
    with client.session_transaction() as session:
        assert session["oauth_hubspot"]["state"] == params["state"]


def test_salesforce_install_sends_an_s256_challenge_of_a_verifier_kept_in_the_session(client):
    response = client.get("/oauth/salesforce/install")
    params = query(response.headers["Location"])
    assert response.headers["Location"].startswith("https://login.salesforce.com/services/oauth2/authorize?")
    assert (params["response_type"], params["client_id"], params["scope"]) == ("code", "sf-client",
                                                                               "api refresh_token")
    assert params["redirect_uri"] == f"{PUBLIC}/oauth/salesforce/callback"
    with client.session_transaction() as session:
        flow = session["oauth_salesforce"]
    digest = hashlib.sha256(flow["verifier"].encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert params["state"] == flow["state"]
    assert flow["verifier"] not in response.headers["Location"]


def test_install_without_a_session_secret_is_a_503_saying_to_set_it(tmp_path):
    client = create_app(settings=make_settings(tmp_path, salesos_session_secret=None)).test_client()
    response = client.get("/oauth/hubspot/install")
    assert response.status_code == 503
    assert "SALESOS_SESSION_SECRET is not set" in response.text


def test_install_without_client_credentials_is_a_503_naming_them(tmp_path):
    client = create_app(settings=make_settings(tmp_path, salesforce_client_secret=None)).test_client()
    response = client.get("/oauth/salesforce/install")
    assert response.status_code == 503
    assert "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET must be set" in response.text


def test_an_unknown_crm_is_404(client):
    assert client.get("/oauth/pipedrive/install").status_code == 404


def test_a_callback_with_another_browsers_state_is_400_and_stores_nothing(client, store, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    start(client, "hubspot")
    response = finish(client, "hubspot", state="state-from-somewhere-else")
    assert response.status_code == 400
    assert "This sign-in link was not started from this browser" in response.text
    assert "start the install again" in response.text
    assert route.call_count == 0
    assert store.all() == []


def test_a_callback_without_a_started_install_is_400(client, store, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    response = client.get("/oauth/hubspot/callback", query_string={"code": CODE})
    assert response.status_code == 400
    assert "not started from this browser" in response.text
    assert route.call_count == 0
    assert store.all() == []


def test_a_state_is_used_only_once(client, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    state = start(client, "hubspot")["state"]
    assert finish(client, "hubspot", state).status_code == 302
    assert finish(client, "hubspot", state).status_code == 400
    assert route.call_count == 1


def test_a_hubspot_callback_stores_the_portal_with_encrypted_tokens(client, store, settings, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    introspect = crm.post(HUBSPOT_INTROSPECT_URL).respond(200, json=fixture("hubspot_oauth_access_token_metadata.json"))
    response = finish(client, "hubspot", start(client, "hubspot")["state"])
    assert response.status_code == 302
    assert response.headers["Location"] == "/oauth/hubspot/installed/hubspot-62515"
    assert form(route.calls.last.request) == {
        "grant_type": "authorization_code", "client_id": "hs-client", "client_secret": "hs-client-secret",
        "redirect_uri": f"{PUBLIC}/oauth/hubspot/callback", "code": CODE}
    assert introspect.call_count == 0  # the 2025 token response names the portal itself
    tenant = store.get("hubspot-62515")
    assert (tenant.crm, tenant.external_id, tenant.auth, tenant.status) == ("hubspot", "62515", "oauth", "active")
    assert store.secret(tenant.id, "access_token") == "AAA1234-TOKEN"
    assert store.secret(tenant.id, "refresh_token") == HUBSPOT_TOKENS["refresh_token"]
    assert store.secret(tenant.id, "expires_at") is not None
    database = settings.state_path.read_bytes()
    assert b"AAA1234-TOKEN" not in database
    assert HUBSPOT_TOKENS["refresh_token"].encode() not in database
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "SalesOS is installed" in page.text and "HubSpot portal 62515" in page.text


def test_a_hubspot_token_response_without_a_hub_id_asks_introspection_for_the_portal(client, store, crm):
    older = fixture("hubspot_oauth_token_response_v1_docs.json")
    crm.post(HUBSPOT_TOKEN_URL).respond(200, json=older)
    introspect = crm.post(HUBSPOT_INTROSPECT_URL).respond(200, json=fixture("hubspot_oauth_access_token_metadata.json"))
    response = finish(client, "hubspot", start(client, "hubspot")["state"])
    assert response.headers["Location"] == "/oauth/hubspot/installed/hubspot-1234567"
    request = introspect.calls.last.request
    assert form(request)["token"] == older["access_token"]
    assert older["access_token"] not in str(request.url)
    assert store.get("hubspot-1234567") is not None
    assert "HubSpot portal 1234567 (meowmix.com)" in client.get(response.headers["Location"]).text


def test_a_salesforce_callback_stores_the_org_with_its_instance_url_after_sending_the_verifier(client, store, crm):
    route = crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    state = start(client, "salesforce")["state"]
    with client.session_transaction() as session:
        verifier = session["oauth_salesforce"]["verifier"]
    response = finish(client, "salesforce", state)
    assert response.headers["Location"] == f"/oauth/salesforce/installed/salesforce-{ORG}"
    sent = form(route.calls.last.request)
    assert (sent["grant_type"], sent["code"], sent["code_verifier"]) == ("authorization_code", CODE, verifier)
    tenant = store.get(f"salesforce-{ORG}")
    assert (tenant.external_id, tenant.instance_url, tenant.auth) == (ORG, "https://acme.my.salesforce.com", "oauth")
    assert store.secret(tenant.id, "refresh_token") == SALESFORCE_TOKENS["refresh_token"]
    assert f"Salesforce org {ORG}" in client.get(response.headers["Location"]).text


def test_a_salesforce_install_page_shows_the_orgs_outbound_url_and_a_reinstall_keeps_it(client, store, settings,
                                                                                        crm):
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    page = client.get(finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"])
    token = store.outbound.ensure(f"salesforce-{ORG}")
    assert f"{PUBLIC}/webhooks/salesforce/outbound/{token}" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    again = client.get(finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"])
    assert f"{PUBLIC}/webhooks/salesforce/outbound/{token}" in again.text  # a re-install keeps the org's URL
    stranger = create_app(settings=settings).test_client()
    assert token not in stranger.get(f"/oauth/salesforce/installed/salesforce-{ORG}").text


def minutes_later(client, settings, minutes: int) -> None:
    """What the browser and the state database hold `minutes` after the install: both say it happened that long ago."""
    earlier = lambda stamp: (dt.datetime.fromisoformat(stamp) - dt.timedelta(minutes=minutes)).isoformat()
    with client.session_transaction() as session:
        session["installed"] = [[tenant, account, earlier(at)] for tenant, account, at in session["installed"]]
    with sqlite3.connect(settings.state_path) as db:
        [(at,)] = db.execute("SELECT installed_at FROM tenants WHERE id = ?", (f"salesforce-{ORG}",)).fetchall()
        db.execute("UPDATE tenants SET installed_at = ? WHERE id = ?", (earlier(at), f"salesforce-{ORG}"))


def test_the_outbound_url_is_shown_in_the_minutes_after_the_install_and_never_to_a_later_replay_of_the_page(
        client, store, settings, crm):
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    page_url = finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"]
    token = store.outbound.current(f"salesforce-{ORG}")
    minutes_later(client, settings, 4)
    assert token in client.get(page_url).text
    minutes_later(client, settings, 2)
    replayed = client.get(page_url)
    assert replayed.status_code == 200 and "SalesOS is installed" in replayed.text
    assert token not in replayed.text and "/webhooks/salesforce/outbound/" not in replayed.text
    assert f"python -m connector tenants outbound-url salesforce-{ORG}" in replayed.text
    assert store.outbound.current(f"salesforce-{ORG}") == token  # shown or not, never replaced


def test_a_page_replayed_after_another_admin_installed_the_org_again_shows_no_outbound_url(client, store, settings,
                                                                                            crm):
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    page_url = finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"]
    other_admin = create_app(settings=settings).test_client()
    finish(other_admin, "salesforce", start(other_admin, "salesforce")["state"])
    token = store.outbound.current(f"salesforce-{ORG}")
    assert token in other_admin.get(page_url).text
    assert token not in client.get(page_url).text


def test_the_install_page_makes_no_outbound_url_when_the_org_has_none(client, store, settings, crm):
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    page_url = finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"]
    store.outbound.forget(f"salesforce-{ORG}")  # an org as an older SalesOS registered it: no URL token
    Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()).delete(f"salesforce-{ORG}",
                                                                                      "outbound_token")
    page = client.get(page_url)
    assert page.status_code == 200 and "/webhooks/salesforce/outbound/" not in page.text
    assert store.outbound.current(f"salesforce-{ORG}") is None  # a GET writes nothing


def test_an_install_page_warns_when_the_outbound_url_is_built_on_a_url_salesforce_cannot_call(tmp_path, crm):
    client = create_app(settings=make_settings(tmp_path, salesos_public_url="http://127.0.0.1:5000")).test_client()
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    page = client.get(finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"])
    assert "/webhooks/salesforce/outbound/" in page.text
    assert "SALESOS_PUBLIC_URL is &#39;http://127.0.0.1:5000&#39;, which Salesforce and HubSpot cannot call" in page.text


def test_an_install_page_on_the_public_https_url_has_no_such_warning(client, crm):
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    page = client.get(finish(client, "salesforce", start(client, "salesforce")["state"]).headers["Location"])
    assert "/webhooks/salesforce/outbound/" in page.text and "SALESOS_PUBLIC_URL" not in page.text


def test_a_hubspot_install_page_has_no_outbound_url(client, crm):
    install_hubspot(client, crm)
    assert "/webhooks/salesforce/outbound" not in client.get("/oauth/hubspot/installed/hubspot-62515").text


def test_a_declined_consent_says_what_happened_and_what_to_do(client, store, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    state = start(client, "hubspot")["state"]
    response = client.get("/oauth/hubspot/callback",
                          query_string={"error": "access_denied", "error_description": "user denied", "state": state})
    assert response.status_code == 200
    assert "SalesOS was not installed" in response.text
    assert "was not granted" in response.text
    assert 'href="/oauth/hubspot/install"' in response.text
    assert route.call_count == 0
    assert store.all() == []
    with client.session_transaction() as session:
        assert "oauth_hubspot" not in session


def test_a_crm_error_description_is_escaped_on_the_page(client):
    start(client, "hubspot")
    response = client.get("/oauth/hubspot/callback",
                          query_string={"error": "invalid_scope", "error_description": "<script>alert(1)</script>"})
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_a_crm_error_and_its_description_are_quoted_at_most_100_characters(client):
    start(client, "hubspot")
    response = client.get("/oauth/hubspot/callback", query_string={"error": "E" * 1000, "error_description": "D" * 300})
    assert response.status_code == 400
    assert "D" * 90 in response.text and "D" * 101 not in response.text and "E" * 101 not in response.text


def test_an_expired_code_says_to_start_again(client, store, crm):
    crm.post(HUBSPOT_TOKEN_URL).respond(400, json=fixture("hubspot_oauth_error_invalid_grant.json"))
    response = finish(client, "hubspot", start(client, "hubspot")["state"])
    assert response.status_code == 400
    assert "This sign-in link has expired" in response.text
    assert store.all() == []


def test_a_token_endpoint_outage_is_a_502_page(client, store, crm):
    crm.post(HUBSPOT_TOKEN_URL).respond(503, text="unavailable")
    response = finish(client, "hubspot", start(client, "hubspot")["state"])
    assert response.status_code == 502
    assert "HubSpot did not answer" in response.text
    assert store.all() == []


def test_uninstall_revokes_the_grant_and_deletes_the_tokens(client, store, settings, crm):
    install_hubspot(client, crm)
    revoke = crm.post(HUBSPOT_REVOKE_URL).respond(200)
    page = client.get("/oauth/hubspot/installed/hubspot-62515").text
    action = re.search(r'action="([^"]+)"', page).group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    response = client.post(action, data={"csrf": csrf})
    assert response.status_code == 200
    assert "SalesOS is uninstalled" in response.text
    assert form(revoke.calls.last.request)["token"] == HUBSPOT_TOKENS["refresh_token"]
    assert store.get("hubspot-62515") is None
    assert store.secret("hubspot-62515", "access_token") is None
    assert store.secret("hubspot-62515", "refresh_token") is None


def test_uninstall_from_a_browser_that_did_not_install_is_refused(client, store, settings, crm):
    install_hubspot(client, crm)
    revoke = crm.post(HUBSPOT_REVOKE_URL).respond(200)
    stranger = create_app(settings=settings).test_client()
    response = stranger.post("/oauth/hubspot/uninstall/hubspot-62515", data={"csrf": "guess"})
    assert response.status_code == 403
    assert "tenants remove" in response.text
    assert revoke.call_count == 0
    assert store.secret("hubspot-62515", "access_token") == "AAA1234-TOKEN"


def test_uninstall_without_the_pages_csrf_token_is_refused(client, store, crm):
    install_hubspot(client, crm)
    response = client.post("/oauth/hubspot/uninstall/hubspot-62515", data={})
    assert response.status_code == 403
    assert store.get("hubspot-62515") is not None


def test_no_token_code_or_verifier_reaches_a_page_or_a_log_line(client, crm, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "webhooks", "connector", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    crm.post(SALESFORCE_TOKEN_URL).respond(200, json=SALESFORCE_TOKENS)
    install = client.get("/oauth/salesforce/install")
    with client.session_transaction() as session:
        flow = dict(session["oauth_salesforce"])
    callback = finish(client, "salesforce", flow["state"])
    installed = client.get(callback.headers["Location"])
    assert installed.status_code == 200
    assert "HTTP Request: POST" in caplog.text  # httpx's own log line was captured
    secrets = (CODE, flow["verifier"], SALESFORCE_TOKENS["access_token"],
               SALESFORCE_TOKENS["refresh_token"], "sf-client-secret")
    visible = [caplog.text, install.text, callback.text, callback.headers["Location"], installed.text]
    for secret in secrets:
        for text in visible:
            assert secret not in text
