"""HubSpot custom workflow actions: signed requests of installed portals are held (BLOCK) and queued once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.tenants import open_tenant_store
from tests.webhooks.hubspot_helpers import PUBLIC, SECRET, register, signed_headers, workflow_token
from tests.webhooks.test_hubspot_events import make_settings, queued
from webhooks.app import create_app
from webhooks.signatures import v2_signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
PORTAL = 102670506  # the documented request's portal


@pytest.fixture
def settings(tmp_path):
    settings = make_settings(tmp_path)
    register(settings, PORTAL)
    return settings


@pytest.fixture
def client(settings, redis_url):
    return create_app(redis_url=redis_url, settings=settings).test_client()


def documented(**changes) -> dict:
    request = json.loads((FIXTURES / "hubspot_custom_action_execution_request.json").read_text())
    return request | changes


def execute(client, action: str, body: dict | bytes, secret: str = SECRET):
    """As HubSpot sends it to an OAuth app: v3, with the older v2 beside it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = f"/webhooks/hubspot/actions/{action}"
    headers = signed_headers(raw, uri=f"{PUBLIC}{path}", secret=secret) | {
        "X-HubSpot-Signature-Version": "v2", "X-HubSpot-Signature": v2_signature(secret, "POST", f"{PUBLIC}{path}", raw)}
    return client.post(path, data=raw, headers=headers)


def test_the_documented_request_is_held_and_queued_with_its_callback(client, conn):
    response = execute(client, "score_contact", documented())
    assert response.status_code == 200
    assert response.get_json()["outputFields"]["hs_execution_state"] == "BLOCK"
    [event] = queued(conn)
    assert (event.tenant, event.kind, event.object_type, event.object_id) == (
        f"hubspot-{PORTAL}", "workflow.score_contact", "contact", "904")
    assert event.payload == {"callbackId": "ap-102670506-56776413549-7-0", "email": "ajenkenbb@gnu.org"}


def test_a_repeated_delivery_is_held_again_and_queued_once(client, conn):
    execute(client, "score_contact", documented())
    again = execute(client, "score_contact", documented())
    assert again.get_json()["outputFields"]["hs_execution_state"] == "BLOCK"
    assert len(queued(conn)) == 1


def test_a_company_action_carries_the_companys_domain(client, conn):
    company = {"objectId": 55, "objectType": "COMPANY", "properties": {"domain": "WWW.Acme.io", "name": "Acme"}}
    execute(client, "prospect_company", documented(object=company))
    [event] = queued(conn)
    assert (event.kind, event.payload["domain"]) == ("workflow.prospect_company", "acme.io")


def test_a_record_without_what_salesos_needs_fails_at_once_and_lets_the_workflow_continue(client, conn):
    company = {"objectId": 55, "objectType": "COMPANY", "properties": {"name": "No Domain Ltd"}}
    outputs = execute(client, "find_buying_team", documented(object=company)).get_json()["outputFields"]
    assert outputs["hs_execution_state"] == "FAIL_CONTINUE" and "domain" in outputs["salesos_result"]
    assert queued(conn) == []


def test_a_bad_signature_is_401_and_nothing_is_queued(client, conn):
    assert execute(client, "score_contact", documented(), secret="another-app").status_code == 401
    assert queued(conn) == []


def test_a_request_with_a_valid_v2_signature_but_no_v3_is_refused(client, conn):
    """HubSpot signs custom action requests with v3 too; a v2 one has no timestamp and would verify forever."""
    raw = json.dumps(documented()).encode()
    path = "/webhooks/hubspot/actions/score_contact"
    response = client.post(path, data=raw, headers={
        "Content-Type": "application/json", "X-HubSpot-Signature-Version": "v2",
        "X-HubSpot-Signature": v2_signature(SECRET, "POST", f"{PUBLIC}{path}", raw)})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid signature"
    assert queued(conn) == []


