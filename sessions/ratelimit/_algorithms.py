"""Pure rate-limiting algorithms: parameters, compiled specs and one decision function each.

No I/O, no clock: every function takes the current time ``now`` as an integer number of *ticks*. A spec is
compiled for a tick unit (``NS`` = ticks per second for nanoseconds, used by memory and SQLite; ``US`` for
microseconds, used by the Redis Lua twin), so the same arithmetic runs on every backend.

Conventions shared by every algorithm (the Lua scripts mirror them exactly):

* **State** is a flat tuple of ints/floats (msgpack/JSON/Lua friendly). ``state[0]`` is always
  ``paused_until`` (ticks; 0 = not paused): server feedback (``429 Retry-After``) pushes it forward, and
  nothing is admitted before it. ``None`` means "no state" (empty).
* **Slot.** Each algorithm computes the *earliest* tick ``slot >= max(now, paused_until)`` at which a request
  of ``cost`` may go without breaking its bound, then commits iff ``slot - now <= max_wait``:
  ``max_wait = 0`` is mode ``"try"`` (admit now or deny), a large value is ``"reserve"`` (commit the earliest
  slot, the caller sleeps ``delay`` once: FIFO, no polling, no thundering herd), ``-1`` is ``"peek"`` (never
  commit). A denied request never changes state.
* **Windows are half-open**: "at most L in any window of length W" means any ``[s, s+W)``.
* **TTL**: ``spec.ttl(state, now)`` is the number of ticks after which the state is indistinguishable from
  empty (including the pause); storages may drop it then, never earlier.
* **Costs** are positive; window algorithms need integral costs. A cost above ``spec.capacity`` can never be
  admitted: callers check it first and raise ``ImpossibleRequest``; if they do not, the decision says
  ``allowed=False`` with an infinite ``retry_after`` and nothing is committed.

Guarantees (L = limit, W = window or any window length, T = emission interval, C = capacity, r = rate):

=============  ==============================================================================================
slidingwindow  exact log: never more than L in any window of length ``window``.
fixedwindow    at most L per aligned window ``[kW, (k+1)W)``; up to 2L in a window straddling a boundary.
tokenbucket    at most ``C + r*W`` cost units in any window of length W (burst C, then r per second).
leakybucket    the same bound as a meter (level leaks at r; admit iff level + cost <= C).
gcra           T = period/limit, tolerance burst*T: at most ``burst + ceil(W/T) - 1`` in any window W.
               The default burst=1 gives at most ``limit`` in any window of length ``period`` (the plain
               reading of "5 per 2 s"); an opt-in burst b allows up to ``limit + b - 1`` per period.
=============  ==============================================================================================
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import MISSING, dataclass, field
from typing import Any, ClassVar, Final, Literal, NamedTuple

__all__ = [
    "ALGORITHMS",
    "GCRA",
    "MODES",
    "NS",
    "US",
    "AlgorithmParams",
    "Decision",
    "FixedWindow",
    "LeakyBucket",
    "Mode",
    "SlidingWindow",
    "Spec",
    "State",
    "TokenBucket",
    "algorithm_name",
    "decide",
    "make_params",
    "max_wait_ticks",
]

NS: Final = 1_000_000_000
"""Ticks per second when time is in nanoseconds (memory and SQLite storages)."""
US: Final = 1_000_000
"""Ticks per second when time is in microseconds (the Redis Lua twin)."""

State = tuple[int | float, ...]
Mode = Literal["try", "reserve", "peek"]

# A reservation horizon far beyond any real wait (~292 years in ns), still an exact int in Lua doubles for µs.
_FOREVER: Final = 2**62
MODES: Final[dict[str, int]] = {"try": 0, "reserve": _FOREVER, "peek": -1}
"""Mode name → ``max_wait`` in ticks (see the module docstring)."""

_INF: Final = math.inf


class Decision(NamedTuple):
    """The outcome of one limiter decision; times in seconds.

    * ``allowed`` — try: admitted now; reserve: a slot was committed (go after ``delay``); peek: a try would
      succeed now.
    * ``remaining`` — how many more cost-1 requests a ``try`` would admit right now (after this decision).
    * ``retry_after`` — when not allowed, seconds until the request could go (``inf`` if never); else 0.
    * ``reset_after`` — seconds until the key's state is back to empty (full capacity, no pause).
    * ``delay`` — reserve only: seconds to wait before sending; 0 otherwise.
    """

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float
    delay: float


_new = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path

Outcome = tuple[State | None, int, Decision]
"""What ``Spec.decide`` returns: ``(new_state or None if nothing was committed, ttl_ticks, decision)``."""


def _decision(allowed: bool, remaining: int, retry: int, reset: int, delay: int, unit: int) -> Decision:
    reset_s = reset / unit if reset > 0 else 0.0
    return _new(Decision, (allowed, remaining, retry / unit, reset_s, delay / unit))


def _impossible(remaining: int, reset: int, unit: int) -> Decision:
    return _new(Decision, (False, remaining, _INF, reset / unit if reset > 0 else 0.0, 0.0))


def max_wait_ticks(mode: str, max_wait: float | None, unit: int) -> int:
    """Translate a mode (and an optional cap on the reserve delay, in seconds) into ``max_wait`` ticks."""
    try:
        ticks = MODES[mode]
    except KeyError:
        raise ValueError(f"mode must be one of {sorted(MODES)}, not {mode!r}") from None
    if max_wait is not None and mode == "reserve":
        ticks = max(0, math.floor(max_wait * unit))
    return ticks


def _ticks(seconds: float, unit: int) -> int:
    """Seconds → ticks, at least one tick (a zero-length window or interval would divide by zero)."""
    return max(1, round(seconds * unit))


def _check_window_cost(cost: float, algorithm: str) -> int:
    if cost != int(cost):
        raise ValueError(f"{algorithm}: cost must be a whole number, not {cost!r}")
    return int(cost)


# ----------------------------------------------------------------------------------------------------
# Compiled specs: integer tick parameters + the decision function. One subclass per algorithm.
# ----------------------------------------------------------------------------------------------------


class Spec:
    """Parameters compiled for a tick unit. ``decide`` is the whole algorithm; storages load and save state.

    ``decide(state, now, cost, max_wait) -> (new_state | None, ttl_ticks, Decision)``: ``new_state`` is None
    when nothing was committed; ``ttl_ticks`` is the new state's TTL (meaningful only when committed).
    """

    __slots__ = ("capacity", "params", "unit")
    algorithm: ClassVar[str] = ""

    def __init__(self, params: AlgorithmParams, unit: int, capacity: float) -> None:
        self.params = params
        self.unit = unit
        self.capacity = capacity

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        raise NotImplementedError

    def empty(self, paused_until: int) -> State:
        """The empty state, paused until ``paused_until``."""
        raise NotImplementedError

    def ttl(self, state: State, now: int) -> int:
        """Ticks until ``state`` is indistinguishable from empty (<= 0: already empty)."""
        raise NotImplementedError

    def pause(self, state: State | None, now: int, seconds: float) -> tuple[State, int]:
        """Push ``paused_until`` to at least ``now + seconds``; returns ``(new_state, ttl_ticks)``."""
        until = now + max(0, math.ceil(seconds * self.unit))
        if state is None:
            new = self.empty(until)
        elif until > state[0]:
            new = (until, *state[1:])
        else:
            new = state
        return new, self.ttl(new, now)


class _SlidingSpec(Spec):
    """State ``(paused_until, t1, ..., tk)``: admission ticks ascending, one entry per cost unit, k <= limit.

    Entries may lie in the future (reservations). A request of cost c may go at the earliest
    ``slot >= max(now, paused_until, tk)`` (FIFO: never ahead of a reservation) such that at most L - c
    entries lie in ``(slot - W, slot]``, i.e. ``slot >= t[k-L+c] + W`` (1-based). Entries ``<= now - W`` are
    dropped and only the last L kept: older ones can never constrain a future slot.
    """

    __slots__ = ("limit", "window")
    algorithm = "slidingwindow"

    def __init__(self, params: AlgorithmParams, unit: int, limit: int, window: int) -> None:
        super().__init__(params, unit, limit)
        self.limit = limit
        self.window = window

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        c = _check_window_cost(cost, self.algorithm)
        limit, window, unit = self.limit, self.window, self.unit
        log: State
        if state is None:
            paused, log = 0, ()
        else:
            paused = int(state[0])
            log = state[1:]
            if log and log[0] <= now - window:
                log = log[bisect_right(log, now - window) :]
        k = len(log)
        if c > limit:
            remaining, reset = self._remaining(paused, log, now), self._reset(paused, log, now)
            return None, 0, _impossible(remaining, reset, unit)
        slot = now if now > paused else paused
        if k:
            if log[-1] > slot:
                slot = int(log[-1])
            j = k - limit + c
            if j > 0 and log[j - 1] + window > slot:
                slot = int(log[j - 1]) + window
        wait = slot - now
        if wait > max_wait:
            allowed = max_wait < 0 and wait == 0  # peek: would a try succeed now?
            retry = 0 if allowed else wait
            return (
                None,
                0,
                _decision(
                    allowed, self._remaining(paused, log, now), retry, self._reset(paused, log, now), 0, unit
                ),
            )
        new_log = (log + (slot,) * c)[-limit:]
        new_state = (paused, *new_log)
        reset = self._reset(paused, new_log, now)
        return new_state, reset, _decision(True, self._remaining(paused, new_log, now), 0, reset, wait, unit)

    def _remaining(self, paused: int, log: State, now: int) -> int:
        if paused > now or (log and log[-1] > now):
            return 0  # paused, or a reservation is pending: a try would queue behind it
        return self.limit - sum(1 for t in log if t > now - self.window)

    def _reset(self, paused: int, log: State, now: int) -> int:
        end = int(log[-1]) + self.window if log else 0
        return max(end, paused) - now

    def empty(self, paused_until: int) -> State:
        return (paused_until,)

    def ttl(self, state: State, now: int) -> int:
        return self._reset(int(state[0]), state[1:], now)


class _FixedSpec(Spec):
    """State ``(paused_until, window_start, count)``; windows are aligned: ``[k*W, (k+1)*W)`` in ticks.

    ``window_start`` may be a future window (reservations roll over to the next window once the current one is
    full). Decide and consume happen in one step: a denied request never increments ``count``.
    """

    __slots__ = ("limit", "window")
    algorithm = "fixedwindow"

    def __init__(self, params: AlgorithmParams, unit: int, limit: int, window: int) -> None:
        super().__init__(params, unit, limit)
        self.limit = limit
        self.window = window

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        c = _check_window_cost(cost, self.algorithm)
        limit, window = self.limit, self.window
        paused, start, count = (0, 0, 0) if state is None else (int(state[0]), int(state[1]), int(state[2]))
        if c > limit:
            return (
                None,
                0,
                _impossible(
                    self._remaining(paused, start, count, now),
                    self._reset(paused, start, count, now),
                    self.unit,
                ),
            )
        first = now if now > paused else paused
        current = first - first % window
        if count and start >= current:  # the stored window is the current one or a reserved future one
            if count + c <= limit:
                slot, new_start, new_count = max(first, start), start, count + c
            else:
                slot, new_start, new_count = start + window, start + window, c
        else:
            slot, new_start, new_count = first, current, c
        return self._finish(paused, (start, count), (new_start, new_count), slot, now, max_wait)

    def _finish(
        self, paused: int, old: tuple[int, int], new: tuple[int, int], slot: int, now: int, max_wait: int
    ) -> tuple[State | None, int, Decision]:
        wait = slot - now
        if wait > max_wait:
            allowed = max_wait < 0 and wait == 0
            d = _decision(
                allowed,
                self._remaining(paused, *old, now),
                0 if allowed else wait,
                self._reset(paused, *old, now),
                0,
                self.unit,
            )
            return None, 0, d
        reset = self._reset(paused, *new, now)
        d = _decision(True, self._remaining(paused, *new, now), 0, reset, wait, self.unit)
        return (paused, *new), reset, d

    def _remaining(self, paused: int, start: int, count: int, now: int) -> int:
        if paused > now:
            return 0
        current = now - now % self.window
        if start > current and count:
            return 0  # a future window is already being filled: a try now would queue behind it
        return self.limit - count if start == current else self.limit

    def _reset(self, paused: int, start: int, count: int, now: int) -> int:
        end = start + self.window if count else 0
        return max(end, paused) - now

    def empty(self, paused_until: int) -> State:
        return (paused_until, 0, 0)

    def ttl(self, state: State, now: int) -> int:
        return self._reset(int(state[0]), int(state[1]), int(state[2]), now)


class _BucketSpec(Spec):
    """State ``(paused_until, level, last)``: float ``level`` at tick ``last``, draining at ``rate`` per tick.

    Leaky bucket (meter): ``level`` is the bucket's fill. Token bucket: ``level`` is the token *deficit*
    (``tokens = capacity - level``), so both share one formula and the empty state ``(0, 0.0, 0)``.
    Admit at the earliest ``slot >= max(now, paused_until, last)`` (FIFO: ``last`` may be a future
    reservation) with ``level(slot) + cost <= capacity``, where
    ``level(t) = max(0, level - (t - last) * rate)``; no flooring, fractions carry over in the float level.
    """

    __slots__ = ("rate",)

    def __init__(self, params: AlgorithmParams, unit: int, capacity: float, rate: float) -> None:
        super().__init__(params, unit, capacity)
        self.rate = rate  # cost units per tick

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        capacity, rate = self.capacity, self.rate
        if state is None:
            paused, level, last = 0, 0.0, 0
        else:
            paused, level, last = int(state[0]), float(state[1]), int(state[2])
        if cost > capacity:
            return (
                None,
                0,
                _impossible(
                    self._remaining(paused, level, last, now),
                    self._reset(paused, level, last, now),
                    self.unit,
                ),
            )
        slot = max(now, paused, last)
        lvl = level - (slot - last) * rate
        if lvl < 0.0:
            lvl = 0.0
        excess = lvl + cost - capacity
        if excess > 0.0:
            step = math.ceil(excess / rate)
            slot += step
            lvl = max(0.0, lvl - step * rate)
        wait = slot - now
        if wait > max_wait:
            allowed = max_wait < 0 and wait == 0
            d = _decision(
                allowed,
                self._remaining(paused, level, last, now),
                0 if allowed else wait,
                self._reset(paused, level, last, now),
                0,
                self.unit,
            )
            return None, 0, d
        new_level = lvl + cost
        reset = self._reset(paused, new_level, slot, now)
        d = _decision(True, self._remaining(paused, new_level, slot, now), 0, reset, wait, self.unit)
        return (paused, new_level, slot), reset, d

    def _remaining(self, paused: int, level: float, last: int, now: int) -> int:
        if paused > now or last > now:
            return 0
        free = self.capacity - max(0.0, level - (now - last) * self.rate)
        return max(0, math.floor(free + 1e-9))  # 1e-9 absorbs float dust such as 2.9999999999999996

    def _reset(self, paused: int, level: float, last: int, now: int) -> int:
        end = last + math.ceil(level / self.rate) if level > 0.0 else 0
        return max(end, paused) - now

    def empty(self, paused_until: int) -> State:
        return (paused_until, 0.0, 0)

    def ttl(self, state: State, now: int) -> int:
        return self._reset(int(state[0]), float(state[1]), int(state[2]), now)


class _TokenSpec(_BucketSpec):
    __slots__ = ()
    algorithm = "tokenbucket"


class _LeakySpec(_BucketSpec):
    __slots__ = ()
    algorithm = "leakybucket"


class _GcraSpec(Spec):
    """State ``(paused_until, tat)``: the theoretical arrival time in ticks (0 = empty).

    Emission interval ``T = ceil(period_ticks / limit)`` (rounding up never over-admits), tolerance
    ``tau = burst * T``. A request of cost n goes at ``slot = max(now, paused_until, tat + n*T - tau)``; then
    ``tat = max(tat, slot) + n*T``. Integer ticks: a frozen clock admits exactly ``burst``.
    """

    __slots__ = ("interval", "tolerance")
    algorithm = "gcra"

    def __init__(self, params: AlgorithmParams, unit: int, interval: int, burst: int) -> None:
        super().__init__(params, unit, burst)
        self.interval = interval
        self.tolerance = burst * interval

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        paused, tat = (0, 0) if state is None else (int(state[0]), int(state[1]))
        if cost > self.capacity:
            return None, 0, _impossible(self._remaining(paused, tat, now), max(tat, paused) - now, self.unit)
        inc = cost * self.interval if type(cost) is int else math.ceil(cost * self.interval)
        slot = max(now, paused, tat + inc - self.tolerance)
        wait = slot - now
        if wait > max_wait:
            allowed = max_wait < 0 and wait == 0
            d = _decision(
                allowed,
                self._remaining(paused, tat, now),
                0 if allowed else wait,
                max(tat, paused) - now,
                0,
                self.unit,
            )
            return None, 0, d
        new_tat = max(tat, slot) + inc
        reset = max(new_tat, paused) - now
        d = _decision(True, self._remaining(paused, new_tat, now), 0, reset, wait, self.unit)
        return (paused, new_tat), reset, d

    def _remaining(self, paused: int, tat: int, now: int) -> int:
        if paused > now:
            return 0
        return max(0, (self.tolerance - max(0, tat - now)) // self.interval)

    def empty(self, paused_until: int) -> State:
        return (paused_until, 0)

    def ttl(self, state: State, now: int) -> int:
        return max(int(state[1]), int(state[0])) - now


# ----------------------------------------------------------------------------------------------------
# Parameters: frozen, keyword-only, validated value objects. ``spec(unit)`` compiles (and caches) the ticks.
# ----------------------------------------------------------------------------------------------------


def _positive(algorithm: str, name: str, value: object, *, integer: bool = False) -> None:
    kind = "a positive integer" if integer else "a positive number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{algorithm}: {name} must be {kind}, not {value!r}")
    if integer and value != int(value):
        raise ValueError(f"{algorithm}: {name} must be {kind}, not {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{algorithm}: {name} must be {kind}, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class AlgorithmParams:
    """Base of the per-algorithm parameter objects."""

    algorithm: ClassVar[str] = ""
    _specs: dict[int, Spec] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def spec(self, unit: int = NS) -> Spec:
        """The parameters compiled to integer ticks of ``unit`` per second (cached)."""
        spec = self._specs.get(unit)
        if spec is None:
            spec = self._specs[unit] = self._compile(unit)
        return spec

    @property
    def max_cost(self) -> float:
        """The largest cost this limit can ever admit at once (its capacity, limit or burst)."""
        return self.spec().capacity

    def _compile(self, unit: int) -> Spec:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class SlidingWindow(AlgorithmParams):
    """Exact sliding window (a log): at most ``limit`` requests in any ``window`` seconds."""

    algorithm: ClassVar[str] = "slidingwindow"
    limit: int
    window: float

    def __post_init__(self) -> None:
        _positive(self.algorithm, "limit", self.limit, integer=True)
        _positive(self.algorithm, "window", self.window)

    def _compile(self, unit: int) -> Spec:
        return _SlidingSpec(self, unit, int(self.limit), _ticks(self.window, unit))


@dataclass(frozen=True, kw_only=True)
class FixedWindow(AlgorithmParams):
    """Fixed window: at most ``limit`` per aligned ``window``; up to 2×limit across a boundary."""

    algorithm: ClassVar[str] = "fixedwindow"
    limit: int
    window: float

    def __post_init__(self) -> None:
        _positive(self.algorithm, "limit", self.limit, integer=True)
        _positive(self.algorithm, "window", self.window)

    def _compile(self, unit: int) -> Spec:
        return _FixedSpec(self, unit, int(self.limit), _ticks(self.window, unit))


@dataclass(frozen=True, kw_only=True)
class TokenBucket(AlgorithmParams):
    """Token bucket: holds up to ``capacity`` tokens, refilled at ``fill_rate`` tokens per second."""

    algorithm: ClassVar[str] = "tokenbucket"
    capacity: float
    fill_rate: float

    def __post_init__(self) -> None:
        _positive(self.algorithm, "capacity", self.capacity)
        _positive(self.algorithm, "fill_rate", self.fill_rate)

    def _compile(self, unit: int) -> Spec:
        return _TokenSpec(self, unit, float(self.capacity), self.fill_rate / unit)


@dataclass(frozen=True, kw_only=True)
class LeakyBucket(AlgorithmParams):
    """Leaky bucket as a meter: holds up to ``capacity``, leaks ``leak_rate`` per second."""

    algorithm: ClassVar[str] = "leakybucket"
    capacity: float
    leak_rate: float

    def __post_init__(self) -> None:
        _positive(self.algorithm, "capacity", self.capacity)
        _positive(self.algorithm, "leak_rate", self.leak_rate)

    def _compile(self, unit: int) -> Spec:
        return _LeakySpec(self, unit, float(self.capacity), self.leak_rate / unit)


@dataclass(frozen=True, kw_only=True)
class GCRA(AlgorithmParams):
    """Generic cell rate algorithm: ``limit`` per ``period`` evenly spaced, plus an opt-in ``burst``.

    With the default ``burst=1`` at most ``limit`` requests pass in any window of length ``period``.
    With ``burst=b`` up to ``b`` go at once and at most ``limit + b - 1`` in any ``period``.
    """

    algorithm: ClassVar[str] = "gcra"
    limit: int
    period: float
    burst: int = 1

    def __post_init__(self) -> None:
        _positive(self.algorithm, "limit", self.limit, integer=True)
        _positive(self.algorithm, "period", self.period)
        _positive(self.algorithm, "burst", self.burst, integer=True)

    def _compile(self, unit: int) -> Spec:
        period = _ticks(self.period, unit)
        return _GcraSpec(self, unit, max(1, -(-period // int(self.limit))), int(self.burst))


ALGORITHMS: Final[dict[str, type[AlgorithmParams]]] = {
    "slidingwindow": SlidingWindow,
    "fixedwindow": FixedWindow,
    "tokenbucket": TokenBucket,
    "leakybucket": LeakyBucket,
    "gcra": GCRA,
}
"""Canonical algorithm name → parameter class."""


def algorithm_name(name: str) -> str:
    """Normalise an algorithm name: ``"Sliding_Window"``, ``"sliding-window"`` → ``"slidingwindow"``."""
    canonical = name.lower().replace("_", "").replace("-", "").replace(" ", "")
    if canonical not in ALGORITHMS:
        raise ValueError(f"unknown rate-limit algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    return canonical


def make_params(algorithm: str, **params: Any) -> AlgorithmParams:
    """Build the parameter object for ``algorithm`` from keywords, naming what is missing or unexpected."""
    cls = ALGORITHMS[algorithm_name(algorithm)]
    fields = {f.name for f in cls.__dataclass_fields__.values() if f.init}
    unknown = sorted(set(params) - fields)
    if unknown:
        expected = ", ".join(sorted(fields))
        names = ", ".join(unknown)
        raise ValueError(f"{cls.algorithm}: unexpected parameter(s) {names}; expected {expected}")
    required = [n for n, f in cls.__dataclass_fields__.items() if f.init and n not in params and _required(f)]
    if required:
        raise ValueError(f"{cls.algorithm}: missing parameter(s) {', '.join(required)}")
    return cls(**params)


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def decide(
    params: AlgorithmParams | Spec,
    state: State | None,
    now: int,
    cost: float = 1,
    mode: Mode = "try",
    *,
    unit: int = NS,
    max_wait: float | None = None,
) -> tuple[State | None, Decision]:
    """One pure decision: ``(new_state or None if nothing was committed, Decision)``.

    ``now`` is in ticks of ``unit``; ``max_wait`` (seconds) caps the delay a ``"reserve"`` may commit to.
    """
    spec = params if isinstance(params, Spec) else params.spec(unit)
    if cost <= 0:
        raise ValueError(f"{spec.algorithm}: cost must be positive, not {cost!r}")
    new_state, _, decision = spec.decide(state, now, cost, max_wait_ticks(mode, max_wait, spec.unit))
    return new_state, decision
