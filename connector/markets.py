"""Loading market definitions: YAML files, request bodies and CRM records, all read within the same bounds."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from agents.market import MarketDefinition
from agents.validation import describe
from connector.bounded_yaml import DocumentRefused, load_bounded
from connector.channels.email import check_copy
from connector.channels.templating import TemplateProblem, read_directory


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
        market = MarketDefinition.model_validate(data)
    except ValidationError as exc:
        raise MarketError(source, describe(exc)) from None
    try:
        check_copy(market.templates)
    except TemplateProblem as exc:
        raise MarketError(source, [f"templates: {exc}"]) from None
    return market


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
    return market_from_text(text, str(path), base=path.parent)


def market_from_text(text: str, source: str, base: Path | None = None) -> MarketDefinition:
    """A market written as YAML (or JSON, which is YAML): a file, or a market record's definition in a CRM.

    From a file (`base`, its folder), `templates:` may name a directory of `<message type>.txt.j2` files relative
    to it; they are read into the market here, so the market carries its templates to every worker.
    """
    try:
        data = load_bounded(text)
    except DocumentRefused as exc:
        raise MarketError(source, [str(exc)]) from None
    if base is not None and isinstance(data, dict) and isinstance(data.get("templates"), str):
        try:
            data = {**data, "templates": read_directory(base / data["templates"])}
        except TemplateProblem as exc:
            raise MarketError(source, [f"templates: {exc}"]) from None
    return parse_market(data, source)
