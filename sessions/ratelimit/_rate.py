"""``Rate``: a rate as a value object — ``Rate("5/2s")``, ``Rate.parse("100/m")``, ``Rate(10)``.

The notation is the one curl and vegeta users know: ``<count>/<period>`` where the period is an optional
number followed by a unit (``ms``, ``s``, ``m``, ``h``, ``d`` or their long forms); a bare number means per
second. ``rate.params(algorithm)`` turns it into the parameters of any of the five algorithms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ._algorithms import (
    GCRA,
    AlgorithmParams,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    TokenBucket,
    algorithm_name,
)

__all__ = ["Rate"]

_UNITS: Final[dict[str, float]] = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_PATTERN: Final = re.compile(
    r"\s*(?P<count>\d+)\s*(?:(?:/|per\s)\s*(?=\S)(?P<number>\d+(?:\.\d*)?|\.\d+)?\s*(?P<unit>[a-z]*))?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True, init=False)
class Rate:
    """``limit`` requests per ``period`` seconds.

    ``Rate("5/2s")``, ``Rate("100/m")``, ``Rate("10")`` (per second), ``Rate(5, 2)`` or
    ``Rate(limit=5, period=2)``. Sub-second periods work (``"20/500ms"``).
    """

    limit: int
    period: float

    def __init__(self, limit: str | int, period: float = 1.0) -> None:
        if isinstance(limit, str):
            parsed = Rate.parse(limit)
            limit, period = parsed.limit, parsed.period
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"Rate: limit must be a positive integer, not {limit!r}")
        if isinstance(period, bool) or not isinstance(period, int | float) or not period > 0:
            raise ValueError(f"Rate: period must be a positive number of seconds, not {period!r}")
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "period", float(period))

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse ``"<count>[/<number><unit>]"``: ``"5/2s"``, ``"100/m"``, ``"10 per minute"``, ``"10"``."""
        match = _PATTERN.fullmatch(text)
        unit = match["unit"].lower() if match and match["unit"] is not None else ""
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"cannot parse rate {text!r}: expected '<count>/<period>' such as '5/s', '100/m', '5/2s', "
                "'20/500ms' (units ms, s, m, h, d; a bare number means per second)"
            )
        number = float(match["number"]) if match["number"] else 1.0
        return cls(int(match["count"]), number * _UNITS[unit])

    @property
    def per_second(self) -> float:
        """The long-run rate in requests per second."""
        return self.limit / self.period

    def params(self, algorithm: str = "slidingwindow", *, burst: float | None = None) -> AlgorithmParams:
        """The parameters of ``algorithm`` for this rate.

        Windows: ``limit`` per ``window=period``. GCRA: ``limit`` per ``period`` with ``burst`` (default 1: at
        most ``limit`` in any ``period``). Buckets: ``capacity=burst`` (default ``limit``) refilled/leaking at
        ``limit/period`` per second — note a full bucket then allows up to ``capacity + limit`` in one period.
        """
        name = algorithm_name(algorithm)
        if name == "slidingwindow":
            return SlidingWindow(limit=self.limit, window=self.period)
        if name == "fixedwindow":
            return FixedWindow(limit=self.limit, window=self.period)
        if name == "gcra":
            return GCRA(limit=self.limit, period=self.period, burst=int(burst or 1))
        capacity = float(burst or self.limit)
        if name == "tokenbucket":
            return TokenBucket(capacity=capacity, fill_rate=self.per_second)
        return LeakyBucket(capacity=capacity, leak_rate=self.per_second)

    def __str__(self) -> str:
        period = f"{self.period:g}s" if self.period != 1.0 else "s"
        return f"{self.limit}/{period}"

    def __repr__(self) -> str:
        return f"Rate({str(self)!r})"
