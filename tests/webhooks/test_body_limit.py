"""A body over the app's limit is a 413 however it is sent: with a Content-Length or chunked.

werkzeug refuses a Content-Length over MAX_CONTENT_LENGTH, but used to read a
chunked body only up to the limit and hand the view what it had read, as if
that were all: a market whose invalid tail fell past the cut was accepted.
"""

from __future__ import annotations

import http.client
import io
import json
import sys

import pytest

from connector.api_keys import ApiKeys
from connector.queues import queue
from connector.settings import Settings
from tests.live_server import start_server, stop
from tests.test_log_redaction import GUNICORN, server_env
from tests.webhooks.test_api import authorized
from webhooks.app import create_app

LIMIT = 1024 * 1024
# Valid up to the cut at LIMIT bytes; the tail past it makes the market invalid.
CUT_MARKET = b"industry: B2B SaaS\ncompany_size: 10-500\n#" + b"A" * LIMIT + b"\nquality_threshold: 5\n"
SMALL_MARKET = b"industry: B2B SaaS\ncompany_size: 10-500\n"


@pytest.fixture
def client(redis_url, tmp_path):
    settings = Settings(salesos_home=tmp_path)
    return authorized(create_app(redis_url=redis_url, settings=settings).test_client(), settings)


def post_chunked(client, body: bytes):
    """As a server that reads chunked bodies hands it to the app: no Content-Length, the stream ends at the body."""
    return client.post("/api/markets", input_stream=io.BytesIO(body), content_type="application/yaml",
                       headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_a_json_413_not_its_first_mebibyte(client, conn):
    response = post_chunked(client, CUT_MARKET)
    assert response.status_code == 413 and response.is_json
    assert response.json["error"] == f"the body is larger than {LIMIT} bytes"
    assert queue("source", conn).count == 0


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(client, conn):
    body = SMALL_MARKET + b"#" + b"A" * (LIMIT - len(SMALL_MARKET) - 1)
    assert len(body) == LIMIT
    assert post_chunked(client, body).status_code == 202


def test_a_small_chunked_body_is_read_whole(client, conn):
    assert post_chunked(client, SMALL_MARKET + b"quality_threshold: 5\n").status_code == 400
    assert post_chunked(client, SMALL_MARKET).status_code == 202


REFUSED = (0, b"")  # the connection closed under the request: refused, with an answer the reset may have lost


def send_chunked(port: int, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    """(status, body) of the answer, or REFUSED. A server may answer a body over the limit and close before the
    client has sent it all; the client then sees a reset or a broken pipe, and maybe the answer still."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        try:
            connection.request("POST", path, body=iter([body[at:at + 65536] for at in range(0, len(body), 65536)]),
                               headers=headers, encode_chunked=True)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer may be waiting
        response = connection.getresponse()
        return response.status, response.read()
    except (ConnectionResetError, BrokenPipeError):  # RemoteDisconnected included
        return REFUSED
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["serve", "gunicorn"])
def test_a_chunked_market_over_the_limit_is_a_json_413_from_the_real_servers(tmp_path, redis_url, conn, server):
    home = tmp_path / "home"
    _, key = ApiKeys(Settings(salesos_home=home).state_path).create("tenant", "local")
    command = ([sys.executable, "-m", "connector", "serve", "--port", "0"] if server == "serve" else
               [GUNICORN, "-w", "1", "-b", "127.0.0.1:0", "--no-control-socket", "wsgi:app"])
    process, port = start_server(command, server_env(home, redis_url), tmp_path / f"{server}.log")
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/yaml"}
        status, answer = send_chunked(port, "/api/markets", CUT_MARKET, headers)
        assert (status, answer) == REFUSED or (
            status == 413 and json.loads(answer)["error"] == f"the body is larger than {LIMIT} bytes")
        assert send_chunked(port, "/api/markets", SMALL_MARKET, headers)[0] == 202  # chunked bodies are read
        assert queue("source", conn).count == 1
    finally:
        stop(process)

