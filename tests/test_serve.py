"""`python -m connector serve` answers on loopback; `worker --burst` drains the queue it serves."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env(home, redis_url):
    return {**os.environ, "SALESOS_HOME": str(home), "REDIS_URL": redis_url}


def get(url, data=None):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_serve_then_worker_runs_a_market_posted_to_the_api(tmp_path, redis_url):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)], cwd=ROOT,
                              env=env(tmp_path, redis_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get(f"{base}/health") == (200, {"status": "ok", "redis": "ok"})
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        market = {"market": {"industry": "B2B SaaS", "company_size": "10-500", "location": "US, UK, Canada"},
                  "as_of": "2026-11-02"}
        status, created = get(f"{base}/api/markets", json.dumps(market).encode())
        assert status == 202
        worker = subprocess.run(
            [sys.executable, "-m", "connector", "worker", "--burst", "--no-scheduler",
             "--queues", "source,enrich,contacts,score"],
            cwd=ROOT, env=env(tmp_path, redis_url), capture_output=True, text=True, timeout=300,
        )
        assert worker.returncode == 0, worker.stderr
        status, run = get(base + created["status_url"])
        assert run["state"] == "finished"
        assert run["summary"]["qualified"] > 0 and run["summary"]["contacts"] > 0
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_stopped_with_sigterm_stops_its_embedded_redis(tmp_path):
    port = free_port()
    home_env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    home_env["SALESOS_HOME"] = str(tmp_path)
    server = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)], cwd=ROOT,
                              env=home_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get(f"http://127.0.0.1:{port}/health")[0] == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert embedded_servers(tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert embedded_servers(tmp_path) == set()


def embedded_servers(home) -> set[int]:
    """redis-server processes serving this SALESOS_HOME's embedded Redis."""
    return {p.pid for p in psutil.process_iter(["name", "cwd"]) if p.info["name"] == "redis-server"
            and p.info["cwd"] == str(home / "redis")}
