"""Helpers for the multi-process tests: a worker's failure surfaces as its own traceback.

Without this a worker that dies before reporting (a locked database at start-up, an import error in a
spawned child) leaves the parent waiting on the queue until it times out with a bare ``queue.Empty``.
"""

from __future__ import annotations

import queue as queue_module
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from sessions.ratelimit._algorithms import US


def report(results: Any, work: Callable[[], list[int]]) -> None:
    """Run ``work`` in a worker and put ``("ok", admissions)`` or ``("error", traceback)`` on ``results``."""
    try:
        outcome: tuple[str, object] = ("ok", work())
    except BaseException:
        outcome = ("error", traceback.format_exc())
    results.put(outcome)


def in_threads(count: int, target: Callable[[], None]) -> None:
    """Run ``target`` in ``count`` threads at once; re-raise the first exception any of them raised."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def admissions(
    store: Any,
    params: Any,
    mode: str,
    threads: int,
    rounds: Callable[[], Iterable[object]],
    tick: Callable[[Any], int],
) -> list[int]:
    """``threads`` threads deciding on one shared key of ``store``, a decision per item of ``rounds()``; the
    ``tick(decision)`` of every admission, read in the deciding thread. Closes ``store``."""
    admitted: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in rounds():
            decision = store.apply("shared", params, 1, mode)
            if decision.allowed:
                at = tick(decision)
                with lock:
                    admitted.append(at)

    try:
        in_threads(threads, hammer)
    finally:
        store.close()
    return admitted


def timed_admissions(
    make_store: Callable[[Callable[[], int] | None], Any],
    params: Any,
    mode: str,
    threads: int,
    duration: float,
    client_clock: bool,
) -> list[int]:
    """`admissions` for ``duration`` seconds, on the server's clock or (``client_clock``) on this process's
    wall clock, which ``make_store(clock)`` hands to the store. On the client clock each admission's tick is
    the microsecond it was decided for (its delay included), read in the deciding thread; else 0."""
    seen = threading.local()

    def clock() -> int:
        seen.now = time.time_ns()
        return int(seen.now)

    def tick(decision: Any) -> int:
        return seen.now // 1000 + round(decision.delay * US) if client_clock else 0

    store = make_store(clock if client_clock else None)
    deadline = time.monotonic() + duration  # one for every thread

    def until_the_deadline() -> Iterator[None]:
        while time.monotonic() < deadline:
            yield None

    return admissions(store, params, mode, threads, until_the_deadline, tick)


def gather(results: Any, procs: list[Any], timeout: float = 180) -> list[int]:
    """Every worker's admissions, sorted; a worker's error (or silent death) fails the test."""
    admitted: list[int] = []
    for _ in procs:
        try:
            status, payload = results.get(timeout=timeout)
        except queue_module.Empty:
            codes = [p.exitcode for p in procs]
            pytest.fail(f"a worker reported nothing within {timeout} s (exit codes {codes})")
        if status != "ok":
            pytest.fail(f"a worker failed:\n{payload}")
        admitted.extend(payload)
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return sorted(admitted)
