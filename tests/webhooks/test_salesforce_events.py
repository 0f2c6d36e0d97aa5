"""Salesforce pushes events: Outbound Messages (SOAP, acked exactly as documented) and signed Flow callouts."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import time
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import httpx
import pytest
import respx
from cryptography.fernet import MultiFernet
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agents.events import CrmEvent
from connector.dispatch import INBOX
from connector.oauth.config import oauth_app
from connector.oauth.flows import INTEGRATION_USER, exchange_salesforce_code
from connector.settings import Settings
from connector.store import open_store
from connector.store.schema import outbound_tokens, tenants
from connector.tenant_credentials import OUTBOUND as OUTBOUND_URLS
from connector.tenants import Tenant, TenantStore, tenant_id
from connector.vault import Vault, new_key
from crm_adapters.record_index import RecordIndex
from tests.connector.engine_connections import connections
from webhooks.app import create_app
from webhooks.salesforce_events import OUTBOUND_MAX_BYTES, REFUSED
from webhooks.salesforce_flow import MAX_BYTES as FLOW_MAX_BYTES
from webhooks.salesforce_soap import fault

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "crm"
# The fixture's authors replaced its OrganizationId with 012345678901234; its URLs still name the org.
ORG15, ORG18 = "00D1I000003qqqE", "00D1I000003qqqEUAQ"
TENANT = tenant_id("salesforce", ORG18)
OTHER_ORG = "00D5g000004XyZaEAK"
OTHER_TENANT = tenant_id("salesforce", OTHER_ORG)
SESSION_ID = "00D1I000003qqqE!AQsAQOjGFnFJzGPA12yhUGL9Aii0N6lADjH2bNUBHRer5QjjTq3_RbIzlAqHBkfjp3vlHhlwByFY9MJQJlgz"
INTEGRATION_USER_ID = "0055g000003AbCdAAK"
SOMEONE_ELSE = "0055g000009ZzZzAAK"
CONTACT_ID = "0031I0000081tbPQAQ"
ADA = "ada@acme.io"
OUTBOUND = "/webhooks/salesforce/outbound"
SOAP_NS = {"soapenv": "http://schemas.xmlsoap.org/soap/envelope/"}


def documented_message(org: str = ORG15) -> bytes:
    return (FIXTURES / "salesforce_outbound_message_notifications.xml").read_bytes().replace(
        b"012345678901234", org.encode())


def message(*notifications: tuple[str, str, dict[str, str]], org: str = ORG18) -> bytes:
    """An Outbound Message in the documented shape, from (notification id, sObject type, fields)."""
    items = "".join(
        f'<Notification><Id>{nid}</Id><sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        + "".join(f"<sf:{name}>{escape(value)}</sf:{name}>" for name, value in fields.items())
        + "</sObject></Notification>"
        for nid, kind, fields in notifications)
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId>'
        f'<ActionId>04k1I000000bmsHQAQ</ActionId><SessionId xsi:nil="true"/>'
        f'<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/59.0/{org[:15]}</EnterpriseUrl>'
        f'<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/59.0/{org[:15]}</PartnerUrl>'
        f'{items}</notifications></soapenv:Body></soapenv:Envelope>'
    ).encode()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(salesos_home=tmp_path, salesos_vault_keys=new_key())


@pytest.fixture
def store(settings) -> TenantStore:
    return TenantStore(settings.state_path, Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()))


@pytest.fixture
def client(settings, redis_url):
    return create_app(redis_url=redis_url, settings=settings).test_client()


@pytest.fixture
def down(settings):
    """The same app with Redis unreachable."""
    return create_app(redis_url="unix:///nonexistent/salesos-redis.sock", settings=settings).test_client()


def install(store: TenantStore, org: str = ORG18, user: str | None = None) -> str:
    tenant = Tenant(id=tenant_id("salesforce", org), crm="salesforce", external_id=org,
                    instance_url="https://acme.my.salesforce.com", auth="oauth", installed_at=dt.datetime.now(dt.UTC))
    store.add(tenant, {"access_token": "sf-access-token", **({INTEGRATION_USER: user} if user else {})})
    return tenant.id


def queued(conn) -> list[CrmEvent]:
    return [CrmEvent.model_validate_json(item) for item in conn.lrange(INBOX, 0, -1)]


def url(store: TenantStore, tenant: str = TENANT) -> str:
    """The path of the tenant's own Outbound Message URL."""
    return f"{OUTBOUND}/{store.outbound.ensure(tenant)}"


def post(client, path: str, body: bytes):
    return client.post(path, data=body, content_type="text/xml; charset=utf-8", headers={"SOAPAction": '""'})


def faultstring(response) -> str:
    assert response.content_type == "text/xml; charset=utf-8"
    return ElementTree.fromstring(response.data).find("soapenv:Body/soapenv:Fault/faultstring", SOAP_NS).text


# --- Outbound Messages ---------------------------------------------------------------------------------------


