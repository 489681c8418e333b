"""Measurements shared by the limiter cells and the throughput mode: windows, percentiles, timing probes."""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["TimedStorage", "max_in_window", "percentile", "probe_class"]


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most timestamps inside any half-open interval `[t, t + window)`."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window, lo=i) - i)
    return best


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (nearest rank), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class TimedStorage:
    """Wraps a rate-limit storage and adds up the time its decisions take (the limiter's own cost)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.calls = 0
        self.slowest = 0.0

    def apply(self, *args: Any, **kwargs: Any) -> Any:
        """Timed `apply`."""
        start = time.perf_counter()
        try:
            return self._inner.apply(*args, **kwargs)
        finally:
            self._count(time.perf_counter() - start)

    async def aapply(self, *args: Any, **kwargs: Any) -> Any:
        """Timed `aapply`."""
        start = time.perf_counter()
        try:
            return await self._inner.aapply(*args, **kwargs)
        finally:
            self._count(time.perf_counter() - start)

    def reset(self) -> None:
        """Forget the decisions so far (the warm-up's: imports, connections, script loads)."""
        self.seconds, self.calls, self.slowest = 0.0, 0, 0.0

    def _count(self, seconds: float) -> None:
        self.seconds += seconds
        self.calls += 1
        self.slowest = max(self.slowest, seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def probe_class(base: type) -> type:
    """A subclass of `base` recording, per wire attempt, when it left and how long it took.

    Put it *below* `RatelimitMixin` in the MRO so the send time is taken after the limiter's wait.
    """

    class Probe(base):  # type: ignore[misc]
        def _send_wire(self, call: Any) -> Any:
            start = time.monotonic()
            try:
                return super()._send_wire(call)
            finally:
                self.wire_log.append((start, time.monotonic() - start))

        async def _asend_wire(self, call: Any) -> Any:
            start = time.monotonic()
            try:
                return await super()._asend_wire(call)
            finally:
                self.wire_log.append((start, time.monotonic() - start))

    Probe.wire_log = []  # replaced per instance by the cell runner
    return Probe
