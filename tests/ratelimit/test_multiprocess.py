"""Many processes × threads hammering one SQLite key: zero over-admission, from the admission timestamps.

Each decision reads the clock inside its ``BEGIN IMMEDIATE`` transaction, so the clock value a worker saw
is the admission time of that request (reserve: plus its delay); the workers record it through a clock
wrapper and the parent checks every window.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from bisect import bisect_left
from pathlib import Path

import pytest

from sessions.ratelimit import GCRA, AlgorithmParams, SlidingWindow, SQLiteStorage

from ._workers import admissions, gather, report

PROCESSES = 4
THREADS = 3
ATTEMPTS = 60


def _worker(db: str, params: AlgorithmParams, mode: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    seen = threading.local()

    def clock() -> int:
        seen.now = time.time_ns()
        return seen.now  # type: ignore[no-any-return]

    def work() -> list[int]:
        store = SQLiteStorage(db=db, clock=clock)
        return admissions(
            store, params, mode, THREADS, lambda: range(ATTEMPTS), lambda d: seen.now + round(d.delay * 1e9)
        )

    report(queue, work)


def _run(db: Path, params: AlgorithmParams, mode: str) -> list[int]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(db), params, mode, queue)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    return gather(queue, procs)


def _max_in_window(times: list[int], window: int) -> int:
    return max((bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


@pytest.mark.slow
def test_sliding_window_try_across_processes(tmp_path: Path) -> None:
    params = SlidingWindow(limit=5, window=0.05)
    admitted = _run(tmp_path / "rl.db", params, "try")
    assert len(admitted) >= 5
    assert _max_in_window(admitted, 50_000_000) <= 5


@pytest.mark.slow
def test_gcra_reserve_across_processes(tmp_path: Path) -> None:
    params = GCRA(limit=1000, period=1)  # one slot per ms, every request reserves one
    admitted = _run(tmp_path / "rl.db", params, "reserve")
    assert len(admitted) == PROCESSES * THREADS * ATTEMPTS
    gaps = [b - a for a, b in itertools.pairwise(admitted)]
    assert min(gaps) >= 1_000_000  # never two slots closer than the emission interval
