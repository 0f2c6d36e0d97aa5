"""Every endpoint, fed malformed, oversized and mis-signed requests: never a 500, never a queued event it
should not queue.

Hypothesis generates the requests; each example checks the event inbox and
the stage queues before and after, so "nothing enqueued" is measured, not
assumed. Examples per endpoint are kept modest so `make test` stays quick;
raise HYPOTHESIS_PROFILE=thorough locally for a longer search.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from connector.queues import STAGES
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault
from tests.webhooks.hubspot_helpers import PUBLIC, SECRET, hubspot_event, register, signed_headers
from tests.webhooks.test_hubspot_events import make_settings
from webhooks.app import create_app
from webhooks.intake import INBOX
from webhooks.signatures import v2_signature
from webhooks.workflow_actions import portal_token

settings.register_profile("suite", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

PORTAL = 62515
ORG = "00D000000000001AAA"
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children,
                                                                                      max_size=5),
                    max_leaves=20)
HEADER_NAMES = st.sampled_from([
    "X-HubSpot-Signature", "X-HubSpot-Signature-v3", "X-HubSpot-Signature-Version", "X-HubSpot-Request-Timestamp",
    "X-SalesOS-Signature", "X-SalesOS-Timestamp", "Content-Type", "Content-Length", "SOAPAction",
])
HEADER_VALUES = st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60) | \
    st.text(alphabet="0123456789²³¹", min_size=1, max_size=20)  # digits str.isdigit() accepts and int() refuses
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5)
BODIES = st.one_of(st.binary(max_size=2048), JSON.map(lambda value: json.dumps(value).encode()),
                   st.text(max_size=300).map(lambda text: f"<?xml version='1.0'?><a>{text}</a>".encode("utf-8")))


@pytest.fixture
def app_settings(tmp_path):
    values = make_settings(tmp_path)
    register(values, PORTAL)
    store = TenantStore(values.state_path, Vault(values.state_path, values.salesos_vault_keys.get_secret_value()))
    store.add(Tenant(id=f"salesforce-{ORG}", crm="salesforce", external_id=ORG,
                     instance_url="https://acme.my.salesforce.com", installed_at=dt.datetime.now(dt.UTC)),
              {"access_token": "00D!token", "flow_secret": "flow-secret-for-tests"})
    return values


@pytest.fixture
def client(app_settings, redis_url):
    app = create_app(redis_url=redis_url, settings=app_settings)
    app.testing = False  # a crash must surface as the 500 a CRM would see, not as a test exception
    return app.test_client()


def queued(conn) -> int:
    """Events in the inbox plus jobs on every stage queue: what a request could have enqueued."""
    return conn.llen(INBOX) + sum(conn.llen(f"rq:queue:{stage}") for stage in STAGES)


def send(client, conn, path: str, body: bytes, headers: dict, method: str = "POST"):
    before = queued(conn)
    response = client.open(path, method=method, data=body, headers=headers)
    assert response.status_code < 500 or response.status_code == 503, (path, response.status_code,
                                                                         response.get_data()[:300])
    return response, queued(conn) - before


@given(body=BODIES, headers=HEADERS)
def test_hubspot_webhooks_refuse_unsigned_and_malformed_requests(client, conn, body, headers):
    response, added = send(client, conn, "/webhooks/hubspot", body, headers)
    assert response.status_code in (400, 401, 413) and added == 0


@given(events=st.lists(st.builds(hubspot_event, portal=st.just(PORTAL), object_id=st.integers(1, 10**6)),
                       min_size=1, max_size=5),
       tamper=st.sampled_from(["secret", "body", "timestamp", "uri"]))
def test_hubspot_webhooks_refuse_every_mis_signed_delivery(client, conn, events, tamper):
    body = json.dumps(events).encode()
    headers = signed_headers(body, secret="another-apps-secret" if tamper == "secret" else SECRET,
                             uri=f"{PUBLIC}/elsewhere" if tamper == "uri" else f"{PUBLIC}/webhooks/hubspot",
                             timestamp=1_000 if tamper == "timestamp" else None)
    sent = body + b" " if tamper == "body" else body
    response, added = send(client, conn, "/webhooks/hubspot", sent, headers)
    assert response.status_code == 401 and added == 0


@given(value=JSON)
def test_hubspot_webhooks_signed_but_malformed_queue_only_what_they_report(client, conn, value):
    body = json.dumps(value).encode()
    response, added = send(client, conn, "/webhooks/hubspot", body, signed_headers(body))
    reported = (response.get_json(silent=True) or {}).get("queued", 0) if response.status_code == 200 else 0
    assert added == reported


@given(name=st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=20) | st.sampled_from(
    ["prospect_company", "find_buying_team", "score_contact"]), value=JSON, sign=st.booleans())
def test_workflow_actions_never_fail_and_queue_only_what_they_hold(client, conn, name, value, sign):
    body = json.dumps(value).encode()
    path = f"/webhooks/hubspot/actions/{name}"
    headers = signed_headers(body, uri=f"{PUBLIC}{path}", secret=SECRET if sign else "wrong")
    response, added = send(client, conn, path, body, headers)
    held = response.status_code == 200 and response.get_json()["outputFields"]["hs_execution_state"] == "BLOCK"
    assert added == (1 if held else 0)


@given(portal=st.sampled_from([PORTAL, 999]), value=JSON, sign=st.booleans())
def test_send_a_webhook_actions_never_fail_and_queue_at_most_their_record(client, conn, portal, value, sign):
    body = json.dumps(value).encode()
    path = f"/webhooks/hubspot/workflow/{portal}/{portal_token(SECRET, portal)}/prospect_company"
    headers = {"X-HubSpot-Signature-Version": "v2",
               "X-HubSpot-Signature": v2_signature(SECRET if sign else "wrong", "POST", f"{PUBLIC}{path}", body)}
    response, added = send(client, conn, path, body, headers)
    assert added == (response.get_json()["queued"] if response.status_code == 200 else 0)


@given(body=BODIES, headers=HEADERS, own_url=st.booleans())
def test_salesforce_outbound_messages_refuse_malformed_xml(client, conn, app_settings, body, headers, own_url):
    store = TenantStore(app_settings.state_path,
                        Vault(app_settings.state_path, app_settings.salesos_vault_keys.get_secret_value()))
    path = f"/webhooks/salesforce/outbound/{store.outbound.ensure(f'salesforce-{ORG}')}" if own_url else \
        "/webhooks/salesforce/outbound"
    response, added = send(client, conn, path, body, headers)
    assert response.status_code in ((400, 401, 413) if own_url else (401, 413)) and added == 0


@given(tenant=st.sampled_from([f"salesforce-{ORG}", "salesforce-00D999999999999AAA", f"hubspot-{PORTAL}"])
       | st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=30),
       body=BODIES, headers=HEADERS)
def test_salesforce_flow_callouts_refuse_what_is_not_signed_with_the_tenants_secret(client, conn, tenant, body,
                                                                                     headers):
    response, added = send(client, conn, f"/webhooks/salesforce/flow/{tenant}", body, headers)
    assert response.status_code in (400, 401, 404, 413) and added == 0


@given(body=BODIES, content_type=st.sampled_from(["application/json", "application/yaml", "text/plain", ""]))
def test_the_market_api_answers_bad_markets_with_400_not_500(client, conn, body, content_type):
    response, added = send(client, conn, "/api/markets", body, {"Content-Type": content_type})
    assert response.status_code in (202, 400, 413, 415) and (added == 0 or response.status_code == 202)


@given(crm=st.sampled_from(["hubspot", "salesforce"]) | st.text(alphabet=string.ascii_lowercase, max_size=10),
       query=st.dictionaries(st.sampled_from(["code", "state", "error", "error_description"]),
                             st.text(max_size=40), max_size=4))
def test_oauth_callbacks_with_forged_parameters_never_fail(client, conn, crm, query):
    before = queued(conn)
    response = client.get(f"/oauth/{crm or 'x'}/callback", query_string=query)
    assert response.status_code < 500 or response.status_code == 503
    assert queued(conn) == before


@given(size=st.integers(min_value=256 * 1024 + 1, max_value=300 * 1024))
@settings(max_examples=5)
def test_oversized_hubspot_deliveries_are_413_before_anything_else(client, conn, size):
    body = b"[" + b" " * (size - 2) + b"]"
    response, added = send(client, conn, "/webhooks/hubspot", body, signed_headers(body))
    assert response.status_code == 413 and added == 0
