"""One way to tell a user what is wrong with their input, quoting only a little of it.

Input can be hostile: a field path built from a 4,000-character key, a value
that is a nested list of millions of items. Every error message quotes input
through `clip` or `quote`, which keep at most QUOTE_LIMIT characters and cost
no more than that to build, so an error answer never grows with its input.

Input can also hide what it says: control characters (an escape sequence that
clears a terminal, a newline that starts a forged log line) and Unicode format
characters (U+202E turns the rest of a line right to left, U+200B is a space
that takes no room) are invisible where a value is shown. They are removed from
values at ingestion (`without_invisible`: a market's text keeps its tabs and line
breaks, a data row's one-line fields get a space for them) and shown escaped in
every message (`clip`, `quote`).
"""

from __future__ import annotations

import re
import reprlib
import unicodedata
from collections.abc import Callable

from pydantic import ValidationError

_PREFIX = "Value error, "
QUOTE_LIMIT = 100  # characters of any input value an error message may quote
MESSAGE_LIMIT = 2 * QUOTE_LIMIT  # a rule and one quoted value, whatever a validator did to the value before quoting
MAX_PROBLEMS = 20  # lines of one error answer; the rest are counted
# Unicode categories: control and format characters, and surrogates (half a character, which JSON's \ud800 escape
# can give: no text at all, and no UTF-8 encoder takes it)
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})
_LINE_CHARACTERS = frozenset("\t\n\r")  # controls a multi-line value may keep
# Line breaks and tabs (Unicode's too: NEL, the line and paragraph separators, the information separators Python
# splits lines at); in a one-line field a run of them is one space.
_BREAKS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]+")


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to at most `limit` characters, marked with "..." when cut: the one clipping rule.

    Control and format characters, line breaks included, are shown escaped (`\\x1b`, `\\u202e`), as repr() shows
    them: a message stays one line and says what it shows."""
    shown = _escaped(text[:limit + 1])
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _escaped(text: str) -> str:
    if text.isprintable():  # the common case, at C speed: no control or format character
        return text
    return "".join(repr(char)[1:-1] if unicodedata.category(char) in _INVISIBLE else char for char in text)


def visible(text: str) -> str:
    """`text` without its control characters (tab and line breaks aside) and format characters."""
    if text.isprintable():
        return text
    return "".join(char for char in text if char in _LINE_CHARACTERS or not _hidden(char))


def one_line(text: str) -> str:
    """`text` for a one-line field (a name, a title, a domain): `visible`, with each run of line breaks and tabs
    one space, so "Acme\\nCorp" stays two words."""
    if text.isprintable():
        return text
    return "".join(char for char in _BREAKS.sub(" ", text) if not _hidden(char))


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _INVISIBLE


def without_invisible(value: object, clean: Callable[[str], str] = visible) -> object:
    """`value` with every string in it `clean`ed (keys aside: an unknown key is refused and shown escaped)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [without_invisible(item, clean) for item in value]
    if isinstance(value, dict):
        return {key: without_invisible(item, clean) for key, item in value.items()}
    return value


class _BoundedRepr(reprlib.Repr):
    """repr() that looks at a few items and characters only, whatever the value's size."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, QUOTE_LIMIT, QUOTE_LIMIT, 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 6

    def repr_int(self, value: int, level: int) -> str:
        if value.bit_length() > 3 * self.maxlong:  # int -> str is quadratic; over 4,300 digits Python refuses
            return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
        return super().repr_int(value, level)


_REPR = _BoundedRepr()


def quote(value: object) -> str:
    """repr(value) in at most QUOTE_LIMIT characters."""
    return clip(_REPR.repr(value))


def describe(exc: ValidationError, root: str = "(document)") -> list[str]:
    """One line per problem: the field path (`root` for the whole input), the rule, and the value given (all
    clipped)."""
    lines = []
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_PROBLEMS]:
        field = clip(".".join(str(part) for part in error["loc"])) or root
        value = error.get("input")
        message = error["msg"].removeprefix(_PREFIX)
        if isinstance(value, str) and len(value) > QUOTE_LIMIT and value in message:
            message = message.replace(value, clip(value))  # a validator put all of it in (float() does)
        message = clip(message, MESSAGE_LIMIT)
        if error["type"] == "missing":
            lines.append(f"{field}: required field is missing")
        elif error["type"] == "extra_forbidden":
            lines.append(f"{field}: unknown field (value {quote(value)})")
        elif isinstance(value, (str, int, float, bool)) and not _mentions(message, value):
            lines.append(f"{field}: {message} (got {quote(value)})")
        else:
            lines.append(f"{field}: {message}")
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"... and {len(errors) - MAX_PROBLEMS} more problems")
    return lines


def _mentions(message: str, value: object) -> bool:
    return quote(value) in message or (isinstance(value, str) and clip(value) in message)
