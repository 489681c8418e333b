"""`sessions run RECIPE.yaml`: load, validate, then run (or `--dry-run`) a recipe.

The Typer command in `register()` only parses flags; `execute()` does the work with injected
streams and consoles so tests can call it directly.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from sessions_cli.run.errors import RecipeInvalid
from sessions_cli.run.model import Recipe
from sessions_cli.run.runner import RunExit, RunResult

__all__ = ["RunRequest", "execute", "parse_vars"]


@dataclass(frozen=True)
class RunRequest:
    """Everything `sessions run` was asked to do."""

    recipe: Path
    variables: Sequence[str] = ()
    output: str | None = None
    format: str | None = None
    dry_run: bool = False
    progress: bool | None = None
    quiet: bool = False
    environ: Mapping[str, str] | None = field(default=None, repr=False)


def parse_vars(values: Sequence[str]) -> dict[str, Any]:
    """`--var k=v` pairs; values are read as YAML scalars (`n=3` is an int, `s=abc` a string).

    A malformed pair is a usage error (exit code 2), like any bad flag: `UsageError("--var", …)`.
    """
    import yaml

    from sessions_cli.fetch.options import UsageError

    parsed: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep:
            raise UsageError("--var", f"expected name=value, got {value!r} (no '=')")
        if not key.strip().isidentifier():
            raise UsageError("--var", f"expected name=value (name: letters, digits, _), got {value!r}")
        try:
            parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            parsed[key.strip()] = raw
    return parsed


def _writer(recipe: Recipe, request: RunRequest, stdout: IO[bytes], out_console: Console) -> Any:
    from sessions_cli.fetch.output import CsvWriter, JsonlWriter, TableWriter, Target

    path = request.output or recipe.output.path
    fmt = request.format or recipe.output.format
    if path == "-":
        if fmt is None and out_console.is_terminal:
            return TableWriter(out_console.print, color=not out_console.no_color)
        target = Target(stdout)
    else:
        # the recipe's own output path is relative to the recipe; -o is relative to the working dir
        where = recipe.source.directory / path if request.output is None else Path(path)
        target = Target.open_file(where, append=False)
    return CsvWriter(target) if fmt == "csv" else JsonlWriter(target)


def _report_invalid(exc: RecipeInvalid, console: Console) -> int:
    for error in exc.errors:
        console.print(f"[red]error[/red] {_escape(str(error))}", soft_wrap=True)
    console.print(f"[red]{len(exc.errors)} problem(s); nothing was sent.[/red]")
    return int(RunExit.INVALID)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _load(request: RunRequest) -> Recipe:
    from sessions_cli.run.source import load_source
    from sessions_cli.run.validate import build_recipe

    overrides = parse_vars(request.variables)  # a usage error (exit 2) before the recipe is read
    return build_recipe(load_source(request.recipe), overrides, request.environ)


def _dry_run(recipe: Recipe, stdout: IO[bytes], console: Console) -> int:
    from sessions_cli.run.dryrun import dry_run, estimate_seconds

    result = dry_run(recipe, lambda line: stdout.write(line.encode() + b"\n"))
    stdout.flush()
    line = f"dry run: {result.requests} request(s) planned"
    if result.unknown_loops:
        line += f", plus {result.unknown_loops} loop(s) over captured values"
    estimate = estimate_seconds(recipe, result.requests)
    if estimate is not None:
        line += f"; the rate limit needs at least {estimate:.1f}s"
    console.print(line)
    if result.errors:
        console.print(f"[red]{result.errors} request(s) cannot be rendered (see the error lines)[/red]")
        return int(RunExit.INVALID)
    return int(RunExit.OK)


def _run(
    recipe: Recipe, request: RunRequest, stdout: IO[bytes], console: Console, out_console: Console
) -> int:
    from sessions_cli.run.pycall import load_callable
    from sessions_cli.run.report import render_report
    from sessions_cli.run.runner import RecipeRunner, render_session
    from sessions_cli.run.session import MixinMissing, open_session, session_kwargs

    callbacks = tuple(load_callable(spec, recipe.source.directory) for spec in recipe.callbacks)
    writer = _writer(recipe, request, stdout, out_console)
    try:
        with open_session(session_kwargs(render_session(recipe))) as session:
            runner = RecipeRunner(recipe, writer, callbacks=callbacks, progress=request.progress)
            result: RunResult = runner.run(session)
    except MixinMissing as exc:
        console.print(f"[red]error[/red] {_escape(str(exc))}")
        return int(RunExit.INVALID)
    finally:
        writer.close()
    if not request.quiet:
        for line in render_report(result):
            console.print(line, highlight=False)
    return int(result.exit_code)


def execute(
    request: RunRequest,
    *,
    stdout: IO[bytes] | None = None,
    console: Console | None = None,
    out_console: Console | None = None,
) -> int:
    """Run `sessions run` and return its exit code (records → stdout, everything else → console)."""
    stdout = stdout if stdout is not None else sys.stdout.buffer
    console = console if console is not None else Console(stderr=True)
    out_console = out_console if out_console is not None else Console()
    from sessions_cli.fetch.options import UsageError

    try:
        recipe = _load(request)
    except UsageError as exc:
        console.print(f"[red]error:[/red] {_escape(str(exc))}", highlight=False, soft_wrap=True)
        return int(RunExit.USAGE)
    except RecipeInvalid as exc:
        return _report_invalid(exc, console)
    if request.dry_run:
        return _dry_run(recipe, stdout, console)
    return _run(recipe, request, stdout, console, out_console)