def test_the_documented_message_is_queued_and_answered_with_the_documented_ack(client, store, conn):
    install(store)
    response = post(client, url(store), documented_message())
    assert response.status_code == 200
    assert response.data == (FIXTURES / "salesforce_outbound_message_ack.xml").read_bytes()
    assert response.content_type == "text/xml; charset=utf-8"
    first, second = queued(conn)
    assert (first.tenant, first.source, first.kind, first.object_type) == (TENANT, "salesforce-outbound",
                                                                          "contact.updated", "contact")
    assert (first.identity, first.object_id) == ("04l1I000000fztEQAQ", "0031I0000081tbPQAQ")
    assert first.payload["fields"] == {"Id": "0031I0000081tbPQAQ", "CreatedDate": "2017-12-11T21:49:24.000Z",
                                       "FirstName": "Jeraldine", "LastName": "Black", "Title": "White"}
    assert first.occurred_at == dt.datetime(2017, 12, 11, 21, 49, 24, tzinfo=dt.UTC)
    assert (second.identity, second.payload["email"]) == ("04l1I000000fzt9QAA", "drb24@cornell.edu")


def test_the_session_id_reaches_neither_the_queue_nor_a_log_line(client, store, conn, caplog):
    caplog.set_level(logging.DEBUG)
    install(store)
    assert post(client, url(store), documented_message()).status_code == 200
    assert SESSION_ID not in b"".join(conn.lrange(INBOX, 0, -1)).decode()
    assert SESSION_ID not in caplog.text


def test_a_notification_of_a_record_not_modified_since_its_creation_is_a_creation(client, store, conn):
    install(store)
    created = {"Id": CONTACT_ID, "CreatedDate": "2026-11-02T09:00:00.000Z",
               "LastModifiedDate": "2026-11-02T09:00:00.000Z"}
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", created))).status_code == 200
    assert [event.kind for event in queued(conn)] == ["contact.creation"]


def test_a_redelivered_message_is_acked_again_and_queued_once(client, store, conn):
    install(store)
    assert post(client, url(store), documented_message()).status_code == 200
    again = post(client, url(store), documented_message())
    assert again.status_code == 200
    assert again.data == (FIXTURES / "salesforce_outbound_message_ack.xml").read_bytes()
    assert conn.llen(INBOX) == 2


def test_a_notification_dated_more_than_an_hour_ahead_is_acked_logged_and_not_queued(client, store, conn, caplog):
    install(store)
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    response = post(client, url(store), message(
        ("04l1I000000fztEQAQ", "Contact", {"Id": CONTACT_ID, "LastModifiedDate": ahead}),
        ("04l1I000000fzt9QAA", "Contact", {"Id": CONTACT_ID, "LastModifiedDate": soon})))
    assert response.status_code == 200
    assert response.data == (FIXTURES / "salesforce_outbound_message_ack.xml").read_bytes()
    assert [event.identity for event in queued(conn)] == ["04l1I000000fzt9QAA"]  # minutes ahead: a clock's skew
    assert "1 notification(s) refused as dated in the future" in caplog.text


def test_a_message_naming_another_org_than_its_urls_is_refused_logged_and_queues_nothing(client, store, conn,
                                                                                          caplog):
    other = install(store, OTHER_ORG)
    response = post(client, url(store, other), documented_message())
    assert response.status_code == 401
    assert faultstring(response).startswith("SalesOS accepts this org's Outbound Messages only at the URL")
    assert conn.llen(INBOX) == 0
    assert f"org '{ORG15}'" in caplog.text and "tenants outbound-url" in caplog.text


@pytest.mark.parametrize(("installed", "sent"), [(ORG18, ORG15), (ORG15, ORG18)])
def test_an_org_matches_whether_installed_or_sent_with_its_15_or_18_character_id(client, store, conn, installed,
                                                                                  sent):
    tenant = install(store, installed)
    assert post(client, url(store, tenant), documented_message(sent)).status_code == 200
    assert {event.tenant for event in queued(conn)} == {tenant}


def test_malformed_xml_is_400_with_the_parsers_reason_in_a_soap_fault(client, store, conn):
    install(store)
    response = post(client, url(store), documented_message().replace(b"</Notification>", b"", 1))
    assert response.status_code == 400
    assert faultstring(response).startswith("not well-formed XML: mismatched tag: line ")
    assert conn.llen(INBOX) == 0


def test_a_body_that_is_not_an_outbound_message_is_400_saying_so(client, store):
    install(store)
    response = post(client, url(store), b"<notifications><OrganizationId>00D1I000003qqqE</OrganizationId></notifications>")
    assert response.status_code == 400
    assert faultstring(response) == "not a SOAP 1.1 envelope"


def test_a_fault_is_the_documented_fault_envelope_with_its_reason_escaped():
    template = (FIXTURES / "salesforce_outbound_message_fault_template.xml").read_text()
    assert fault("Id <missing> & more").decode() == template.replace("{0}", "Id &lt;missing&gt; &amp; more")


def test_more_than_100_notifications_is_400(client, store, conn):
    install(store)
    notes = [(f"04l1I000000f{n:03d}AAA", "Contact", {"Id": CONTACT_ID}) for n in range(101)]
    response = post(client, url(store), message(*notes))
    assert response.status_code == 400
    assert "at most 100" in faultstring(response)
    assert conn.llen(INBOX) == 0


