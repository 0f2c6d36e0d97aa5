"""The helper that runs real servers for tests never leaves one behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.live_server import stop

# A server that ignores SIGTERM (as a hung one would) with a child of its own, like gunicorn's workers.
STUBBORN = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "print(child.pid, flush=True); time.sleep(600)")


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child waits as one until init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_kills_a_server_that_ignores_sigterm_and_its_children_after_the_grace_period():
    server = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True)
    with server.stdout:
        child = int(server.stdout.readline())
    stop(server, grace=0.5)
    assert server.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while running(child):
        assert time.monotonic() < deadline, "the server's child outlived it"
        time.sleep(0.05)
