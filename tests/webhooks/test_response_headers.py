"""Every answer tells browsers and caches how to treat it: not stored, not sniffed, not framed."""

from __future__ import annotations

import pytest

from connector.api_keys import ApiKeys
from connector.ledger import Ledger
from connector.settings import Settings
from tests.webhooks.test_api import MARKET
from webhooks.app import create_app

SAFE = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'"}


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path)


@pytest.fixture
def client(redis_url, settings):
    return create_app(redis_url=redis_url, settings=settings, dashboard=True).test_client()


def key(settings, scope: str) -> dict:
    _, secret = ApiKeys(settings.state_path).create(scope, "local" if scope == "tenant" else None)
    return {"Authorization": f"Bearer {secret}"}


def test_authenticated_answers_are_never_stored(client, settings):
    tenant, operator = key(settings, "tenant"), key(settings, "operator")
    run = client.post("/api/markets", json=MARKET, headers=tenant).json
    for path, headers in ((run["status_url"], tenant), ("/readyz?verbose", operator), ("/rq/", operator),
                          ("/rq/0/data/queues.json", operator)):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert response.headers.get("Cache-Control") == "no-store", path


def test_every_answer_is_neither_sniffed_nor_framed(client, settings):
    token = Ledger(settings.state_path).unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"]
    answers = [client.get(f"/unsubscribe/{token}"), client.get("/healthz"), client.get("/api/runs/x"),
               client.post("/api/markets", json=MARKET, headers=key(settings, "tenant")), client.get("/nowhere"),
               client.get("/oauth/hubspot/install"), client.get("/rq/", headers=key(settings, "operator"))]
    assert answers[0].status_code == 200 and "text/html" in answers[0].content_type  # the page a mail links to
    for response in answers:
        assert {name: response.headers.get(name) for name in SAFE} == SAFE, (response.request.path,
                                                                            response.status_code)
