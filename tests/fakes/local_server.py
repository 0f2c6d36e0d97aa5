"""A WSGI app on a free loopback port, served by waitress in a thread, stopped cleanly.

Every local fake (HubSpot, the data providers) runs through this: waitress
speaks HTTP/1.1 keep-alive as the real services do (werkzeug's server closes
every connection), and its stop needs care under load, explained below.
"""

from __future__ import annotations

import threading

from waitress import create_server


class LocalServer:
    """`url` is `http://127.0.0.1:<port>`; `stop()` (or leaving its `with` block) shuts the server down and waits
    for its thread."""

    def __init__(self, app, threads: int = 8) -> None:
        self._server = create_server(app, host="127.0.0.1", port=0, threads=threads, asyncore_loop_timeout=0.05)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        # First the request threads: one still answering pulls the trigger when it is done. waitress gives up
        # waiting after 5 s by default, which a loaded machine can exceed; a request here takes milliseconds.
        self._server.task_dispatcher.shutdown(timeout=120)
        # pull_trigger(thunk) queues the thunk, lets go of the lock, then writes to the pipe: a byte already
        # there (a request thread's last pull) can run the thunk in between, closing the pipe before the write
        # (EBADF). Holding the lock that running thunks takes keeps the pipe open until the write is done.
        trigger = self._server.trigger
        with trigger.lock:
            trigger.thunks.append(self._close_all)
            trigger._physical_pull()
        self._thread.join(timeout=120)

    def _close_all(self) -> None:
        """In the server's own loop thread (a socket closed under its select() breaks it): the listener, the
        kept-alive connections and the trigger; with none left the loop ends. A thread that still pulls the
        trigger afterwards must not write to its closed pipe (EBADF), or into whatever reused that descriptor."""
        self._server.trigger._physical_pull = lambda: None
        for channel in list(self._server._map.values()):
            channel.close()