def test_a_billion_laughs_body_is_refused_400_without_expanding_it(client, store, conn):
    install(store)
    entities = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
            + documented_message().decode().replace("<sf:Title>White</sf:Title>", "<sf:Title>&lol9;</sf:Title>"))
    started = time.monotonic()
    response = post(client, url(store), bomb.encode())
    assert time.monotonic() - started < 1
    assert response.status_code == 400
    assert faultstring(response).startswith("refused: the XML carries a document type declaration")
    assert b"lol" not in response.data
    assert conn.llen(INBOX) == 0


def test_an_external_entity_is_refused_400_and_never_read(client, store, conn, tmp_path):
    install(store)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-FILE-CONTENT")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY leak SYSTEM "file://{secret_file}">]>'
           + documented_message().decode().replace("<sf:Title>White</sf:Title>", "<sf:Title>&leak;</sf:Title>"))
    response = post(client, url(store), xxe.encode())
    assert response.status_code == 400
    assert faultstring(response).startswith("refused: the XML carries a document type declaration")
    assert b"TOP-SECRET" not in response.data
    assert b"TOP-SECRET" not in b"".join(conn.lrange(INBOX, 0, -1))
    assert conn.llen(INBOX) == 0


def test_a_body_over_the_size_limit_is_413_and_queues_nothing(client, store, conn):
    install(store)
    padding = b"<!--" + b"x" * OUTBOUND_MAX_BYTES + b"-->"
    response = post(client, url(store), padding + documented_message())
    assert response.status_code == 413
    assert "larger than" in faultstring(response)
    assert conn.llen(INBOX) == 0


def test_a_message_over_the_apps_default_body_limit_but_under_the_outbound_limit_is_accepted(client, store, conn):
    install(store)
    long_text = {"Id": CONTACT_ID, "Description": "x" * (2 * 1024 * 1024)}
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", long_text))).status_code == 200
    assert conn.llen(INBOX) == 1


def test_a_message_while_redis_is_down_is_503_and_its_retry_queues_every_notification_once(down, client, store,
                                                                                            conn):
    install(store)
    response = post(down, url(store), documented_message())
    assert response.status_code == 503
    assert "deliver this message again" in faultstring(response)
    assert b"<faultcode>soapenv:Server</faultcode>" in response.data
    assert conn.llen(INBOX) == 0
    assert post(client, url(store), documented_message()).status_code == 200
    assert post(client, url(store), documented_message()).status_code == 200
    assert sorted(event.identity for event in queued(conn)) == ["04l1I000000fzt9QAA", "04l1I000000fztEQAQ"]


def test_a_message_while_the_vault_cannot_open_is_503_so_salesforce_retries(store, settings, tmp_path, redis_url,
                                                                            conn):
    install(store, user=INTEGRATION_USER_ID)
    path = url(store)
    rotated_away = Settings(salesos_home=tmp_path, salesos_vault_keys=new_key())  # no key opens the secrets
    client = create_app(redis_url=redis_url, settings=rotated_away).test_client()
    response = post(client, path, documented_message())
    assert response.status_code == 503
    assert "vault" in faultstring(response)
    assert conn.llen(INBOX) == 0


# --- SalesOS's own writes ------------------------------------------------------------------------------------


def stamped_contact(settings) -> None:
    """SalesOS wrote Ada's title, tier and sequence."""
    index = RecordIndex(settings.state_path, TENANT)
    index.remember("contact", {ADA: CONTACT_ID})
    index.stamp("contact", {ADA: {"title": "CTO", "priority_tier": "TIER_1", "priority_score": 0.82,
                                  "sequencing": [{"step": 1, "channel": "email"}]}})


def ada(**changes: str) -> dict[str, str]:
    fields = {"Id": CONTACT_ID, "SalesOS_Email__c": ADA, "Title": "CTO", "SalesOS_Priority_Tier__c": "TIER_1",
              "SalesOS_Priority_Score__c": "0.82", "SalesOS_Sequencing__c": '[{"channel": "email", "step": 1}]',
              "LastModifiedDate": "2026-11-02T09:00:00.000Z", "LastModifiedById": SOMEONE_ELSE}
    return {name: value for name, value in (fields | changes).items() if value is not None}


@pytest.mark.parametrize("key", [ADA, None], ids=["key-in-message", "found-by-record-id"])
def test_a_notification_carrying_only_values_salesos_wrote_is_acked_and_not_queued(client, store, settings, conn,
                                                                                    key):
    install(store)
    stamped_contact(settings)
    response = post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", ada(SalesOS_Email__c=key))))
    assert response.status_code == 200
    assert response.data == (FIXTURES / "salesforce_outbound_message_ack.xml").read_bytes()
    assert conn.llen(INBOX) == 0


def test_a_salesos_value_someone_changed_is_queued(client, store, settings, conn):
    install(store)
    stamped_contact(settings)
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", ada(SalesOS_Priority_Tier__c="TIER_3")))
                ).status_code == 200
    [event] = queued(conn)
    assert (event.kind, event.payload["email"], event.change_source) == ("contact.updated", ADA, SOMEONE_ELSE)


def test_without_an_integration_user_a_field_salesos_never_wrote_keeps_the_notification(client, store, settings,
                                                                                          conn):
    install(store)
    stamped_contact(settings)
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", ada(Description="Met at the fair")))
                ).status_code == 200
    assert conn.llen(INBOX) == 1


