"""``Limiter`` and ``AsyncLimiter``: the public rate-limiting API, usable without a session.

    limiter = Limiter("5/2s")                    # sliding window, in memory
    limiter.acquire("api.example.com")           # waits (one computed sleep) until a slot is free
    limiter.try_acquire("api.example.com")       # Decision(allowed=..., remaining=..., retry_after=...)

``acquire`` *reserves* the earliest slot atomically in the storage and sleeps once until it — waiters are
served first come, first served, with no polling loop and no thundering herd. A sleep that overruns its slot
by more than its tolerance (`late_tolerance`: 5 ms, or up to the slot spacing, at most 25 ms — an
event-loop or process stall) does not send: every reservation that fell
due during the stall would otherwise go at once, a burst above the bound on the wire. The stale slot is
given up (under-admission, never over-admission) and a fresh one reserved; the tolerance doubles on each
retry so a persistently overloaded process still makes progress. With ``raise_errors=True`` it
never waits: a denial raises ``RateLimitExceeded`` carrying ``retry_after``, the key and the algorithm.
The two classes share everything except the I/O shell (``_LimiterBase``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Self

from sessions._alarm import precise_sleep
from sessions._exceptions import ImpossibleRequest, RateLimitExceeded

from ._algorithms import AlgorithmParams, Decision, Mode
from ._memory import decision_path
from ._rate import Rate
from ._storage import Storage, open_storage

__all__ = [
    "LATE_TOLERANCE",
    "MAX_LATE_TOLERANCE",
    "AsyncLimiter",
    "Limiter",
    "asleep_until_slot",
    "await_slot",
    "late_tolerance",
    "sleep_until_slot",
    "wait_for_slot",
]

LATE_TOLERANCE: Final = 0.005
"""Seconds a sleep may always overrun its reserved slot before the slot counts as stale and is re-reserved."""
MAX_LATE_TOLERANCE: Final = 0.025
"""The most a limit with widely spaced slots tolerates (see `late_tolerance`)."""


def late_tolerance(params: AlgorithmParams) -> float:
    """How late a waiter may wake and still send on its slot.

    A waiter late by less than the spacing between consecutive slots cannot bunch with the next waiter, so
    a limit whose slots lie 25 ms apart tolerates up to that (``MAX_LATE_TOLERANCE``), one packed tighter
    only ``LATE_TOLERANCE``. Giving a slot up costs a whole trip through the queue and leaves the slot unused,
    which a virtual machine's timer jitter (several ms at p99) would otherwise trigger for nothing.
    """
    return max(LATE_TOLERANCE, min(params.slot_spacing, MAX_LATE_TOLERANCE))


LimitLike = AlgorithmParams | Rate | str


def _as_params(limit: LimitLike, algorithm: str | None) -> AlgorithmParams:
    if isinstance(limit, AlgorithmParams):
        if algorithm is not None and limit.algorithm != algorithm:
            raise ValueError(f"algorithm={algorithm!r} conflicts with the {limit.algorithm} parameters given")
        return limit
    rate = limit if isinstance(limit, Rate) else Rate.parse(limit)
    return rate.params(algorithm or "slidingwindow")


def wait_for_slot(
    decide: Callable[[], Decision],
    sleep: Callable[[float], object],
    monotonic: Callable[[], float] = time.monotonic,
    tolerance: float = LATE_TOLERANCE,
) -> Decision:
    """Reserve with ``decide()`` and sleep until the slot; re-reserve if the sleep overran it (see above).

    ``monotonic`` must be the clock ``sleep`` sleeps on (``time.monotonic`` for ``time.sleep`` and for
    asyncio's loop). Only the sleep's overrun is judged: the decision's own round trip delays a send by at
    most that round trip, and it never makes a send early. ``tolerance``: see `late_tolerance`.
    """
    decision = decide()
    if decision.delay <= 0:
        return decision
    return sleep_until_slot(decision, decide, sleep, monotonic, tolerance)


def sleep_until_slot(
    decision: Decision,
    decide: Callable[[], Decision],
    sleep: Callable[[float], object],
    monotonic: Callable[[], float] = time.monotonic,
    tolerance: float = LATE_TOLERANCE,
) -> Decision:
    """`wait_for_slot` after its first ``decide()``, which returned ``decision`` with a positive delay: for a
    caller that made that first decision itself (``RatelimitMixin``'s fast path)."""
    while True:
        start = monotonic()
        sleep(decision.delay)
        if monotonic() - start - decision.delay <= tolerance:
            return decision
        tolerance *= 2
        decision = decide()
        if decision.delay <= 0:
            return decision


async def await_slot(
    decide: Callable[[], Awaitable[Decision]],
    sleep: Callable[[float], Awaitable[object]],
    monotonic: Callable[[], float] = time.monotonic,
    tolerance: float = LATE_TOLERANCE,
) -> Decision:
    """Async `wait_for_slot`."""
    decision = await decide()
    if decision.delay <= 0:
        return decision
    return await asleep_until_slot(decision, decide, sleep, monotonic, tolerance)


async def asleep_until_slot(
    decision: Decision,
    decide: Callable[[], Awaitable[Decision]],
    sleep: Callable[[float], Awaitable[object]],
    monotonic: Callable[[], float] = time.monotonic,
    tolerance: float = LATE_TOLERANCE,
) -> Decision:
    """Async `sleep_until_slot`."""
    while True:
        start = monotonic()
        await sleep(decision.delay)
        if monotonic() - start - decision.delay <= tolerance:
            return decision
        tolerance *= 2
        decision = await decide()
        if decision.delay <= 0:
            return decision


class _LimiterBase:
    """State and checks shared by the sync and async limiters."""

    def __init__(
        self,
        limit: LimitLike,
        storage: str | Storage = "memory",
        *,
        algorithm: str | None = None,
        raise_errors: bool = False,
        **storage_options: Any,
    ) -> None:
        self._params = _as_params(limit, algorithm)
        self._storage: Storage = open_storage(storage, **storage_options)
        self._owns_storage = isinstance(storage, str)
        self.raise_errors = raise_errors
        self._bind()

    # Properties so that assigning either re-binds what depends on both (``Limiter``'s path to the storage).
    @property
    def params(self) -> AlgorithmParams:
        """The algorithm parameters."""
        return self._params

    @params.setter
    def params(self, params: AlgorithmParams) -> None:
        self._params = params
        self._bind()

    @property
    def storage(self) -> Storage:
        """The storage holding the limit's state."""
        return self._storage

    @storage.setter
    def storage(self, storage: Storage) -> None:
        self._storage = storage
        self._bind()

    def _bind(self) -> None:
        """Recompute what depends on ``params`` and ``storage`` (called on construction and assignment)."""
        self._late = late_tolerance(self._params)

    @property
    def algorithm(self) -> str:
        """The algorithm's canonical name (``"slidingwindow"``, …)."""
        return self._params.algorithm

    def _check(self, key: str, cost: float) -> None:
        if 0 < cost <= self._params.max_cost:  # the hot path: one chained comparison (max_cost is cached)
            return
        if not cost > 0:
            raise ValueError(f"cost must be positive, not {cost!r}")
        raise ImpossibleRequest(key, self.algorithm, cost, self._params.max_cost)

    def _plan(self, max_wait: float | None) -> tuple[Mode, float | None]:
        """Mode and wait cap for ``acquire``: raise_errors never waits; else reserve within ``max_wait``."""
        if self.raise_errors or max_wait == 0:
            return "try", None
        return "reserve", max_wait

    def _granted(self, key: str, decision: Decision) -> Decision:
        if not decision.allowed:
            raise RateLimitExceeded(key, self.algorithm, decision.retry_after)
        return decision

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params!r}, storage={self._storage.name!r})"


