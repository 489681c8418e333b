"""In-process rate-limit storage: one dict, one lock, a monotonic integer-nanosecond clock.

Why it is shaped like this:

* One ``threading.Lock`` around a few dict operations: a decision takes about a microsecond, so a finer lock
  would cost more than the contention it saves. The async twins call the same code — holding the lock never
  awaits, so the event loop is blocked only for that microsecond.
* The sliding-window log is kept as a mutable deque per key and decided in place (``decide_log``): copying
  an O(limit) tuple per decision would make large limits slow. Every other state is a small tuple.
* State is never evicted while live: an entry is dropped only once its TTL says it is indistinguishable from
  empty (peers' size-capped LRUs silently reset limits). Expired entries are ignored when read and swept in
  bulk once the number of keys *added* since the last sweep reaches the number of keys then kept (at least
  1024) — amortised O(1), no timer thread, and memory stays within about twice the live keys. Only new keys
  are counted: rewriting an existing key cannot grow the dict, so the hot path keeps no counter.
* The lock is taken with ``acquire()``/``release()`` in ``try``/``finally`` rather than ``with``: on CPython
  3.11 ``Lock.__exit__`` is a varargs call, ~80 ns more per decision (close to a tenth of it).
* ``Limiter.try_acquire`` and ``RatelimitMixin`` call a closure bound once per limiter or session
  (``_decide_path``) rather than ``apply``: the same branch for a stored key, without ``apply``'s per-call
  lookups and dispatch on mode and algorithm.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._algorithms import (
    MODES,
    NS,
    AlgorithmParams,
    Decision,
    Mode,
    SlidingWindow,
    State,
    _SlidingSpec,
    max_wait_ticks,
)

__all__ = ["MemoryStorage", "decision_path"]

_MIN_SWEEP = 1024  # keys added between sweeps when there are few keys


class MemoryStorage:
    """Rate-limit state in this process's memory (thread- and asyncio-safe).

    Args:
        clock: integer-nanosecond monotonic clock, injectable for tests (default ``time.monotonic_ns``).
        cache_timeout: accepted for option compatibility; state lives exactly as long as it matters.
    """

    name = "memory"

    def __init__(self, *, clock: Callable[[], int] | None = None, cache_timeout: Any = None) -> None:
        self._clock = clock or time.monotonic_ns
        self._data: dict[str, _Entry] = {}  # key → (expires_at_ns, state), updated in place
        self._logs: dict[str, _Log] = {}  # sliding-window keys → mutable log
        self._lock = threading.Lock()
        self._added_keys = 0  # keys added since the last sweep
        self._sweep_at = _MIN_SWEEP  # keys to add before the next sweep: at least the number of keys

    def apply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Decide (and commit, per ``mode``) one request atomically; see ``Storage.apply``."""
        spec = params._ns_spec
        # max_wait only matters to "reserve"
        wait = 0 if mode == "try" else MODES[mode] if max_wait is None else max_wait_ticks(mode, max_wait, NS)
        if type(spec) is _SlidingSpec:
            return self._apply_log(key, spec, cost, wait)
        lock = self._lock
        clock = self._clock  # an attribute, not a method: loaded then called, CPython specialises the load
        lock.acquire()  # not ``with``: Lock.__exit__ takes *args, acquire/release is ~80 ns cheaper here
        try:
            now = clock()
            entry = self._data.get(key)
            if entry is not None:
                new, ttl, decision = spec.decide(
                    entry.state if entry.expires > now else None, now, cost, wait
                )
                if new is not None:
                    entry.expires = now + ttl
                    entry.state = new
            else:
                new, ttl, decision = spec.decide(None, now, cost, wait)
                if new is not None:
                    self._data[key] = _Entry(now + ttl, new)
                    self._added(now)
        finally:
            lock.release()
        return decision

    def _decide_path(self, params: AlgorithmParams, mode: Mode = "try") -> Callable[[str, float], Decision]:
        """``apply(key, params, cost, mode)`` as a function of ``(key, cost)``: ``Limiter.try_acquire``'s and
        ``RatelimitMixin``'s path to the storage.

        Bound once per limiter (or session), it closes over the compiled spec, the lock, the clock and the
        dict, so a decision skips ``apply``'s lookups and its dispatch on mode and algorithm (~5% of a
        decision). A key not stored yet goes through ``apply``, which stores it and counts it for the sweep.
        """
        spec = params._ns_spec
        apply = self.apply
        if type(self).apply is not MemoryStorage.apply:  # a subclass's apply must see every decision

            def apply_any(key: str, cost: float) -> Decision:
                return apply(key, params, cost, mode)

            return apply_any
        wait = 0 if mode == "try" else MODES[mode]  # apply's, with no max_wait
        if type(spec) is _SlidingSpec:
            apply_log = self._apply_log

            def decide_log(key: str, cost: float) -> Decision:
                return apply_log(key, spec, cost, wait)

            return decide_log
        lock, clock, data, decide = self._lock, self._clock, self._data, spec.decide

        def decide_stored(key: str, cost: float) -> Decision:
            lock.acquire()
            try:
                now = clock()
                entry = data.get(key)
                if entry is not None:  # apply's branch for a stored key
                    new, ttl, decision = decide(entry.state if entry.expires > now else None, now, cost, wait)
                    if new is not None:
                        entry.expires = now + ttl
                        entry.state = new
                    return decision
            finally:
                lock.release()
            return apply(key, params, cost, mode)

        return decide_stored

    def _apply_log(self, key: str, spec: _SlidingSpec, cost: float, wait: int) -> Decision:
        """Sliding window: decide on the key's deque in place (pruning is safe even on a denial)."""
        logs = self._logs
        lock = self._lock
        lock.acquire()
        try:
            now = self._clock()
            log = logs.get(key)
            if log is not None:
                committed, ttl, decision = spec.decide_log(log.paused, log.entries, now, cost, wait)
                if committed:
                    log.expires = now + ttl
            else:
                log = _Log()
                committed, ttl, decision = spec.decide_log(0, log.entries, now, cost, wait)
                if committed:  # an uncommitted new key stays empty: nothing to store
                    log.expires = now + ttl
                    logs[key] = log
                    self._added(now)  # after the store: a sweep must see the new key's expiry
        finally:
            lock.release()
        return decision

    def _added(self, now: int) -> None:
        """Count a new key (lock held); sweep once as many were added as there were keys at the last sweep."""
        self._added_keys += 1
        if self._added_keys >= self._sweep_at:
            self._sweep(now)

    async def aapply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Async twin of ``apply`` (never awaits while holding the lock)."""
        return self.apply(key, params, cost, mode, max_wait)

    def pause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Admit nothing for ``key`` before ``seconds`` from now."""
        spec = params.spec(NS)
        with self._lock:
            now = self._clock()
            if isinstance(params, SlidingWindow):
                log = self._logs.get(key)
                if log is None:
                    log = self._logs[key] = _Log()
                    added = True
                else:
                    added = False
                until = now + max(0, math.ceil(seconds * NS))
                if until > log.paused:
                    log.paused = until
                    log.expires = max(log.expires, until)
                if added:
                    self._added(now)
                return
            entry = self._data.get(key)
            state = entry.state if entry is not None and entry.expires > now else None
            new, ttl = spec.pause(state, now, seconds)
            if ttl > 0:
                if entry is None:
                    self._data[key] = _Entry(now + ttl, new)
                    self._added(now)
                else:
                    entry.expires = now + ttl
                    entry.state = new

    async def apause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Async twin of ``pause``."""
        self.pause(key, params, seconds)

    def clear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Forget ``key``, every key starting with ``prefix``, or every key."""
        with self._lock:
            if prefix is not None:
                for name in [k for k in self._data if k.startswith(prefix)]:
                    del self._data[name]
                for name in [k for k in self._logs if k.startswith(prefix)]:
                    del self._logs[name]
            elif key is None:
                self._data.clear()
                self._logs.clear()
            else:
                self._data.pop(key, None)
                self._logs.pop(key, None)

    async def aclear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Async twin of ``clear``."""
        self.clear(key, prefix=prefix)

    def close(self) -> None:
        """Nothing to release; state stays readable until the object is dropped."""

    async def aclose(self) -> None:
        """Async twin of ``close``."""

    def __len__(self) -> int:
        """Number of keys currently stored (live or not yet swept)."""
        return len(self._data) + len(self._logs)

    def _sweep(self, now: int) -> None:
        """Drop every entry whose TTL has passed (called with the lock held)."""
        data = self._data
        for key in [k for k, entry in data.items() if entry.expires <= now]:
            del data[key]
        logs = self._logs
        for key in [k for k, log in logs.items() if log.expires <= now]:
            del logs[key]
        self._added_keys = 0
        self._sweep_at = max(_MIN_SWEEP, len(data) + len(logs))


class _Entry:
    """A key of a tuple-state algorithm: its state and when it expires (mutated in place under the lock)."""

    __slots__ = ("expires", "state")

    def __init__(self, expires: int, state: State) -> None:
        self.expires = expires
        self.state = state


class _Log:
    """A sliding-window key: its pause, its admission log (ascending ticks) and when it expires."""

    __slots__ = ("entries", "expires", "paused")

    def __init__(self) -> None:
        self.paused = 0
        self.entries: deque[int | float] = deque()
        self.expires = 0


def decision_path(storage: Any, params: AlgorithmParams, mode: Mode) -> Callable[[str, float], Decision]:
    """``storage.apply(key, params, cost, mode)`` as a function of ``(key, cost)``, bound once per limiter or
    session: the memory storage's specialised path (``MemoryStorage._decide_path``), any other storage's
    ``apply``."""
    if isinstance(storage, MemoryStorage):
        return storage._decide_path(params, mode)

    def apply(key: str, cost: float) -> Decision:
        return storage.apply(key, params, cost, mode)  # type: ignore[no-any-return]

    return apply