def test_a_change_by_the_integration_user_is_an_echo(client, store, settings, conn):
    install(store, user=INTEGRATION_USER_ID)
    stamped_contact(settings)
    fields = ada(Description="Met at the fair", LastModifiedById=INTEGRATION_USER_ID[:15])
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", fields))).status_code == 200
    assert conn.llen(INBOX) == 0


def test_a_change_by_another_user_is_queued_even_when_salesos_values_are_unchanged(client, store, settings, conn):
    install(store, user=INTEGRATION_USER_ID)
    stamped_contact(settings)
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", ada()))).status_code == 200
    assert conn.llen(INBOX) == 1


def test_the_integration_users_hand_edit_of_a_salesos_value_is_queued(client, store, settings, conn):
    install(store, user=INTEGRATION_USER_ID)
    stamped_contact(settings)
    fields = ada(SalesOS_Priority_Tier__c="TIER_4", LastModifiedById=INTEGRATION_USER_ID)
    assert post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", fields))).status_code == 200
    assert conn.llen(INBOX) == 1


def test_only_the_echoes_of_a_message_are_dropped(client, store, settings, conn):
    install(store)
    stamped_contact(settings)
    response = post(client, url(store), message(("04l1I000000fztEQAQ", "Contact", ada()),
                                    ("04l1I000000fzt9QAA", "Contact", ada(Title="VP Sales"))))
    assert response.status_code == 200
    assert [event.identity for event in queued(conn)] == ["04l1I000000fzt9QAA"]


def test_an_oauth_install_remembers_the_user_salesforce_will_name_as_last_modifier(tmp_path):
    settings = Settings(salesos_home=tmp_path, salesforce_client_id="sf-client", salesforce_client_secret="sf-secret",
                        salesos_public_url="https://salesos.example.com")
    tokens = json.loads((FIXTURES / "salesforce_oauth_token_response.json").read_text())
    with respx.mock() as crm, httpx.Client() as http:
        crm.post("https://login.salesforce.com/services/oauth2/token").respond(200, json=tokens)
        installation = exchange_salesforce_code(oauth_app(settings, "salesforce"), http, "code", "verifier")
    assert installation.secrets[INTEGRATION_USER] == "0055g000003AbCdAAK"


# --- Flow HTTP callouts --------------------------------------------------------------------------------------


def flow_url(tenant: str = TENANT) -> str:
    return f"/webhooks/salesforce/flow/{tenant}"


