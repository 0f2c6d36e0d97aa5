"""POST /webhooks/hubspot: only signed, well-formed events of installed portals reach the inbox, each once."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.events import CrmEvent
from connector.dispatch import INBOX, Dispatcher
from connector.queues import queue
from connector.settings import Settings
from connector.vault import new_key
from crm_adapters.record_index import RecordIndex
from tests.restartable_redis import restartable_redis  # noqa: F401 (a fixture)
from tests.webhooks.hubspot_helpers import (PUBLIC, SECRET, URI, deliver, happened_just_now, hubspot_event, register,
                                            signed_headers)
from tests.webhooks.jobs_for_events import PROCESSED, route_every_event
from webhooks.app import create_app
from webhooks.intake import DEDUPE_SECONDS, identity_of
from webhooks.signatures import v1_signature, v2_signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"


def make_settings(tmp_path, **overrides) -> Settings:
    values = dict(salesos_home=tmp_path, salesos_vault_keys=new_key(), salesos_public_url=PUBLIC,
                  hubspot_client_secret=SECRET)
    return Settings(**(values | overrides))


@pytest.fixture
def settings(tmp_path):
    settings = make_settings(tmp_path)
    register(settings, 62515, 33, 777)
    return settings


@pytest.fixture
def client(settings, redis_url):
    return create_app(redis_url=redis_url, settings=settings).test_client()


def queued(conn) -> list[CrmEvent]:
    return [CrmEvent.model_validate_json(raw) for raw in conn.lrange(INBOX, 0, -1)]


# --- accepted deliveries ---------------------------------------------------------------------------------------------

def test_the_docs_example_delivery_signed_v3_is_queued_for_its_portals_tenant(client, conn):
    body = happened_just_now((FIXTURES / "hubspot_webhook_events_docs_example.json").read_bytes())
    response = deliver(client, body)
    assert response.status_code == 200
    assert response.json["queued"] == 2
    events = queued(conn)
    assert [(e.tenant, e.kind, e.object_id) for e in events] == [
        ("hubspot-33", "contact.propertyChange", "1246965"), ("hubspot-33", "contact.creation", "1246978")]
    assert events[0].property_name == "lifecyclestage" and events[0].property_value == "subscriber"


def test_the_v1_docs_body_signed_v3_is_accepted_and_its_subscription_type_read(client, conn):
    body = (FIXTURES / "hubspot_webhook_v1_doc_body.json").read_bytes()
    response = deliver(client, happened_just_now(body))
    assert response.status_code == 200
    [event] = queued(conn)
    assert (event.tenant, event.kind, event.object_id) == ("hubspot-62515", "contact.creation", "123")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_delivery_with_a_valid_v1_or_v2_signature_but_no_v3_is_refused(client, conn, version):
    """HubSpot signs every request to an OAuth app with v3; v1/v2 carry no timestamp, so a captured one
    would verify forever. Stripping the v3 headers must not downgrade the check."""
    body = json.dumps([hubspot_event()]).encode()
    signature = v1_signature(SECRET, body) if version == "v1" else v2_signature(SECRET, "POST", URI, body)
    headers = {"Content-Type": "application/json", "X-HubSpot-Signature-Version": version,
               "X-HubSpot-Signature": signature}
    response = client.post("/webhooks/hubspot", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "invalid signature"
    assert conn.llen(INBOX) == 0


def test_a_wrong_v3_is_refused_even_beside_a_valid_v1(client, conn):
    body = json.dumps([hubspot_event()]).encode()
    headers = signed_headers(body, secret="not-the-app-secret") | {"X-HubSpot-Signature": v1_signature(SECRET, body)}
    assert client.post("/webhooks/hubspot", data=body, headers=headers).status_code == 401
    assert conn.llen(INBOX) == 0


def test_a_generic_object_event_is_named_like_the_legacy_one(client, conn):
    deliver(client, [hubspot_event(kind="object.propertyChange", objectTypeId="0-2", prop="name", value="Acme")])
    [event] = queued(conn)
    assert (event.kind, event.object_type) == ("company.propertyChange", "company")


def test_an_empty_delivery_is_answered_2xx(client, conn):
    assert deliver(client, []).status_code == 200
    assert conn.llen(INBOX) == 0


# --- refused requests: nothing queued -------------------------------------------------------------------------------

def test_a_stale_timestamp_is_refused_with_401(client, conn):
    response = deliver(client, [hubspot_event()], timestamp=int(time.time() * 1000) - 6 * 60 * 1000)
    assert response.status_code == 401
    assert "5 minutes" in response.json["reason"]
    assert conn.llen(INBOX) == 0


def test_a_tampered_body_is_refused_with_401_without_echoing_it(client, conn):
    body = json.dumps([hubspot_event(value="lead")]).encode()
    headers = signed_headers(body)
    tampered = body.replace(b'"lead"', b'"customer"')
    response = client.post("/webhooks/hubspot", data=tampered, headers=headers)
    assert response.status_code == 401
    assert b"customer" not in response.data
    assert conn.llen(INBOX) == 0


def test_a_signature_made_with_another_secret_is_refused(client, conn):
    assert deliver(client, [hubspot_event()], secret="not-the-app-secret").status_code == 401
    assert conn.llen(INBOX) == 0


def test_the_signature_must_cover_the_public_url_not_the_servers_own(client, conn):
    response = deliver(client, [hubspot_event()], uri="http://localhost/webhooks/hubspot")
    assert response.status_code == 401
    assert conn.llen(INBOX) == 0


def test_without_a_configured_public_url_the_url_the_request_arrived_at_is_signed(tmp_path, redis_url, conn):
    settings = Settings(salesos_home=tmp_path, salesos_vault_keys=new_key(), hubspot_client_secret=SECRET)
    register(settings, 62515)
    client = create_app(redis_url=redis_url, settings=settings).test_client()
    assert deliver(client, [hubspot_event()], uri="http://localhost/webhooks/hubspot").status_code == 200


def test_an_oversized_body_is_refused_with_413_before_anything_else(client, conn):
    body = b"[" + b" " * (256 * 1024) + b"]"
    response = client.post("/webhooks/hubspot", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert conn.llen(INBOX) == 0


def test_malformed_json_is_refused_with_400_saying_so(client, conn):
    response = deliver(client, b'[{"portalId": 62515,')
    assert response.status_code == 400
    assert response.json["problems"][0].startswith("body: not valid JSON")
    assert conn.llen(INBOX) == 0


def test_deeply_nested_json_is_a_400_not_a_crash(client, conn):
    assert deliver(client, b"[" * 100_000 + b"]" * 100_000).status_code == 400


@pytest.mark.parametrize("body", [b'[{"portalId": NaN}]', b'[{"portalId": 62515, "propertyValue": "\\ud800"}]'],
                         ids=["NaN", "lone surrogate"])
def test_json_python_accepts_but_the_standard_does_not_is_refused_with_400(client, conn, body):
    response = deliver(client, body)
    assert response.status_code == 400
    assert response.json["problems"][0].startswith("body: not valid JSON")
    assert conn.llen(INBOX) == 0


def test_a_body_shorter_than_its_content_length_is_a_400_not_a_crash(client, conn, caplog):
    body = json.dumps([hubspot_event()]).encode()
    with caplog.at_level(logging.ERROR):
        response = client.post("/webhooks/hubspot", data=body, headers=signed_headers(body),
                               environ_overrides={"CONTENT_LENGTH": str(len(body) + 100)})
    assert response.status_code == 400
    assert caplog.records == []
    assert conn.llen(INBOX) == 0


def test_any_method_but_post_is_refused_with_405(client, conn):
    response = client.get("/webhooks/hubspot")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_a_body_that_is_not_an_array_is_refused_with_400(client, conn):
    response = deliver(client, hubspot_event())
    assert response.status_code == 400
    assert response.json["problems"] == ["body: must be a JSON array of events, got a JSON object"]


def test_101_events_are_refused_with_400_naming_the_limit(client, conn):
    response = deliver(client, [hubspot_event(object_id=i) for i in range(101)])
    assert response.status_code == 400
    assert response.json["problems"] == ["body: at most 100 events per request, got 101"]
    assert conn.llen(INBOX) == 0


def test_an_event_without_a_portal_is_refused_naming_the_event_and_field(client, conn):
    event = hubspot_event()
    del event["portalId"]
    response = deliver(client, [hubspot_event(), event])
    assert response.status_code == 400
    assert response.json["problems"] == ["event 1: portalId: required field is missing"]
    assert conn.llen(INBOX) == 0


def test_an_event_of_an_unknown_portal_is_404_logged_and_not_queued(client, conn, caplog):
    with caplog.at_level(logging.WARNING, logger="webhooks.hubspot_events"):
        response = deliver(client, [hubspot_event(portal=99999)])
    assert response.status_code == 404
    assert "no tenant for 1 portal(s) (99999); 1 event(s) skipped" in caplog.text
    assert conn.llen(INBOX) == 0


def test_many_huge_unknown_portal_ids_get_a_small_404_and_one_short_log_line(client, conn, caplog):
    """Python reads integers of up to 4,300 digits: 59 such portal ids once made a 253 KB answer and 59 log
    lines of 4.3 KB each."""
    events = [hubspot_event(portal=int("9" * 4280 + f"{n:02}"), prop=None) for n in range(55)]
    with caplog.at_level(logging.WARNING, logger="webhooks.hubspot_events"):
        response = deliver(client, json.dumps(events, separators=(",", ":")).encode())
    assert response.status_code == 404
    assert len(response.data) < 1000
    assert response.json["portals_total"] == 55 and len(response.json["portals"]) == 5
    [line] = [record.getMessage() for record in caplog.records if "no tenant" in record.getMessage()]
    assert len(line) < 500 and "55 portal(s)" in line and "55 event(s) skipped" in line
    assert conn.llen(INBOX) == 0


def test_in_a_mixed_batch_the_unknown_portals_events_are_skipped_and_the_rest_queued(client, conn):
    response = deliver(client, [hubspot_event(portal=99999, object_id=1), hubspot_event(portal=62515, object_id=2)])
    assert response.status_code == 200
    assert response.json["unknown_portals"] == [99999]
    assert [(e.tenant, e.object_id) for e in queued(conn)] == [("hubspot-62515", "2")]


def test_without_the_app_secret_configured_nothing_is_accepted(tmp_path, redis_url, conn):
    settings = make_settings(tmp_path, hubspot_client_secret=None)
    register(settings, 62515)
    client = create_app(redis_url=redis_url, settings=settings).test_client()
    assert deliver(client, [hubspot_event()]).status_code == 503
    assert conn.llen(INBOX) == 0


# --- each event once -------------------------------------------------------------------------------------------------

def test_the_same_event_twice_in_one_delivery_is_queued_once(client, conn):
    event = hubspot_event()
    response = deliver(client, [event, event])
    assert response.json == {"queued": 1, "duplicates": 1, "ignored": 0, "unknown_portals": [], "stale": 0,
                             "future": 0}
    assert conn.llen(INBOX) == 1


def test_a_redelivered_event_is_answered_2xx_and_queued_once(client, conn):
    event = hubspot_event()
    deliver(client, [event])
    response = deliver(client, [event | {"attemptNumber": 1}])
    assert response.status_code == 200
    assert response.json["duplicates"] == 1
    assert conn.llen(INBOX) == 1


def test_a_repeated_event_id_with_another_change_is_another_event(client, conn):
    first = hubspot_event(value="lead")
    second = first | {"propertyValue": "customer", "occurredAt": first["occurredAt"] + 5}
    deliver(client, [first, second])
    assert [e.property_value for e in queued(conn)] == ["lead", "customer"]


# --- stale events ----------------------------------------------------------------------------------------------------

def test_an_event_older_than_the_dedupe_window_is_refused_as_stale_logged_and_counted(client, conn, caplog):
    """Past 25 h Redis has forgotten the event's identity, so a late redelivery (or a replay) would run twice."""
    stale = hubspot_event(occurredAt=int(time.time() * 1000) - DEDUPE_SECONDS * 1000 - 60_000)
    with caplog.at_level(logging.WARNING, logger="webhooks.hubspot_events"):
        response = deliver(client, [stale, hubspot_event(object_id=102)])
    assert response.status_code == 200
    assert response.json == {"queued": 1, "duplicates": 0, "ignored": 0, "unknown_portals": [], "stale": 1,
                             "future": 0}
    assert [event.object_id for event in queued(conn)] == ["102"]
    assert "1 event(s) refused as stale" in caplog.text


