"""A real server (`serve` or gunicorn) started for a test on a port it picks itself.

The command binds 127.0.0.1 port 0 and the test reads the port back from the
line the server logs once it listens (werkzeug's "Running on", gunicorn's
"Listening at"). A port chosen by the test and bound later could be taken
by another process meanwhile; one the server already holds cannot.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"(?:Running on|Listening at:) http://127\.0\.0\.1:(\d+)")


def start_server(command: list[str], env: dict, output: Path) -> tuple[subprocess.Popen, int]:
    """Start `command` with its output in `output`; return it and its port once it answers /healthz."""
    with output.open("wb") as sink:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # its own process group, for `stop` to kill if need be
    try:
        port = _wait_for_port(server, output)
        _wait_until_serving(f"http://127.0.0.1:{port}", server, output)
    except BaseException:
        stop(server)
        raise
    return server, port


def stop(server: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM, as systemd or docker stop would; SIGKILL to its whole process group (gunicorn's workers, serve's
    embedded Redis) if it has not exited within `grace` seconds, so a server that hangs never outlives its test."""
    server.terminate()
    try:
        server.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _wait_for_port(server: subprocess.Popen, output: Path) -> int:
    deadline = time.monotonic() + 60
    while not (match := _LISTENING.search(output.read_text(errors="replace"))):
        assert server.poll() is None and time.monotonic() < deadline, f"the server did not start:\n{output.read_text()}"
        time.sleep(0.1)
    return int(match.group(1))


def _wait_until_serving(base: str, server: subprocess.Popen, output: Path) -> None:
    """Gunicorn listens before its workers answer: wait for an answer."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or an HTTP error
            pass
        assert server.poll() is None and time.monotonic() < deadline, \
            f"the server never answered:\n{output.read_text()}"
        time.sleep(0.1)
