"""YAML (and JSON, which is YAML) from outside SalesOS, read at a cost that does not grow with its tricks.

A market arrives as a request body, a file or a CRM record's text. Before a
single value is built, the document's event stream (libyaml's, in C) is
walked and refused at the first thing a market never needs:

- anchors and aliases (`&a`, `*a`): a few hundred bytes of nested aliases
  expand to gigabytes once anything walks the values ("billion laughs");
- tags (`!!binary`, `!!int abc`): they build values no market needs, some
  with errors outside YAMLError;
- nesting deeper than MAX_DEPTH (composing recurses: deep nesting is a
  RecursionError), more than MAX_NODES values, a value longer than
  MAX_SCALAR_CHARS;
- integers with more than MAX_INT_DIGITS digits (Python refuses to read ints
  over 4,300 digits with a ValueError) and floats that are not finite
  (`.inf`, `.nan`, `1.0e+999`), and dates that do not exist (`2026-13-45`).

Each refusal names the field it happened at and the rule, never the value.
"""

from __future__ import annotations

import math

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
)
from yaml.nodes import ScalarNode

from agents.validation import clip

MAX_DEPTH = 20
MAX_NODES = 10_000
MAX_SCALAR_CHARS = 5_000
MAX_INT_DIGITS = 20

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: the walk stays cheap
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = SafeConstructor()


class DocumentRefused(ValueError):
    """The text is not YAML SalesOS reads, or breaks a bound; the message names where and which rule."""


def load_bounded(text: str) -> object:
    """Parse one YAML document within the bounds above; raises DocumentRefused."""
    try:
        _check(yaml.parse(text, Loader=_Loader))
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DocumentRefused(f"(document): invalid YAML{where}: {clip(str(exc.problem or exc.context))}") from None
    except yaml.YAMLError as exc:
        raise DocumentRefused(f"(document): invalid YAML: {clip(str(exc))}") from None


class _Open:
    """A mapping or sequence being read: its path, and where its next value goes."""

    def __init__(self, path: str, mapping: bool) -> None:
        self.path, self.mapping = path, mapping
        self.key: str | None = None  # mapping: the key whose value comes next (None: a key comes next)
        self.index = 0  # sequence: the next item's position

    def child_path(self) -> str:
        if self.mapping and self.key is None:
            return self.path or "(document)"  # a key: refusals name the mapping it is in
        return _join(self.path, self.key if self.mapping else str(self.index))

    def finished(self, event: NodeEvent | CollectionEndEvent) -> None:
        """A child node (a key, a value or an item) ended."""
        if not self.mapping:
            self.index += 1
        elif self.key is None:
            self.key = clip(event.value) if isinstance(event, ScalarEvent) else "?"
        else:
            self.key = None


def _check(events) -> None:
    stack: list[_Open] = []
    nodes = 0
    for event in events:
        if isinstance(event, CollectionEndEvent):
            stack.pop()
            if stack:
                stack[-1].finished(event)
            continue
        if not isinstance(event, NodeEvent):
            continue  # stream and document markers
        path = stack[-1].child_path() if stack else "(document)"
        nodes += 1
        if isinstance(event, AliasEvent) or event.anchor is not None:
            raise _refused(path, "YAML anchors and aliases (&name, *name) are not accepted; write each value out")
        if event.tag not in (None, "!"):
            raise _refused(path, "YAML tags (!!type) are not accepted")
        if nodes > MAX_NODES:
            raise _refused(path, f"more than {MAX_NODES} values in one document")
        if isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _refused(path, f"nested more than {MAX_DEPTH} levels deep")
            stack.append(_Open(path if stack else "", isinstance(event, MappingStartEvent)))
            continue
        _check_scalar(event, path)
        if stack:
            stack[-1].finished(event)


def _check_scalar(event: ScalarEvent, path: str) -> None:
    """Build the scalars that can fail to build (numbers, dates) now, so the loader never raises outside YAMLError."""
    if len(event.value) > MAX_SCALAR_CHARS:
        raise _refused(path, f"a value longer than {MAX_SCALAR_CHARS} characters")
    tag = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)
    if tag == _INT and sum(char.isalnum() for char in event.value) > MAX_INT_DIGITS:
        raise _refused(path, f"a number with more than {MAX_INT_DIGITS} digits")
    if tag not in (_INT, _FLOAT, _TIMESTAMP):
        return
    try:
        value = SafeConstructor.yaml_constructors[tag](_CONSTRUCTOR, ScalarNode(tag, event.value))
    except (ValueError, OverflowError):
        raise _refused(path, "not a valid date or time") from None  # the resolver's patterns pass only those
    if isinstance(value, float) and not math.isfinite(value):
        raise _refused(path, "numbers must be finite (no .inf, .nan or overflow)")


def _refused(path: str, rule: str) -> DocumentRefused:
    return DocumentRefused(f"{clip(path)}: {rule}")


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part