def test_a_delivery_of_only_stale_events_is_answered_2xx_so_hubspot_stops_retrying(client, conn):
    old = int(time.time() * 1000) - 2 * DEDUPE_SECONDS * 1000
    response = deliver(client, [hubspot_event(portal=99999, occurredAt=old), hubspot_event(occurredAt=old)])
    assert response.status_code == 200 and response.json["stale"] == 2
    assert conn.llen(INBOX) == 0


def test_an_event_dated_more_than_an_hour_ahead_is_refused_logged_and_counted(client, conn, caplog):
    """Changes apply in occurredAt order: one dated next year would make every real change look older."""
    now = int(time.time() * 1000)
    ahead = hubspot_event(occurredAt=now + 300 * 24 * 3600 * 1000)
    with caplog.at_level(logging.WARNING, logger="webhooks.hubspot_events"):
        response = deliver(client, [ahead, hubspot_event(object_id=102, occurredAt=now + 10 * 60 * 1000)])
    assert response.status_code == 200
    assert (response.json["queued"], response.json["future"]) == (1, 1)  # a few minutes ahead is a clock's skew
    assert [event.object_id for event in queued(conn)] == ["102"]
    assert "1 event(s) refused as dated in the future" in caplog.text


# --- no loops, no leaks ----------------------------------------------------------------------------------------------

