"""The end-of-run summary (vegeta/oha style) accumulated in constant memory.

Latencies go into log-spaced buckets 1% wide, so percentiles are within 1% and memory does
not grow with the number of requests (a 1M-URL run costs the same as a 1k one).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sessions_cli.fetch.records import Record

__all__ = ["LatencyHistogram", "Summary", "render_histogram", "render_summary"]

_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_ZERO_BUCKET = -(10**6)  # latencies of a microsecond or less: below every log bucket


@dataclass
class LatencyHistogram:
    """Latencies in milliseconds, in buckets `[1.01**i, 1.01**(i+1))`; zero has its own bucket."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = 0.0

    def add(self, ms: float) -> None:
        """Record one latency."""
        self.count += 1
        self.total += ms
        if ms < self.minimum:
            self.minimum = ms
        if ms > self.maximum:
            self.maximum = ms
        self.buckets[_ZERO_BUCKET if ms <= 0.001 else math.floor(math.log(ms) / _LOG_GROWTH)] += 1

    @staticmethod
    def _upper(bucket: int) -> float:
        return 0.0 if bucket == _ZERO_BUCKET else _GROWTH ** (bucket + 1)

    def percentile(self, q: float) -> float | None:
        """The q-th quantile (0 < q ≤ 1), within 1%, clamped to the observed min/max."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(max(self._upper(bucket), self.minimum), self.maximum)
        return self.maximum

    def stats(self) -> dict[str, float | None]:
        """min, mean, p50, p90, p99, max in milliseconds (None when empty)."""
        if not self.count:
            return dict.fromkeys(("min", "mean", "p50", "p90", "p99", "max"))
        values = {
            "min": self.minimum,
            "mean": self.total / self.count,
            "p50": self.percentile(0.50),
            "p90": self.percentile(0.90),
            "p99": self.percentile(0.99),
            "max": self.maximum,
        }
        return {name: None if value is None else round(value, 3) for name, value in values.items()}

    def bins(self, count: int = 8) -> list[tuple[float, int]]:
        """`count` log-spaced display bins between min and max: (upper edge ms, requests)."""
        if not self.count:
            return []
        low, high = max(self.minimum, 0.001), max(self.maximum, 0.001)
        if high <= low * 1.0001:
            return [(high, self.count)]
        edges = [low * (high / low) ** ((i + 1) / count) for i in range(count)]
        counts = [0] * count
        for bucket, n in self.buckets.items():
            value = min(max(self._upper(bucket), low), high)
            slot = next((i for i, edge in enumerate(edges) if value <= edge * 1.0001), count - 1)
            counts[slot] += n
        return list(zip(edges, counts, strict=True))


@dataclass
class Summary:
    """Totals of a run, fed one record at a time."""

    clock: Callable[[], float]
    started: float = 0.0
    finished: float | None = None
    total: int = 0
    ok: int = 0
    responses: int = 0
    bytes: int = 0
    cache_hits: int = 0
    skipped: int = 0
    failed_status: int = 0
    status_codes: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    limiter_wait: dict[str, float] = field(default_factory=dict)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def add(self, record: Record, failed_status: bool = False) -> None:
        """Account for one record (`failed_status`: it matched `--fail-on-status`)."""
        get = record.get
        self.total += 1
        self.bytes += get("bytes") or 0
        error = get("error")
        if error:
            self.errors[error["kind"]] += 1
        callback_errors = get("callback_errors")
        if callback_errors:
            self.errors["callback"] += len(callback_errors)
        status = get("status")
        if status is None:
            return
        self.responses += 1
        if get("ok"):
            self.ok += 1
        self.status_codes[status] += 1
        if get("from_cache"):
            self.cache_hits += 1
        if failed_status:
            self.failed_status += 1
        elapsed = get("elapsed_ms")
        if elapsed is not None:
            self.latency.add(elapsed)

    def add_wait(self, host: str, seconds: float) -> None:
        """Account for wall-clock time during which requests to `host` waited on the rate limiter."""
        if seconds > 0:
            self.limiter_wait[host] = self.limiter_wait.get(host, 0.0) + seconds

    def finish(self) -> None:
        """Stop the clock."""
        self.finished = self.clock()

    @property
    def duration(self) -> float:
        """Seconds from start to finish (or to now)."""
        end = self.finished if self.finished is not None else self.clock()
        return max(end - self.started, 0.0)

    @property
    def transport_errors(self) -> int:
        """Inputs that got no HTTP response (transport errors and malformed input)."""
        return self.total - self.responses

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (`--summary-json`)."""
        duration = self.duration
        return {
            "total": self.total,
            "skipped_resumed": self.skipped,
            "responses": self.responses,
            "ok": self.ok,
            "success_ratio": round(self.ok / self.total, 4) if self.total else None,
            "duration_s": round(duration, 3),
            "rate_per_s": round(self.total / duration, 2) if duration > 0 else None,
            "status_codes": {str(code): n for code, n in sorted(self.status_codes.items())},
            "errors": dict(self.errors.most_common()),
            "failed_status": self.failed_status,
            "latency_ms": self.latency.stats(),
            "bytes": self.bytes,
            "cache_hits": self.cache_hits,
            "cache_hit_ratio": round(self.cache_hits / self.responses, 4) if self.responses else None,
            "limiter_wait_s": {
                h: round(s, 3) for h, s in sorted(self.limiter_wait.items(), key=lambda i: -i[1])
            },
            "limiter_wait_share": {
                h: round(min(s / duration, 1.0), 4) if duration > 0 else None
                for h, s in sorted(self.limiter_wait.items(), key=lambda i: -i[1])
            },
            "histogram_ms": [[round(edge, 3), n] for edge, n in self.latency.bins()],
        }


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - loop always returns


