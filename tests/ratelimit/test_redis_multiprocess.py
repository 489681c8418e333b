"""Processes × threads hammering one Redis key: zero over-admission, checked from admission timestamps.

With ``clock=`` the script decides at exactly the tick the worker passed, so that tick (reserve: plus the
returned delay) *is* the admission time; the parent merges every process's admissions and checks every
window. A second test lets the server's ``TIME`` decide and checks the total against the bound.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from typing import Any

import pytest

from sessions.ratelimit._algorithms import GCRA, AlgorithmParams, SlidingWindow
from sessions.ratelimit._redis import RedisStorage

from ._workers import gather, report, timed_admissions

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PROCESSES = 4
THREADS = 4
DURATION = 1.5  # seconds of hammering per run


def _worker(
    url: str, prefix: str, params: AlgorithmParams, mode: str, client_clock: bool, queue: object
) -> None:
    def store(clock: Any) -> RedisStorage:
        return RedisStorage(url=url, prefix=prefix, shared=False, clock=clock)

    report(queue, lambda: timed_admissions(store, params, mode, THREADS, DURATION, client_clock))


def _run(url: str, params: AlgorithmParams, mode: str, client_clock: bool) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    prefix = f"mp-{uuid.uuid4().hex[:8]}"
    procs = [
        ctx.Process(target=_worker, args=(url, prefix, params, mode, client_clock, queue))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    admitted = gather(queue, procs)
    cleaner = RedisStorage(url=url, prefix=prefix, shared=False)
    cleaner.clear()
    cleaner.close()
    return admitted


def _max_in_any_window(ticks: list[int], window: int) -> int:
    """The most admissions in any half-open window [s, s + window)."""
    best, start = 0, 0
    for end, t in enumerate(ticks):
        while t - ticks[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(
    ("params", "mode", "limit", "window"),
    [
        (SlidingWindow(limit=10, window=0.1), "try", 10, 100_000),
        (GCRA(limit=20, period=0.2), "reserve", 20, 200_000),
    ],
    ids=["slidingwindow-try", "gcra-reserve"],
)
def test_no_over_admission_across_processes(
    redis_url: str, params: AlgorithmParams, mode: str, limit: int, window: int
) -> None:
    admitted = _run(redis_url, params, mode, client_clock=True)
    assert len(admitted) > 2 * limit  # the run really crossed many windows
    assert _max_in_any_window(admitted, window) <= limit


def test_the_window_check_catches_over_admission() -> None:
    assert _max_in_any_window([0, 10, 20, 99, 100, 150], 100) == 4
    assert _max_in_any_window([0, 100, 200], 100) == 1


def test_server_time_total_stays_within_the_bound(redis_url: str) -> None:
    params = SlidingWindow(limit=10, window=0.1)
    started = time.monotonic()
    admitted = _run(redis_url, params, "try", client_clock=False)
    elapsed = time.monotonic() - started  # includes process start-up: a generous upper bound
    windows = int(elapsed / 0.1) + 1
    assert 2 * 10 < len(admitted) <= 10 * windows