def test_the_echo_of_salesos_own_write_is_ignored_but_answered_2xx(client, conn, settings):
    index = RecordIndex(settings.state_path, "hubspot-62515")
    index.remember("contact", {"ada@acme.io": "101"})
    index.stamp("contact", {"ada@acme.io": {"sequence_state": "paused", "priority_score": 0.75}})
    response = deliver(client, [
        hubspot_event(object_id=101, prop="salesos_sequence_state", value="paused", changeSource="INTEGRATION"),
        hubspot_event(object_id=101, prop="salesos_priority_score", value="0.75", changeSource="INTEGRATION")])
    assert response.status_code == 200
    assert response.json["ignored"] == 2
    assert conn.llen(INBOX) == 0


def test_a_rep_setting_back_a_value_salesos_once_wrote_is_not_taken_for_an_echo(client, conn, settings):
    index = RecordIndex(settings.state_path, "hubspot-62515")
    index.remember("contact", {"ada@acme.io": "101"})
    index.stamp("contact", {"ada@acme.io": {"sequence_state": "active"}})
    response = deliver(client, [hubspot_event(object_id=101, prop="salesos_sequence_state", value="active",
                                              changeSource="CRM_UI")])
    assert response.json["queued"] == 1


def test_a_reps_change_of_a_field_salesos_wrote_is_queued(client, conn, settings):
    index = RecordIndex(settings.state_path, "hubspot-62515")
    index.remember("contact", {"ada@acme.io": "101"})
    index.stamp("contact", {"ada@acme.io": {"sequence_state": "active"}})
    deliver(client, [hubspot_event(object_id=101, prop="salesos_sequence_state", value="paused")])
    assert [e.property_value for e in queued(conn)] == ["paused"]


