"""Every endpoint, fed malformed, oversized, hostile and mis-signed requests: never a 500, never an answer
that grows with its input, never a queued event it should not queue.

Hypothesis generates the requests; each example checks the event inbox and
the stage queues before and after, so "nothing enqueued" is measured, not
assumed, the size of every answer (under SMALL bytes), and that no answer
repeats more than QUOTE_LIMIT consecutive characters of anything sent (a path
segment, a header, a key or value of the body): the strategies include long
segments, keys and values for that. Examples per endpoint are kept modest so
`make test` stays quick; raise HYPOTHESIS_PROFILE=thorough locally for a
longer search.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import os
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agents.market import MarketDefinition
from agents.validation import QUOTE_LIMIT
from connector.api_keys import ApiKeys
from connector.dispatch import INBOX
from connector.queues import STAGES
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault
from tests.webhooks.hubspot_helpers import PUBLIC, SECRET, hubspot_event, register, signed_headers, workflow_token
from tests.webhooks.test_hubspot_events import make_settings
from tests.webhooks.test_salesforce_events import message as outbound_message
from webhooks.app import create_app
from webhooks.signatures import v2_signature

settings.register_profile("suite", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

PORTAL = 62515
ORG = "00D000000000001AAA"
FLOW_SECRET = "flow-secret-for-tests"
SMALL = 4096  # bytes: the most any answer may be, whatever was sent
# Text longer than an answer may quote: random (a run anywhere in it is found) or one character repeated at sizes
# up to the bounds of what SalesOS reads (a 5,000-character YAML value, a 4,000-character URL).
LONG_TEXT = st.text(min_size=QUOTE_LIMIT + 1, max_size=400) | st.builds(
    lambda char, size: char * size, st.sampled_from("Zq7é-"), st.integers(QUOTE_LIMIT + 1, 4000))
TEXT = st.text(max_size=20) | LONG_TEXT
KEYS = st.text(max_size=12) | LONG_TEXT
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
                    max_leaves=20)
SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20) | st.builds(
    lambda char, size: char * size, st.sampled_from("Sk9_"), st.integers(QUOTE_LIMIT + 1, 3000))
HEADER_NAMES = st.sampled_from([
    "X-HubSpot-Signature", "X-HubSpot-Signature-v3", "X-HubSpot-Signature-Version", "X-HubSpot-Request-Timestamp",
    "X-SalesOS-Signature", "X-SalesOS-Timestamp", "Content-Type", "Content-Length", "SOAPAction",
])
HEADER_VALUES = st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60) | \
    st.text(alphabet="0123456789²³¹", min_size=1, max_size=20) | \
    st.builds(lambda char, size: char * size, st.sampled_from("H5="), st.integers(QUOTE_LIMIT + 1, 4000))
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
              {"access_token": "00D!token", "flow_secret": FLOW_SECRET})
    return values


@pytest.fixture
def keys(app_settings) -> dict[str, str]:
    """A live API key of `local` and of the HubSpot tenant, an operator key, and a revoked key."""
    store = ApiKeys(app_settings.state_path)
    made = {name: store.create("tenant", tenant)[1] for name, tenant in (("local", "local"),
                                                                         ("hubspot", f"hubspot-{PORTAL}"))}
    made["operator"] = store.create("operator")[1]
    revoked, made["revoked"] = store.create("tenant", "local")
    store.revoke(revoked.id, "tenant")
    return made


@pytest.fixture
def outbound_token(app_settings) -> str:
    store = TenantStore(app_settings.state_path,
                        Vault(app_settings.state_path, app_settings.salesos_vault_keys.get_secret_value()))
    return store.outbound.ensure(f"salesforce-{ORG}")


@pytest.fixture
def client(app_settings, redis_url):
    app = create_app(redis_url=redis_url, settings=app_settings)
    app.testing = False  # a crash must surface as the 500 a CRM would see, not as a test exception
    return app.test_client()


def queued(conn) -> int:
    """Events in the inbox plus jobs on every stage queue: what a request could have enqueued."""
    return conn.llen(INBOX) + sum(conn.llen(f"rq:queue:{stage}") for stage in STAGES)


def send(client, conn, path: str, body: bytes, headers: dict, method: str = "POST", sent: list[str] | None = None):
    """Send one request; check it did not crash, and that its answer is small and repeats little of what was sent
    (`sent`: the values to look for; by default the path, the headers and the body, with its JSON keys and values).
    Returns the response and how many events and jobs it enqueued."""
    before = queued(conn)
    response = client.open(path, method=method, data=body, headers=headers)
    answer = response.get_data()
    assert response.status_code < 500 or response.status_code == 503, (path, response.status_code, answer[:300])
    assert len(answer) < SMALL, (path, response.status_code, answer[:300])
    inputs = sent if sent is not None else [path, *path.split("/"), *map(str, headers.values()), *texts_of(body)]
    echo = echoed(answer, inputs)
    assert echo is None, (path, response.status_code, echo, answer[:300])
    return response, queued(conn) - before


def texts_of(body: bytes) -> list[str]:
    """A JSON body's keys and strings (as they were before JSON escaped them), or any other body as text."""
    try:
        return strings_in(json.loads(body))
    except (ValueError, RecursionError):
        return [body.decode("utf-8", "replace")]


def strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *strings_in(item)]]
    return []


def echoed(answer: bytes, inputs: list[str]) -> str | None:
    """A run of more than QUOTE_LIMIT characters of one of `inputs` that the answer repeats (as sent, or as JSON,
    HTML or repr escaping wrote it back), or None. The run may take in the two characters around a quote of
    QUOTE_LIMIT characters (a key's quotes in a JSON body, a YAML key's ": ") which are not more of the input."""
    text = answer.decode("utf-8", "replace")
    shown = [text, html.unescape(text)]
    try:
        shown += strings_in(json.loads(answer))
    except (ValueError, RecursionError):
        pass
    width = QUOTE_LIMIT + 3
    windows = {part[at:at + width] for part in shown for at in range(len(part) - width + 1)}
    for value in inputs:
        for form in {value, repr(value)[1:-1]}:
            for at in range(len(form) - width + 1):
                if form[at:at + width] in windows:
                    return form[at:at + width]
    return None


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


@given(name=st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=20) | SEGMENT | st.sampled_from(
    ["prospect_company", "find_buying_team", "score_contact"]), value=JSON, sign=st.booleans())
def test_workflow_actions_never_fail_and_queue_only_what_they_hold(client, conn, name, value, sign):
    body = json.dumps(value).encode()
    path = f"/webhooks/hubspot/actions/{name}"
    headers = signed_headers(body, uri=f"{PUBLIC}{path}", secret=SECRET if sign else "wrong")
    response, added = send(client, conn, path, body, headers)
    held = response.status_code == 200 and response.get_json()["outputFields"]["hs_execution_state"] == "BLOCK"
    assert added == (1 if held else 0)


@given(portal=st.sampled_from([PORTAL, 999]), value=JSON, sign=st.booleans(),
       name=st.just("prospect_company") | SEGMENT, token=st.none() | SEGMENT)
def test_send_a_webhook_actions_never_fail_and_queue_at_most_their_record(client, app_settings, conn, portal, value,
                                                                          sign, name, token):
    body = json.dumps(value).encode()
    path = f"/webhooks/hubspot/workflow/{portal}/{token or workflow_token(app_settings, PORTAL)}/{name}"
    headers = {"X-HubSpot-Signature-Version": "v2",
               "X-HubSpot-Signature": v2_signature(SECRET if sign else "wrong", "POST", f"{PUBLIC}{path}", body)}
    response, added = send(client, conn, path, body, headers)
    assert added == (response.get_json()["queued"] if response.status_code == 200 else 0)