def _ms(value: float | None, digits: int = 1) -> str:
    """A latency in ms, readable at every scale: `850µs`, `12.3ms`, `1.25s` (`digits` decimals)."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.{max(digits - 1, 0)}f}µs"
    if value < 1000:
        return f"{value:.{digits}f}ms"
    return f"{value / 1000:.{digits + 1}f}s"


def render_histogram(bins: Iterable[tuple[float, int]], width: int = 30) -> list[str]:
    """Latency bins as text bars: `  ≤ 12.3ms │██████ 42`; every row's edge label is distinct."""
    rows = list(bins)
    peak = max((n for _, n in rows), default=0)
    labels = [_ms(edge) for edge, _ in rows]
    for digits in range(2, 5):  # a narrow range: more decimals until no two rows read the same
        if len(set(labels)) == len(labels):
            break
        labels = [_ms(edge, digits) for edge, _ in rows]
    lines = []
    for label, (_, n) in zip(labels, rows, strict=True):
        bar = "█" * (round(n / peak * width) if peak else 0)
        lines.append(f"  ≤{label:>9} │{bar:<{width}} {n}")
    return lines


def _counts(items: Iterable[tuple[Any, Any]]) -> str:
    return ", ".join(f"{key}: {n}" for key, n in items) or "-"


def render_summary(data: dict[str, Any], histogram: bool = True) -> list[str]:
    """The human summary (stderr) from `Summary.to_dict()` output, as plain lines."""
    latency = data["latency_ms"]
    ratio = data["success_ratio"]
    lines = [
        f"Requests   {data['total']} in {data['duration_s']:.2f}s"
        f" ({data['rate_per_s'] or 0:.1f}/s), success {100 * (ratio or 0):.1f}%"
        + (f", {data['skipped_resumed']} skipped (resumed)" if data["skipped_resumed"] else ""),
        f"Status     {_counts(data['status_codes'].items())}",
        f"Errors     {_counts(data['errors'].items())}",
        "Latency    "
        + "  ".join(f"{name} {_ms(latency[name])}" for name in ("min", "mean", "p50", "p90", "p99", "max")),
        f"Bytes      {_human_bytes(data['bytes'])}",
    ]
    if data["cache_hits"] or data["cache_hit_ratio"]:
        lines.append(f"Cache      {data['cache_hits']} hits ({100 * (data['cache_hit_ratio'] or 0):.1f}%)")
    if data["limiter_wait_s"]:
        share = data.get("limiter_wait_share") or {}
        waits = (
            (h, f"{s:.2f}s wall clock" + (f" ({100 * share[h]:.0f}% of the run)" if h in share else ""))
            for h, s in data["limiter_wait_s"].items()
        )
        lines.append(f"Limited    {_counts(waits)}")
    if histogram and data["histogram_ms"]:
        lines += ["Histogram", *render_histogram(data["histogram_ms"])]
    return lines
