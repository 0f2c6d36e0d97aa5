"""`serve` and gunicorn, started as the README says, never log a token carried in a URL, nor a credential.

Both servers get the requests a deployment sees with tokens in their URLs:
an unsubscribe link (followed, and its one-click POST with the page as
Referer), a Salesforce Outbound Message URL, a HubSpot "Send a webhook" URL
with a bad signature (SalesOS logs the refused path), an OAuth callback's
code and state, a request line the server cannot parse, and a request that
fails inside Flask (its state database is unusable here, so Flask logs the
path and the traceback). They also get the same URLs spelled the ways a
server still routes to the token's view (percent-encoded letters and
slashes, dot segments, in Referers too), and a key sent as the HTTP Basic
user name (`curl -u KEY:`). The request lines still appear, redacted.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.live_server import start_server, stop

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@pytest.fixture
def tokens() -> dict[str, str]:
    return {name: secrets.token_urlsafe(24) for name in (
        "unsubscribe", "one_click", "outbound", "workflow", "code", "state", "bad_line",
        "pct_outbound", "pct_unsubscribe", "pct_workflow", "pct_code", "pct_state", "pct_referer", "slash_unsubscribe",
        "dot_outbound", "dot_unsubscribe", "basic_user")}


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    (home / "salesos.sqlite3").mkdir(parents=True)  # no database can be opened there: requests using it fail
    return home


def server_env(home: Path, redis_url: str) -> dict[str, str]:
    return {**os.environ, "SALESOS_HOME": str(home), "REDIS_URL": redis_url, "HUBSPOT_CLIENT_SECRET": "app-secret"}


def send(base: str, path: str, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(base + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def send_raw(port: int, request_line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request_line + b"\r\nHost: 127.0.0.1\r\n\r\n")
        connection.recv(4096)


def send_tokens(base: str, port: int, tokens: dict[str, str]) -> None:
    unsubscribe = f"/unsubscribe/{tokens['unsubscribe']}"
    assert send(base, unsubscribe) == 200
    assert send(base, f"/unsubscribe/{tokens['one_click']}", data=b"List-Unsubscribe=One-Click",
                headers={"Referer": base + f"/unsubscribe/{tokens['one_click']}"}) == 500
    send(base, f"/webhooks/salesforce/outbound/{tokens['outbound']}", data=b"<not-soap/>",
         headers={"Content-Type": "text/xml"})
    assert send(base, f"/webhooks/hubspot/workflow/62515/{tokens['workflow']}/prospect_company", data=b"{}",
                headers={"Content-Type": "application/json", "X-HubSpot-Signature-v3": "forged",
                         "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000))}) == 401
    send(base, f"/oauth/hubspot/callback?code={tokens['code']}&state={tokens['state']}")
    send_raw(port, f"GET /unsubscribe/{tokens['bad_line']}".encode() + b"\xe9 HTTP/1.1")  # gunicorn refuses it
    send_raw(port, f"GET /unsubscribe/{tokens['bad_line']} HTTP/1.1 extra".encode())  # werkzeug refuses this
    send_respelled_tokens(base, tokens)
    basic = base64.b64encode(f"{tokens['basic_user']}:".encode()).decode()  # `curl -u KEY:`
    assert send(base, "/readyz?verbose", headers={"Authorization": f"Basic {basic}"}) == 401


def send_respelled_tokens(base: str, tokens: dict[str, str]) -> None:
    """The same secret URLs, spelled as servers still route them to the token's view."""
    assert send(base, f"/%75nsubscribe/{tokens['pct_unsubscribe']}", data=b"List-Unsubscribe=One-Click") == 500
    send(base, f"/webhooks/salesforce/%6Futbound/{tokens['pct_outbound']}", data=b"<not-soap/>",
         headers={"Content-Type": "text/xml"})
    assert send(base, f"/webhooks/hubspot/%77orkflow/62515/{tokens['pct_workflow']}/prospect_company", data=b"{}",
                headers={"Content-Type": "application/json", "X-HubSpot-Signature-v3": "forged",
                         "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000))}) == 401
    send(base, f"/oauth/hubspot/callback?%63ode={tokens['pct_code']}&%73tate={tokens['pct_state']}")
    send(base, "/healthz", headers={"Referer": f"{base}/webhooks/salesforce/%6Futbound/{tokens['pct_referer']}"})
    send(base, f"/unsubscribe%2F{tokens['slash_unsubscribe']}")
    send(base, f"/webhooks/salesforce/x/../outbound/{tokens['dot_outbound']}", data=b"<not-soap/>",
         headers={"Content-Type": "text/xml"})
    send(base, f"/x/%2e%2e/unsubscribe/{tokens['dot_unsubscribe']}")


EXPECTED = [
    "/unsubscribe/[redacted]",
    "/webhooks/salesforce/outbound/[redacted]",
    "/webhooks/hubspot/workflow/62515/[redacted]/prospect_company",
    "/oauth/hubspot/callback?code=[redacted]&state=[redacted]",
    "Exception on /unsubscribe/[redacted] [POST]",  # Flask's error log, with its traceback
    "HubSpot request to /webhooks/hubspot/workflow/62515/[redacted]/prospect_company refused",  # SalesOS's own
    "GET /readyz?verbose HTTP/1.1",
    "GET /unsubscribe%2F[redacted] HTTP/1.1",
    "POST /webhooks/salesforce/x/../outbound/[redacted] HTTP/1.1",
]
# werkzeug logs the request line with its unreserved characters decoded (`%6F` as `o`), gunicorn as it came
SERVE_EXPECTED = EXPECTED + ["GET /x/../unsubscribe/[redacted] HTTP/1.1"]
GUNICORN_EXPECTED = EXPECTED + [
    "POST /%75nsubscribe/[redacted] HTTP/1.1",
    "POST /webhooks/salesforce/%6Futbound/[redacted] HTTP/1.1",
    "POST /webhooks/hubspot/%77orkflow/62515/[redacted]/prospect_company HTTP/1.1",
    "GET /oauth/hubspot/callback?%63ode=[redacted]&%73tate=[redacted] HTTP/1.1",
    "GET /x/%2e%2e/unsubscribe/[redacted] HTTP/1.1",
    '"POST /unsubscribe/[redacted] HTTP/1.1" 500',  # the access log, Referer included
    '"http://127.0.0.1:{port}/unsubscribe/[redacted]"',
    '"http://127.0.0.1:{port}/webhooks/salesforce/%6Futbound/[redacted]"',
    "Invalid HTTP request line: 'GET /unsubscribe/[redacted] HTTP/1.1'",
    "127.0.0.1 - [redacted] [",  # the Basic user name, gunicorn's %(u)s
]


def logged_without_tokens(command: list[str], env: dict, tokens: dict, output: Path,
                          expected: list[str]) -> str:
    """Start the server, send the tokens, wait until every `expected` line is logged, stop it; its output.

    `{port}` in `expected` is the port the server picked."""
    server, port = start_server(command, env, output)
    expected = [line.replace("{port}", str(port)) for line in expected]
    try:
        send_tokens(f"http://127.0.0.1:{port}", port, tokens)
        deadline = time.monotonic() + 30
        while missing := [line for line in expected if not logged_in_any_form(line, output.read_text())]:
            assert time.monotonic() < deadline, f"never logged, redacted or not: {missing}"
            time.sleep(0.1)
    finally:
        stop(server)
    logged = output.read_text()
    leaked = [name for name, token in tokens.items() if token in logged]
    assert leaked == [], f"tokens logged: {leaked}\n{logged}"
    assert [line for line in expected if line not in logged] == []
    return logged


def logged_in_any_form(line: str, logged: str) -> bool:
    """Whether `line` was logged, with its tokens redacted or not (so the test can then say which)."""
    pattern = re.escape(line).replace(re.escape("[redacted]"), r"(?:\[redacted\]|[A-Za-z0-9_-]+)")
    return re.search(pattern, logged) is not None


def test_serve_logs_request_lines_and_errors_without_the_tokens_in_their_urls(home, redis_url, tokens, tmp_path):
    logged = logged_without_tokens([sys.executable, "-m", "connector", "serve", "--port", "0"],
                                   server_env(home, redis_url), tokens, tmp_path / "serve.log",
                                   SERVE_EXPECTED)
    assert '"GET /unsubscribe/[redacted] HTTP/1.1" 200' in logged
    assert "GET /unsubscribe/[redacted] HTTP/1.1 extra" in logged  # werkzeug's 400 for the line it cannot parse


def test_gunicorn_access_and_error_logs_carry_no_token_and_no_basic_user_name(home, redis_url, tokens, tmp_path):
    command = [GUNICORN, "-w", "2", "-b", "127.0.0.1:0", "--access-logfile", "-",
               "--no-control-socket", "wsgi:app"]  # no socket in ~/.gunicorn, shared with other gunicorns
    logged_without_tokens(command, server_env(home, redis_url), tokens, tmp_path / "gunicorn.log", GUNICORN_EXPECTED)