def signed(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-SalesOS-Timestamp": timestamp, "X-SalesOS-Signature": f"sha256={digest}"}


def callout(**fields) -> bytes:
    return json.dumps({"action": "score_contact", "record_id": "0031I0000081tbP",
                       "event_id": "0Fo1I000000abcdSAA-1"} | fields).encode()


def call(client, secret: str, body: bytes, tenant: str = TENANT, at: float | None = None):
    return client.post(flow_url(tenant), data=body, content_type="application/json", headers=signed(secret, body, at))


@pytest.fixture
def secret(store) -> str:
    install(store)
    return store.flow.ensure(TENANT)


def test_a_signed_callout_is_queued_and_answered_202_with_its_identity(client, secret, conn):
    response = call(client, secret, callout(fields={"Email": ADA}))
    assert response.status_code == 202
    [event] = queued(conn)
    assert response.json == {"identity": event.identity, "queued": True}
    assert (event.tenant, event.source, event.kind) == (TENANT, "salesforce-flow", "workflow.score_contact")
    assert (event.object_type, event.object_id) == ("contact", "0031I0000081tbPQAQ")
    assert event.payload["fields"] == {"Email": ADA}


def test_a_callout_with_a_wrong_signature_is_401_and_queues_nothing(client, secret, conn, caplog):
    body = callout()
    headers = signed(secret, body) | {"X-SalesOS-Signature": "sha256=" + "0" * 64}
    response = client.post(flow_url(), data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert "does not match" in caplog.text  # the detail is for the operator
    assert conn.llen(INBOX) == 0


def test_a_callout_whose_body_changed_after_signing_is_401(client, secret, conn):
    headers = signed(secret, callout())
    response = client.post(flow_url(), data=callout(action="stop_sequence"), content_type="application/json",
                           headers=headers)
    assert response.status_code == 401
    assert conn.llen(INBOX) == 0


def test_a_callout_signed_more_than_5_minutes_ago_is_401(client, secret, conn, caplog):
    response = call(client, secret, callout(), at=time.time() - 301)
    assert response.status_code == 401
    assert "more than 5 minutes" in caplog.text
    assert conn.llen(INBOX) == 0


def test_a_callout_signed_with_another_tenants_secret_is_401_for_this_tenant(client, store, settings, secret, conn):
    install(store, OTHER_ORG)
    other_secret = store.flow.ensure(OTHER_TENANT)
    assert call(client, other_secret, callout(), tenant=TENANT).status_code == 401
    assert conn.llen(INBOX) == 0
    assert call(client, other_secret, callout(), tenant=OTHER_TENANT).status_code == 202
    assert [event.tenant for event in queued(conn)] == [OTHER_TENANT]


@pytest.mark.parametrize(("body", "problem"), [
    (callout(action="delete_everything"), "action: Input should be 'prospect_company', 'find_buying_team', "
                                          "'score_contact' or 'stop_sequence' (got 'delete_everything')"),
    (callout(record_id="not-an-id"), "record_id: must be a 15 or 18 character Salesforce record id (got 'not-an-id')"),
    (callout(action="prospect_company"), "record_id: must be the id of what prospect_company works on: Account "
                                         "(001...) (got '0031I0000081tbP')"),
    (callout(fields={"nested": {"a": 1}}), "fields.nested.str: Input should be a valid string"),
    (callout(surprise=True), "surprise: unknown field (value True)"),
    (b'{"action": ', "body: not JSON (EOF while parsing a value at line 1 column 11)"),
    (b"[1, 2]", "body: Input should be a valid dictionary or instance of FlowCallout"),
])
def test_a_signed_callout_with_a_bad_body_is_400_naming_the_field_and_rule(client, secret, conn, body, problem):
    response = call(client, secret, body)
    assert response.status_code == 400
    assert problem in response.json["problems"]
    assert conn.llen(INBOX) == 0


def test_a_signed_callout_carrying_a_lone_surrogate_is_400_not_500(client, secret, conn):
    response = call(client, secret, callout().replace(b'"event_id"', b'"fields": {"a": "\\ud800"}, "event_id"'))
    assert response.status_code == 400
    assert response.json["problems"][0].startswith("body: not JSON")
    assert conn.llen(INBOX) == 0


def test_a_callout_for_an_unknown_tenant_is_refused_like_a_wrong_signature_and_logged(client, secret, conn, caplog):
    wrong = client.post(flow_url(), data=callout(), content_type="application/json",
                        headers=signed(secret, callout()) | {"X-SalesOS-Signature": "sha256=" + "0" * 64})
    response = call(client, secret, callout(), tenant="salesforce-00D000000000001AAA")
    assert (response.status_code, response.data) == (401, wrong.data)
    assert "'salesforce-00D000000000001AAA'" in caplog.text and "no such Salesforce tenant" in caplog.text
    assert conn.llen(INBOX) == 0


def test_every_way_of_not_holding_a_tenants_flow_secret_gets_one_byte_identical_401(client, store, secret, conn,
                                                                                     caplog):
    """A tenant id is an org id: no answer may tell an installed org from an unknown one."""
    store.add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
              {"access_token": "hs-token"})
    no_secret = install(store, OTHER_ORG)
    huge = "salesforce-" + "0" * 60_000
    body = callout()
    answers = [
        call(client, secret, body, tenant="salesforce-00D000000000001AAA"),  # no such tenant
        call(client, secret, body, tenant=huge),
        call(client, secret, body, tenant="hubspot-62515"),  # not a Salesforce tenant
        call(client, secret, body, tenant=no_secret),  # no Flow secret yet
        call(client, "guessed", body),  # a wrong secret
        call(client, secret, body, at=time.time() - 3600),  # too old
        client.post(flow_url(), data=body, content_type="application/json"),  # not signed at all
        client.post(flow_url(), data=body, content_type="application/json",
                    headers=signed(secret, body) | {"X-SalesOS-Timestamp": "soon"}),
    ]
    assert {(answer.status_code, answer.data) for answer in answers} == {(401, answers[0].data)}
    assert len(answers[0].data) < 400 and b"salesforce-" not in answers[0].data
    assert "0" * 101 not in caplog.text  # the log names the id, clipped
    assert conn.llen(INBOX) == 0


@pytest.fixture
def decryptions(monkeypatch) -> list[bytes]:
    """Every ciphertext the vault opens (or tries to), counted on the way through to the real Fernet."""
    opened = []
    real_decrypt = MultiFernet.decrypt

    def counted(self, token, *args, **kwargs):
        opened.append(token)
        return real_decrypt(self, token, *args, **kwargs)

    monkeypatch.setattr(MultiFernet, "decrypt", counted)
    return opened


def test_a_callout_for_an_unknown_org_costs_the_vault_what_one_with_a_wrong_secret_does(client, store, secret, conn,
                                                                                       decryptions):
    """An answer that comes sooner for an org that is not installed tells which are: each opens one ciphertext."""
    store.add(Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
              {"access_token": "hs-token"})
    no_secret = install(store, OTHER_ORG)
    body = callout()
    opened = {}
    for name, tenant in [("wrong secret", TENANT), ("unknown org", "salesforce-00D000000000001AAA"),
                         ("not a Salesforce tenant", "hubspot-62515"), ("no Flow secret yet", no_secret)]:
        decryptions.clear()
        assert call(client, "guessed", body, tenant=tenant).status_code == 401
        opened[name] = len(decryptions)
    assert opened == dict.fromkeys(opened, 1)
    assert conn.llen(INBOX) == 0


@pytest.mark.parametrize("damage", ["encrypted with a key since dropped", "copied from another org's row"])
def test_a_flow_secret_the_vault_cannot_open_is_refused_like_a_wrong_secret_and_logged(client, store, settings, secret,
                                                                                       conn, caplog, damage):
    wrong = call(client, "guessed", callout())
    if damage == "encrypted with a key since dropped":
        Vault(settings.state_path, new_key()).put(TENANT, "flow_secret", secret)
    else:
        install(store, OTHER_ORG)
        store.flow.ensure(OTHER_TENANT)
        with open_store(settings.database_url).write() as db:
            db.execute(text("UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE tenant = :other "
                            "AND name = 'flow_secret') WHERE tenant = :tenant AND name = 'flow_secret'"),
                       {"other": OTHER_TENANT, "tenant": TENANT})
    with caplog.at_level(logging.ERROR):
        response = call(client, secret, callout())
    assert (response.status_code, response.data) == (401, wrong.data)
    [logged] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert TENANT in logged.getMessage() and "Flow secret" in logged.getMessage()
    assert secret not in caplog.text
    assert conn.llen(INBOX) == 0


def test_a_replayed_callout_is_one_event(client, secret, conn):
    body = callout(event_id=None)
    headers = signed(secret, body)
    first = client.post(flow_url(), data=body, content_type="application/json", headers=headers)
    again = client.post(flow_url(), data=body, content_type="application/json", headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json == {"identity": first.json["identity"], "queued": False}
    assert conn.llen(INBOX) == 1


def test_a_callout_over_the_size_limit_is_413(client, secret, conn):
    response = call(client, secret, callout(fields={"Description": "x" * FLOW_MAX_BYTES}))
    assert response.status_code == 413
    assert conn.llen(INBOX) == 0


def test_a_callout_while_redis_is_down_is_503(down, secret):
    assert call(down, secret, callout()).status_code == 503


def test_rotating_the_flow_secret_retires_the_old_one_at_once(client, store, secret, conn):
    assert store.flow.ensure(TENANT) == secret  # shown again, unchanged
    rotated = store.flow.rotate(TENANT)
    assert rotated != secret
    assert call(client, secret, callout()).status_code == 401
    assert call(client, rotated, callout()).status_code == 202


def test_the_flow_secret_is_stored_encrypted_and_never_logged(client, settings, secret, caplog):
    caplog.set_level(logging.DEBUG)
    call(client, secret, callout())
    call(client, secret, callout(), at=time.time() - 3600)
    assert secret.encode() not in settings.state_path.read_bytes()
    assert secret not in caplog.text


def test_the_flow_secret_command_shows_the_current_secret_and_replaces_it_only_when_asked(tmp_path):
    """Running it to read the secret again must not break the org's Flow: only --rotate replaces it."""
    import os
    import subprocess
    import sys

    from connector.vault import new_key

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key()}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=120)

    assert cli("tenants", "add", "salesforce", "--org-id", "00D000000000001AAA", "--instance-url",
               "https://acme.my.salesforce.com", "--access-token", "00D!tok").returncode == 0
    first, second = cli("tenants", "flow-secret", "salesforce-00D000000000001AAA"), cli(
        "tenants", "flow-secret", "salesforce-00D000000000001AAA")
    assert first.returncode == second.returncode == 0
    assert len(first.stdout.strip()) >= 32 and first.stdout == second.stdout  # shown again, not rotated
    assert "X-SalesOS-Signature" in first.stderr
    rotated = cli("tenants", "flow-secret", "salesforce-00D000000000001AAA", "--rotate")
    assert rotated.returncode == 0 and rotated.stdout.strip() not in ("", first.stdout.strip())
    assert "refused from now on" in rotated.stderr
    assert cli("tenants", "flow-secret", "salesforce-00D000000000001AAA").stdout == rotated.stdout
    assert cli("tenants", "flow-secret", "salesforce-00D999999999999AAA").returncode == 2


