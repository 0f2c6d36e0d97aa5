"""Importable job functions for queue tests (rq stores functions by name)."""

from rq import get_current_job


def record(payload: dict) -> dict:
    return {"seen": payload["n"]}


def explode(payload: dict) -> dict:
    raise RuntimeError(f"boom {payload['n']}")


def crash_naming_a_server_path(payload: dict) -> dict:
    """A crash whose message names a file on the server, as an OSError's does."""
    raise PermissionError(13, "Permission denied", payload["path"])


def crash_at_length(payload: dict) -> dict:
    raise RuntimeError("the CRM answered: " + "x" * payload["n"])


def crm_retried_once(payload: dict) -> dict:
    """A CRM call that fails once with a long Retry-After, through the policy a worker's tenant adapter has."""
    from connector.run_waits import note_crm_wait
    from crm_adapters.calls import CallPolicy, StaticToken, call
    from crm_adapters.errors import Transient

    answers = [Transient("HubSpot answered 503: busy", retry_after=payload["retry_after"]), "ok"]

    def request(token: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = CallPolicy(sleep=lambda seconds: None, on_wait=note_crm_wait)
    return {"answer": call(policy, StaticToken("t"), request, lambda exc: exc, "search companies")}


def fails_while_down(payload: dict) -> dict:
    """Fails while the Redis key `payload["down"]` exists: an outage the test ends."""
    if get_current_job().connection.exists(payload["down"]):
        raise ConnectionError("the CRM is down")
    return {"seen": payload["n"]}


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
