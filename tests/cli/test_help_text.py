"""Help texts survive Rich markup: a bracketed default such as ``[host]`` is a Rich tag unless escaped,
and Rich silently drops unknown tags, so ``--help`` would show "host | endpoint | global ." instead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer.main
from rich.text import Text

from sessions_cli.app import app

_ESCAPED = re.compile(r"\\\[")


def _helps(command: Any, path: str) -> Iterator[tuple[str, str]]:
    if command.help:
        yield path, command.help
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            yield f"{path} {param.name}", text
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _helps(sub, f"{path} {name}")


def test_every_help_text_renders_without_losing_brackets() -> None:
    root = typer.main.get_command(app)
    seen = 0
    for where, text in _helps(root, "sessions"):
        seen += 1
        text = text.replace("\b", "")  # click's "do not rewrap" marker, which Rich drops too
        rendered = Text.from_markup(text).plain
        assert rendered == _ESCAPED.sub("[", text), f"{where}: Rich markup ate part of {text!r}"
    assert seen > 50  # every command and option was visited


def test_a_bracketed_default_is_shown() -> None:
    root: Any = typer.main.get_command(app)
    fetch = root.commands["fetch"]
    limit_by = next(p for p in fetch.params if p.name == "limit_by")
    assert Text.from_markup(limit_by.help).plain.endswith("[host].")
