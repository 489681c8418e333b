"""A stall while waiting for a reserved slot must not release a burst (regression: gcra/sqlite/async bench).

``acquire`` reserves a slot and sleeps until it. If the event loop (or the process) stalls through several
slots, every waiter whose slot fell inside the stall wakes at its end; sending them all then puts more than
the bound on the wire in one window, although the storage's slots were exact. Virtual time only: a tiny
scheduler resolves the waiters' sleeps in time order and holds every wake-up due inside the stall until it
ends, as a blocked loop would.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from sessions.ratelimit import GCRA, AsyncLimiter, LeakyBucket, SlidingWindow, TokenBucket
from sessions.ratelimit._algorithms import AlgorithmParams, Decision
from sessions.ratelimit._limiter import LATE_TOLERANCE, MAX_LATE_TOLERANCE, late_tolerance, wait_for_slot
from sessions.ratelimit._memory import MemoryStorage
from sessions.ratelimit._mixin import RatelimitMixin
from sessions.ratelimit._sqlite import SQLiteStorage
from sessions.ratelimit._storage import Storage


class StallingTime:
    """Virtual seconds; sleeps end in time order, except that nothing wakes inside ``[start, end)``."""

    def __init__(self, stall: tuple[float, float]) -> None:
        self.now = 0.0
        self.stall = stall
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def ns(self) -> int:
        return 1_000_000_000 + round(self.now * 1e9)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self.now + seconds, next(self._seq), future))
        await future

    async def run(self, jobs: list[Callable[[], Awaitable[None]]]) -> None:
        tasks = [asyncio.create_task(job()) for job in jobs]
        while True:
            # let every task run until it is parked in a virtual sleep or done (storage hops are real)
            for _ in range(20_000):
                if sum(t.done() for t in tasks) + len(self._waiters) == len(tasks):
                    break
                await asyncio.sleep(0.0005)
            else:
                raise AssertionError("a task never reached its sleep")
            if all(t.done() for t in tasks):
                break
            when, _, future = heapq.heappop(self._waiters)
            start, end = self.stall
            self.now = max(self.now, end if start <= when < end else when)
            future.set_result(None)
            await asyncio.sleep(0)
        for task in tasks:
            task.result()


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(bisect_left(ordered, t + window, lo=i) - i for i, t in enumerate(ordered))


def _storage(backend: str, clock: StallingTime, tmp_path: Path) -> Storage:
    if backend == "sqlite":
        return SQLiteStorage(db=tmp_path / "stall.sqlite3", clock=clock.ns)
    return MemoryStorage(clock=clock.ns)


LIMITS: list[tuple[AlgorithmParams, float, int]] = [
    (GCRA(limit=4, period=1.0), 1.0, 4),
    (SlidingWindow(limit=4, window=1.0), 1.0, 4),
]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@pytest.mark.parametrize(("params", "window", "bound"), LIMITS, ids=["gcra", "slidingwindow"])
async def test_async_limiter_no_burst_after_a_stall(
    backend: str, params: AlgorithmParams, window: float, bound: int, tmp_path: Path
) -> None:
    time = StallingTime(stall=(0.1, 0.7))  # GCRA slots 0.25 and 0.5 fall due inside the stall
    sends: list[float] = []
    limiter = AsyncLimiter(
        params, _storage(backend, time, tmp_path), sleep=time.sleep, monotonic=time.monotonic
    )

    async def one() -> None:
        await limiter.acquire("k")
        sends.append(time.now)

    try:
        await time.run([one] * 12)
    finally:
        await limiter.storage.aclose()
    assert len(sends) == 12
    # Before the fix: 0.7, 0.7, 0.75, 1.0, 1.25, 1.5 went in [0.7, 1.7) — 6 > 4.
    assert max_in_window(sends, window) <= bound


class _StubSession:
    def __init__(self, **kwargs: Any) -> None:
        self.sent: list[float] = []

    async def _asend_wire(self, call: Any) -> Any:
        self.sent.append(self.time.now)  # type: ignore[attr-defined]
        return SimpleNamespace(status_code=200, headers=httpx.Headers())

    async def aclose(self) -> None:
        pass


class _Limited(RatelimitMixin, _StubSession):
    pass


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_mixin_no_burst_after_a_stall(backend: str, tmp_path: Path) -> None:
    time = StallingTime(stall=(0.1, 0.7))
    options: dict[str, Any] = {"db": str(tmp_path / "m.sqlite3")} if backend == "sqlite" else {}
    session = _Limited(type="gcra", limit=4, period=1, backend=backend, clock=time.ns, **options)
    session.time = time  # type: ignore[attr-defined]
    session._asleep = time.sleep  # type: ignore[attr-defined]
    session.ratelimit_monotonic = time.monotonic  # type: ignore[method-assign]
    url = httpx.URL("http://api.example/x")
    call = SimpleNamespace(method="GET", url=url, host=url.host, endpoint="http://api.example/x")
    try:
        await time.run([lambda: session._asend_wire(call)] * 12)
    finally:
        await session.aclose()
    assert len(session.sent) == 12
    assert max_in_window(session.sent, 1.0) <= 4


def test_wait_for_slot_reserves_again_after_an_overrun() -> None:
    now = [0.0]
    delays = iter([0.5, 0.25, 0.25])
    decided: list[float] = []

    def decide() -> Decision:
        delay = next(delays)
        decided.append(delay)
        return Decision(True, 0, 0.0, 1.0, delay)

    overruns = iter([0.3, LATE_TOLERANCE / 2])

    def sleep(seconds: float) -> None:
        now[0] += seconds + next(overruns)

    decision = wait_for_slot(decide, sleep, lambda: now[0])
    assert decided == [0.5, 0.25]  # the overrun slot was given up, the second one kept
    assert decision.delay == 0.25


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (GCRA(limit=4, period=1.0), MAX_LATE_TOLERANCE),  # 250 ms apart: capped
        (GCRA(limit=1000, period=1.0), LATE_TOLERANCE),  # 1 ms apart: the floor
        (SlidingWindow(limit=100, window=1.0), 0.01),  # 10 ms apart
        (TokenBucket(capacity=10, fill_rate=200), LATE_TOLERANCE),
        (LeakyBucket(capacity=10, leak_rate=50), 0.02),
    ],
)
def test_late_tolerance_follows_the_slot_spacing(params: AlgorithmParams, expected: float) -> None:
    assert late_tolerance(params) == pytest.approx(expected)


def test_a_wake_later_than_the_floor_but_within_the_spacing_still_sends() -> None:
    """Timer jitter of a few ms must not throw a slot away when the next slot is further off than that."""
    now = [0.0]
    decided: list[float] = []

    def decide() -> Decision:
        decided.append(0.25)
        return Decision(True, 0, 0.0, 1.0, 0.25)

    def sleep(seconds: float) -> None:
        now[0] += seconds + 0.015  # three times LATE_TOLERANCE

    tolerance = late_tolerance(GCRA(limit=4, period=1.0))
    assert wait_for_slot(decide, sleep, lambda: now[0], tolerance).delay == 0.25
    assert decided == [0.25]  # sent on its slot, not re-reserved
    wait_for_slot(decide, sleep, lambda: now[0])  # the bare floor gives it up, twice (5 ms, then 10 ms)
    assert decided == [0.25] * 4