def test_a_request_signed_more_than_5_minutes_ago_is_refused(client, conn):
    import time

    raw = json.dumps(documented()).encode()
    path = "/webhooks/hubspot/actions/score_contact"
    headers = signed_headers(raw, uri=f"{PUBLIC}{path}", timestamp=int(time.time() * 1000) - 6 * 60 * 1000)
    assert client.post(path, data=raw, headers=headers).status_code == 401
    assert queued(conn) == []


def test_an_unknown_portal_is_404(client, conn):
    response = execute(client, "score_contact", documented(origin={"portalId": 999, "actionDefinitionId": 1}))
    assert response.status_code == 404 and queued(conn) == []


def test_an_unknown_action_is_404(client):
    assert execute(client, "delete_everything", documented()).status_code == 404


def test_a_malformed_request_is_400_naming_the_field(client, conn):
    body = documented()
    del body["callbackId"]
    response = execute(client, "score_contact", body)
    assert response.status_code == 400 and any("callbackId" in p for p in response.get_json()["problems"])
    assert execute(client, "score_contact", b"{not json").status_code == 400
    assert queued(conn) == []


def test_redis_down_is_503_so_hubspot_retries(settings):
    client = create_app(redis_url="unix:///nonexistent/redis.sock", settings=settings).test_client()
    assert execute(client, "score_contact", documented()).status_code == 503


@pytest.fixture
def token(settings) -> str:
    return workflow_token(settings, PORTAL)


def send_webhook(client, token: str, action: str, body: dict | list | bytes, secret: str = SECRET,
                 portal: int = PORTAL):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = f"/webhooks/hubspot/workflow/{portal}/{token}/{action}"
    headers = {"Content-Type": "application/json", "X-HubSpot-Signature-Version": "v2",
               "X-HubSpot-Signature": v2_signature(secret, "POST", f"{PUBLIC}{path}", raw)}
    return client.post(path, data=raw, headers=headers)


def test_a_send_a_webhook_action_with_all_company_properties_is_queued(client, token, conn):
    record = {"objectId": 55, "properties": {"domain": "acme.io", "name": "Acme", "hs_object_id": "55"}}
    response = send_webhook(client, token, "prospect_company", record)
    assert response.status_code == 200 and response.get_json()["queued"] == 1
    [event] = queued(conn)
    assert (event.kind, event.object_id, event.payload) == ("workflow.prospect_company", "55", {"domain": "acme.io"})


def test_a_legacy_contact_body_with_wrapped_values_is_understood(client, token, conn):
    record = {"vid": 904, "portal-id": PORTAL, "properties": {"email": {"value": "Jane@Acme.io", "versions": []}}}
    send_webhook(client, token, "score_contact", record)
    [event] = queued(conn)
    assert (event.object_id, event.payload) == ("904", {"email": "jane@acme.io"})


def test_a_send_a_webhook_signed_with_v3_is_queued_too(client, token, conn):
    raw = json.dumps({"hs_object_id": "55", "domain": "acme.io"}).encode()
    path = f"/webhooks/hubspot/workflow/{PORTAL}/{token}/prospect_company"
    response = client.post(path, data=raw, headers=signed_headers(raw, uri=f"{PUBLIC}{path}"))
    assert response.status_code == 200 and len(queued(conn)) == 1


def test_a_send_a_webhook_retry_is_queued_once(client, token, conn):
    record = {"hs_object_id": "55", "domain": "acme.io"}  # a key/value body the admin chose
    send_webhook(client, token, "find_buying_team", record)
    assert send_webhook(client, token, "find_buying_team", record).get_json()["duplicates"] == 1
    assert len(queued(conn)) == 1


def test_a_send_a_webhook_signed_for_another_url_is_refused(client, settings, token, conn):
    register(settings, 1)
    raw = json.dumps({"hs_object_id": "55", "domain": "acme.io"}).encode()
    other = f"{PUBLIC}/webhooks/hubspot/workflow/1/{workflow_token(settings, 1)}/prospect_company"
    response = client.post(f"/webhooks/hubspot/workflow/{PORTAL}/{token}/prospect_company",
                           data=raw, headers={"X-HubSpot-Signature-Version": "v2",
                                              "X-HubSpot-Signature": v2_signature(SECRET, "POST", other, raw)})
    assert response.status_code == 401 and queued(conn) == []


