"""Reading a recipe file: YAML data plus the line of every path in it.

`yaml.compose` keeps each node's position; walking the node tree alongside the data gives a
map from paths (`steps[2].capture.id`) to 1-based line numbers, so errors found later, on
plain Python data, still point at the right line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sessions_cli.run.errors import RecipeError, RecipeInvalid

__all__ = ["RecipeSource", "child_path", "load_source"]


def child_path(parent: str, key: str | int) -> str:
    """The path of `key` under `parent`: `steps` + 2 → `steps[2]`, `steps[2]` + `url` → `steps[2].url`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


@dataclass(frozen=True)
class RecipeSource:
    """A loaded recipe file: its data, where it lives, and the line of each path."""

    file: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """Relative file names in the recipe (data files, modules) resolve against this."""
        return Path(self.file).resolve().parent

    def line(self, path: str) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _parent(path)
        return self.lines.get("")

    def error(self, path: str, message: str) -> RecipeError:
        """A `RecipeError` at `path` in this file."""
        return RecipeError(self.file, self.line(path), path, message)


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _walk(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = child_path(path, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _walk(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _walk(item, child_path(path, position), lines)


def _syntax_error(file: str, exc: yaml.YAMLError) -> RecipeInvalid:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    return RecipeInvalid([RecipeError(file, line, "", f"invalid YAML: {problem}")])


def parse_text(text: str, file: str = "<recipe>") -> RecipeSource:
    """Parse recipe text; a YAML syntax error raises `RecipeInvalid` with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(file, exc) from exc
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return RecipeSource(file, data, lines)


def load_source(path: str | Path) -> RecipeSource:
    """Read and parse a recipe file; an unreadable file raises `RecipeInvalid` too (exit 3)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise RecipeInvalid([RecipeError(str(path), None, "", f"cannot read recipe: {exc}")]) from exc
    return parse_text(text, str(path))
