"""Importable job functions for queue tests (rq stores functions by name)."""


def record(payload: dict) -> dict:
    return {"seen": payload["n"]}


def explode(payload: dict) -> dict:
    raise RuntimeError(f"boom {payload['n']}")
