"""`{{ var }}` templates with Jinja2: StrictUndefined, native values for whole-expression strings.

* A string that is exactly one `{{ expression }}` evaluates to the expression's native value, so
  `foreach: "{{ ids }}"` yields a list and `json: {page: "{{ n }}"}` keeps an int.
* Any other string renders to text (`"/items/{{ id }}"`).
* An undefined name is an error, at render time (`StrictUndefined`) and — better — statically,
  before anything is sent: `undeclared()` lists the names a template needs, including the
  attributes it reads from `env.X` and `row.X`, so validation can name what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes

__all__ = [
    "Placeholder",
    "TemplateProblem",
    "environment",
    "has_template",
    "render",
    "template_strings",
    "undeclared",
]

_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


class TemplateProblem(ValueError):
    """A template failed to parse or render (undefined variable, syntax error, bad filter)."""


class Placeholder(str):
    """Stands in for a value only known once the recipe runs (a capture, in `--dry-run`)."""

    __slots__ = ()

    def __new__(cls, name: str) -> Placeholder:
        return super().__new__(cls, f"<{name}>")

    def __getattr__(self, name: str) -> Placeholder:
        return Placeholder(f"{self[1:-1]}.{name}")

    def __getitem__(self, key: Any) -> Placeholder:
        return Placeholder(f"{self[1:-1]}[{key!r}]")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment: strict about undefined names, no autoescaping (not HTML)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["b64encode"] = _b64encode
    return env


def _b64encode(value: Any) -> str:
    """`{{ (user ~ ":" ~ password) | b64encode }}` — for Basic auth headers."""
    import base64

    data = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(data).decode("ascii")


def has_template(text: str) -> bool:
    """True when `text` contains Jinja syntax."""
    return "{{" in text or "{%" in text


@lru_cache(maxsize=1024)
def _compiled(text: str) -> tuple[Any, bool]:
    env = environment()
    whole = _WHOLE.match(text)
    if whole and "}}" not in whole.group("expr"):
        return env.compile_expression(whole.group("expr"), undefined_to_none=False), True
    return env.from_string(text), False


def _render_string(text: str, context: Mapping[str, Any]) -> Any:
    if not has_template(text):
        return text
    try:
        compiled, native = _compiled(text)
        if native:
            value = compiled(**context)
            if isinstance(value, jinja2.Undefined):
                str(value)  # StrictUndefined raises here with the name
            return value
        return compiled.render(**context)
    except jinja2.TemplateError as exc:
        raise TemplateProblem(exc.message or str(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        # an expression on a value of the wrong type (`total + 1` with a string capture)
        raise TemplateProblem(f"{text.strip()}: {type(exc).__name__}: {exc}") from exc


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside `value` (dicts, lists, nested) against `context`."""
    if isinstance(value, str):
        return _render_string(value, context)
    if isinstance(value, Mapping):
        return {render(k, context): render(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


def template_strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, text) of every templated string inside `value`, keys included."""
    from sessions_cli.run.source import child_path

    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        if has_template(value):
            found.append((path, value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found += template_strings(key, child_path(path, str(key)))
            found += template_strings(item, child_path(path, str(key)))
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            found += template_strings(item, child_path(path, position))
    return found


def _parse(text: str) -> nodes.Template:
    try:
        return environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}") from exc


def undeclared(text: str, namespaces: tuple[str, ...] = ("env", "row")) -> tuple[set[str], set[str]]:
    """(top-level names, `ns.attr` names) a template reads and does not define itself."""
    from jinja2 import meta

    tree = _parse(text)
    names = set(meta.find_undeclared_variables(tree))
    attributes = {
        f"{node.node.name}.{node.attr}"
        for node in tree.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name in namespaces
    }
    attributes |= {
        f"{node.node.name}.{node.arg.value}"
        for node in tree.find_all(nodes.Getitem)
        if isinstance(node.node, nodes.Name)
        and node.node.name in namespaces
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    }
    return names, attributes
