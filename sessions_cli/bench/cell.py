"""One benchmark cell: an algorithm × backend × mode, `n` requests, measured against its promise.

The session is `RatelimitMixin` over a probe over `Session`/`AsyncSession`: the probe notes when
each wire attempt leaves (after the limiter's wait) and how long it takes, and the limiter's storage
is wrapped to time its decisions. Overshoot is counted on the server's arrival log when the
embedded httpbin is the target, else on the client's send times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sessions_cli.bench.metrics import TimedStorage, max_in_window, percentile, probe_class
from sessions_cli.bench.params import bound, min_duration

__all__ = ["CellResult", "CellSpec", "Target", "run_cell", "session_classes"]


@dataclass(frozen=True)
class CellSpec:
    """What to run: algorithm, backend, mode (sync|async), parameters, request count."""

    algorithm: str
    backend: str
    mode: str
    params: Mapping[str, float]
    n: int


@dataclass(frozen=True)
class Target:
    """Where requests go; `arrival_times(path)` is set when the server's log can be read (embedded)."""

    url: str
    embedded: bool
    arrival_times: Callable[[str], list[float]] | None = None

    def url_for(self, cell_id: str) -> tuple[str, str]:
        """(URL, path) for a cell: its own `/anything/bench/…` path, unless `--url` named a path."""
        from urllib.parse import urlsplit

        path = urlsplit(self.url).path
        if path not in ("", "/"):
            return self.url, path
        path = f"/anything/bench/{cell_id}"
        return self.url.rstrip("/") + path, path

    def warmup_url(self, cell_id: str) -> str:
        """A URL on the same host with a different path, hence a different per-endpoint limiter key."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/anything/warmup/{cell_id}"


@dataclass
class CellResult:
    """A cell's measurements and verdict (`to_dict()` is one entry of the JSON report)."""

    algorithm: str
    backend: str
    mode: str
    params: dict[str, float]
    requests: int
    expected_min_s: float
    duration_s: float
    rate_per_s: float | None
    bound_window_s: float
    bound_count: int
    max_in_window: int
    max_in_window_strict: int
    window_slack_s: float
    overshoot: int
    counted_on: str
    overhead_us: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    errors: int
    passed: bool
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return asdict(self)


def session_classes() -> tuple[type, type]:
    """(sync, async) session classes: RatelimitMixin over a timing probe over Session / AsyncSession."""
    import sessions
    from sessions_cli.run.session import find_mixin

    mixin = find_mixin("RatelimitMixin")
    sync = type("BenchSession", (mixin, probe_class(sessions.Session)), {})
    asynchronous = type("BenchAsyncSession", (mixin, probe_class(sessions.AsyncSession)), {})
    return sync, asynchronous


def _open(cls: type, spec: CellSpec, key: str, backend_options: Mapping[str, Any]) -> Any:
    params = {k: int(v) if k in ("limit", "burst") else v for k, v in spec.params.items()}
    options = {"type": spec.algorithm, **params, "backend": spec.backend, "key": key, **backend_options}
    session = cls(ratelimit=options, timeout=30.0)
    session.wire_log = []
    session.ratelimit_storage = TimedStorage(session.ratelimit_storage)
    return session


_ASYNC_WARMUP = 8


def _start_measuring(session: Any) -> None:
    """Forget the warm-up: its sends and its limiter decisions (imports, connections, script loads)."""
    session.wire_log.clear()
    session.ratelimit_storage.reset()


def _sync_run(cls: type, spec: CellSpec, urls: tuple[str, str], key: str, options: Mapping[str, Any]) -> Any:
    url, warmup = urls
    with _open(cls, spec, key, options) as session:
        _outcome(session.get, warmup)  # connect before the clock starts (its own limiter key)
        _start_measuring(session)
        session.outcomes = [_outcome(session.get, url) for _ in range(spec.n)]
        return session


def _outcome(get: Callable[[str], Any], url: str) -> int | None:
    try:
        return int(get(url).status_code)
    except Exception:  # counted as an error of the cell
        return None


