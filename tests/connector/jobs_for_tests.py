"""Importable job functions for queue tests (rq stores functions by name)."""


def record(payload: dict) -> dict:
    return {"seen": payload["n"]}


def explode(payload: dict) -> dict:
    raise RuntimeError(f"boom {payload['n']}")


def crash_naming_a_server_path(payload: dict) -> dict:
    """A crash whose message names a file on the server, as an OSError's does."""
    raise PermissionError(13, "Permission denied", payload["path"])


def crash_at_length(payload: dict) -> dict:
    raise RuntimeError("the CRM answered: " + "x" * payload["n"])


def attempt(payload: dict) -> dict:
    """Mark each attempt with a file in `payload["marks"]` (its number, its worker's pid); wait to be killed on the
    first `payload["hang"]` attempts; otherwise work `payload["work"]` seconds and return the attempt's number."""
    import os
    import time
    from pathlib import Path

    marks = Path(payload["marks"])
    number = len(list(marks.glob("attempt-*"))) + 1
    (marks / f"attempt-{number}").write_text(str(os.getpid()))
    if number <= payload.get("hang", 0):
        time.sleep(3600)
    time.sleep(payload.get("work", 0))
    return {"attempt": number}
