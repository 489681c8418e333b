"""The `sessions fetch` Typer command: parse flags, resolve configuration, hand off to the runner.

Kept thin on purpose: no HTTP import happens here (start-up time is part of the benchmark).
"""

# No `from __future__ import annotations` here: Typer would compile and eval every string
# annotation of the commands below twice, on every start of any command (~0.3 ms an option).

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from sessions_cli import _typer_params
from sessions_cli.exit_codes import EXIT_CODES_HELP, ExitCode
from sessions_cli.fetch.options import normalize_cache_flag

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXAMPLES", "FetchCommand", "fetch"]

EXAMPLES = (
    """\
Examples:

  sessions fetch urls.txt --ratelimit gcra --period 2 --limit 5

  sessions fetch -i urls.jsonl -c 32 -o results.jsonl --resume

  cat urls.txt | sessions fetch --rate 100/m --cache --format csv > out.csv

  sessions fetch https://api.example.com/items -H "Authorization: Bearer $TOKEN" --params page=2

  sessions fetch -i rows.csv --callback mymod:extract --save-dir bodies/ --summary-json summary.json

"""
    + EXIT_CODES_HELP
)

_INPUT = "Input"
_REQUEST = "Requests"
_LIMIT = "Rate limiting"
_CACHE = "Caching"
_OUTPUT = "Output"
_RUN = "Run"
_CLUSTER = "Cluster (Dask)"