def test_a_change_hubspot_attributes_to_salesos_app_is_ignored(tmp_path, redis_url, conn):
    settings = make_settings(tmp_path, hubspot_app_id="1160452")
    register(settings, 62515)
    client = create_app(redis_url=redis_url, settings=settings).test_client()
    event = hubspot_event(prop="lifecyclestage", value="lead", changeSource="INTEGRATION", sourceId="1160452")
    assert deliver(client, [event]).json["ignored"] == 1
    assert conn.llen(INBOX) == 0


def test_an_event_of_portal_a_lands_only_as_tenant_a_whatever_the_request_claims(client, conn):
    body = json.dumps([hubspot_event(portal=777)]).encode()
    headers = signed_headers(body, uri=f"{URI}?tenant=hubspot-62515") | {"X-SalesOS-Tenant": "hubspot-62515"}
    response = client.post("/webhooks/hubspot?tenant=hubspot-62515", data=body, headers=headers)
    assert response.status_code == 200
    assert [e.tenant for e in queued(conn)] == ["hubspot-777"]


def test_the_same_event_of_two_portals_is_two_events(client, conn):
    event = hubspot_event()
    deliver(client, [event, event | {"portalId": 777}])
    assert sorted(e.tenant for e in queued(conn)) == ["hubspot-62515", "hubspot-777"]


