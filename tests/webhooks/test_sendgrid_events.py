"""SendGrid's signed Event Webhook: bounces and complaints suppress, unsubscribes unsubscribe, opens and clicks count.

Batches are SendGrid's documented sample (tests/fixtures/providers/sendgrid_event_webhook.json) with the custom
args the SalesOS sender puts on each message (`salesos_tenant`, `salesos_step`), which SendGrid copies onto every
event; each event gets its own id (the sample gives all of them the same one).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connector.engagement_log import EngagementLog
from connector.ledger import Ledger
from connector.sendgrid_events import SIGNATURE_HEADER, TIMESTAMP_HEADER
from connector.settings import Settings
from webhooks.app import create_app

SAMPLE = json.loads((Path(__file__).parents[1] / "fixtures/providers/sendgrid_event_webhook.json").read_text())
TENANT = "hubspot-62515"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def batch(*kinds: str, email: str = "example@test.com", **extra) -> list[dict]:
    chosen = [dict(event) for event in SAMPLE if not kinds or event["event"] in kinds]
    for number, event in enumerate(chosen):
        event.update(email=email, sg_event_id=f"{event['event']}-{number}", salesos_tenant=TENANT,
                     salesos_step="outreach:1", **extra)
    return chosen


def signed(body: bytes, key=KEY, at: int | None = None) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: timestamp}


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path, sendgrid_event_public_keys=PUBLIC)


@pytest.fixture
def post(settings):
    client = create_app(settings=settings).test_client()

    def send(events, headers=None, raw: bytes | None = None):
        body = raw if raw is not None else json.dumps(events).encode()
        return client.post("/webhooks/sendgrid/events", data=body, content_type="application/json",
                           headers=signed(body) if headers is None else headers)
    return send


def test_a_hard_bounce_suppresses_the_address_and_is_recorded(post, settings):
    assert post(batch("bounce")).status_code == 204
    assert Ledger(settings.database_url).suppressed(TENANT, ["example@test.com"]) == {"example@test.com": "bounce"}
    [bounce] = EngagementLog(settings.database_url).events(TENANT, "example@test.com")
    assert (bounce.kind, bounce.step_key) == ("bounce", "outreach:1")


def test_a_blocked_bounce_is_soft_and_does_not_suppress(post, settings):
    assert post(batch("bounce", type="blocked")).status_code == 204
    assert Ledger(settings.database_url).suppressed(TENANT, ["example@test.com"]) == {}


def test_a_deferral_changes_nothing(post, settings):
    assert post(batch("deferred")).status_code == 204
    assert Ledger(settings.database_url).unsubscribed(TENANT, ["example@test.com"]) == set()


def test_a_spam_report_is_a_complaint_that_suppresses(post, settings):
    assert post(batch("spamreport")).status_code == 204
    assert Ledger(settings.database_url).suppressed(TENANT, ["example@test.com"]) == {"example@test.com": "complaint"}


def test_a_drop_for_a_bounced_address_suppresses(post, settings):
    assert post(batch("dropped")).status_code == 204  # the sample's reason: "Bounced Address"
    assert Ledger(settings.database_url).suppressed(TENANT, ["example@test.com"]) == {"example@test.com": "bounce"}


@pytest.mark.parametrize("kind", ["unsubscribe", "group_unsubscribe"])
def test_an_unsubscribe_event_unsubscribes_and_waits_for_its_crm_write(post, settings, kind):
    assert post(batch(kind)).status_code == 204
    ledger = Ledger(settings.database_url)
    assert ledger.unsubscribed(TENANT, ["example@test.com"]) == {"example@test.com"}
    assert ledger.waiting_unsubscribes(TENANT, ["example@test.com"]) == ["example@test.com"]


def test_opens_are_unreliable_and_clicks_carry_their_url(post, settings):
    assert post(batch("open", "click")).status_code == 204
    recorded = {event.kind: event for event in EngagementLog(settings.database_url).events(TENANT, "example@test.com")}
    assert recorded["open"].reliable is False
    assert recorded["click"].detail == "http://www.sendgrid.com/"


def test_a_batch_sent_again_records_each_event_once(post, settings):
    events = batch()
    assert post(events).status_code == post(events).status_code == 204
    kinds = [event.kind for event in EngagementLog(settings.database_url).events(TENANT, "example@test.com")]
    assert sorted(kinds) == ["bounce", "bounce", "click", "complaint", "open"]  # the bounce, the dropped one


def test_events_without_a_salesos_tenant_are_skipped(post, settings):
    assert post(SAMPLE).status_code == 204
    assert Ledger(settings.database_url).unsubscribed(TENANT, ["example@test.com"]) == set()


REFUSED = b'{"error": "not signed by SendGrid with the configured verification key, or too old"}'


def test_an_unsigned_batch_is_refused(post, settings):
    assert post(batch("spamreport"), headers={}).data == REFUSED
    assert Ledger(settings.database_url).unsubscribed(TENANT, ["example@test.com"]) == set()


def test_a_batch_signed_by_another_key_is_refused_alike(post):
    body = json.dumps(batch("spamreport")).encode()
    answer = post(None, headers=signed(body, key=ec.generate_private_key(ec.SECP256R1())), raw=body)
    assert (answer.status_code, answer.data) == (401, REFUSED)


def test_a_changed_body_is_refused_alike(post):
    body = json.dumps(batch("open")).encode()
    headers = signed(body)
    answer = post(None, headers=headers, raw=body.replace(b'"open"', b'"spamreport"'))
    assert (answer.status_code, answer.data) == (401, REFUSED)


def test_a_stale_batch_is_refused_alike(post):
    body = json.dumps(batch("spamreport")).encode()
    answer = post(None, headers=signed(body, at=int(time.time()) - 3600), raw=body)
    assert (answer.status_code, answer.data) == (401, REFUSED)


def test_without_a_configured_key_everything_is_refused(tmp_path):
    client = create_app(settings=Settings(salesos_home=tmp_path)).test_client()
    body = json.dumps(batch("spamreport")).encode()
    answer = client.post("/webhooks/sendgrid/events", data=body, headers=signed(body))
    assert (answer.status_code, answer.data) == (401, REFUSED)


def test_a_body_over_one_mebibyte_is_refused_before_it_is_read(post):
    assert post(None, raw=b"[" + b" " * (1024 * 1024) + b"]").status_code == 413


def test_a_deeply_nested_signed_body_is_a_clear_400(post):
    assert post(None, raw=b"[" * 5000 + b"]" * 5000).status_code == 400


def test_a_signed_event_with_a_wrong_field_names_it(post):
    answer = post([{"event": "open", "email": "a@b.io", "timestamp": "soon"}])
    assert answer.status_code == 400 and b"0.timestamp" in answer.data
