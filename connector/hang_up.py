"""SIGHUP stops `serve`, `worker` and `dispatch` the way SIGTERM does.

A hang-up (the terminal a command was started from closes, or `kill -HUP`) would otherwise kill the process
where it stands, by default, without unwinding: the embedded Redis it started (redis-server ignores SIGHUP)
would be left running, holding SALESOS_HOME/redis. Re-raised as SIGTERM, it goes through whatever each command
does for SIGTERM: `serve` exits, rq's worker and the dispatcher stop after the work in hand, and each stops the
embedded Redis on the way out.
"""

from __future__ import annotations

import signal


def hang_up_like_terminate() -> None:
    signal.signal(signal.SIGHUP, lambda signum, frame: signal.raise_signal(signal.SIGTERM))
