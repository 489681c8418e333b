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
from collections import deque
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar, Final, Literal, NamedTuple

__all__ = [
    "ALGORITHMS",
    "GCRA",
    "MODES",
    "NS",
    "PARAMETER_NAMES",
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
    "parameter_names",
    "required_parameters",
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
_EMPTY_BUCKET: Final = (0, 0.0, 0)  # the states ``None`` stands for, for the fast paths
_EMPTY_GCRA: Final = (0, 0)


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
_ceil = math.ceil
_floor = math.floor

Outcome = tuple[State | None, int, Decision]
"""What ``Spec.decide`` returns: ``(new_state or None if nothing was committed, ttl_ticks, decision)``."""


def _refusal(wait: float, remaining: int, reset: float, unit: int, peek: bool) -> Decision:
    """An uncommitted decision. A peek whose slot is now reports ``allowed`` (a try would succeed)."""
    reset_s = reset / unit if reset > 0 else 0.0
    if peek and wait == 0:
        return _new(Decision, (True, remaining, 0.0, reset_s, 0.0))
    return _new(Decision, (False, remaining, wait / unit, reset_s, 0.0))


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

    A decision costs about a microsecond of Python, so the tuple-state specs split ``decide`` in two: the
    common cases (a try or reserve on an unpaused key, admitted now or denied) inline, everything else in
    ``_general``, which is the reference: both give identical values for every input
    (``tests/ratelimit/test_fast_paths.py``).
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

    The arithmetic lives in ``decide_log``, which works in place on a deque (the memory storage keeps one per
    key, so a decision costs O(1) instead of copying an O(limit) tuple); ``decide`` wraps it for tuples.
    """

    __slots__ = ("limit", "window")
    algorithm = "slidingwindow"

    def __init__(self, params: AlgorithmParams, unit: int, limit: int, window: int) -> None:
        super().__init__(params, unit, limit)
        self.limit = limit
        self.window = window

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        paused: int | float = 0
        log: deque[int | float] = deque()
        if state is not None:
            paused, log = state[0], deque(state[1:])
        committed, ttl, decision = self.decide_log(paused, log, now, cost, max_wait)
        return ((paused, *log) if committed else None), ttl, decision

    def decide_log(
        self, paused: int | float, log: deque[int | float], now: int, cost: float, max_wait: int
    ) -> tuple[bool, int, Decision]:
        """``decide`` on a mutable log: prunes expired entries and, if committing, appends the slot."""
        c = cost if type(cost) is int or isinstance(cost, int) else _check_window_cost(cost, self.algorithm)
        limit, window = self.limit, self.window
        edge = now - window
        while log and log[0] <= edge:  # expired for every slot >= now: safe to drop even on a denial
            log.popleft()
        if c > limit:
            return False, 0, self._refuse(paused, log, now, _INF)
        slot = now if now > paused else paused
        k = len(log)
        if k:
            if log[-1] > slot:
                slot = log[-1]
            j = k - limit + c
            if j > 0 and log[j - 1] + window > slot:
                slot = log[j - 1] + window
        wait = slot - now
        if wait > max_wait:
            if max_wait < 0:
                return False, 0, self._refuse(paused, log, now, wait, peek=True)
            # A denial: ``_refuse`` inlined (three calls saved), as denials are as hot as admissions under
            # load. Paused or behind a pending reservation, nothing is left now; else the whole log is in the
            # window.
            if k:
                newest = log[-1]
                end = newest + window
                remaining = 0 if newest > now or paused > now else limit - k
            else:
                end = 0
                remaining = 0 if paused > now else limit
            reset = (end if end > paused else paused) - now
            unit = self.unit
            decision = _new(
                Decision, (False, remaining, wait / unit, reset / unit if reset > 0 else 0.0, 0.0)
            )
            return False, 0, decision
        if c == 1:
            log.append(slot)
        else:
            log.extend((slot,) * c)
        while len(log) > limit:
            log.popleft()
        end = log[-1] + window  # self._reset inlined (the log is not empty now)
        reset = (end if end > paused else paused) - now
        remaining = 0 if slot > now or paused > now else limit - len(log)
        delay = wait / self.unit if wait else 0.0  # wait >= 0, and 0 / unit is 0.0
        decision = _new(Decision, (True, remaining, 0.0, reset / self.unit, delay))
        return True, (reset if type(reset) is int else int(reset)), decision

    def _refuse(
        self, paused: float, log: deque[int | float], now: int, wait: float, *, peek: bool = False
    ) -> Decision:
        """The decision for an uncommitted request (denied, impossible, or a peek)."""
        # Paused, or a reservation is pending (a try would queue behind it): nothing left now. Otherwise every
        # entry left after pruning lies inside the window.
        pending = (log and log[-1] > now) or paused > now
        remaining = 0 if pending else self.limit - len(log)
        return _refusal(wait, remaining, self._reset(paused, log, now), self.unit, peek)

    def _reset(self, paused: float, log: deque[int | float] | State, now: int) -> float:
        end = log[-1] + self.window if log else 0
        return (end if end > paused else paused) - now

    def empty(self, paused_until: int) -> State:
        return (paused_until,)

    def ttl(self, state: State, now: int) -> int:
        return int(self._reset(state[0], state[1:], now))


class _FixedSpec(Spec):
    """State ``(paused_until, window_start, count)``; windows are aligned: ``[k*W, (k+1)*W)`` in ticks.

    ``window_start`` may be a future window (reservations roll over to the next window once the current one is
    full). Decide and consume happen in one step: a denied request never increments ``count``.
    """

    __slots__ = ("_current", "limit", "window")
    algorithm = "fixedwindow"

    def __init__(self, params: AlgorithmParams, unit: int, limit: int, window: int) -> None:
        super().__init__(params, unit, limit)
        self.limit = limit
        self.window = window
        # The aligned window ``(start, end)`` holding the latest ``now`` that ``decide`` saw, for every key:
        # two comparisons tell whether ``now`` is still in it, where ``now - now % window`` is a long
        # division (~0.2 µs). A cache of a pure function, replaced whole (one atomic store) on a miss.
        self._current = (0, 0)

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        # The hot case, a try or reserve into the current window, not paused: ``_general`` with its settled
        # branches folded. Anything else goes there (early exits keep the jumps short, which lets CPython
        # specialise the comparisons).
        if state is None or type(cost) is not int or max_wait < 0:
            return self._general(state, now, cost, max_wait)
        paused, start, count = state
        window = self.window
        current, end = self._current
        if not current <= now < end:
            current = now - now % window
            self._current = (current, current + window)
        limit = self.limit
        if not (now > paused and count and start == current and cost <= limit):
            return self._general(state, now, cost, max_wait)
        # The window's end ``start + window`` lies after now > paused, so it is the reset; an admission goes
        # now (wait 0), a denial's slot is that end (retry_after == reset_after).
        new_count = count + cost
        reset = start + window - now
        if new_count <= limit:
            decision = _new(Decision, (True, limit - new_count, 0.0, reset / self.unit, 0.0))
            return (paused, start, new_count), (reset if type(reset) is int else int(reset)), decision
        if reset <= max_wait:  # a reservation into the next window
            return self._general(state, now, cost, max_wait)
        left = limit - count
        retry = reset / self.unit
        return None, 0, _new(Decision, (False, left if type(left) is int else int(left), retry, retry, 0.0))

    def _general(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        """``decide`` for every case (the reference for its fast path)."""
        c = cost if type(cost) is int or isinstance(cost, int) else _check_window_cost(cost, self.algorithm)
        limit, window = self.limit, self.window
        paused: int | float
        start: int | float
        count: int | float
        if state is None:
            paused = start = count = 0
        else:
            paused, start, count = state
        if c > limit:
            return None, 0, self._refuse(paused, start, count, now, _INF)
        first = now if now > paused else paused
        current = first - first % window
        if count and start >= current:  # the stored window is the current one or a reserved future one
            new_count = count + c
            if new_count <= limit:
                slot = first if first > start else start
                new_start = start
            else:
                slot = new_start = start + window
                new_count = c
        else:
            slot, new_start, new_count = first, current, c
        wait = slot - now
        if wait > max_wait:
            return None, 0, self._refuse(paused, start, count, now, wait, peek=max_wait < 0)
        end = new_start + window
        reset = (end if end > paused else paused) - now
        remaining = 0 if paused > now or new_start > now else limit - new_count
        delay = wait / self.unit if wait else 0.0  # wait >= 0, and 0 / unit is 0.0
        decision = _new(Decision, (True, remaining, 0.0, reset / self.unit, delay))
        return (paused, new_start, new_count), (reset if type(reset) is int else int(reset)), decision

    def _refuse(
        self, paused: float, start: float, count: float, now: int, wait: float, *, peek: bool = False
    ) -> Decision:
        """The decision for an uncommitted request (denied, impossible, or a peek)."""
        current = now - now % self.window
        if paused > now or (count and start > current):
            remaining = 0  # paused, or a future window is being filled: a try would queue behind it
        else:
            remaining = int(self.limit - count) if start == current else self.limit
        return _refusal(wait, remaining, self._reset(paused, start, count, now), self.unit, peek)

    def _reset(self, paused: float, start: float, count: float, now: int) -> float:
        end = start + self.window if count else 0
        return (end if end > paused else paused) - now

    def empty(self, paused_until: int) -> State:
        return (paused_until, 0, 0)

    def ttl(self, state: State, now: int) -> int:
        return int(self._reset(state[0], state[1], state[2], now))


class _BucketSpec(Spec):
    """State ``(paused_until, level, last)``: float ``level`` at tick ``last``, draining at ``rate`` per tick.

    Leaky bucket (meter): ``level`` is the bucket's fill. Token bucket: ``level`` is the token *deficit*
    (``tokens = capacity - level``), so both share one formula and the empty state ``(0, 0.0, 0)``.
    Admit at the earliest ``slot >= max(now, paused_until, last)`` (FIFO: ``last`` may be a future
    reservation) with ``level(slot) + cost <= capacity``, where
    ``level(t) = max(0, level - (t - last) * rate)``; no flooring, fractions carry over in the float level.
    """

    __slots__ = ("_drained", "rate")

    def __init__(self, params: AlgorithmParams, unit: int, capacity: float, rate: float) -> None:
        super().__init__(params, unit, capacity)
        self.rate = rate  # cost units per tick
        self._drained: tuple[State | None, int | float] = (None, 0)

    def decide(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        # The hot case, not paused and no reservation pending, so the earliest slot is now plus the time the
        # excess takes to drain: ``_general`` with its settled branches folded. Anything else goes there
        # (early exits keep the jumps short, which lets CPython specialise the comparisons). No state is the
        # empty one: at high rates it is the common case (the state expires between calls).
        paused, level, last = _EMPTY_BUCKET if state is None else state
        capacity = self.capacity
        if max_wait < 0 or not (cost <= capacity and now > paused and last <= now):
            return self._general(state, now, cost, max_wait)
        rate = self.rate
        lvl = level - (now - last) * rate
        if lvl < 0.0:
            lvl = 0.0
        excess = lvl + cost - capacity
        if not excess > 0.0:
            # Admitted now. The general reset ``max(now + drain, paused) - now`` is the int ``drain``, as
            # paused < now <= now + drain; the delay is 0 / unit = 0.0.
            lvl += cost
            reset = _ceil(lvl / rate)
            decision = _new(Decision, (True, _floor(capacity - lvl + 1e-9), 0.0, reset / self.unit, 0.0))
            return (paused, lvl, now), reset, decision
        wait = _ceil(excess / rate)
        if wait <= max_wait:  # a reservation
            return self._general(state, now, cost, max_wait)
        # Denied: ``_refuse`` inlined. Its lvl is this one (``max(0.0, ...)`` spelled out above). As
        # paused < now, its reset ``max(end, paused) - now``, zero if negative, is ``end - now`` if
        # ``end > now``; ``end`` is when the stored level drains (level > 0: here lvl > 0 as cost <= capacity,
        # and level >= lvl), kept for the last state denied: a key denied again and again keeps its state.
        left = _floor(capacity - lvl + 1e-9)
        held, end = self._drained
        if held is not state:
            end = last + _ceil(level / rate)
            self._drained = (state, end)
        unit = self.unit
        reset_s = (end - now) / unit if end > now else 0.0
        return None, 0, _new(Decision, (False, left if left > 0 else 0, wait / unit, reset_s, 0.0))

    def _general(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        """``decide`` for every case (the reference for its fast path)."""
        capacity, rate = self.capacity, self.rate
        paused: int | float
        level: int | float
        last: int | float
        end: int | float
        reset: int | float
        if state is None:
            paused, level, last = 0, 0.0, 0
        else:
            paused, level, last = state
        if cost > capacity:
            return None, 0, self._refuse(paused, level, last, now, _INF)
        slot = now if now > paused else paused
        if last > slot:
            slot = last
        lvl = level - (slot - last) * rate
        if lvl < 0.0:
            lvl = 0.0
        excess = lvl + cost - capacity
        if excess > 0.0:
            step = math.ceil(excess / rate)
            slot += step
            lvl -= step * rate
            if lvl < 0.0:
                lvl = 0.0
        wait = slot - now
        if wait > max_wait:
            return None, 0, self._refuse(paused, level, last, now, wait, peek=max_wait < 0)
        lvl += cost
        end = slot + math.ceil(lvl / rate)
        reset = (end if end > paused else paused) - now
        # 1e-9 absorbs float dust such as 2.9999999999999996 tokens
        remaining = 0 if paused > now or slot > now else math.floor(capacity - lvl + 1e-9)
        decision = _new(Decision, (True, remaining, 0.0, reset / self.unit, wait / self.unit))
        return (paused, lvl, slot), int(reset), decision

    def _refuse(
        self, paused: float, level: float, last: float, now: int, wait: float, *, peek: bool = False
    ) -> Decision:
        """The decision for an uncommitted request (denied, impossible, or a peek)."""
        if paused > now or last > now:
            remaining = 0
        else:
            free = self.capacity - max(0.0, level - (now - last) * self.rate)
            remaining = max(0, math.floor(free + 1e-9))
        return _refusal(wait, remaining, self._reset(paused, level, last, now), self.unit, peek)

    def _reset(self, paused: float, level: float, last: float, now: int) -> float:
        end = last + math.ceil(level / self.rate) if level > 0.0 else 0
        return (end if end > paused else paused) - now

    def empty(self, paused_until: int) -> State:
        return (paused_until, 0.0, 0)

    def ttl(self, state: State, now: int) -> int:
        return int(self._reset(state[0], state[1], state[2], now))


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
        # The hot case, not paused: ``_general`` with its settled branches folded. Anything else goes there
        # (early exits keep the jumps short, which lets CPython specialise the comparisons). No state is the
        # empty one: at high rates it is the common case (the state expires between calls).
        paused, tat = _EMPTY_GCRA if state is None else state
        if max_wait < 0 or not (cost <= self.capacity and paused <= now):
            return self._general(state, now, cost, max_wait)
        interval = self.interval
        inc = cost * interval if type(cost) is int else _ceil(cost * interval)
        slot = tat + inc - self.tolerance
        if slot < now:
            # Admitted now (wait 0): reset = tat - now as paused <= now < tat; delay = 0 / unit = 0.0.
            tat = (tat if tat > now else now) + inc
            reset = tat - now
            left = (self.tolerance - reset) // interval
            if type(left) is not int:
                left = int(left)
            decision = _new(Decision, (True, left if left > 0 else 0, 0.0, reset / self.unit, 0.0))
            return (paused, tat), (reset if type(reset) is int else int(reset)), decision
        wait = slot - now  # slot >= now >= paused: the general path's clamps leave it as is
        if wait <= max_wait:  # a reservation
            return self._general(state, now, cost, max_wait)
        # Denied: ``_refuse`` inlined, its max() calls spelled out (not paused: paused <= now). If tat > now,
        # then tat > paused too, so the reset ``max(tat, paused) - now`` is ``since`` and positive.
        unit = self.unit
        since = tat - now
        if since > 0:
            left = (self.tolerance - since) // interval
            reset_s = since / unit
        else:
            left = self.tolerance // interval
            reset = (paused if paused > tat else tat) - now
            reset_s = reset / unit if reset > 0 else 0.0
        if type(left) is not int:
            left = int(left)
        return None, 0, _new(Decision, (False, left if left > 0 else 0, wait / unit, reset_s, 0.0))

    def _general(self, state: State | None, now: int, cost: float, max_wait: int) -> Outcome:
        """``decide`` for every case (the reference for its fast path)."""
        paused: int | float
        tat: int | float
        if state is None:
            paused = tat = 0
        else:
            paused, tat = state
        if cost > self.capacity:
            return None, 0, self._refuse(paused, tat, now, _INF)
        interval = self.interval
        inc = cost * interval if type(cost) is int else math.ceil(cost * interval)
        slot = tat + inc - self.tolerance
        if slot < now:
            slot = now
        if slot < paused:
            slot = paused
        wait = slot - now
        if wait > max_wait:
            return None, 0, self._refuse(paused, tat, now, wait, peek=max_wait < 0)
        tat = (tat if tat > slot else slot) + inc
        reset = (tat if tat > paused else paused) - now
        if paused > now:
            remaining = 0
        else:
            remaining = int((self.tolerance - (tat - now)) // self.interval)
            if remaining < 0:
                remaining = 0
        decision = _new(Decision, (True, remaining, 0.0, reset / self.unit, wait / self.unit))
        return (paused, tat), int(reset), decision

    def _refuse(self, paused: float, tat: float, now: int, wait: float, *, peek: bool = False) -> Decision:
        """The decision for an uncommitted request (denied, impossible, or a peek)."""
        remaining = 0 if paused > now else max(0, int((self.tolerance - max(0, tat - now)) // self.interval))
        return _refusal(wait, remaining, max(tat, paused) - now, self.unit, peek)

    def empty(self, paused_until: int) -> State:
        return (paused_until, 0)

    def ttl(self, state: State, now: int) -> int:
        return int(max(state[1], state[0]) - now)


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
    # ``spec(NS)``, read on every memory decision. A plain instance attribute, set by ``__post_init__``: a
    # ``cached_property`` would be a class-level descriptor, which keeps CPython from specialising the lookup
    # (~0.1 µs per read). Not compared, hashed or shown, like ``_specs``.
    _ns_spec: Spec = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "_ns_spec", self.spec(NS))  # frozen: bypass the dataclass's __setattr__

    def spec(self, unit: int = NS) -> Spec:
        """The parameters compiled to integer ticks of ``unit`` per second (cached)."""
        spec = self._specs.get(unit)
        if spec is None:
            spec = self._specs[unit] = self._compile(unit)
        return spec

    # Cached in the instance: ``cached_property`` writes ``__dict__`` directly, so it works on a frozen
    # dataclass and leaves fields, ``==`` and hash alone. (Hot paths read ``_ns_spec.capacity`` instead.)
    @cached_property
    def max_cost(self) -> float:
        """The largest cost this limit can ever admit at once (its capacity, limit or burst)."""
        return self.spec().capacity

    @property
    def slot_spacing(self) -> float:
        """Seconds between consecutive admissions at the sustained rate (window / limit, 1 / rate, ...)."""
        raise NotImplementedError

    def _validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid parameter."""
        raise NotImplementedError

    def _compile(self, unit: int) -> Spec:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class SlidingWindow(AlgorithmParams):
    """Exact sliding window (a log): at most ``limit`` requests in any ``window`` seconds."""

    algorithm: ClassVar[str] = "slidingwindow"
    limit: int
    window: float

    @property
    def slot_spacing(self) -> float:
        return float(self.window) / self.limit

    def _validate(self) -> None:
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

    @property
    def slot_spacing(self) -> float:
        return float(self.window) / self.limit

    def _validate(self) -> None:
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

    @property
    def slot_spacing(self) -> float:
        return 1 / float(self.fill_rate)

    def _validate(self) -> None:
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

    @property
    def slot_spacing(self) -> float:
        return 1 / float(self.leak_rate)

    def _validate(self) -> None:
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

    @property
    def slot_spacing(self) -> float:
        return float(self.period) / self.limit

    def _validate(self) -> None:
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


def parameter_names(algorithm: str) -> tuple[str, ...]:
    """The keyword parameters of ``algorithm``, in declaration order: ``("limit", "window")`` for
    ``"slidingwindow"``, ``("limit", "period", "burst")`` for ``"gcra"`` (the one place that says which
    algorithm takes what: the mixin, ``make_params`` and ``sessions.utils`` read it)."""
    cls = ALGORITHMS[algorithm_name(algorithm)]
    return tuple(f.name for f in fields(cls) if f.init)


def required_parameters(algorithm: str) -> tuple[str, ...]:
    """The parameters of ``algorithm`` that have no default (``burst`` is GCRA's only optional one)."""
    cls = ALGORITHMS[algorithm_name(algorithm)]
    return tuple(f.name for f in fields(cls) if f.init and _required(f))


PARAMETER_NAMES: Final[frozenset[str]] = frozenset(n for name in ALGORITHMS for n in parameter_names(name))
"""Every algorithm's parameter names together: ``limit``, ``window``, ``period``, ``burst``, ``capacity``,
``fill_rate``, ``leak_rate``."""


def make_params(algorithm: str, **params: Any) -> AlgorithmParams:
    """Build the parameter object for ``algorithm`` from keywords, naming what is missing or unexpected."""
    cls = ALGORITHMS[algorithm_name(algorithm)]
    accepted = parameter_names(cls.algorithm)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        expected = ", ".join(sorted(accepted))
        names = ", ".join(unknown)
        raise ValueError(f"{cls.algorithm}: unexpected parameter(s) {names}; expected {expected}")
    required = [n for n in required_parameters(cls.algorithm) if n not in params]
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
