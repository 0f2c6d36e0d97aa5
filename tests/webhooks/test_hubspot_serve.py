"""`tenants add` then `serve`: a signed HubSpot delivery to the real server is queued."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import redis

from connector.dispatch import INBOX
from tests.live_server import ROOT, start_server, stop
from tests.webhooks.hubspot_helpers import SECRET, hubspot_event, signed_headers


def post(url: str, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_tenant_added_offline_receives_webhooks_through_serve(tmp_path, redis_url):
    from connector.vault import new_key

    env = {key: value for key, value in os.environ.items() if key != "SALESOS_PUBLIC_URL"}
    env |= {"SALESOS_HOME": str(tmp_path), "REDIS_URL": redis_url, "HUBSPOT_CLIENT_SECRET": SECRET,
            "SALESOS_VAULT_KEYS": new_key()}
    added = subprocess.run([sys.executable, "-m", "connector", "tenants", "add", "hubspot", "--portal-id", "62515",
                            "--access-token", "-"], input="pat-token\n", cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    server, port = start_server([sys.executable, "-m", "connector", "serve", "--host", "127.0.0.1", "--port", "0"],
                                env, tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}/webhooks/hubspot"
        body = json.dumps([hubspot_event()]).encode()
        assert post(url, body, signed_headers(body, uri=url)) == 200
        assert redis.Redis.from_url(redis_url).llen(INBOX) == 1
    finally:
        stop(server)