class Limiter(_LimiterBase):
    """A rate limiter over a storage (``"memory"`` default, ``"sqlite"``, ``"redis"`` or an instance).

    Args:
        limit: algorithm parameters (``SlidingWindow(limit=5, window=2)``), a ``Rate`` or a rate string
            (``"5/2s"``, interpreted with ``algorithm``, default ``"slidingwindow"``).
        storage: a backend name or a ``Storage`` instance (not closed by ``close()`` when passed in).
        algorithm: the algorithm for a ``Rate`` / rate string.
        raise_errors: ``acquire`` raises ``RateLimitExceeded`` instead of waiting.
        sleep: injected for tests (default ``time.sleep``).
        monotonic: the clock ``sleep`` sleeps on, to detect an overrun slot (default ``time.monotonic``).
        **storage_options: passed to the storage (``db=``, ``conn=``, ``clock=``, …).
    """

    _try: Callable[[str, float], Decision]  # try_acquire's path to the storage, set by _bind

    def __init__(
        self,
        limit: LimitLike,
        storage: str | Storage = "memory",
        *,
        algorithm: str | None = None,
        raise_errors: bool = False,
        sleep: Callable[[float], object] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        **storage_options: Any,
    ) -> None:
        super().__init__(limit, storage, algorithm=algorithm, raise_errors=raise_errors, **storage_options)
        self._sleep = sleep
        self._monotonic = monotonic

    def _bind(self) -> None:
        # try_acquire's path to the storage, bound once. The memory storage specialises its own for the
        # parameters: a decision takes microseconds there, so the per-call dispatch of ``apply`` shows.
        super()._bind()
        self._try = decision_path(self._storage, self._params, "try")

    def acquire(self, key: str, cost: float = 1, *, max_wait: float | None = None) -> Decision:
        """Take ``cost`` from ``key``'s limit, sleeping once until the reserved slot if needed.

        Raises ``RateLimitExceeded`` if ``raise_errors`` is set and the request is denied, or if the wait
        would exceed ``max_wait`` seconds (nothing is consumed then); ``ImpossibleRequest`` if ``cost``
        exceeds the limit's capacity.
        """
        self._check(key, cost)
        mode, wait_cap = self._plan(max_wait)

        def decide() -> Decision:
            return self._granted(key, self._storage.apply(key, self._params, cost, mode, wait_cap))

        return wait_for_slot(decide, self._sleep, self._monotonic, self._late)

    def try_acquire(self, key: str, cost: float = 1) -> Decision:
        """Take ``cost`` now if the limit allows it; never waits, never consumes on denial."""
        # _check's fast path inlined (saves a call per decision), reading the capacity from the compiled spec
        # (``max_cost`` is a descriptor, slower to look up), not chained (CPython cannot specialise that).
        if not (cost > 0 and cost <= self._params._ns_spec.capacity):
            self._check(key, cost)
        # An attribute holding a function: loading it, then calling it, lets CPython specialise both steps.
        try_ = self._try
        return try_(key, cost)

    def peek(self, key: str, cost: float = 1) -> Decision:
        """Would ``try_acquire(key, cost)`` succeed now? Consumes nothing."""
        self._check(key, cost)
        return self._storage.apply(key, self._params, cost, "peek")

    def pause(self, key: str, seconds: float) -> None:
        """Admit nothing for ``key`` for ``seconds`` (e.g. a server's ``Retry-After``), in every sharer."""
        self._storage.pause(key, self._params, seconds)

    def clear(self, key: str | None = None) -> None:
        """Forget ``key``'s state, or every key in the storage."""
        self._storage.clear(key)

    def close(self) -> None:
        """Close the storage if this limiter opened it."""
        if self._owns_storage:
            self._storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncLimiter(_LimiterBase):
    """The asyncio twin of ``Limiter``: same arguments, coroutine methods.

    ``sleep`` defaults to `precise_sleep` (``asyncio.sleep`` without its up-to-a-millisecond lateness).
    """

    def __init__(
        self,
        limit: LimitLike,
        storage: str | Storage = "memory",
        *,
        algorithm: str | None = None,
        raise_errors: bool = False,
        sleep: Callable[[float], Awaitable[object]] = precise_sleep,
        monotonic: Callable[[], float] = time.monotonic,
        **storage_options: Any,
    ) -> None:
        super().__init__(limit, storage, algorithm=algorithm, raise_errors=raise_errors, **storage_options)
        self._sleep = sleep
        self._monotonic = monotonic

    async def acquire(self, key: str, cost: float = 1, *, max_wait: float | None = None) -> Decision:
        """Take ``cost`` from ``key``'s limit, sleeping once (without blocking the loop) if needed."""
        self._check(key, cost)
        mode, wait_cap = self._plan(max_wait)

        async def decide() -> Decision:
            return self._granted(key, await self._storage.aapply(key, self._params, cost, mode, wait_cap))

        return await await_slot(decide, self._sleep, self._monotonic, self._late)

    async def try_acquire(self, key: str, cost: float = 1) -> Decision:
        """Take ``cost`` now if the limit allows it; never waits, never consumes on denial."""
        self._check(key, cost)
        return await self._storage.aapply(key, self._params, cost, "try")

    async def peek(self, key: str, cost: float = 1) -> Decision:
        """Would ``try_acquire(key, cost)`` succeed now? Consumes nothing."""
        self._check(key, cost)
        return await self._storage.aapply(key, self._params, cost, "peek")

    async def pause(self, key: str, seconds: float) -> None:
        """Admit nothing for ``key`` for ``seconds``, in every process sharing the storage."""
        await self._storage.apause(key, self._params, seconds)

    async def clear(self, key: str | None = None) -> None:
        """Forget ``key``'s state, or every key in the storage."""
        await self._storage.aclear(key)

    async def aclose(self) -> None:
        """Close the storage if this limiter opened it."""
        if self._owns_storage:
            await self._storage.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
