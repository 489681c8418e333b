"""Each algorithm's guarantee (see `sessions.ratelimit._algorithms`), checked on a server's arrival times.

A request admitted at `a` reaches the server at `a + d`, with `d` between 0 and `JITTER`: a waiter may wake
up to MAX_LATE_TOLERANCE late and keep its slot, the decision's reply may come back late (the limiter does not
count its round trip as lateness), a worker process may be descheduled between admission and send. Each check
is the algorithm's bound loosened by exactly that much, so an over-admission beyond the jitter fails it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sessions.ratelimit._limiter import MAX_LATE_TOLERANCE

#: MAX_LATE_TOLERANCE for the wake-up, 75 ms for the reply and the send: clean CI runs on 2 busy cores (three
#: worker processes, PostgreSQL, the scheduler) saw a PostgreSQL-limited run send 21 within 1 s less 40 ms.
JITTER = MAX_LATE_TOLERANCE + 0.075


@dataclass(frozen=True)
class Limit:
    """One algorithm's parameters: as ratelimit options, as CLI flags, and its check."""

    algorithm: str
    params: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        """The `ratelimit_options` of a session."""
        return {"type": self.algorithm, **self.params}

    @property
    def flags(self) -> list[str]:
        """The `sessions fetch` flags."""
        flags = ["--ratelimit", self.algorithm]
        for name, value in self.params.items():
            text = f"{value}s" if name in ("window", "period") else str(value)
            flags += [f"--{name.replace('_', '-')}", text]
        return flags

    def violations(self, monotonic: Sequence[float], wall: Sequence[float] | None = None) -> list[str]:
        """What in these arrival times breaks the bound (empty: none). `wall` is needed by fixedwindow."""
        times = sorted(monotonic)
        p = self.params
        if self.algorithm in ("slidingwindow", "gcra"):
            window = p.get("window", p.get("period"))
            most = max_in_window(times, window - JITTER)
            if most <= p["limit"]:
                return []
            return [f"{most} arrivals within {window} s less the jitter > {p['limit']}"]
        if self.algorithm == "fixedwindow":
            assert wall is not None, "fixedwindow windows are aligned on the wall clock"
            return _aligned_violations(sorted(wall), p["window"], p["limit"])
        rate = p["fill_rate"] if self.algorithm == "tokenbucket" else p["leak_rate"]
        return _bucket_violations(times, p["capacity"], rate)


LIMITS = (
    Limit("slidingwindow", {"limit": 20, "window": 1.0}),
    Limit("fixedwindow", {"limit": 20, "window": 1.0}),
    Limit("gcra", {"limit": 20, "period": 1.0}),
    Limit("tokenbucket", {"capacity": 10, "fill_rate": 20.0}),
    Limit("leakybucket", {"capacity": 10, "leak_rate": 20.0}),
)


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most sorted `times` that fall within any half-open window of length `window`."""
    return max((bisect.bisect_left(times, t + window, lo=i) - i for i, t in enumerate(times)), default=0)


def _aligned_violations(wall: Sequence[float], window: float, limit: int) -> list[str]:
    # Arrivals in [kW + J, (k+1)W) were all admitted in window k: at most `limit` of them.
    found = []
    for k in {math.floor(t / window) for t in wall}:
        start, end = k * window + JITTER, (k + 1) * window
        inside = bisect.bisect_left(wall, end) - bisect.bisect_left(wall, start)
        if inside > limit:
            found.append(f"{inside} arrivals in aligned window {k} (after the first {JITTER} s) > {limit}")
    return found


def _bucket_violations(times: Sequence[float], capacity: float, rate: float) -> list[str]:
    # From a full bucket: at most capacity + rate·Δt requests in any span Δt (plus the jitter's worth).
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            allowed = capacity + rate * (times[j] - first + JITTER)
            if j - i + 1 > allowed + 1e-9:
                return [f"{j - i + 1} arrivals in {times[j] - first:.3f} s > {allowed:.2f}"]
    return []
