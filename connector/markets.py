"""Loading market definitions: YAML files, request bodies and CRM records, all read within the same bounds."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from agents.market import MarketDefinition
from agents.validation import describe
from connector.bounded_yaml import DocumentRefused, load_bounded


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
        data = path.read_bytes()
    except OSError as exc:
        raise MarketError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MarketError(str(path), [f"(document): not UTF-8 text (byte {data[exc.start]:#04x} at position "
                                      f"{exc.start}); save the file as UTF-8"]) from None
    return market_from_text(text, str(path))


def market_from_text(text: str, source: str) -> MarketDefinition:
    """A market written as YAML (or JSON, which is YAML): a file, or a market record's definition in a CRM."""
    try:
        data = load_bounded(text)
    except DocumentRefused as exc:
        raise MarketError(source, [str(exc)]) from None
    return parse_market(data, source)