# --- the org's own Outbound URL --------------------------------------------------------------------------------


def test_every_salesforce_tenant_gets_its_outbound_url_when_registered_and_keeps_it_when_registered_again(
        client, store, conn):
    tenant = install(store)
    token = store.secret(tenant, OUTBOUND_URLS.name)
    assert token and len(token) >= 32
    install(store, user=INTEGRATION_USER_ID)  # a re-install, or a token refresh: TenantStore.add again
    assert store.secret(tenant, OUTBOUND_URLS.name) == token == store.outbound.ensure(tenant)
    assert post(client, f"{OUTBOUND}/{token}", documented_message()).status_code == 200
    assert len(queued(conn)) == 2


def test_the_outbound_token_is_stored_encrypted_and_never_logged(client, store, settings, caplog):
    caplog.set_level(logging.DEBUG)
    install(store)
    token = store.outbound.ensure(TENANT)
    post(client, f"{OUTBOUND}/{token}", documented_message())
    post(client, f"{OUTBOUND}/{token}", documented_message(OTHER_ORG))
    assert token.encode() not in settings.state_path.read_bytes()
    assert token not in caplog.text


def test_a_rotated_outbound_url_refuses_the_old_one_at_once(client, store, conn):
    install(store)
    old = store.outbound.ensure(TENANT)
    new = store.outbound.rotate(TENANT)
    assert new != old and store.outbound.ensure(TENANT) == new
    assert post(client, f"{OUTBOUND}/{old}", documented_message()).status_code == 401
    assert post(client, f"{OUTBOUND}/{new}", documented_message()).status_code == 200


