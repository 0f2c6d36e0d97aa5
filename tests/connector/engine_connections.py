"""The connections SQLAlchemy's engines open while a block runs: a test's count of database round trips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event


@contextmanager
def connections() -> Iterator[list[str]]:
    """The URL (password hidden) of each connection any engine opens inside the block, in order."""
    opened: list[str] = []

    def record(conn: Connection) -> None:
        opened.append(conn.engine.url.render_as_string(hide_password=True))

    event.listen(Engine, "engine_connect", record)
    try:
        yield opened
    finally:
        event.remove(Engine, "engine_connect", record)