@given(body=BODIES, headers=HEADERS, url=st.sampled_from(["own", "wrong", "none"]))
def test_salesforce_outbound_messages_refuse_malformed_xml(client, conn, outbound_token, body, headers, url):
    path = {"own": f"/webhooks/salesforce/outbound/{outbound_token}", "none": "/webhooks/salesforce/outbound",
            "wrong": "/webhooks/salesforce/outbound/not-the-token"}[url]
    response, added = send(client, conn, path, body, headers)
    assert response.status_code in ((400, 401, 413) if url == "own" else (401, 413)) and added == 0


@given(tenant=st.sampled_from([f"salesforce-{ORG}", "salesforce-00D999999999999AAA", f"hubspot-{PORTAL}"])
       | st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=30),
       body=BODIES, headers=HEADERS)
def test_salesforce_flow_callouts_refuse_what_is_not_signed_with_the_tenants_secret(client, conn, tenant, body,
                                                                                     headers):
    response, added = send(client, conn, f"/webhooks/salesforce/flow/{tenant}", body, headers)
    assert response.status_code in (400, 401, 404, 413) and added == 0


# --- the JSON API ------------------------------------------------------------------------------------------------

API_PATHS = st.sampled_from(["/api/markets", "/api/runs/20261102T000000-abc123", "/api/runs/", "/api/", "/api"]) | \
    st.text(alphabet=string.ascii_letters + string.digits + "/-_.%", max_size=40).map(lambda tail: f"/api/{tail}") | \
    SEGMENT.map(lambda tail: f"/api/runs/{tail}") | SEGMENT.map(lambda tail: f"/api/{tail}")
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
CREDENTIALS = st.one_of(
    st.none(), st.sampled_from(["local", "hubspot", "operator", "revoked"]),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=80).map(
        lambda text: f"Bearer {text}"),
    st.text(alphabet=string.ascii_letters + string.digits + "_-", max_size=90).map(lambda text: f"Bearer salesos_{text}"),
    st.binary(max_size=60).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
)


def authorization(credential: str | None, keys: dict[str, str]) -> dict:
    if credential is None:
        return {}
    return {"Authorization": f"Bearer {keys[credential]}" if credential in keys else credential}


@given(path=API_PATHS, method=METHODS, credential=CREDENTIALS, body=BODIES)
def test_the_api_without_a_valid_key_answers_small_json_and_queues_nothing(client, conn, keys, path, method,
                                                                           credential, body):
    if credential in ("local", "hubspot"):
        credential = "revoked"  # a live key is the next test's business
    response, added = send(client, conn, path, body, authorization(credential, keys), method=method)
    assert response.status_code in (401, 404, 405, 413) and added == 0
    if method != "HEAD" and path.startswith("/api/"):
        assert response.is_json, (path, method, response.status_code)


