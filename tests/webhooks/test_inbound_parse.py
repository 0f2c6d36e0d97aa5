"""SendGrid Inbound Parse posts: checked by the URL's tenant token, the raw message queued on the engagement queue once."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from connector.inbound.base import InboundMessage
from connector.settings import Settings
from connector.tenants import Tenant, TenantStore, tenant_id
from connector.vault import Vault, new_key
from webhooks.app import create_app
from connector.inbound.queue import INBOUND_JOB, REPLIES_QUEUE
from webhooks.inbound_parse import NOT_FOUND, body_bound

PATH = "/webhooks/sendgrid/inbound"
# A reply in Latin-1 with an 8-bit body: its bytes must reach the classifier exactly as SendGrid posted them.
REPLY = (b"From: Zo\xe9 <zoe@example.fr>\r\nTo: rep@parse.salesos.test\r\nSubject: Re: Bonjour\r\n"
         b"Message-ID: <r1@example.fr>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
         b"Content-Transfer-Encoding: 8bit\r\n\r\nTr\xe8s int\xe9ress\xe9e.\r\n")
ENVELOPE = b'{"to":["Rep@Parse.SalesOS.test"],"from":"zoe@example.fr"}'


def multipart(fields: dict[str, bytes]) -> tuple[bytes, str]:
    """A body shaped like SendGrid's Inbound Parse post with Send Raw on (synthetic: its fields per providers.md,
    sendgrid-python's helpers/inbound/config.yml): one form field per name, no files."""
    boundary = uuid.uuid4().hex
    parts = [b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary.encode(), name.encode(),
                                                                                       value)
             for name, value in fields.items()]
    return b"".join(parts) + b"--%s--\r\n" % boundary.encode(), f"multipart/form-data; boundary={boundary}"


def sendgrid_fields(**overrides: bytes) -> dict[str, bytes]:
    fields = {"dkim": b"{@example.fr : pass}", "email": REPLY, "to": b"rep@parse.salesos.test",
              "from": b"Zo\xe9 <zoe@example.fr>", "subject": b"Re: Bonjour", "sender_ip": b"203.0.113.9",
              "envelope": ENVELOPE, "charsets": b'{"to":"UTF-8","subject":"UTF-8","from":"iso-8859-1"}',
              "SPF": b"pass", "spam_score": b"0.1"}
    fields.update(overrides)
    return {name: value for name, value in fields.items() if value is not None}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(salesos_home=tmp_path, salesos_vault_keys=new_key(), salesos_inbound_max_bytes=64 * 1024)


@pytest.fixture
def store(settings) -> TenantStore:
    return TenantStore(settings.state_path, Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value()))


@pytest.fixture
def tenant(store) -> str:
    record = Tenant(id=tenant_id("hubspot", "62515"), crm="hubspot", external_id="62515",
                    installed_at=dt.datetime.now(dt.UTC))
    store.add(record, {"access_token": "pat-na1-x"})
    return record.id


@pytest.fixture
def client(settings, redis_url):
    return create_app(redis_url=redis_url, settings=settings).test_client()


def post(client, path: str, fields: dict[str, bytes]):
    body, content_type = multipart(fields)
    return client.post(path, data=body, content_type=content_type)


def queued(conn) -> list:
    return Queue(REPLIES_QUEUE, connection=conn, serializer=JSONSerializer).get_jobs()


def test_the_raw_message_is_queued_on_the_replies_queue_byte_for_byte(client, store, tenant, conn):
    response = post(client, f"{PATH}/{store.inbound_parse.ensure(tenant)}", sendgrid_fields())
    assert response.status_code == 200 and response.json == {"queued": 1, "duplicates": 0}
    [job] = queued(conn)
    assert job.func_name == INBOUND_JOB
    message = InboundMessage.model_validate(job.args[0])
    assert message.raw == REPLY
    assert (message.tenant, message.mailbox, message.source) == (tenant, "rep@parse.salesos.test", "sendgrid_parse")


def test_a_post_sendgrid_repeats_is_queued_once(client, store, tenant, conn):
    path = f"{PATH}/{store.inbound_parse.ensure(tenant)}"
    post(client, path, sendgrid_fields())
    again = post(client, path, sendgrid_fields())
    assert again.status_code == 200 and again.json == {"queued": 0, "duplicates": 1}
    assert len(queued(conn)) == 1


def test_an_unknown_token_and_a_replaced_one_get_the_same_404_and_queue_nothing(client, store, tenant, conn):
    old = store.inbound_parse.ensure(tenant)
    store.inbound_parse.rotate(tenant)
    unknown = post(client, f"{PATH}/{'A' * 32}", sendgrid_fields())
    replaced = post(client, f"{PATH}/{old}", sendgrid_fields())
    assert unknown.status_code == replaced.status_code == 404
    assert unknown.data == replaced.data and unknown.json == NOT_FOUND
    assert queued(conn) == []


def test_a_removed_tenants_url_is_refused(client, store, tenant, conn):
    path = f"{PATH}/{store.inbound_parse.ensure(tenant)}"
    store.remove(tenant)
    assert post(client, path, sendgrid_fields()).status_code == 404


def test_a_post_without_the_raw_message_is_refused_naming_the_email_field(client, store, tenant, conn):
    response = post(client, f"{PATH}/{store.inbound_parse.ensure(tenant)}", sendgrid_fields(email=None))
    assert response.status_code == 400
    assert any(problem.startswith("email:") for problem in response.json["problems"])
    assert queued(conn) == []


def test_a_post_without_a_recipient_is_refused_naming_the_envelope(client, store, tenant, conn):
    response = post(client, f"{PATH}/{store.inbound_parse.ensure(tenant)}",
                    sendgrid_fields(envelope=b"not json", to=None))
    assert response.status_code == 400 and response.json["problems"][0].startswith("envelope:")


def test_a_body_that_is_not_multipart_is_refused(client, store, tenant):
    response = client.post(f"{PATH}/{store.inbound_parse.ensure(tenant)}", data=json.dumps({"email": "x"}),
                           content_type="application/json")
    assert response.status_code == 400 and "Content-Type" in response.json["problems"][0]


def test_a_message_over_the_bound_is_acknowledged_and_skipped_not_queued(client, settings, store, tenant, conn,
                                                                          caplog):
    huge = REPLY + b"x" * body_bound(settings)
    response = post(client, f"{PATH}/{store.inbound_parse.ensure(tenant)}", sendgrid_fields(email=huge))
    assert response.status_code == 200 and response.json["skipped"] == "too large"
    assert queued(conn) == [] and "skipped" in caplog.text


def test_a_chunked_message_over_the_bound_is_skipped_too(client, settings, store, tenant, conn):
    body, content_type = multipart(sendgrid_fields(email=REPLY + b"x" * body_bound(settings)))
    response = client.post(f"{PATH}/{store.inbound_parse.ensure(tenant)}", input_stream=io.BytesIO(body),
                           content_type=content_type, headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200 and response.json["skipped"] == "too large"
    assert queued(conn) == []


def test_with_redis_down_the_post_gets_503_so_sendgrid_retries(settings, store, tenant):
    down = create_app(redis_url="unix:///nonexistent/salesos-redis.sock", settings=settings).test_client()
    response = post(down, f"{PATH}/{store.inbound_parse.ensure(tenant)}", sendgrid_fields())
    assert response.status_code == 503

