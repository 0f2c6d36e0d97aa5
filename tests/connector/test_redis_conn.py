"""The embedded Redis starts, keeps data across runs, and leaves nothing behind."""

import subprocess
import sys
import threading

import psutil
import pytest

from connector.redis_conn import RedisUnavailable, connect, embedded_redis, redacted


def redis_processes(directory):
    """redis-server processes serving `directory` (others may run on the machine meanwhile)."""
    return {p.pid for p in psutil.process_iter(["name", "cwd"]) if p.info["name"] == "redis-server"
            and p.info["cwd"] == str(directory)}


def test_the_embedded_server_stops_and_leaves_no_process(tmp_path):
    before = redis_processes(tmp_path)
    with embedded_redis(tmp_path) as url:
        client = connect(url)
        client.set("k", "v")
        client.close()
        assert len(redis_processes(tmp_path) - before) == 1
    assert redis_processes(tmp_path) - before == set()


def test_the_embedded_server_keeps_its_data_between_starts(tmp_path):
    with embedded_redis(tmp_path) as url:
        client = connect(url)
        client.set("k", "v")
        client.close()
    with embedded_redis(tmp_path) as url:
        client = connect(url)
        assert client.get("k") == b"v"
        client.close()


def test_an_unreachable_redis_is_named_without_its_password():
    with pytest.raises(RedisUnavailable, match=r"redis://\*\*\*@127.0.0.1:1/0 is unreachable"):
        connect("redis://user:secret@127.0.0.1:1/0")


def test_redacted_keeps_urls_without_credentials():
    assert redacted("unix:///tmp/r.sock") == "unix:///tmp/r.sock"


def test_a_server_shared_with_another_process_keeps_running_until_the_last_one_leaves(tmp_path):
    before = redis_processes(tmp_path)
    with embedded_redis(tmp_path) as url:
        other = subprocess.Popen(
            [sys.executable, "-c", "import sys, redis; c = redis.Redis.from_url(sys.argv[1]); c.ping();"
             " print('ready', flush=True); sys.stdin.read(); c.ping()", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert other.stdout.readline() == "ready\n"
    assert len(redis_processes(tmp_path) - before) == 1  # the other process still uses it
    other.communicate("", timeout=10)
    assert other.returncode == 0
    with embedded_redis(tmp_path):
        pass  # the last one out stops it
    assert redis_processes(tmp_path) - before == set()


def test_a_client_leaving_as_the_block_ends_does_not_keep_the_server_running(tmp_path):
    before = redis_processes(tmp_path)
    with embedded_redis(tmp_path) as url:
        leaving = connect(url)
        leaving.ping()
        threading.Timer(0.3, leaving.close).start()  # a worker whose exit Redis has not noticed yet
    assert redis_processes(tmp_path) - before == set()
