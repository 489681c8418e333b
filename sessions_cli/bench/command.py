"""`sessions bench` and `sessions httpbin`: the work behind the thin Typer commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from sessions_cli.bench.matrix import BACKENDS, MODES, SQL_BACKENDS, BenchConfig
from sessions_cli.bench.params import ALGORITHMS

__all__ = ["BenchRequest", "check_cluster", "execute", "parse_list"]


class BenchUsageError(ValueError):
    """A bad flag value (exit code 2)."""


@dataclass(frozen=True)
class BenchRequest:
    """Everything `sessions bench` was asked to do."""

    config: BenchConfig
    throughput: bool = False
    concurrency: int = 32
    json_path: Path | None = None
    compare_path: Path | None = None
    noise: float = 0.25
    overrides: dict[str, float] = field(default_factory=dict)
    cluster: str | None = None


def parse_list(text: str, allowed: Sequence[str], flag: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """`a,b` → ("a", "b"), each checked against `allowed` or `extra` (`all` = every one of `allowed`)."""
    if text.strip().lower() == "all":
        return tuple(allowed)
    allowed = (*allowed, *extra)
    items = tuple(
        part.strip().lower().replace("-", "").replace("_", "") for part in text.split(",") if part.strip()
    )
    for item in items:
        if item not in allowed:
            raise BenchUsageError(f"{flag}: unknown {item!r} (one of {', '.join(allowed)})")
    return items


def _throughput(request: BenchRequest, console: Console, note: Any) -> dict[str, Any]:
    from sessions_cli.bench.matrix import open_target
    from sessions_cli.bench.report import REPORT_VERSION
    from sessions_cli.bench.throughput import run_cluster_throughput, run_throughput

    config = request.config
    with open_target(config.url, note) as target:
        url = target.url if config.url is not None else f"{target.url}/get"
        rows = [
            run_throughput(url, n=config.n, concurrency=request.concurrency, mode=m) for m in config.modes
        ]
        if request.cluster is not None:
            note(
                f"throughput across the cluster {request.cluster} "
                f"({request.concurrency} in flight per worker)"
            )
            rows.append(
                run_cluster_throughput(
                    url, n=config.n, concurrency=request.concurrency, cluster=request.cluster
                )
            )
    return {
        "version": REPORT_VERSION,
        "kind": "throughput",
        "target": url,
        "embedded": config.url is None,
        "seed": config.seed,
        "tolerance_s": config.tolerance,
        "passed": all(row.errors == 0 for row in rows),
        "throughput": [row.to_dict() for row in rows],
    }


def _limits(request: BenchRequest, console: Console, note: Any) -> dict[str, Any]:
    from sessions_cli.bench.matrix import run_matrix

    def progress(done: int, total: int, cell: Any) -> None:
        verdict = "[green]PASS[/green]" if cell.passed else f"[red]FAIL[/red] {'; '.join(cell.problems)}"
        note(f"[{done}/{total}] {cell.algorithm}/{cell.backend}/{cell.mode} {cell.duration_s:.2f}s {verdict}")

    return run_matrix(request.config, note=note, on_cell=progress)


def _compare(report: dict[str, Any], request: BenchRequest, out: Console, err: Console) -> bool:
    """Print the comparison; True when nothing regressed beyond the noise threshold."""
    from sessions_cli.bench.report import compare, compare_table

    assert request.compare_path is not None
    baseline = json.loads(request.compare_path.read_text(encoding="utf-8"))
    changes = compare(report, baseline, request.noise)
    if not changes:
        err.print("compare: no cells in common with the baseline")
        return True
    out.print(compare_table(changes, request.noise))
    return not any(change.regressed for change in changes)


_PIPED_WIDTH = 200


def _table_console() -> Console:
    """stdout for the result table: Rich assumes 80 columns when output is piped (``| tee log``), which
    squeezes the 15-column table into ellipses; a pipe has no width, so give it room."""
    console = Console()
    return console if console.is_terminal else Console(width=_PIPED_WIDTH)


def execute(request: BenchRequest, *, out: Console | None = None, err: Console | None = None) -> int:
    """Run the bench; the table goes to `out`, notes and progress to `err`. Returns the exit code."""
    from sessions_cli.bench.report import cells_table, throughput_table

    out = out or _table_console()
    err = err or Console(stderr=True)

    def note(text: str) -> None:
        err.print(text, highlight=False)

    try:
        report = _throughput(request, out, note) if request.throughput else _limits(request, out, note)
    except Exception as exc:  # a backend that cannot start, a target that does not answer
        err.print(f"[red]bench failed:[/red] {type(exc).__name__}: {exc}")
        return 1
    out.print(throughput_table(report["throughput"]) if request.throughput else cells_table(report["cells"]))
    if request.json_path is not None:
        request.json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        note(f"wrote {request.json_path}")
    ok = report["passed"]
    if request.compare_path is not None:
        ok = _compare(report, request, out, err) and ok
    return 0 if ok else 1


def serve_httpbin(port: int, host: str, console: Console) -> None:
    """`sessions httpbin`: the embedded httpbin in the foreground until Ctrl-C."""
    from sessions.httpbin import serve

    console.print(f"httpbin on http://{host}:{port} — Ctrl-C to stop", highlight=False)
    serve(port, host, print_fn=None)


def check_cluster(cluster: str | None, *, throughput: bool, url: str | None) -> None:
    """`--cluster` goes with `--throughput`, names a cluster `sessions fetch --cluster` takes, needs the
    dask extra, and on a remote cluster a `--url` the workers reach (the embedded httpbin listens on this
    host's loopback only)."""
    if cluster is None:
        return
    from sessions_cli.fetch.cluster import cluster_spec
    from sessions_cli.fetch.options import UsageError

    if not throughput:
        raise BenchUsageError("--cluster: runs the throughput mode across a cluster; add --throughput")
    try:
        spec = cluster_spec(cluster)  # the same checks and messages as `sessions fetch --cluster`
    except UsageError as exc:
        raise BenchUsageError(str(exc)) from None
    if spec.remote and url is None:
        raise BenchUsageError(
            "--cluster: the embedded httpbin listens on this host's loopback, which remote workers cannot "
            "reach; pass --url http://HOST:PORT of a server they do reach "
            "(e.g. `sessions httpbin --host 0.0.0.0`)"
        )


def build_config(
    *,
    algorithms: str,
    backends: str,
    modes: str,
    n: int,
    url: str | None,
    redis_url: str | None,
    randomize: bool,
    seed: int | None,
    tolerance: float,
    overrides: dict[str, float | None],
    postgres_url: str | None = None,
    mysql_url: str | None = None,
) -> BenchConfig:
    """Check the flags and build the `BenchConfig` (raises `BenchUsageError`)."""
    if n < 1:
        raise BenchUsageError("-n: must be at least 1")
    chosen = parse_list(backends, BACKENDS, "--backends", SQL_BACKENDS)
    sql_urls: dict[str, str] = {}
    for name, given, flag in (
        ("postgres", postgres_url, "--postgres-url"),
        ("mysql", mysql_url, "--mysql-url"),
    ):
        if name in chosen:
            if not given:
                raise BenchUsageError(
                    f"--backends {name}: needs {flag} (the server to write limiter rows to)"
                )
            sql_urls[name] = given
    return BenchConfig(
        algorithms=parse_list(algorithms, ALGORITHMS, "--algorithms"),
        backends=chosen,
        sql_urls=sql_urls,
        modes=parse_list(modes, MODES, "--modes"),
        n=n,
        url=url,
        redis_url=redis_url,
        randomize=randomize,
        seed=seed,
        tolerance=tolerance,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )
