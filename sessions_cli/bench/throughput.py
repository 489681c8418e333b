"""`sessions bench --throughput`: no limiter, `-n` requests at `-c` in flight — req/s and latency."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from sessions_cli.bench.metrics import percentile

__all__ = ["ThroughputResult", "run_throughput"]


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


def run_throughput(url: str, *, n: int, concurrency: int, mode: str) -> ThroughputResult:
    """Send `n` GETs to `url` through the batch engine (sync `Session` or `AsyncSession`)."""
    start = time.perf_counter()
    if mode == "sync":
        results = _sync_batch(url, n, concurrency)
    else:
        results = asyncio.run(_async_batch(url, n, concurrency))
    duration = time.perf_counter() - start
    latencies = [ms for ms in map(_latency_ms, results) if ms is not None]
    errors = sum(1 for r in results if getattr(r, "status_code", None) is None or r.status_code >= 400)

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
    )