def test_another_portals_workflow_pointed_at_this_portals_url_is_refused(client, settings, conn):
    """HubSpot signs every portal's request with SalesOS's secret: only the URL's token tells portals apart."""
    register(settings, 1)
    response = send_webhook(client, workflow_token(settings, 1), "prospect_company",
                            {"hs_object_id": "5", "domain": "acme.io"})
    assert response.status_code == 401 and queued(conn) == []


def test_a_send_a_webhook_signed_with_v1_is_refused_since_v1_does_not_cover_the_url(client, token, conn):
    from webhooks.signatures import v1_signature

    raw = json.dumps({"hs_object_id": "55", "domain": "acme.io"}).encode()
    path = f"/webhooks/hubspot/workflow/{PORTAL}/{token}/prospect_company"
    response = client.post(path, data=raw, headers={"X-HubSpot-Signature-Version": "v1",
                                                    "X-HubSpot-Signature": v1_signature(SECRET, raw)})
    assert response.status_code == 401 and "v1" in response.get_json()["reason"]
    assert queued(conn) == []


def test_a_send_a_webhook_without_what_salesos_needs_is_400(client, token, conn):
    response = send_webhook(client, token, "prospect_company", {"hs_object_id": "55", "name": "No Domain"})
    assert response.status_code == 400 and "domain" in response.get_json()["error"]
    assert send_webhook(client, token, "prospect_company", [1, 2]).status_code == 400
    assert queued(conn) == []


def test_a_send_a_webhook_of_an_unknown_portal_is_refused_like_a_wrong_token(client, token, conn):
    body = {"hs_object_id": "5", "domain": "a.io"}
    unknown = send_webhook(client, token, "prospect_company", body, portal=999)
    wrong = send_webhook(client, "guessed", "prospect_company", body)
    assert (unknown.status_code, unknown.data) == (wrong.status_code, wrong.data)
    assert unknown.status_code == 401 and queued(conn) == []


