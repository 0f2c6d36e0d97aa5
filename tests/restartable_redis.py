"""A real redis-server a test can kill and start again, with its data on disk."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_SERVER


class RedisProcess:
    """A redis-server this test can kill and start again on the same socket and data directory.

    It runs with `--appendonly yes --appendfsync always`: every accepted event
    is on disk before the endpoint answers 200, as a production Redis holding
    the inbox must be configured; without persistence a restart empties the
    inbox and no endpoint could prevent that loss.
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="salesos-rr-"))  # short: unix socket paths max ~100 bytes
        self.url = f"unix://{self.directory / 'redis.sock'}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", str(self.directory / "redis.sock"), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, so only what was fsynced survives."""
        self.process.kill()
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def restartable_redis():
    server = RedisProcess()
    server.start()
    yield server
    server.close()