def flow_yaml(value: object) -> str:
    """A value written as flow-style YAML, its scalars left exactly as generated (hostile text included)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flow_yaml(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow_yaml(item) for item in value) + "]"
    return str(value)


def laughs(levels: int) -> str:
    lines = ['industry: SaaS', 'company_size: 10-50', 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 7) + "]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE_YAML = [  # scalars (and a few flow lists) as a hostile YAML body spells them; test_hostile_input tries them all
    "1" * 25, "1" * 4400, "-" + "9" * 30, "0x" + "f" * 40, "1.0e+999", "-1.0e+999", ".inf", "-.Inf", ".nan", "1e999",
    "2026-13-45", "2026-02-30", "!!int x", "!!float y", "!!binary aGk=", "!!python/object:os.system x", "&a x", "*a",
    "'" + "x" * 6000 + "'", '"' + "\\u0000" * 10 + '"', "~", "null", "yes", "=", "<<", "? x", "|", "%YAML 1.1",
    "$1" + ".5" * 2000, "'" + "1-" * 2000 + "'", "0001-01-01", "9999-12-31", "2026-11-02T10:00:00", "Q" * 4999,
    "[10, abc]", "[10, 1e999]", "[nan, nan]", "[10, " + "a" * 3000 + "]", "[" + "b" * 4000 + ", 1]", "[1, 2, 3]",
    "{min: abc, max: " + "c" * 3000 + "}", '"a\\x00b\\x1bc"',
]
HOSTILE_SCALARS = st.sampled_from(HOSTILE_YAML) | st.text(max_size=40) | LONG_TEXT | st.integers() | st.floats()
MARKET_FIELDS = st.sampled_from(sorted(MarketDefinition.model_fields) + ["weights.fit", "market", "as_of", "x" * 200,
                                                                          "K" * 1024])
HOSTILE_MARKETS = st.one_of(
    st.dictionaries(MARKET_FIELDS, st.recursive(HOSTILE_SCALARS, lambda children: st.lists(children, max_size=4)
                                                | st.dictionaries(MARKET_FIELDS, children, max_size=3),
                                                max_leaves=12), max_size=8).map(flow_yaml),
    st.integers(15, 3000).map(lambda depth: "industry: SaaS\ncompany_size: 10-50\npain_points: "
                              + "[" * depth + "]" * depth),
    st.integers(2, 9).map(laughs),
    st.integers(10_001, 40_000).map(lambda n: "[" + "1," * n + "1]"),
    # one hostile value in an otherwise valid market, or as the run's date: each field's own rule must refuse it
    st.builds(lambda field, value: {"industry": "SaaS", "company_size": "10-50", field: value},
              st.sampled_from(["company_size", "annual_revenue", "budget_size", "location", "industry", "name",
                               "exclude", "weights"]),
              HOSTILE_SCALARS | st.lists(HOSTILE_SCALARS, min_size=2, max_size=2)).map(flow_yaml),
    HOSTILE_SCALARS.map(lambda value: flow_yaml({"market": {"industry": "SaaS", "company_size": "10-50"},
                                                 "as_of": value})),
)


@given(body=HOSTILE_MARKETS.map(str.encode) | BODIES,
       content_type=st.sampled_from(["application/json", "application/yaml", "text/plain", ""]),
       key=st.sampled_from(["local", "hubspot"]))
def test_the_market_api_answers_hostile_markets_with_a_small_400_not_500(client, conn, keys, body, content_type,
                                                                        key):
    headers = {"Content-Type": content_type} | authorization(key, keys)
    response, added = send(client, conn, "/api/markets", body, headers)
    assert response.status_code in (202, 400, 413) and response.is_json
    assert added == (1 if response.status_code == 202 else 0)


@given(run_id=(st.text(max_size=300) | LONG_TEXT).filter(lambda text: "/" not in text and "?" not in text
                                                         and "#" not in text),
       key=st.sampled_from(["local", "hubspot"]))
def test_reading_any_run_id_is_a_small_answer_never_a_500(client, conn, keys, run_id, key):
    response, _ = send(client, conn, f"/api/runs/{run_id}", b"", authorization(key, keys), method="GET")
    assert response.status_code in (200, 404) and response.is_json


@given(credential=CREDENTIALS, verbose=st.booleans())
def test_readyz_never_shows_the_queues_without_an_operator_key(client, conn, keys, credential, verbose):
    response, _ = send(client, conn, "/readyz?verbose" if verbose else "/readyz", b"",
                       authorization(credential, keys), method="GET")
    if verbose and credential == "operator":
        assert response.status_code == 200 and "queues" in response.json
    else:
        assert "queues" not in response.json
        assert response.status_code == (401 if verbose else 200)


# --- Salesforce ------------------------------------------------------------------------------------------------

NOTIFICATIONS = st.lists(st.tuples(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=15, max_size=18),
    st.sampled_from(["Contact", "Account", "Lead", "Opportunity", "SalesOS_Market__c", "x"]),
    st.dictionaries(st.sampled_from(["Id", "Email", "Website", "Definition__c", "SalesOS_Sequence_State__c",
                                     "LastModifiedById", "Name"]),
                    st.text(max_size=60) | HOSTILE_MARKETS, max_size=5)), max_size=4)
ORGS = st.sampled_from([ORG, ORG[:15], "00D999999999999AAA"]) | st.text(max_size=40) | \
    st.text(alphabet="0D", min_size=5000, max_size=6000)


@given(notifications=NOTIFICATIONS, org=ORGS, right_token=st.booleans(), headers=HEADERS)
def test_salesforce_outbound_messages_to_the_orgs_url_answer_small_and_never_fail(client, conn, outbound_token,
                                                                                 notifications, org, right_token,
                                                                                 headers):
    body = outbound_message(*notifications, org=org)
    token = outbound_token if right_token else outbound_token[:-2] + "xx"
    sent = [org, *map(str, headers.values())] + [text for _, _, fields in notifications
                                                 for text in [*fields, *fields.values()]]
    response, added = send(client, conn, f"/webhooks/salesforce/outbound/{token}", body, headers, sent=sent)
    assert response.status_code in (200, 400, 401, 413)
    assert added <= (len(notifications) if response.status_code == 200 else 0)


def flow_signed(body: bytes, secret: str = FLOW_SECRET) -> dict:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-SalesOS-Timestamp": stamp, "X-SalesOS-Signature": f"sha256={digest}"}


FLOW_BODIES = st.one_of(
    BODIES,
    st.fixed_dictionaries({"action": st.sampled_from(["prospect_company", "score_contact", "x"]),
                           "record_id": st.sampled_from(["0011I000003qqqEQAQ", "0031I0000081tbPQAQ"]) | st.text(),
                           "fields": st.dictionaries(st.text(max_size=10), JSON, max_size=4)},
                          optional={"event_id": st.text(max_size=80)}).map(lambda value: json.dumps(value).encode()),
    st.integers(100, 5000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
    st.sampled_from([b'{"action": "prospect_company", "record_id": "0011I000003qqqEQAQ", "fields": {"n": 1e999}}',
                     b'{"action": "prospect_company", "record_id": "0011I000003qqqEQAQ", "fields": {"n": NaN}}',
                     b'{"action": "prospect_company", "record_id": "0011I000003qqqEQAQ", "fields": {"n": '
                     + b"9" * 5000 + b"}}"]),
)


@given(body=FLOW_BODIES)
def test_salesforce_flow_callouts_signed_with_the_tenants_secret_never_fail(client, conn, body):
    response, added = send(client, conn, f"/webhooks/salesforce/flow/salesforce-{ORG}", body, flow_signed(body))
    assert response.status_code in (202, 400, 413)
    assert added == (1 if response.status_code == 202 and response.json["queued"] else 0)  # examples share Redis


@given(crm=st.sampled_from(["hubspot", "salesforce"]) | st.text(alphabet=string.ascii_lowercase, max_size=10)
       | SEGMENT, query=st.dictionaries(st.sampled_from(["code", "state", "error", "error_description"]),
                                        st.text(max_size=40) | LONG_TEXT, max_size=4))
def test_oauth_callbacks_with_forged_parameters_never_fail(client, conn, crm, query):
    before = queued(conn)
    response = client.get(f"/oauth/{crm or 'x'}/callback", query_string=query)
    assert response.status_code < 500 or response.status_code == 503
    assert len(response.get_data()) < SMALL
    assert echoed(response.get_data(), [crm, *query.values()]) is None
    assert queued(conn) == before


@given(size=st.integers(min_value=256 * 1024 + 1, max_value=300 * 1024))
@settings(max_examples=5)
def test_oversized_hubspot_deliveries_are_413_before_anything_else(client, conn, size):
    body = b"[" + b" " * (size - 2) + b"]"
    response, added = send(client, conn, "/webhooks/hubspot", body, signed_headers(body))
    assert response.status_code == 413 and added == 0
