"""The JSON API, the detailed /readyz and the dashboard need a key; a key acts only for its own tenant.

Every way of not having the right key (none, malformed, unknown, wrong,
revoked, another scope's) gets the byte-identical 401, so a caller learns
nothing about which keys exist.
"""

import base64

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from connector.api_keys import ApiKeys
from connector.queues import queue
from tests.webhooks.hubspot_helpers import register
from tests.webhooks.test_hubspot_events import make_settings
from webhooks.app import create_app

MARKET = {"industry": "B2B SaaS", "company_size": "10-500 employees", "location": "US, UK"}
HUBSPOT = "hubspot-62515"


@pytest.fixture
def settings(tmp_path):
    values = make_settings(tmp_path)
    register(values, 62515)
    return values


@pytest.fixture
def keys(settings):
    return ApiKeys(settings.state_path)


@pytest.fixture
def client(redis_url, settings, monkeypatch):
    monkeypatch.delenv("SALESOS_DASHBOARD", raising=False)
    return create_app(redis_url=redis_url, settings=settings, dashboard=True).test_client()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def basic(key: str, user: str = "operator") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def start_run(client, key: str) -> str:
    response = client.post("/api/markets", json=MARKET, headers=bearer(key))
    assert response.status_code == 202, response.json
    return response.json["run_id"]


def source_job_tenant(conn, run_id: str) -> str:
    job = Job.fetch(f"run-{run_id}-source-0", connection=conn, serializer=JSONSerializer)
    return job.args[0]["run"]["tenant"]


def wrong_credentials(keys, scope: str) -> dict[str, dict]:
    """Every way of presenting something that is not a live key of `scope`, the scope a route needs."""
    _, key = keys.create(scope, "local" if scope == "tenant" else None)
    revoked, revoked_key = keys.create(scope, "local" if scope == "tenant" else None)
    keys.revoke(revoked.id, scope)
    _, other_scopes_key = keys.create("operator") if scope == "tenant" else keys.create("tenant", "local")
    return {
        "missing": {},
        "empty bearer": {"Authorization": "Bearer "},
        "malformed": bearer("not-a-key"),
        "unknown": bearer("salesos_" + "0" * 16 + "_" + "A" * 43),
        "wrong secret": bearer(key[:-1] + ("A" if key[-1] != "A" else "B")),
        "revoked": bearer(revoked_key),
        "the other scope's key": bearer(other_scopes_key),
        "the other scope's key as basic": basic(other_scopes_key),
        "other scheme": {"Authorization": f"Token {key}"},
        "bad basic": {"Authorization": "Basic !!!not-base64"},
        "huge": bearer("x" * 8000),
    }


# --- /api/* ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/markets"), ("GET", "/api/runs/20261102T000000-abc123")])
def test_the_api_answers_every_wrong_credential_with_the_byte_identical_401(client, keys, conn, method, path):
    answers = set()
    for name, headers in wrong_credentials(keys, "tenant").items():
        response = client.open(path, method=method, json=MARKET if method == "POST" else None, headers=headers)
        assert response.status_code == 401, name
        answers.add((response.status_code, response.data, response.headers["Content-Type"],
                     response.headers["WWW-Authenticate"]))
    [(_, body, content_type, challenge)] = answers
    assert content_type == "application/json" and challenge.startswith("Bearer ")
    assert b"api-key create" in body
    assert queue("source", conn).count == 0


def test_a_key_starts_a_run_for_its_own_tenant(client, keys, conn):
    _, local_key = keys.create("tenant", "local")
    _, hubspot_key = keys.create("tenant", HUBSPOT)
    assert source_job_tenant(conn, start_run(client, local_key)) == "local"
    assert source_job_tenant(conn, start_run(client, hubspot_key)) == HUBSPOT


def test_a_key_reads_its_own_tenants_run(client, keys):
    _, key = keys.create("tenant", HUBSPOT)
    run_id = start_run(client, key)
    response = client.get(f"/api/runs/{run_id}", headers=bearer(key))
    assert (response.status_code, response.json["state"]) == (200, "running")


