"""`sessions bench --throughput`: no limiter, `-n` requests at `-c` in flight — req/s and latency.

With `--cluster`, one more row: the same requests cut into partitions on a Dask cluster, `-c` in flight on
each worker (`sessions.distributed`, the code path of `sessions fetch --cluster`); the workers send back a
latency and a status per request, not the bodies. Its time includes opening the client (and for
`local:N` starting the cluster), as a user's run pays it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from sessions_cli.bench.metrics import percentile

__all__ = ["ThroughputResult", "run_cluster_throughput", "run_throughput"]


@dataclass
class ThroughputResult:
    """One throughput run."""

    mode: str
    requests: int
    concurrency: int
    duration_s: float
    rate_per_s: float
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    errors: int
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return asdict(self)


def _latency_ms(result: Any) -> float | None:
    try:
        return float(result.elapsed.total_seconds() * 1000)
    except (AttributeError, RuntimeError):
        return None


async def _async_batch(url: str, n: int, concurrency: int) -> list[Any]:
    import sessions

    async with sessions.AsyncSession() as session:
        return list(await session.requests([url] * n, concurrency=concurrency, progress=False))


def _sync_batch(url: str, n: int, concurrency: int) -> list[Any]:
    import sessions

    with sessions.Session() as session:
        return list(session.requests([url] * n, concurrency=concurrency, progress=False))


def _failed(result: Any) -> bool:
    status = getattr(result, "status_code", None)
    return status is None or status >= 400


def run_throughput(url: str, *, n: int, concurrency: int, mode: str) -> ThroughputResult:
    """Send `n` GETs to `url` through the batch engine (sync `Session` or `AsyncSession`)."""
    start = time.perf_counter()
    if mode == "sync":
        results = _sync_batch(url, n, concurrency)
    else:
        results = asyncio.run(_async_batch(url, n, concurrency))
    duration = time.perf_counter() - start
    latencies = [ms for ms in map(_latency_ms, results) if ms is not None]
    return _result(mode, n, concurrency, duration, latencies, sum(map(_failed, results)))


def _measure(position: int, result: Any, tag: Any) -> tuple[float | None, bool]:
    """On a worker: what the row needs of one result (module level: pickled by reference)."""
    return _latency_ms(result), _failed(result)


def run_cluster_throughput(
    url: str, *, n: int, concurrency: int, cluster: str, partition_size: int = 256
) -> ThroughputResult:
    """Send `n` GETs to `url` across the Dask `cluster`, `concurrency` in flight per worker."""
    import sessions
    from sessions.distributed import fetch

    start = time.perf_counter()
    latencies: list[float] = []
    errors = 0
    with fetch(
        [url] * n,
        cluster=cluster,
        session=sessions.AsyncSession,
        options={"concurrency": concurrency},
        transform=_measure,
        partition_size=partition_size,
    ) as batch:
        for _, (latency, failed) in batch:
            errors += failed
            if latency is not None:
                latencies.append(latency)
        workers = batch.workers
    duration = time.perf_counter() - start
    return _result(f"cluster {cluster}", n, concurrency, duration, latencies, errors, workers)


def _result(
    mode: str,
    n: int,
    concurrency: int,
    duration: float,
    latencies: list[float],
    errors: int,
    workers: int = 1,
) -> ThroughputResult:
    def pct(q: float) -> float | None:
        value = percentile(latencies, q)
        return None if value is None else round(value, 3)

    return ThroughputResult(
        mode=mode,
        requests=n,
        concurrency=concurrency,
        duration_s=round(duration, 4),
        rate_per_s=round(n / duration, 1) if duration > 0 else 0.0,
        latency_p50_ms=pct(0.50),
        latency_p90_ms=pct(0.90),
        latency_p99_ms=pct(0.99),
        errors=errors,
        workers=workers,
    )