class FetchCommand(TyperCommand):
    """Lets `--cache` take an optional value (`--cache` alone means `--cache sqlite`); coerces the
    flags without pydantic (`_typer_params`)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        _typer_params.install(self.get_params(ctx))
        return super().parse_args(ctx, normalize_cache_flag(list(args)))


def _console(ctx: typer.Context) -> "Console":
    injected = (ctx.obj or {}).get("console") if isinstance(ctx.obj, dict) else None
    if injected is not None:
        return injected  # type: ignore[no-any-return]
    from sessions_cli._console import DeferredConsole

    return DeferredConsole()  # type: ignore[return-value]  # a Console on first use (no rich on a quiet run)


def _fail(console: "Console", message: str, code: ExitCode) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)  # one line
    return typer.Exit(int(code))


def _sigterm_as_interrupt() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, handler)


def fetch(
    ctx: typer.Context,
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="URLs or input files to fetch (or -i FILE, or stdin).", show_default=False),
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "-i",
            "--input",
            help="Read inputs from FILE ('-' = stdin).",
            rich_help_panel=_INPUT,
            metavar="FILE",
        ),
    ] = None,
    input_format: Annotated[
        str, typer.Option("--input-format", help="auto | plain | jsonl | csv.", rich_help_panel=_INPUT)
    ] = "auto",
    method: Annotated[
        str | None,
        typer.Option(
            "-X",
            "--method",
            help="Method for inputs that name none [GET; POST with a body].",
            rich_help_panel=_REQUEST,
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "-H",
            "--header",
            help="'Name: value' header for every request (repeatable).",
            rich_help_panel=_REQUEST,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("-d", "--data", help="Request body for every request.", rich_help_panel=_REQUEST),
    ] = None,
    json_body: Annotated[
        str | None, typer.Option("--json", help="JSON body for every request.", rich_help_panel=_REQUEST)
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--params", help="k=v query parameter for every request (repeatable).", rich_help_panel=_REQUEST
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("-c", "--concurrency", help="Requests in flight [10].", rich_help_panel=_REQUEST),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            "--retries", help="Retries with backoff; Retry-After honoured [2].", rich_help_panel=_REQUEST
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout", help="Per-request timeout, e.g. 10s, 500ms [30s].", rich_help_panel=_REQUEST
        ),
    ] = None,
    http2: Annotated[
        bool | None,
        typer.Option("--http2/--no-http2", help="Use HTTP/2.", rich_help_panel=_REQUEST, show_default=False),
    ] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", help="Proxy URL.", rich_help_panel=_REQUEST)] = None,
    insecure: Annotated[
        bool | None,
        typer.Option(
            "-k",
            "--insecure",
            help="Do not verify TLS certificates.",
            rich_help_panel=_REQUEST,
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        bool | None,
        typer.Option(
            "--follow/--no-follow",
            help="Follow redirects \\[follow].",
            rich_help_panel=_REQUEST,
            show_default=False,
        ),
    ] = None,
    ratelimit: Annotated[
        str | None,
        typer.Option(
            "--ratelimit",
            help="slidingwindow | fixedwindow | leakybucket | tokenbucket | gcra.",
            rich_help_panel=_LIMIT,
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            help="Shorthand: 5/s, 100/m, 5/2s (bare number = per second; GCRA by default).",
            rich_help_panel=_LIMIT,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Requests per --window / --period.", rich_help_panel=_LIMIT),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Window length (slidingwindow, fixedwindow).", rich_help_panel=_LIMIT),
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="Period (gcra).", rich_help_panel=_LIMIT)
    ] = None,
    capacity: Annotated[
        float | None,
        typer.Option("--capacity", help="Bucket size (tokenbucket, leakybucket).", rich_help_panel=_LIMIT),
    ] = None,
    fill_rate: Annotated[
        float | None,
        typer.Option("--fill-rate", help="Tokens per second (tokenbucket).", rich_help_panel=_LIMIT),
    ] = None,
    leak_rate: Annotated[
        float | None,
        typer.Option("--leak-rate", help="Requests per second (leakybucket).", rich_help_panel=_LIMIT),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option("--burst", help="GCRA burst [1: at most --limit per --period].", rich_help_panel=_LIMIT),
    ] = None,
    limit_by: Annotated[
        str | None,
        typer.Option("--limit-by", help="host | endpoint | global \\[host].", rich_help_panel=_LIMIT),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="Limiter state: memory | sqlite | redis, or a server URL (postgresql://…, mysql://…, "
            "redis://…) \\[memory].",
            rich_help_panel=_LIMIT,
        ),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Redis URL (limiter and cache).", rich_help_panel=_LIMIT)
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="SQLite file / Redis db number of the limiter.", rich_help_panel=_LIMIT),
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(
            "--cache",
            help="Cache responses: memory | sqlite | redis, or a server URL (postgresql://…, mysql://…, "
            "redis://…) (bare --cache = sqlite).",
            rich_help_panel=_CACHE,
            metavar="[BACKEND]",
        ),
    ] = None,
    cache_db: Annotated[
        str | None,
        typer.Option("--cache-db", help="SQLite cache file \\[user cache dir].", rich_help_panel=_CACHE),
    ] = None,
    expire: Annotated[
        str | None,
        typer.Option("--expire", help="Cache lifetime, e.g. 1h, or 'never'.", rich_help_panel=_CACHE),
    ] = None,
    cache_control: Annotated[
        bool | None,
        typer.Option(
            "--cache-control",
            help="Obey Cache-Control (HTTP mode).",
            rich_help_panel=_CACHE,
            show_default=False,
        ),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Revalidate cached responses.", rich_help_panel=_CACHE)
    ] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Only use the cache (504 when not cached).", rich_help_panel=_CACHE),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Write records to FILE (journaled for --resume).",
            rich_help_panel=_OUTPUT,
            metavar="FILE",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="jsonl | csv \\[jsonl; a table on a TTY].", rich_help_panel=_OUTPUT),
    ] = None,
    save_dir: Annotated[
        str | None,
        typer.Option(
            "--save-dir",
            help="Save bodies here, with an index.jsonl.",
            rich_help_panel=_OUTPUT,
            metavar="DIR",
        ),
    ] = None,
    summary_json: Annotated[
        str | None,
        typer.Option(
            "--summary-json",
            help="Write the summary as JSON to FILE.",
            rich_help_panel=_OUTPUT,
            metavar="FILE",
        ),
    ] = None,
    callback: Annotated[
        list[str] | None,
        typer.Option(
            "--callback",
            help="module:function or file.py:function called with each response (repeatable).",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    fail_on_status: Annotated[
        str | None,
        typer.Option(
            "--fail-on-status", help="Exit 1 when a status matches, e.g. 4xx,5xx,404.", rich_help_panel=_RUN
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Skip inputs done by an earlier run (needs -o or --journal).",
            rich_help_panel=_RUN,
        ),
    ] = False,
    journal: Annotated[
        str | None,
        typer.Option(
            "--journal", help="Journal file [-o FILE + .journal].", rich_help_panel=_RUN, metavar="FILE"
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the planned requests and a duration estimate.", rich_help_panel=_RUN
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on a TTY.",
            rich_help_panel=_RUN,
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No progress, no summary.", rich_help_panel=_RUN)
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "-v", "--verbose", help="Show where settings came from and each error.", rich_help_panel=_RUN
        ),
    ] = False,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Config profile [SESSIONS_PROFILE].", rich_help_panel=_RUN)
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run on Dask: local, local:N (N worker processes) or tcp://SCHEDULER:8786.",
            rich_help_panel=_CLUSTER,
        ),
    ] = None,
    limit_scope: Annotated[
        str,
        typer.Option(
            "--limit-scope",
            help="global (one limit shared by every worker: needs a server --backend) | worker.",
            rich_help_panel=_CLUSTER,
        ),
    ] = "global",
    resend_unsafe: Annotated[
        bool,
        typer.Option(
            "--resend-unsafe",
            help="Re-send POST/PATCH requests of a lost worker's partition too (they may be sent twice).",
            rich_help_panel=_CLUSTER,
        ),
    ] = False,
    partition_size: Annotated[
        int,
        typer.Option("--partition-size", help="Inputs per cluster task.", rich_help_panel=_CLUSTER),
    ] = 256,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Start the embedded httpbin and fetch a sample batch from it (GCRA 20/1s, memory cache).",
            rich_help_panel=_RUN,
        ),
    ] = False,
) -> None:
    """Fetch many URLs concurrently: one JSON record per input on stdout, a summary on stderr."""
    if demo:
        forwarded = {k: v for k, v in locals().items() if k not in {"ctx", "demo"}}
        from sessions_cli.fetch.demo import run_demo

        raise typer.Exit(run_demo(_console(ctx), lambda **changes: fetch(ctx, **{**forwarded, **changes})))
    settings = {
        "concurrency": concurrency, "retries": retries, "timeout": timeout, "http2": http2, "proxy": proxy,
        "insecure": insecure, "follow": follow, "headers": header, "format": fmt, "progress": progress,
        "fail_on_status": fail_on_status, "ratelimit": ratelimit, "rate": rate, "limit": limit,
        "window": window, "period": period, "capacity": capacity, "fill_rate": fill_rate,
        "leak_rate": leak_rate, "burst": burst, "limit_by": limit_by, "backend": backend,
        "redis_url": redis_url, "db": db, "cache": cache, "cache_db": cache_db, "expire": expire,
        "cache_control": cache_control,
    }  # fmt: skip
    from sessions_cli.fetch.inputs import ArgumentError, split_arguments
    from sessions_cli.fetch.plan import RunFlags

    try:
        arg_urls, arg_files = split_arguments(urls or ())
    except ArgumentError as exc:
        raise _fail(_console(ctx), str(exc), ExitCode.USAGE) from None
    flags = RunFlags(
        urls=arg_urls, inputs=arg_files + ((input,) if input is not None else ()), input_format=input_format,
        stdin_piped=_stdin_piped(urls, input),
        method=method, params=tuple(params or ()), data=data, json_body=json_body, output=output,
        save_dir=save_dir, journal=journal, resume=resume, callbacks=tuple(callback or ()),
        summary_json=summary_json, refresh=refresh, offline=offline, quiet=quiet, verbose=verbose,
        dry_run=dry_run, cluster=cluster, limit_scope=limit_scope, resend_unsafe=resend_unsafe,
        partition_size=partition_size,
    )  # fmt: skip
    raise typer.Exit(int(run_command(_console(ctx), settings, flags, profile)))


def _stdin_piped(urls: list[str] | None, path: str | None) -> bool:
    if urls or path is not None:
        return False  # URLs or files were named: stdin is not an input
    try:
        return not sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def run_command(console: "Console", settings: dict[str, Any], flags: Any, profile: str | None) -> ExitCode:
    """Resolve, plan and run; map every expected failure to its exit code."""
    from sessions_cli.config import ConfigError, resolve, unknown_env_warnings
    from sessions_cli.fetch.inputs import ArgumentError, InputError
    from sessions_cli.fetch.options import UsageError
    from sessions_cli.fetch.plan import build_plan

    for warning in unknown_env_warnings(os.environ):
        console.print(warning, highlight=False, markup=False, soft_wrap=True)
    try:
        values = resolve(settings, env=os.environ, cwd=Path.cwd(), profile=profile)
        plan = build_plan(values, flags)
        if plan.verbose:
            _show_sources(console, values)
        if plan.dry_run:
            from sessions_cli.fetch.dry_run import dry_run

            return dry_run(plan, console=console, stdout=sys.stdout)
        _sigterm_as_interrupt()
        if plan.cluster is not None:
            from sessions_cli.fetch.cluster import run_cluster_fetch

            return run_cluster_fetch(
                plan, console=console, stdout=sys.stdout.buffer, stdout_tty=sys.stdout.isatty()
            )
        from sessions_cli.fetch.runner import run_fetch

        return run_fetch(plan, console=console, stdout=sys.stdout.buffer, stdout_tty=sys.stdout.isatty())
    except (UsageError, ConfigError, ArgumentError) as exc:
        raise _fail(console, str(exc), ExitCode.USAGE) from None
    except InputError as exc:
        raise _fail(console, str(exc), ExitCode.INPUT) from None
    except KeyboardInterrupt:
        raise _fail(console, "interrupted", ExitCode.INTERRUPTED) from None


def _show_sources(console: "Console", values: Any) -> None:
    changed = [name for name, source in values.sources.items() if source != "default"]
    for name in changed:
        console.print(f"config: {name} = {values.values[name]!r} ({values.sources[name]})", highlight=False)
