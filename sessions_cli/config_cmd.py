"""`sessions config show`: every fetch setting, its resolved value and where it came from."""

# No `from __future__ import annotations` here: Typer would compile and eval every string
# annotation of the commands below twice, on every start of any command (~0.3 ms an option).

import os
from pathlib import Path
from typing import Annotated

import typer

from sessions_cli.exit_codes import ExitCode

__all__ = ["config_app"]

config_app = typer.Typer(help="Inspect configuration (flags > SESSIONS_* env > sessions.toml > user config).")


@config_app.command("show")
def show(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option("--profile", help="Resolve with this profile.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the resolved settings and the source of each one."""
    import json

    from rich.console import Console

    from sessions_cli.config import ConfigError, resolve, user_config_dir

    err = Console(stderr=True)
    try:
        values = resolve({}, env=os.environ, cwd=Path.cwd(), profile=profile)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if as_json:
        data = {
            name: {"value": values.values[name], "source": values.sources[name]} for name in values.values
        }
        typer.echo(json.dumps({"profile": values.profile, "files": [str(p) for p in values.files],
                               "settings": data}, indent=2))  # fmt: skip
        return
    out = Console(highlight=False)
    files = ", ".join(map(str, values.files)) or "none (looked in ./sessions.toml, ./pyproject.toml, "
    if not values.files:
        files += f"{user_config_dir() / 'config.toml'})"
    out.print(f"files: {files}", markup=False)
    out.print(f"profile: {values.profile or '-'}", markup=False)
    width = max(map(len, values.values))
    for name, value in values.values.items():
        out.print(f"{name:<{width}}  {value!r:<24}  {values.sources[name]}", markup=False)
