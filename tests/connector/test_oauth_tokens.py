"""Access tokens for workers: refreshed early, once across workers, and a dead grant stops the tenant."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import redis
import respx

from connector.oauth.responses import TokenResponseInvalid
from connector.oauth.tokens import TenantTokens
from connector.settings import Settings
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault, new_key
from crm_adapters.errors import GrantRevoked, Transient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
HUBSPOT_TOKEN_URL = "https://api.hubapi.com/oauth/2026-03/token"
OLD_ACCESS, OLD_REFRESH = "old-access-7f3a9c", "old-refresh-4b8e21"
CLIENT_SECRET = "hs-client-secret-0d9f"
ORG = "00D5g000004XyZaEAK"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


HUBSPOT_TOKENS = fixture("hubspot_oauth_token_response_2025.json")
SALESFORCE_REFRESH = fixture("salesforce_oauth_refresh_response.json")


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path, salesos_vault_keys=new_key(),
                    salesos_public_url="https://salesos.example.com", hubspot_client_id="hs-client", hubspot_client_secret=CLIENT_SECRET,
                    salesforce_client_id="sf-client", salesforce_client_secret="sf-client-secret-77aa")


def open_store(settings: Settings) -> TenantStore:
    """A worker's own connections to the state database, as each RQ worker process has."""
    return TenantStore(settings.state_path, Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()))


@pytest.fixture
def store(settings):
    return open_store(settings)


