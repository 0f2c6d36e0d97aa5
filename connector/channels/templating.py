"""The copy's templates: the bundled ones, a market's overrides on top, in a Jinja sandbox.

A sales-ops admin writes a market's templates, so they run in
`jinja2.sandbox.SandboxedEnvironment` (no attribute starting with "_", no
Python reached through an object) with `StrictUndefined` (a misspelt variable
is an error, never a blank). The sandbox stops escapes but not work: a
template could double a string forty times or recurse through a macro. So a
template is bounded before it runs: no macros, includes, imports or
assignments or blocks; loops nest at most two deep and never recurse; `range` stops at 100; `*`, `+` and
`join` refuse results over 10,000 characters; the whole text is capped too.
What stays is what copy needs: variables, `if`, `for`, a few filters.

A market's templates are checked when the market is loaded (`connector.channels.email.check_copy`):
a syntax error, a refused construct or a misspelt variable is reported with
the template's name and line, before any prospect gets an email.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader, ChoiceLoader, FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateNotFound,
    TemplateSyntaxError, nodes, pass_eval_context,
)
from jinja2.sandbox import SandboxedEnvironment

from agents.sequences import COPY_KINDS

BUNDLED = Path(__file__).parent / "templates"
SUFFIX = ".txt.j2"
MAX_RANGE = 100
MAX_LOOP_DEPTH = 2
MAX_VALUE_CHARS = 10_000
MAX_OUTPUT_CHARS = 20_000
_REFUSED = {
    nodes.Macro: "macros", nodes.CallBlock: "call blocks", nodes.Include: "include", nodes.Extends: "extends",
    nodes.Import: "import", nodes.FromImport: "import", nodes.Assign: "set", nodes.AssignBlock: "set",
    nodes.With: "with", nodes.FilterBlock: "filter blocks", nodes.Block: "blocks",
}
_FILTERS = ("capitalize", "default", "d", "first", "last", "length", "count", "lower", "upper", "title", "trim",
            "truncate", "wordcount", "int", "round", "string", "list", "join")
_METHODS = frozenset({"upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "startswith", "endswith",
                      "split", "get", "items", "keys", "values"})


class TemplateProblem(ValueError):
    """A template that cannot be used: `name` (its file name), `line` (1-based, when known) and what is wrong."""

    def __init__(self, name: str, line: int | None, problem: str) -> None:
        self.name, self.line, self.problem = name, line, problem
        super().__init__(f"template {name}{f' line {line}' if line else ''}: {problem}")


class _CopySandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Data, and a few read-only string and mapping methods; no other method (`ljust(10**9)`, `model_dump`)."""
        if callable(value) and attr not in _METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise TemplateError("'%' formatting is not available in templates")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise TemplateError("'**' is limited to exponents up to 100")
        if operator == "*" and _too_long(left, right):
            raise TemplateError(f"'*' would make a value over {MAX_VALUE_CHARS:,} characters")
        return _bounded(super().call_binop(context, operator, left, right))


def _too_long(left: Any, right: Any) -> bool:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_VALUE_CHARS:
            return True
    return False


def _bounded(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_VALUE_CHARS:
        raise TemplateError(f"a value over {MAX_VALUE_CHARS:,} characters")
    return value


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateError(f"range() is limited to {MAX_RANGE} items in templates")
    return numbers


class _Overrides(BaseLoader):
    """A market's templates by file name; the name doubles as the file name in errors and tracebacks."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)

    def get_source(self, environment, template):  # noqa: ANN001, ANN201 (jinja's signature)
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], template, lambda: True


def _environment(overrides: Mapping[str, str]) -> _CopySandbox:
    env = _CopySandbox(
        loader=ChoiceLoader([_Overrides({f"{kind}{SUFFIX}": text for kind, text in overrides.items()}),
                             FileSystemLoader([BUNDLED / "email", BUNDLED / "tasks"])]),
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False,  # plain text
    )
    join = env.filters["join"]

    @pass_eval_context
    def bounded_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        return _bounded(join(eval_ctx, value, d, attribute))

    env.filters = {name: env.filters[name] for name in _FILTERS} | {"join": bounded_join}
    env.globals = {"range": _range}
    return env


@lru_cache(maxsize=64)
def _cached(overrides: tuple[tuple[str, str], ...]) -> _CopySandbox:
    return _environment(dict(overrides))


def template_for(kind: str, overrides: Mapping[str, str] | None = None, fallback: str | None = None) -> Template:
    """The market's template for `kind`, else the bundled one, else (for an email type) `fallback`'s."""
    env = _cached(tuple(sorted((overrides or {}).items())))
    names = [f"{kind}{SUFFIX}"] + ([f"{fallback}{SUFFIX}"] if fallback else [])
    for name in names:
        try:
            template = env.get_template(name)
        except TemplateNotFound:
            continue
        except TemplateSyntaxError as exc:
            raise TemplateProblem(name, exc.lineno, exc.message or "syntax error") from None
        _check_bounds(name, template)
        return template
    raise TemplateProblem(names[0], None, "no such template")


def render_text(template: Template, context: Mapping[str, Any]) -> str:
    """The template's text; anything it refuses or misses is a TemplateProblem naming the template and line."""
    try:
        text = template.render(**context)
    except (TemplateError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise TemplateProblem(template.name or "?", _line_of(exc, template.name), _message(exc)) from None
    if len(text) > MAX_OUTPUT_CHARS:
        raise TemplateProblem(template.name or "?", None, f"renders {len(text):,} characters; at most "
                                                          f"{MAX_OUTPUT_CHARS:,}")
    return text


def _check_bounds(name: str, template: Template) -> None:
    """Refused constructs and loop depth, once per compiled template (jinja caches it; the check is cheap)."""
    if getattr(template, "_copy_checked", False):
        return
    source = template.environment.loader.get_source(template.environment, name)[0]
    tree = template.environment.parse(source)
    for kind, what in _REFUSED.items():
        for node in tree.find_all(kind):
            raise TemplateProblem(name, node.lineno, f"'{what}' is not available in templates")
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise TemplateProblem(name, loop.lineno, "recursive loops are not available in templates")
        if _loop_depth(loop) > MAX_LOOP_DEPTH:
            raise TemplateProblem(name, loop.lineno, f"loops nest at most {MAX_LOOP_DEPTH} deep in templates")
    template._copy_checked = True  # type: ignore[attr-defined]


def _loop_depth(node: nodes.Node) -> int:
    inner = [_loop_depth(child) for child in node.iter_child_nodes()]
    return (1 if isinstance(node, nodes.For) else 0) + max(inner, default=0)


def _line_of(exc: BaseException, name: str | None) -> int | None:
    """The template line the error happened on: jinja rewrites the traceback's frames to the template's lines."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def read_directory(directory: Path) -> dict[str, str]:
    """A market's template directory: one `<message type>.txt.j2` per template it overrides.

    A file that is not a known message type is an error (a misspelt file name would otherwise be ignored).
    """
    if not directory.is_dir():
        raise TemplateProblem(str(directory), None, "no such directory")
    found: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        kind = path.name.removesuffix(SUFFIX)
        if not path.name.endswith(SUFFIX) or kind not in COPY_KINDS:
            raise TemplateProblem(str(path), None, f"not a template name: name it <message type>{SUFFIX}, one of "
                                                   f"{', '.join(COPY_KINDS)}")
        try:
            found[kind] = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateProblem(str(path), None, f"cannot read it: {exc}") from None
    return found