def test_a_tenant_registered_before_outbound_urls_existed_is_refused_and_the_log_says_what_to_run(
        client, store, settings, conn, caplog):
    with open_store(settings.database_url).write() as db:  # as an older SalesOS left it
        db.execute(tenants.insert().values(id=TENANT, crm="salesforce", external_id=ORG18, auth="oauth",
                                           instance_url="https://acme.my.salesforce.com", status="active",
                                           installed_at=dt.datetime.now(dt.UTC).isoformat()))
    response = post(client, OUTBOUND, documented_message())
    assert response.status_code == 401 and queued(conn) == []
    assert "python -m connector tenants outbound-url" in caplog.text
    assert post(client, url(store), documented_message()).status_code == 200  # what that command prints


def test_an_outbound_url_made_by_an_older_salesos_keeps_working_once_shown_again(client, store, settings, conn):
    install(store)
    with open_store(settings.database_url).write() as db:  # an older SalesOS kept the token in the vault only
        db.execute(outbound_tokens.delete())
    Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()).put(TENANT, OUTBOUND_URLS.name, "older")
    assert store.outbound.ensure(TENANT) == "older"  # `tenants outbound-url` shows it, and indexes it
    assert post(client, f"{OUTBOUND}/older", documented_message()).status_code == 200


def test_a_refusal_needs_no_vault_so_an_unknown_org_and_a_wrong_token_cost_the_same(store, tmp_path, redis_url,
                                                                                    conn):
    install(store)
    unreadable = Settings(salesos_home=tmp_path, salesos_vault_keys=new_key())
    client = create_app(redis_url=redis_url, settings=unreadable).test_client()
    installed = post(client, f"{OUTBOUND}/wrong", documented_message())
    unknown = post(client, f"{OUTBOUND}/wrong", documented_message("00D9g000001AbCdEAK"))
    assert (installed.status_code, installed.data) == (unknown.status_code, unknown.data)
    assert installed.status_code == 401
    assert queued(conn) == []


def test_the_outbound_url_commands_print_the_orgs_url_and_rotate_it_only_when_asked(tmp_path, redis_url, conn):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    public = "https://salesos.example.com"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key(), "SALESOS_PUBLIC_URL": public}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=120)

    add = ("tenants", "add", "salesforce", "--org-id", ORG18, "--instance-url", "https://acme.my.salesforce.com",
           "--access-token", "00D!tok")
    added = cli(*add)
    assert added.returncode == 0, added.stderr
    printed = added.stdout.splitlines()[-1]
    assert printed.startswith(f"{public}/webhooks/salesforce/outbound/") and "Endpoint URL" in added.stderr
    assert cli(*add).stdout.splitlines()[-1] == printed  # registering again keeps the URL
    assert cli("tenants", "outbound-url", TENANT).stdout.strip() == printed
    rotated = cli("tenants", "outbound-url", TENANT, "--rotate")
    assert rotated.returncode == 0 and rotated.stdout.strip() != printed
    assert cli("tenants", "outbound-url", TENANT).stdout.strip() == rotated.stdout.strip()
    assert cli("tenants", "outbound-url", "salesforce-00D999999999999AAA").returncode == 2

    client = create_app(redis_url=redis_url, settings=Settings(
        salesos_home=tmp_path, salesos_vault_keys=env["SALESOS_VAULT_KEYS"])).test_client()
    assert post(client, printed.removeprefix(public), documented_message()).status_code == 401
    assert post(client, rotated.stdout.strip().removeprefix(public), documented_message()).status_code == 200


# --- forged Outbound Messages (issue 9, line 3) ----------------------------------------------------------------

FORGED_MARKET = "name: Forged\nindustry: Gambling\ncompany_size: 1-10 employees\n"


def forged_market_message(org: str = ORG18) -> bytes:
    """A market record notification: if it were queued, it would replace the tenant's market and start a run."""
    return message(("04l1I000000fzzzAAA", "SalesOS_Market__c",
                    {"Id": "a011I000000abcdQAA", "Definition__c": FORGED_MARKET,
                     "LastModifiedDate": "2026-11-30T09:00:00.000Z"}), org=org)


def test_a_forged_outbound_message_naming_an_installed_org_without_a_token_queues_nothing(client, store, conn):
    install(store)
    response = post(client, OUTBOUND, forged_market_message())  # the org id is not a secret
    assert response.status_code == 401
    assert queued(conn) == []


def test_forged_outbound_message_for_unknown_org_and_wrong_token_get_the_same_answer(client, store, conn):
    install(store)
    install(store, OTHER_ORG)
    other_token = store.outbound.ensure(OTHER_TENANT)
    unknown_org = "00D9g000001AbCdEAK"
    answers = [
        post(client, OUTBOUND, forged_market_message()),  # the installed org, no token
        post(client, OUTBOUND, forged_market_message(unknown_org)),  # an unknown org, no token
        client.post(f"{OUTBOUND}/guessed-token", data=forged_market_message(), content_type="text/xml"),
        client.post(f"{OUTBOUND}/guessed-token", data=forged_market_message(unknown_org), content_type="text/xml"),
        # another org's URL cannot speak for this org, nor for an unknown one
        client.post(f"{OUTBOUND}/{other_token}", data=forged_market_message(), content_type="text/xml"),
        client.post(f"{OUTBOUND}/{other_token}", data=forged_market_message(unknown_org), content_type="text/xml"),
    ]
    assert {(answer.status_code, answer.data) for answer in answers} == {(answers[0].status_code, answers[0].data)}
    assert answers[0].status_code == 401
    assert queued(conn) == []


