"""Per-algorithm benchmark parameters and the bounds each algorithm promises.

For `n` requests sent as fast as the limiter allows, each algorithm has

* a **window bound** — the most requests it may admit in any window of length `W`
  (from `sessions.ratelimit._algorithms`, the library's documented guarantees), and
* an **expected minimum duration** — the least time between the first and the last send.

Both are pure arithmetic, so they are tested without a server.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

__all__ = ["ALGORITHMS", "DEFAULTS", "Bound", "bound", "default_params", "min_duration", "random_params"]

ALGORITHMS = ("slidingwindow", "fixedwindow", "tokenbucket", "leakybucket", "gcra")

DEFAULTS: dict[str, dict[str, float]] = {
    "slidingwindow": {"limit": 4, "window": 1.0},
    "fixedwindow": {"limit": 4, "window": 1.0},
    "tokenbucket": {"capacity": 4, "fill_rate": 4.0},
    "leakybucket": {"capacity": 4, "leak_rate": 4.0},
    "gcra": {"limit": 4, "period": 1.0},
}
"""Small defaults: 12 requests per cell take about 2–3 s, the whole 30-cell matrix about 1.5 minutes."""


@dataclass(frozen=True)
class Bound:
    """At most `count` requests in any window of `window` seconds."""

    window: float
    count: int
    note: str


def default_params(algorithm: str) -> dict[str, float]:
    """A copy of the default parameters of `algorithm`."""
    return dict(DEFAULTS[algorithm])


def _rate(algorithm: str, params: dict[str, Any]) -> tuple[float, float]:
    """(sustained rate per second, burst) of the parameters."""
    if algorithm in ("slidingwindow", "fixedwindow"):
        return params["limit"] / params["window"], params["limit"]
    if algorithm == "gcra":
        return params["limit"] / params["period"], params.get("burst", 1)
    rate = params["fill_rate"] if algorithm == "tokenbucket" else params["leak_rate"]
    return rate, params["capacity"]


def bound(algorithm: str, params: dict[str, Any]) -> Bound:
    """The algorithm's promise, in the window the benchmark checks."""
    if algorithm == "slidingwindow":
        return Bound(params["window"], int(params["limit"]), "exact: ≤ limit in any window")
    if algorithm == "fixedwindow":
        return Bound(
            params["window"], 2 * int(params["limit"]), "≤ limit per aligned window, 2×limit across one"
        )
    if algorithm == "gcra":
        burst = int(params.get("burst", 1))
        return Bound(params["period"], int(params["limit"]) + burst - 1, "≤ limit + burst − 1 per period")
    rate, capacity = _rate(algorithm, params)
    window = 1.0
    return Bound(window, math.floor(capacity + rate * window + 1e-9), "≤ capacity + rate × W (W = 1 s)")


def min_duration(algorithm: str, params: dict[str, Any], n: int) -> float:
    """The least time from the first to the n-th send that the algorithm allows (fresh state)."""
    if n <= 1:
        return 0.0
    if algorithm == "slidingwindow":
        return ((n - 1) // int(params["limit"])) * float(params["window"])
    if algorithm == "fixedwindow":
        # the first aligned window may be nearly over when the first request goes
        return max(0, math.ceil(n / int(params["limit"])) - 2) * float(params["window"])
    rate, burst = _rate(algorithm, params)
    if algorithm == "gcra":
        return max(0.0, n - burst) / rate
    return max(0.0, n - math.floor(burst)) / rate


def random_params(algorithm: str, rng: random.Random, n: int, budget: float = 3.0) -> dict[str, float]:
    """Random small parameters (like the seed's `make_test`) whose cell takes at most about `budget` s."""
    while True:
        limit = rng.randint(2, 6)
        span = round(rng.uniform(0.5, 1.5), 2)
        if algorithm in ("slidingwindow", "fixedwindow"):
            params: dict[str, float] = {"limit": limit, "window": span}
        elif algorithm == "gcra":
            params = {"limit": limit, "period": span, "burst": rng.randint(1, 3)}
        else:
            name = "fill_rate" if algorithm == "tokenbucket" else "leak_rate"
            params = {"capacity": limit, name: round(limit / span, 2)}
        if min_duration(algorithm, params, n) <= budget:
            return params
