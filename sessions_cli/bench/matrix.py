"""The benchmark run: plan the algorithms × backends × modes matrix, provide target and backends, run.

The target is the embedded httpbin on a free port unless `--url` names one; the SQLite backend
uses a file in a private temporary directory; Redis uses `--redis-url` or a temporary
`redis-server` started once for the whole run (never the Redis on 6379).
"""

from __future__ import annotations

import contextlib
import datetime
import random
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessions_cli.bench.cell import CellResult, CellSpec, Target, run_cell, session_classes
from sessions_cli.bench.params import ALGORITHMS, default_params, random_params
from sessions_cli.bench.report import REPORT_VERSION

__all__ = [
    "BACKENDS",
    "MODES",
    "SQL_BACKENDS",
    "BenchConfig",
    "open_backends",
    "open_target",
    "plan_cells",
    "run_matrix",
]

BACKENDS = ("memory", "sqlite", "redis")
SQL_BACKENDS = ("postgres", "mysql")  # opt-in (not in "all"): they need a server's URL
MODES = ("sync", "async")
_OWNED = {
    "slidingwindow": ("limit", "window"),
    "fixedwindow": ("limit", "window"),
    "tokenbucket": ("capacity", "fill_rate"),
    "leakybucket": ("capacity", "leak_rate"),
    "gcra": ("limit", "period", "burst"),
}


@dataclass(frozen=True)
class BenchConfig:
    """What `sessions bench` was asked to run."""

    algorithms: Sequence[str] = ALGORITHMS
    backends: Sequence[str] = BACKENDS
    modes: Sequence[str] = MODES
    n: int = 12
    url: str | None = None
    redis_url: str | None = None
    sql_urls: Mapping[str, str] = field(default_factory=dict)  # "postgres" / "mysql" → the server's URL
    randomize: bool = False
    seed: int | None = None
    tolerance: float = 0.010
    overrides: Mapping[str, float] = field(default_factory=dict)


def _params(algorithm: str, config: BenchConfig, rng: random.Random) -> dict[str, float]:
    if config.randomize:
        return random_params(algorithm, rng, config.n)
    params = default_params(algorithm)
    params.update({k: v for k, v in config.overrides.items() if k in _OWNED[algorithm]})
    return params


def plan_cells(config: BenchConfig) -> list[CellSpec]:
    """Every cell in run order; with `--randomize` each algorithm draws its parameters once per run."""
    rng = random.Random(config.seed)
    params = {algorithm: _params(algorithm, config, rng) for algorithm in config.algorithms}
    return [
        CellSpec(algorithm, backend, mode, params[algorithm], config.n)
        for algorithm in config.algorithms
        for backend in config.backends
        for mode in config.modes
    ]


@contextlib.contextmanager
def open_target(url: str | None, note: Callable[[str], None]) -> Iterator[Target]:
    """The `--url` target, or the embedded httpbin on a free port (announced through `note`)."""
    if url is not None:
        note(f"target: {url} (overshoot counted on the client's send times)")
        yield Target(url.rstrip("/") if url.endswith("//") else url, embedded=False)
        return
    from sessions.httpbin import LocalHttpbin

    with LocalHttpbin() as server:
        note(f"target: embedded httpbin at {server.url} (overshoot counted on the server's arrival log)")
        yield Target(server.url, embedded=True, arrival_times=lambda path: server.arrivals.times(path=path))


@contextlib.contextmanager
def open_backends(
    backends: Sequence[str],
    redis_url: str | None,
    note: Callable[[str], None],
    sql_urls: Mapping[str, str] | None = None,
) -> Iterator[dict[str, dict[str, Any]]]:
    """Options per backend: a private SQLite file, a Redis URL (given, or a temporary server), the SQL
    servers' URLs (given)."""
    with tempfile.TemporaryDirectory(prefix="sessions-bench-") as directory, contextlib.ExitStack() as stack:
        sqlite = {"db": str(Path(directory) / "bench.db")}
        options: dict[str, dict[str, Any]] = {"memory": {}, "sqlite": sqlite}
        if "redis" in backends:
            if redis_url is None:
                from sessions.backends import TemporaryRedisServer

                server = stack.enter_context(TemporaryRedisServer(unix_socket=False))
                redis_url = server.url
                note(f"redis: temporary redis-server at {redis_url}")
            options["redis"] = {"url": redis_url}
        for name, url in (sql_urls or {}).items():
            options[name] = {"db": url}
        yield options


def run_matrix(
    config: BenchConfig,
    *,
    note: Callable[[str], None],
    on_cell: Callable[[int, int, CellResult], None] | None = None,
) -> dict[str, Any]:
    """Run every cell and return the JSON report (`kind: "limits"`)."""
    cells = plan_cells(config)
    classes = session_classes()
    run_id = uuid.uuid4().hex[:8]
    results: list[CellResult] = []
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    backends = open_backends(config.backends, config.redis_url, note, config.sql_urls)
    with open_target(config.url, note) as target, backends as opts:
        for position, spec in enumerate(cells):
            cell_id = f"{run_id}-{position}-{spec.algorithm}-{spec.backend}-{spec.mode}"
            result = run_cell(
                spec,
                target,
                cell_id=cell_id,
                backend_options=opts[spec.backend],
                tolerance=config.tolerance,
                classes=classes,
            )
            results.append(result)
            if on_cell is not None:
                on_cell(position + 1, len(cells), result)
        url = target.url
    return {
        "version": REPORT_VERSION,
        "kind": "limits",
        "started": started,
        "target": url,
        "embedded": config.url is None,
        "seed": config.seed,
        "randomized": config.randomize,
        "tolerance_s": config.tolerance,
        "passed": all(result.passed for result in results),
        "cells": [result.to_dict() for result in results],
    }