def test_a_reps_pause_in_hubspot_becomes_one_pause_job_through_the_routing_table(client, conn):
    from connector.dispatch import default_router

    pause = hubspot_event(object_id=101, prop="salesos_sequence_state", value="paused")
    deliver(client, [pause])
    deliver(client, [pause | {"attemptNumber": 1}])
    Dispatcher(conn, default_router(), name="routing").run(burst=True)
    [job] = queue("engagement", conn).get_jobs()
    assert job.func_name == "agents.event_jobs.pause_sequence_job"
    assert job.args[0]["event"]["tenant"] == "hubspot-62515"


# --- Redis down ------------------------------------------------------------------------------------------------------

def test_a_queued_event_reads_back_as_the_event_hubspot_sent(client, conn):
    sent = hubspot_event(kind="contact.propertyChange", prop="jobtitle", value="VP Sales — EMEA", sourceId="userId:7",
                         extraNumber=123456789012345678901234567890, extraNothing=None, extraRatio=0.1)
    deliver(client, [sent])
    [event] = queued(conn)
    assert event.model_dump() == {
        "tenant": "hubspot-62515", "source": "hubspot-webhook", "kind": "contact.propertyChange",
        "object_type": "contact", "object_id": "101", "property_name": "jobtitle",
        "property_value": "VP Sales — EMEA", "change_source": "CRM_UI",
        "occurred_at": dt.datetime.fromtimestamp(sent["occurredAt"] / 1000, dt.UTC),
        "identity": identity_of(62515, "contact.propertyChange", "101", "jobtitle", "VP Sales — EMEA",
                                sent["occurredAt"], sent["eventId"]),
        "payload": sent}


def test_events_are_still_queued_after_redis_forgets_the_intake_script(client, conn):
    deliver(client, [hubspot_event(object_id=1)])
    conn.script_flush()
    assert deliver(client, [hubspot_event(object_id=2)]).json["queued"] == 1
    assert [e.object_id for e in queued(conn)] == ["1", "2"]


def test_an_unreachable_redis_is_answered_503_within_a_second(settings):
    client = create_app(redis_url="unix:///nonexistent/salesos/redis.sock", settings=settings).test_client()
    started = time.monotonic()
    response = deliver(client, [hubspot_event()])
    assert response.status_code == 503
    assert time.monotonic() - started < 1.0


def test_events_refused_while_redis_is_down_are_retried_and_each_processed_exactly_once(settings, restartable_redis):
    client = create_app(redis_url=restartable_redis.url, settings=settings).test_client()
    batches = [[hubspot_event(object_id=10 * b + i) for i in range(5)] for b in range(30)]
    refused = []

    def hubspot_sends(batch):
        started = time.monotonic()
        status = deliver(client, batch).status_code
        assert time.monotonic() - started < 2, "HubSpot gives up after 5 s"
        assert status in (200, 503)
        if status == 503:
            refused.append(batch)

    for batch in batches[:10]:
        hubspot_sends(batch)
    restartable_redis.kill()
    for batch in batches[10:20]:
        hubspot_sends(batch)
    assert len(refused) == 10
    restartable_redis.start()
    for batch in batches[20:]:
        hubspot_sends(batch)
    retries, refused[:] = list(refused), []
    for batch in retries + [batches[0]]:  # HubSpot retries the refused ones, and may deliver one twice
        hubspot_sends(batch)
    assert refused == []

    conn = redis.Redis.from_url(restartable_redis.url)
    Dispatcher(conn, route_every_event, name="after-restart").run(burst=True)
    SimpleWorker([queue("engagement", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    counts = conn.hgetall(PROCESSED)
    assert len(counts) == 150
    assert set(counts.values()) == {b"1"}
    conn.close()
