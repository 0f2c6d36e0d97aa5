"""Loading market definitions from YAML files."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from agents.market import MarketDefinition
from agents.validation import describe


class MarketError(ValueError):
    """A market file that cannot be used; `problems` has one line per field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def parse_market(data: object, source: str = "market") -> MarketDefinition:
    if not isinstance(data, dict):
        raise MarketError(source, [f"(document): expected a mapping of fields, got {type(data).__name__}"])
    try:
        return MarketDefinition.model_validate(data)
    except ValidationError as exc:
        raise MarketError(source, describe(exc)) from None


def load_market(path: Path) -> MarketDefinition:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MarketError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    return market_from_text(text, str(path))


def market_from_text(text: str, source: str) -> MarketDefinition:
    """A market written as YAML (or JSON, which is YAML): a file, or a market record's definition in a CRM."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MarketError(source, [f"(document): invalid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
    return parse_market(data, source)
