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
