"""`sessions run RECIPE.yaml`: YAML recipes — templated requests, captures, asserts, loops and data rows.

Modules: `source` (YAML + line map), `validate` → `model` (checked before anything is sent),
`templates` (Jinja2, strict), `plan` (iterations and rendered requests), `captures`, `asserts`,
`session` (the `session:` block → a session with the same options as fetch's flags),
`runner` (execution and records), `dryrun`, `report`, `command` (the CLI entry point).
"""

# No `from __future__ import annotations` here: Typer would compile and eval every string
# annotation of the commands below twice, on every start of any command (~0.3 ms an option).

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

RUN_HELP = """Run a YAML recipe: requests with {{ var }} templates, captures, asserts, loops and CSV rows.

\b
Examples:
  sessions run recipes/paginated_walk.yaml --var base=http://127.0.0.1:8080
  sessions run recipe.yaml --dry-run
  sessions run recipe.yaml -o results.jsonl --var pages=5

\b
Exit codes: 0 all passed; 1 transport errors; 2 usage error;
3 invalid recipe (file:line: path: problem — nothing is sent); 4 assertion failures.
"""


def register(app: typer.Typer) -> None:
    """Add the `run` command to the `sessions` Typer app."""

    @app.command("run", help=RUN_HELP, no_args_is_help=True)
    def run(
        recipe: Annotated[Path, typer.Argument(help="The recipe file (YAML).")],
        var: Annotated[
            list[str] | None,
            typer.Option("--var", help="Set a variable: name=value (repeatable; overrides vars:)."),
        ] = None,
        output: Annotated[
            str | None,
            typer.Option(
                "-o", "--output", help="Write records here instead of the recipe's output: (- = stdout)."
            ),
        ] = None,
        fmt: Annotated[
            str | None,
            typer.Option("--format", help="Record format: jsonl or csv (a table on a TTY by default)."),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Render the requests without sending them.")
        ] = False,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
        quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No report on stderr.")] = False,
    ) -> None:
        from sessions_cli.run.command import RunRequest, execute

        if fmt is not None and fmt not in ("jsonl", "csv"):
            raise typer.BadParameter("expected jsonl or csv", param_hint="--format")
        request = RunRequest(
            recipe=recipe,
            variables=tuple(var or ()),
            output=output,
            format=fmt,
            dry_run=dry_run,
            progress=False if no_progress else None,
            quiet=quiet,
        )
        raise typer.Exit(execute(request))
