"""The `sessions` Typer app: `fetch`, `cache`, `config`, and `--version`.

Start-up stays cheap: subcommand modules import the HTTP stack only inside their functions.
"""

# No `from __future__ import annotations` here: Typer would compile and eval every string
# annotation of the commands below twice, on every start of any command (~0.3 ms an option).

import importlib
import sys
import types
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from sessions_cli import _typer_params
from sessions_cli.exit_codes import EXIT_CODES_HELP
from sessions_cli.fetch.command import EXAMPLES, FetchCommand, fetch

__all__ = ["app", "main"]


class SessionsGroup(TyperGroup):
    """The root group; its --help and completion options skip pydantic (`_typer_params`)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        _typer_params.install(self.get_params(ctx))
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="sessions",
    cls=SessionsGroup,
    help="HTTP sessions from the command line: batch fetching with rate limits and a cache.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from sessions_cli import __version__

        typer.echo(f"sessions {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """HTTP sessions from the command line."""


app.command("fetch", cls=FetchCommand, epilog=EXAMPLES, no_args_is_help=False)(fetch)


def _add_groups() -> None:
    """Join the command groups; `run` and `bench`/`httpbin` register themselves (their owners' modules)."""
    from sessions_cli import bench, run
    from sessions_cli.cache_cmd import cache_app
    from sessions_cli.config_cmd import config_app

    app.add_typer(cache_app, name="cache")
    app.add_typer(config_app, name="config")
    run.register(app)
    bench.register(app)


_add_groups()


def main() -> None:
    """Console-script entry point (`sessions`)."""
    _defer_httpx_command_line()
    app()


def _defer_httpx_command_line() -> None:
    """httpx's package imports its own command-line client (click, pygments, rich's syntax highlighting:
    ~35 ms of every start) whenever those are installed. In this process the command line is ours: a stand-in
    `httpx._main` loads the real one only if something calls `httpx.main()`."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        if sys.modules.get("httpx._main") is stand_in:  # the first call: load the real module, once
            del sys.modules["httpx._main"]
        return importlib.import_module("httpx._main").main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in
