"""One way to tell a user what is wrong with their input."""

from __future__ import annotations

from pydantic import ValidationError

_PREFIX = "Value error, "


def describe(exc: ValidationError) -> list[str]:
    """One line per problem: the field path, the rule, and the value given."""
    lines = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(document)"
        message = error["msg"].removeprefix(_PREFIX)
        value = error.get("input")
        if error["type"] == "missing":
            lines.append(f"{field}: required field is missing")
        elif error["type"] == "extra_forbidden":
            lines.append(f"{field}: unknown field (value {value!r})")
        elif isinstance(value, (str, int, float, bool)) and repr(value) not in message:
            lines.append(f"{field}: {message} (got {value!r})")
        else:
            lines.append(f"{field}: {message}")
    return lines