# --- one source of truth for the org's URL (review round 2) -----------------------------------------------------


def test_an_outbound_url_the_vault_holds_but_the_index_does_not_is_accepted_once_shown(client, store, settings,
                                                                                       conn):
    """The vault is the source of truth: a token that reached the vault but not the index (a rotation that died
    between its two writes) is indexed when it is shown, so the URL printed is the URL accepted."""
    install(store)
    vault = Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value())
    vault.put(TENANT, OUTBOUND_URLS.name, "in-vault")
    printed = store.outbound.ensure(TENANT)
    assert printed == "in-vault"
    assert post(client, f"{OUTBOUND}/{printed}", documented_message()).status_code == 200


def test_a_rotation_that_fails_half_way_changes_nothing(client, store, settings, conn):
    install(store)
    before = store.outbound.ensure(TENANT)
    with open_store(settings.database_url).write() as db:  # the index write fails
        db.execute(text("CREATE TRIGGER index_full BEFORE UPDATE ON outbound_tokens "
                        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"))
    with pytest.raises(DBAPIError, match="disk is full"):
        store.outbound.rotate(TENANT)
    with open_store(settings.database_url).write() as db:
        db.execute(text("DROP TRIGGER index_full"))
    assert store.outbound.ensure(TENANT) == before
    assert post(client, f"{OUTBOUND}/{before}", documented_message()).status_code == 200


def test_an_outbound_message_costs_a_few_database_connections_whatever_it_holds_and_a_refused_one_one(
        client, store, conn):
    install(store, user=INTEGRATION_USER_ID)
    path = url(store)
    markets = [(f"04l1I000000fz{n:02d}AAA", "SalesOS_Market__c", {"Id": f"a011I000000ab{n:02d}QAA"}) for n in range(50)]
    with connections() as one:
        assert post(client, path, forged_market_message()).status_code == 200  # not a record SalesOS indexes
    with connections() as fifty:
        assert post(client, path, message(*markets)).status_code == 200
    with connections() as refused:
        assert post(client, f"{OUTBOUND}/wrong", forged_market_message()).status_code == 401
    assert len(fifty) == len(one) <= 3 and len(refused) == 1


# --- a refusal costs nothing (review round 2) -------------------------------------------------------------------


def test_an_outbound_message_without_an_orgs_token_is_refused_before_its_body_is_read(client, store, conn):
    """4 MiB of XML would cost seconds and hundreds of MB to parse; a URL that is no org's costs one lookup."""
    install(store)
    bodies = [documented_message(), documented_message("00D9g000001AbCdEAK"), b"<a>" * 100_000]
    for path in (OUTBOUND, f"{OUTBOUND}/guessed-token"):
        for body in bodies:
            stream = io.BytesIO(body)
            response = client.post(path, input_stream=stream, content_length=len(body),
                                   content_type="text/xml; charset=utf-8")
            assert (response.status_code, response.data) == (401, REFUSED)
            assert stream.tell() == 0  # not a byte of it was read
    assert queued(conn) == []


def nested_field(depth: int) -> bytes:
    return message(("04l1I000000fztEQAQ", "Contact", {"Id": CONTACT_ID, "Title": "CTO"})).replace(
        b"<sf:Title>CTO</sf:Title>", b"<sf:Title>" + b"<x>" * depth + b"CTO" + b"</x>" * depth + b"</sf:Title>")


def test_a_message_nested_deeper_than_an_outbound_message_is_refused_unbuilt(client, store, conn):
    install(store)
    assert post(client, url(store), nested_field(2)).status_code == 200  # a field is 6 levels down
    response = post(client, url(store), nested_field(100_000))
    assert response.status_code == 400
    assert faultstring(response).startswith("refused: elements nested deeper than 12 levels")
    assert conn.llen(INBOX) == 1


def test_a_message_of_more_elements_than_100_notifications_hold_is_refused_unbuilt(client, store, conn):
    install(store)
    body = message(("04l1I000000fztEQAQ", "Contact", {"Id": CONTACT_ID, "Title": "CTO"})).replace(
        b"<sf:Title>CTO</sf:Title>", b"<sf:Title>CTO</sf:Title>" + b"<sf:A/>" * 200_000)
    response = post(client, url(store), body)
    assert response.status_code == 400
    assert faultstring(response).startswith("refused: more than 100000 elements")
    assert conn.llen(INBOX) == 0


def test_a_message_with_a_tag_longer_than_any_salesforce_writes_is_refused_unparsed(client, store, conn):
    install(store)
    attributes = b" ".join(b'a%d="1"' % n for n in range(100_000))
    body = documented_message().replace(b"<sf:Title>", b"<sf:Title " + attributes + b">")
    response = post(client, url(store), body)
    assert response.status_code == 400
    assert faultstring(response).startswith("refused: a tag, comment or CDATA section longer than 4096 bytes")
    assert conn.llen(INBOX) == 0