@pytest.fixture
def conn(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


@pytest.fixture
def crm():
    with respx.mock(assert_all_called=False) as router:
        yield router


def add_hubspot(store: TenantStore, expires_in: dt.timedelta | None = dt.timedelta(minutes=20),
                auth: str = "oauth") -> str:
    secrets = {"access_token": OLD_ACCESS}
    if auth == "oauth":
        secrets["refresh_token"] = OLD_REFRESH
    if expires_in is not None:
        secrets["expires_at"] = (NOW + expires_in).isoformat()
    store.add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", auth=auth, installed_at=NOW), secrets)
    return "hubspot-62515"


def add_salesforce(store: TenantStore, instance_url: str = "https://acme.my.salesforce.com") -> str:
    store.add(Tenant(id=f"salesforce-{ORG}", crm="salesforce", external_id=ORG, instance_url=instance_url,
                     auth="oauth", installed_at=NOW),
              {"access_token": OLD_ACCESS, "refresh_token": OLD_REFRESH})
    return f"salesforce-{ORG}"


def tokens(tenant: str, store, conn, settings, http) -> TenantTokens:
    return TenantTokens(tenant, store, conn, settings, http, clock=lambda: NOW)


def form(request: httpx.Request) -> dict[str, str]:
    return {key: value for key, [value] in parse_qs(request.content.decode()).items()}


def test_a_token_far_from_expiry_is_used_without_a_token_call(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    source = tokens(add_hubspot(store, dt.timedelta(minutes=20)), store, conn, settings, http)
    assert source.access_token() == OLD_ACCESS
    assert route.call_count == 0


def test_a_token_expiring_within_five_minutes_is_refreshed_first(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, dt.timedelta(minutes=4))
    assert tokens(tenant, store, conn, settings, http).access_token() == "AAA1234-TOKEN"
    assert form(route.calls.last.request) == {"grant_type": "refresh_token", "client_id": "hs-client",
                                              "client_secret": CLIENT_SECRET, "refresh_token": OLD_REFRESH}
    assert store.secret(tenant, "access_token") == "AAA1234-TOKEN"
    assert store.secret(tenant, "expires_at") == (NOW + dt.timedelta(seconds=1800)).isoformat()


def test_a_hubspot_token_of_unknown_age_is_refreshed(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, expires_in=None)
    assert tokens(tenant, store, conn, settings, http).access_token() == "AAA1234-TOKEN"
    assert route.call_count == 1


def test_a_refused_token_is_refreshed_even_before_its_expiry(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, dt.timedelta(minutes=20))
    assert tokens(tenant, store, conn, settings, http).refresh_after_failure(OLD_ACCESS) == "AAA1234-TOKEN"
    assert route.call_count == 1


def test_a_refused_token_another_worker_already_replaced_is_not_refreshed_again(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store)
    store.add(store.get(tenant), {"access_token": "newer-access-from-worker-2"})
    assert tokens(tenant, store, conn, settings, http).refresh_after_failure(OLD_ACCESS) == "newer-access-from-worker-2"
    assert route.call_count == 0


def test_two_workers_refreshing_at_once_make_exactly_one_token_call(store, conn, settings, redis_url, crm):
    def slow_token_endpoint(request):
        time.sleep(0.3)  # long enough for the second worker to arrive while the first is refreshing
        return httpx.Response(200, json=HUBSPOT_TOKENS)

    route = crm.post(HUBSPOT_TOKEN_URL).mock(side_effect=slow_token_endpoint)
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    start, results, errors = threading.Barrier(2), [], []

    def worker():
        own_conn, own_store = redis.Redis.from_url(redis_url), open_store(settings)
        try:
            with httpx.Client() as own_http:
                start.wait()
                results.append(tokens(tenant, own_store, own_conn, settings, own_http).access_token())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own_conn.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert results == ["AAA1234-TOKEN", "AAA1234-TOKEN"]
    assert route.call_count == 1


def test_a_refresh_held_up_by_another_worker_past_the_wait_is_transient(store, conn, settings, http, crm,
                                                                         monkeypatch):
    monkeypatch.setattr("connector.oauth.tokens.LOCK_WAIT", 0.2)
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    other_worker = conn.lock(f"salesos:token-refresh:{tenant}", timeout=10)
    assert other_worker.acquire(blocking=False)
    try:
        with pytest.raises(Transient, match="another worker has been refreshing"):
            tokens(tenant, store, conn, settings, http).access_token()
    finally:
        other_worker.release()
    assert route.call_count == 0


def test_the_refresh_lock_is_released_afterwards(store, conn, settings, http, crm):
    crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    tokens(tenant, store, conn, settings, http).access_token()
    assert conn.exists(f"salesos:token-refresh:{tenant}") == 0


def test_a_rotated_refresh_token_is_persisted(store, conn, settings, http, crm):
    crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    tokens(tenant, store, conn, settings, http).access_token()
    assert store.secret(tenant, "refresh_token") == HUBSPOT_TOKENS["refresh_token"]


def test_salesforce_keeps_the_old_refresh_token_when_none_comes_back(store, conn, settings, http, crm):
    crm.post("https://acme.my.salesforce.com/services/oauth2/token").respond(200, json=SALESFORCE_REFRESH)
    tenant = add_salesforce(store)
    assert tokens(tenant, store, conn, settings, http).refresh_after_failure(OLD_ACCESS) == \
        SALESFORCE_REFRESH["access_token"]
    assert store.secret(tenant, "refresh_token") == OLD_REFRESH


def test_a_salesforce_refresh_goes_to_the_org_and_stores_its_new_instance_url(store, conn, settings, http, crm):
    route = crm.post("https://na85.salesforce.com/services/oauth2/token").respond(200, json=SALESFORCE_REFRESH)
    tenant = add_salesforce(store, instance_url="https://na85.salesforce.com")
    tokens(tenant, store, conn, settings, http).refresh_after_failure(OLD_ACCESS)
    assert form(route.calls.last.request)["client_id"] == "sf-client"
    assert store.get(tenant).instance_url == "https://acme.my.salesforce.com"


def test_a_salesforce_token_without_an_expiry_is_used_until_refused(store, conn, settings, http, crm):
    route = crm.post("https://acme.my.salesforce.com/services/oauth2/token").respond(200, json=SALESFORCE_REFRESH)
    tenant = add_salesforce(store)
    assert tokens(tenant, store, conn, settings, http).access_token() == OLD_ACCESS
    assert route.call_count == 0


@pytest.mark.parametrize(("crm_name", "url", "body"), [
    ("hubspot", HUBSPOT_TOKEN_URL, fixture("hubspot_oauth_error_invalid_grant.json")),
    ("salesforce", "https://acme.my.salesforce.com/services/oauth2/token",
     fixture("salesforce_oauth_error_invalid_grant.json")),
])
def test_invalid_grant_marks_the_tenant_needs_reinstall_and_raises_grant_revoked(
        store, conn, settings, http, crm, crm_name, url, body):
    crm.post(url).respond(400, json=body)
    tenant = add_hubspot(store) if crm_name == "hubspot" else add_salesforce(store)
    with pytest.raises(GrantRevoked) as raised:
        tokens(tenant, store, conn, settings, http).refresh_after_failure(OLD_ACCESS)
    assert f"re-install SalesOS: open https://salesos.example.com/oauth/{crm_name}/install" in str(raised.value)
    record = store.get(tenant)
    assert record.status == "needs_reinstall"
    assert body["error_description"] in record.status_reason


def test_a_tenant_that_needs_reinstalling_fails_fast_without_calling_the_crm(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    store.mark_needs_reinstall(tenant, "refresh token revoked")
    with pytest.raises(GrantRevoked, match="needs re-installing"):
        tokens(tenant, store, conn, settings, http).access_token()
    assert route.call_count == 0


def test_a_private_app_token_is_used_as_is(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, expires_in=None, auth="private_app")
    assert tokens(tenant, store, conn, settings, http).access_token() == OLD_ACCESS
    assert route.call_count == 0


def test_a_rejected_private_app_token_marks_the_tenant_and_says_to_add_a_new_one(store, conn, settings, http, crm):
    route = crm.post(HUBSPOT_TOKEN_URL).respond(200, json=HUBSPOT_TOKENS)
    tenant = add_hubspot(store, expires_in=None, auth="private_app")
    with pytest.raises(GrantRevoked) as raised:
        tokens(tenant, store, conn, settings, http).refresh_after_failure(OLD_ACCESS)
    assert ("private-app token was rejected; create a new one and run "
            "`python -m connector tenants add hubspot --portal-id 62515") in str(raised.value)
    assert store.get(tenant).status == "needs_reinstall"
    assert route.call_count == 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_from_the_token_endpoint_is_transient_and_changes_nothing(store, conn, settings, http, crm, status):
    crm.post(HUBSPOT_TOKEN_URL).respond(status, text="upstream unavailable")
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    with pytest.raises(Transient, match=f"HTTP {status}"):
        tokens(tenant, store, conn, settings, http).access_token()
    assert store.get(tenant).status == "active"
    assert store.secret(tenant, "refresh_token") == OLD_REFRESH


def test_a_network_error_is_transient(store, conn, settings, http, crm):
    crm.post(HUBSPOT_TOKEN_URL).mock(side_effect=httpx.ConnectError("connection refused"))
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    with pytest.raises(Transient, match="could not reach api.hubapi.com"):
        tokens(tenant, store, conn, settings, http).access_token()
    assert store.get(tenant).status == "active"


def test_a_malformed_token_response_names_the_field_without_echoing_the_token(store, conn, settings, http, crm):
    crm.post(HUBSPOT_TOKEN_URL).respond(200, json={"access_token": "leaky-token-93b1", "expires_in": "soon"})
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    with pytest.raises(TokenResponseInvalid) as raised:
        tokens(tenant, store, conn, settings, http).access_token()
    assert "expires_in" in str(raised.value)
    assert "leaky-token-93b1" not in str(raised.value)
    assert store.secret(tenant, "access_token") == OLD_ACCESS


def test_no_token_or_client_secret_reaches_the_logs_during_refreshes(store, conn, settings, http, crm, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "connector", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    route = crm.post(HUBSPOT_TOKEN_URL)
    route.side_effect = [httpx.Response(200, json=HUBSPOT_TOKENS),
                         httpx.Response(400, json=fixture("hubspot_oauth_error_invalid_grant.json"))]
    tenant = add_hubspot(store, dt.timedelta(minutes=1))
    source = tokens(tenant, store, conn, settings, http)
    source.access_token()
    with pytest.raises(GrantRevoked):
        source.refresh_after_failure("AAA1234-TOKEN")
    assert "HTTP Request: POST" in caplog.text  # httpx's own log line was captured
    for secret in (OLD_ACCESS, OLD_REFRESH, CLIENT_SECRET, "AAA1234-TOKEN", HUBSPOT_TOKENS["refresh_token"]):
        assert secret not in caplog.text
