"""SalesOS's files on disk are its owner's alone: directories 0700, files 0600.

SALESOS_HOME holds people's names and emails (the local CRM, the outbox, run
summaries), unsubscribe tokens and encrypted CRM tokens. Each file gets its
mode when it is created, so it is never readable by others for a moment, and
whatever the umask. SQLite creates a database's -wal, -shm and -journal files
with the database's own mode, so opening databases through `connect` covers
them too. Existing files keep their mode: a SALESOS_HOME made by an older
SalesOS is closed with `chmod -R go= SALESOS_HOME`.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` unless it exists, and its missing parents, each 0700."""
    if not path.is_dir():
        private_dir(path.parent)
        path.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create an empty `path` (0600, in a private directory) unless it exists (then it is left untouched:
    a reader may lack the right to write it)."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    return path


def connect(path: Path, **options) -> sqlite3.Connection:
    """`sqlite3.connect` on a database file created 0600 (its journals follow its mode)."""
    return sqlite3.connect(private_file(path), **options)


def write_private(path: Path, data: bytes | str) -> Path:
    """Replace `path` atomically with `data` (text as UTF-8): readers see the old file or the new, whole."""
    private_dir(path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def append_private(path: Path) -> BinaryIO:
    """`path` opened for appending bytes, created 0600 if missing (log files)."""
    private_dir(path.parent)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "ab")


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Run a child process that writes its own files (the embedded redis-server) with umask 077.

    The umask is per process, so it is changed only while the child starts; it inherits it for life.
    """
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
