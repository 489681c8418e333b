"""`sessions bench` (does each rate limiter deliver what it promises?) and `sessions httpbin`.

Modules: `params` (defaults and each algorithm's bound), `metrics` (windows, percentiles, probes),
`cell` (one algorithm × backend × mode), `matrix` (target, backends, the run), `throughput`,
`report` (table, JSON validator, compare), `command` (the work behind the Typer commands).
"""

# No `from __future__ import annotations` here: Typer would compile and eval every string
# annotation of the commands below twice, on every start of any command (~0.3 ms an option).

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

BENCH_HELP = """Run every rate-limit algorithm × backend × mode against an httpbin and check its promise.

\b
By default the embedded httpbin is started on a free port (said on stderr) and the overshoot is
counted from the server's own arrival log; with --url, from the client's send times.
\b
Examples:
  sessions bench                                   # 5 algorithms × 3 backends × 2 modes, ~1.5 min
  sessions bench --algorithms gcra --backends redis --redis-url redis://localhost:6380/0
  sessions bench --backends postgres,mysql --postgres-url postgresql://app@db/app --mysql-url mysql://app@db/app
  sessions bench --randomize --seed 7 --json run.json
  sessions bench --compare baseline.json --noise 0.3
  sessions bench --throughput -n 3000 -c 32
  sessions bench --throughput -n 20000 --cluster local:2     # plus a row across 2 Dask workers
\b
Exit codes: 0 every cell passed; 1 a cell failed or a metric regressed; 2 usage error.
"""


def register(app: typer.Typer) -> None:
    """Add the `bench` and `httpbin` commands to the `sessions` Typer app."""

    @app.command("bench", help=BENCH_HELP)
    def bench(
        url: Annotated[str | None, typer.Option(help="Target httpbin (default: embedded).")] = None,
        algorithms: Annotated[str, typer.Option(help="Comma list or 'all'.")] = "all",
        backends: Annotated[
            str, typer.Option(help="memory,sqlite,redis or 'all'; also postgres,mysql (with their URL).")
        ] = "all",
        modes: Annotated[str, typer.Option(help="sync,async or 'all'.")] = "all",
        n: Annotated[int, typer.Option("-n", help="Requests per cell (throughput: in total).")] = 12,
        concurrency: Annotated[int, typer.Option("-c", "--concurrency", help="Throughput: in flight.")] = 32,
        redis_url: Annotated[str | None, typer.Option(help="Redis for the redis backend.")] = None,
        postgres_url: Annotated[
            str | None, typer.Option(help="postgresql://… for the postgres backend.")
        ] = None,
        mysql_url: Annotated[str | None, typer.Option(help="mysql://… for the mysql backend.")] = None,
        limit: Annotated[float | None, typer.Option(help="limit (windows, gcra).")] = None,
        window: Annotated[float | None, typer.Option(help="window seconds.")] = None,
        period: Annotated[float | None, typer.Option(help="gcra period seconds.")] = None,
        burst: Annotated[float | None, typer.Option(help="gcra burst.")] = None,
        capacity: Annotated[float | None, typer.Option(help="bucket capacity.")] = None,
        fill_rate: Annotated[float | None, typer.Option(help="tokenbucket tokens/s.")] = None,
        leak_rate: Annotated[float | None, typer.Option(help="leakybucket requests/s.")] = None,
        randomize: Annotated[bool, typer.Option(help="Random small parameters per algorithm.")] = False,
        seed: Annotated[int | None, typer.Option(help="Seed for --randomize.")] = None,
        tolerance: Annotated[float, typer.Option(help="Seconds of arrival jitter forgiven.")] = 0.010,
        throughput: Annotated[bool, typer.Option("--throughput", help="No limiter: req/s.")] = False,
        json_path: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
        compare: Annotated[Path | None, typer.Option(help="Baseline JSON to compare with.")] = None,
        noise: Annotated[float, typer.Option(help="Regression threshold (ratio).")] = 0.25,
        cluster: Annotated[
            str | None,
            typer.Option(help="Throughput: also across a Dask cluster (local, local:N, tcp://HOST:8786)."),
        ] = None,
    ) -> None:
        from sessions_cli.bench.command import (
            BenchRequest,
            BenchUsageError,
            build_config,
            check_cluster,
            execute,
        )

        overrides = {"limit": limit, "window": window, "period": period, "burst": burst}
        overrides |= {"capacity": capacity, "fill_rate": fill_rate, "leak_rate": leak_rate}
        try:
            config = build_config(
                algorithms=algorithms,
                backends=backends,
                modes=modes,
                n=n,
                url=url,
                redis_url=redis_url,
                randomize=randomize,
                seed=seed,
                tolerance=tolerance,
                overrides=overrides,
                postgres_url=postgres_url,
                mysql_url=mysql_url,
            )
            check_cluster(cluster, throughput=throughput, url=url)
        except BenchUsageError as exc:
            raise typer.BadParameter(str(exc)) from exc
        request = BenchRequest(
            config=config,
            throughput=throughput,
            concurrency=concurrency,
            json_path=json_path,
            compare_path=compare,
            noise=noise,
            cluster=cluster,
        )
        raise typer.Exit(execute(request))

    @app.command("httpbin", help="Serve the embedded httpbin in the foreground (Ctrl-C to stop).")
    def httpbin(
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    ) -> None:
        from rich.console import Console

        from sessions_cli.bench.command import serve_httpbin

        serve_httpbin(port, host, Console(stderr=True))
