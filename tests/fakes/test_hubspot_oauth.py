"""The local HubSpot plays a portal's side of an OAuth install as HubSpot documents it: consent, the token
endpoint (a code is good once) and introspection. SalesOS's own install flow (`connector.oauth.flows`) is the
client, so these tests hold the fake to what SalesOS expects of the real endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connector.oauth.config import oauth_app
from connector.oauth.endpoint import InvalidGrant
from connector.oauth.flows import exchange_hubspot_code, hubspot_authorize_url
from connector.oauth.responses import HubSpotTokens
from connector.settings import Settings
from crm_adapters.errors import RequestRejected
from tests.fakes.hubspot_server import FakeHubSpot, Server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "crm"


@pytest.fixture
def hubspot():
    with Server(FakeHubSpot()) as server:
        yield server.fake


def app_for(fake: FakeHubSpot, tmp_path, secret: str | None = None):
    return oauth_app(Settings(salesos_home=tmp_path, salesos_public_url="https://salesos.example.com",
                              hubspot_client_id=fake.client_id, hubspot_client_secret=secret or fake.client_secret,
                              hubspot_api_base_url=fake.url, hubspot_authorize_url=f"{fake.url}/oauth/authorize"),
                     "hubspot")


def consent(http: httpx.Client, app, state: str = "state-1") -> str:
    """The admin approves on the consent page; returns the code HubSpot sends back to the redirect URI."""
    answer = http.get(hubspot_authorize_url(app, state))
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(app.redirect_uri + "?")
    query = {key: value for key, [value] in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == state
    return query["code"]


def test_an_install_grants_a_token_of_its_own_which_the_api_then_accepts_alone(hubspot, tmp_path):
    app = app_for(hubspot, tmp_path)
    private_app_token = hubspot.token
    with httpx.Client() as http:
        installation = exchange_hubspot_code(app, http, consent(http, app))
        assert installation.tenant.id == "hubspot-62515"
        assert installation.secrets["access_token"] == hubspot.token == hubspot.granted[-1] != private_app_token
        assert installation.secrets["refresh_token"].startswith("na1-")
        for token, status in ((private_app_token, 401), (hubspot.token, 200)):
            answer = http.post(f"{hubspot.url}/crm/v3/objects/contacts/search", json={"filterGroups": []},
                               headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == status


def test_the_token_answer_has_the_documented_2025_shape(hubspot, tmp_path):
    app = app_for(hubspot, tmp_path)
    with httpx.Client() as http:
        answer = http.post(app.token_url(), data={
            "grant_type": "authorization_code", "client_id": app.client_id, "client_secret": app.client_secret,
            "redirect_uri": app.redirect_uri, "code": consent(http, app)})
    documented = json.loads((FIXTURES / "hubspot_oauth_token_response_2025.json").read_text())
    assert answer.status_code == 200 and set(answer.json()) == set(documented)
    assert HubSpotTokens.model_validate(answer.json()).hub_id == 62515


def test_before_2025_the_portal_is_learnt_by_introspection(hubspot, tmp_path):
    hubspot.token_has_hub_id = False
    app = app_for(hubspot, tmp_path)
    with httpx.Client() as http:
        installation = exchange_hubspot_code(app, http, consent(http, app))
        assert installation.tenant.id == "hubspot-62515"
        assert installation.account == "HubSpot portal 62515 (example-portal.com)"
        unknown = http.post(app.introspect_url, data={"client_id": app.client_id, "client_secret": app.client_secret,
                                                      "token": "a-token-it-never-granted"})
        assert unknown.json() == {"active": False}


def test_a_code_is_good_once_and_only_with_the_app_s_secret(hubspot, tmp_path):
    app = app_for(hubspot, tmp_path)
    with httpx.Client() as http:
        code = consent(http, app)
        with pytest.raises(RequestRejected, match="invalid_client"):
            exchange_hubspot_code(app_for(hubspot, tmp_path, secret="not-the-secret"), http, code)
        exchange_hubspot_code(app, http, code)
        with pytest.raises(InvalidGrant):
            exchange_hubspot_code(app, http, code)