async def _async_run(
    cls: type, spec: CellSpec, urls: tuple[str, str], key: str, options: Mapping[str, Any]
) -> Any:
    url, warmup = urls

    async def one(session: Any, target: str) -> int | None:
        try:
            return int((await session.get(target)).status_code)
        except Exception:
            return None

    async with _open(cls, spec, key, options) as session:
        # open a few connections before the clock starts (the warm-up path has its own limiter key)
        await asyncio.gather(*(one(session, warmup) for _ in range(min(spec.n, _ASYNC_WARMUP))))
        _start_measuring(session)
        session.outcomes = await asyncio.gather(*(one(session, url) for _ in range(spec.n)))
        return session


def _verdict(result: CellResult, tolerance: float, seen: int | None) -> None:
    if result.errors:
        result.problems.append(f"{result.errors} request(s) failed")
    if result.overshoot:
        result.problems.append(
            f"{result.max_in_window} in a {result.bound_window_s:g}s window > {result.bound_count}"
        )
    if result.duration_s + tolerance < result.expected_min_s:
        result.problems.append(
            f"finished in {result.duration_s:.3f}s < the bound's {result.expected_min_s:.3f}s"
        )
    if seen is not None and seen != result.requests:
        result.problems.append(f"the server saw {seen} of {result.requests} requests")
    result.passed = not result.problems


def run_cell(
    spec: CellSpec,
    target: Target,
    *,
    cell_id: str,
    backend_options: Mapping[str, Any],
    tolerance: float = 0.010,
    classes: tuple[type, type] | None = None,
) -> CellResult:
    """Run one cell and judge it (`tolerance`: seconds of send/arrival jitter forgiven per window)."""
    sync_cls, async_cls = classes or session_classes()
    url, path = target.url_for(cell_id)
    key = f"bench-{cell_id}"
    urls = (url, target.warmup_url(cell_id))
    if spec.mode == "sync":
        session = _sync_run(sync_cls, spec, urls, key, backend_options)
    else:
        session = asyncio.run(_async_run(async_cls, spec, urls, key, backend_options))
    return _measure(spec, session, target, path, tolerance)


def _measure(spec: CellSpec, session: Any, target: Target, path: str, tolerance: float) -> CellResult:
    sends = [start for start, _ in session.wire_log]
    latencies = [seconds * 1000 for _, seconds in session.wire_log]
    promise = bound(spec.algorithm, dict(spec.params))
    arrivals = target.arrival_times(path) if target.arrival_times is not None else None
    counted = arrivals if arrivals is not None else sends
    timed: TimedStorage = session.ratelimit_storage
    # A send leaves after its decision comes back, so sends lag their slots by up to one decision
    # round trip; jitter within that (plus `tolerance`) is not the algorithm's doing.
    slack = tolerance + timed.slowest
    peak = max_in_window(counted, max(promise.window - slack, 1e-6))
    duration = max(sends) - min(sends) if sends else 0.0
    result = CellResult(
        algorithm=spec.algorithm,
        backend=spec.backend,
        mode=spec.mode,
        params=dict(spec.params),
        requests=spec.n,
        expected_min_s=round(min_duration(spec.algorithm, dict(spec.params), spec.n), 4),
        duration_s=round(duration, 4),
        rate_per_s=round((spec.n - 1) / duration, 3) if duration > 0 else None,
        bound_window_s=promise.window,
        bound_count=promise.count,
        max_in_window=peak,
        max_in_window_strict=max_in_window(counted, promise.window),
        window_slack_s=round(slack, 4),
        overshoot=max(0, peak - promise.count),
        counted_on="server" if arrivals is not None else "client",
        overhead_us=round(timed.seconds / timed.calls * 1e6, 1) if timed.calls else None,
        latency_p50_ms=_round(percentile(latencies, 0.50)),
        latency_p99_ms=_round(percentile(latencies, 0.99)),
        errors=sum(1 for status in session.outcomes if status is None or status >= 400),
        passed=False,
    )
    _verdict(result, slack, len(arrivals) if arrivals is not None else None)
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