def test_another_tenants_run_answers_exactly_like_a_run_that_does_not_exist(client, keys):
    _, owner = keys.create("tenant", HUBSPOT)
    _, other = keys.create("tenant", "local")
    run_id = start_run(client, owner)
    foreign = client.get(f"/api/runs/{run_id}", headers=bearer(other))
    missing = client.get(f"/api/runs/{run_id[:-1]}x", headers=bearer(other))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json["error"] == missing.json["error"].replace(f"{run_id[:-1]}x", run_id)


def test_a_run_started_without_an_owner_is_nobodys(client, keys, conn):
    """Runs queued before keys existed (no owner recorded) are readable by no key: fail closed."""
    _, key = keys.create("tenant", "local")
    run_id = start_run(client, key)
    conn.delete(f"salesos:run:{run_id}:tenant")
    assert client.get(f"/api/runs/{run_id}", headers=bearer(key)).status_code == 404


def test_a_key_may_also_come_as_the_basic_auth_password(client, keys):
    _, key = keys.create("tenant", "local")
    assert client.post("/api/markets", json=MARKET, headers=basic(key, "")).status_code == 202


def test_a_key_of_an_uninstalled_tenant_gets_the_same_401(client, keys, settings):
    from connector.tenants import TenantStore
    from connector.vault import Vault

    _, key = keys.create("tenant", HUBSPOT)
    TenantStore(settings.state_path, Vault(settings.state_path,
                                           settings.salesos_vault_keys.get_secret_value())).remove(HUBSPOT)
    missing = client.post("/api/markets", json=MARKET)
    response = client.post("/api/markets", json=MARKET, headers=bearer(key))
    assert (response.status_code, response.data) == (401, missing.data)


# --- /readyz, /healthz, /health ------------------------------------------------------------------------------------


def test_readyz_without_credentials_is_only_ready_or_not(client, conn):
    conn.rpush("rq:queue:source", "x")
    response = client.get("/readyz")
    assert (response.status_code, response.json) == (200, {"status": "ready"})


def test_readyz_without_credentials_is_503_when_redis_is_down(settings):
    response = create_app(redis_url="redis://127.0.0.1:1/0", settings=settings).test_client().get("/readyz")
    assert (response.status_code, response.json) == (503, {"status": "unavailable"})


def test_the_detailed_readyz_answers_every_wrong_credential_with_the_byte_identical_401(client, keys):
    answers = {client.get("/readyz?verbose", headers=headers).data
               for headers in wrong_credentials(keys, "operator").values()}
    assert len(answers) == 1
    response = client.get("/readyz?verbose")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert b"queues" not in response.data


def test_the_detailed_readyz_shows_the_queues_to_an_operator(client, keys):
    _, key = keys.create("operator")
    response = client.get("/readyz?verbose", headers=bearer(key))
    assert response.status_code == 200 and set(response.json["queues"]) >= {"source", "outreach"}


def test_healthz_and_health_stay_open_and_say_nothing_about_tenants(client):
    assert client.get("/healthz").json == {"status": "alive"}
    assert client.get("/health").json == {"status": "ok", "redis": "ok"}


# --- the dashboard ---------------------------------------------------------------------------------------------------


def test_the_dashboard_answers_every_wrong_credential_with_the_byte_identical_401(client, keys):
    answers = set()
    for headers in wrong_credentials(keys, "operator").values():
        response = client.get("/rq/", headers=headers)
        answers.add((response.status_code, response.data, response.headers.get("WWW-Authenticate")))
    [(status, body, challenge)] = answers
    assert status == 401 and challenge.startswith("Basic ") and b"RQ dashboard" not in body


def test_the_dashboard_never_trusts_a_loopback_peer(client):
    for remote in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert client.get("/rq/", environ_base={"REMOTE_ADDR": remote}).status_code == 401


def test_the_dashboard_data_needs_the_operator_key_too(client, keys):
    assert client.get("/rq/0/data/queues.json").status_code == 401
    _, key = keys.create("operator")
    assert client.get("/rq/0/data/queues.json", headers=basic(key)).status_code == 200


def test_the_dashboard_opens_for_an_operator_key_by_basic_auth_or_bearer(client, keys):
    _, key = keys.create("operator")
    for headers in (basic(key), basic(key, user=""), bearer(key)):
        response = client.get("/rq/", headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert response.status_code == 200 and b"RQ dashboard" in response.data