def test_the_workflow_url_command_prints_each_actions_url_and_replaces_them_only_when_asked(tmp_path, redis_url, conn):
    import os
    import subprocess
    import sys

    from connector.vault import new_key

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key(), "HUBSPOT_CLIENT_SECRET": SECRET,
        "SALESOS_PUBLIC_URL": PUBLIC}
    run = lambda *args: subprocess.run([sys.executable, "-m", "connector", *args], cwd=root, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    run("tenants", "add", "hubspot", "--portal-id", str(PORTAL), "--access-token", "pat-x")
    printed = run("tenants", "workflow-url", f"hubspot-{PORTAL}")
    assert printed.returncode == 0, printed.stderr
    urls = dict(line.split(": ", 1) for line in printed.stdout.splitlines())
    assert urls["prospect_company"].startswith(f"{PUBLIC}/webhooks/hubspot/workflow/{PORTAL}/")
    assert run("tenants", "workflow-url", f"hubspot-{PORTAL}").stdout == printed.stdout  # shown again, unchanged
    rotated = run("tenants", "workflow-url", f"hubspot-{PORTAL}", "--rotate")
    assert rotated.returncode == 0 and rotated.stdout != printed.stdout and "refused from now on" in rotated.stderr
    assert run("tenants", "workflow-url", "hubspot-1").returncode == 2

    client = create_app(redis_url=redis_url, settings=make_settings(
        tmp_path, salesos_vault_keys=env["SALESOS_VAULT_KEYS"])).test_client()
    body = {"hs_object_id": "5", "domain": "acme.io"}
    old, new = (dict(line.split(": ", 1) for line in out.stdout.splitlines())["prospect_company"].split("/")[-2]
                for out in (printed, rotated))
    assert send_webhook(client, old, "prospect_company", body).status_code == 401
    assert send_webhook(client, new, "prospect_company", body).status_code == 200


def test_a_workflow_url_token_is_random_and_dies_with_its_tenant(client, settings, token, conn):
    """Not derived from the app secret and the portal: it can be replaced, and a portal added again gets a new one."""
    from hashlib import sha256
    from hmac import new as hmac

    derived = hmac(SECRET.encode(), f"send-a-webhook:{PORTAL}".encode(), sha256).hexdigest()[:32]  # the old scheme
    body = {"hs_object_id": "5", "domain": "acme.io"}
    assert send_webhook(client, derived, "prospect_company", body).status_code == 401
    assert send_webhook(client, token, "prospect_company", body).status_code == 200
    open_tenant_store(settings).remove(f"hubspot-{PORTAL}")
    register(settings, PORTAL)
    assert workflow_token(settings, PORTAL) != token
    assert send_webhook(client, token, "prospect_company", body | {"domain": "other.io"}).status_code == 401


def test_a_send_a_webhook_request_is_remembered_past_hubspots_retries_since_v2_has_no_timestamp(client, token, conn):
    send_webhook(client, token, "prospect_company", {"hs_object_id": "5", "domain": "acme.io"})
    [key] = conn.keys("salesos:events:seen:*")
    assert conn.ttl(key) > 7 * 24 * 3600


def test_a_workflow_requests_callback_is_remembered_past_hubspots_retries_so_a_replay_starts_nothing(client, conn):
    execute(client, "score_contact", documented())
    [key] = conn.keys("salesos:events:seen:*")
    assert conn.ttl(key) > 7 * 24 * 3600


def test_an_unknown_action_with_a_3000_character_name_is_a_404_quoting_at_most_100(client, token):
    for path in (f"/webhooks/hubspot/actions/{'a' * 3000}",
                 f"/webhooks/hubspot/workflow/{PORTAL}/{token}/{'a' * 3000}"):
        response = client.post(path, data=b"{}")
        assert response.status_code == 404 and len(response.data) < 200 and "a" * 101 not in response.text


# --- text JSON can carry but no text can be (review round 2) ------------------------------------------------------

LONE = "\\ud800"  # a JSON escape of half a UTF-16 pair: valid JSON syntax, but no Unicode text


@pytest.mark.parametrize("body", [
    f'{{"callbackId":"cb1","origin":{{"portalId":{PORTAL}}},"object":{{"objectId":"{LONE}","objectType":"COMPANY",'
    f'"properties":{{"domain":"acme.io"}}}}}}',
    f'{{"callbackId":"cb2","origin":{{"portalId":{PORTAL}}},"object":{{"objectId":"1","objectType":"{LONE}",'
    f'"properties":{{"domain":"acme.io"}}}}}}',
    f'{{"callbackId":"cb3","origin":{{"portalId":{PORTAL}}},"object":{{"objectId":"1","objectType":"COMPANY",'
    f'"properties":{{"domain":"{LONE}.io"}}}}}}',
    f'{{"callbackId":"{LONE}","origin":{{"portalId":{PORTAL}}},"object":{{"objectId":"1","objectType":"COMPANY",'
    f'"properties":{{"domain":"acme.io"}}}}}}',
], ids=["objectId", "objectType", "domain", "callbackId"])
def test_a_workflow_action_carrying_a_lone_surrogate_is_400_not_500(client, conn, body):
    response = execute(client, "prospect_company", body.encode())
    assert response.status_code == 400 and response.is_json
    assert "malformed" in response.get_json()["error"]
    assert queued(conn) == []


@pytest.mark.parametrize("body", [f'{{"objectId":"{LONE}","domain":"acme.io"}}',
                                  f'{{"objectId":"5","domain":"{LONE}.io"}}'], ids=["objectId", "domain"])
def test_a_send_a_webhook_carrying_a_lone_surrogate_is_400_not_500(client, token, conn, body):
    response = send_webhook(client, token, "prospect_company", body.encode())
    assert response.status_code == 400 and response.is_json
    assert queued(conn) == []
