"""Async sleeps that end on time, for limiter waits.

An asyncio timer wakes up to a millisecond late: the loop hands the time to its next timer to the selector,
which rounds it *up* to whole milliseconds (``epoll_wait``'s resolution), so a waiter whose slot falls 0.1 ms
after a millisecond boundary sleeps 0.9 ms past it. A limiter that reserved a slot wants to send on it, so its
async waits are timed here instead: one daemon thread per process keeps a heap of deadlines, sleeps on a
nanosecond-resolution timed wait (``threading.Condition``) and hands each wake-up to its loop with
``call_soon_threadsafe``, whose self-pipe write wakes the loop at once. The sleep never ends early: the
thread fires only once ``time.monotonic()`` (asyncio's own clock) has reached the deadline.

The thread starts on first use, exits after `IDLE_EXIT` seconds with nothing to time, and a forked child
starts its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import threading
import time
from typing import Any

import anyio

__all__ = ["AlarmClock", "on_asyncio", "precise_sleep"]

IDLE_EXIT = 30.0  # seconds without a deadline before the thread exits (it restarts on demand)
LONGEST_WAIT = 3600.0  # the thread re-checks at least this often (a timed wait has a platform maximum)
LONGEST_SLEEP = 86400.0  # longer sleeps (or inf) go to asyncio.sleep: a millisecond means nothing to them


def on_asyncio() -> bool:
    """Whether the caller runs on an asyncio loop (under trio there is none)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled sleep stays in the heap until its deadline: skip it then
        future.set_result(None)


class AlarmClock:
    """One thread waking asyncio futures at their deadlines on ``time.monotonic``."""

    def __init__(self, idle_exit: float = IDLE_EXIT) -> None:
        self._idle_exit = idle_exit
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties on a deadline wake in the order they were asked for
        self._thread: threading.Thread | None = None
        self._abandoned = 0  # entries whose future was cancelled before its deadline

    def wake_at(self, deadline: float, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future of ``loop`` that completes once ``time.monotonic() >= deadline``."""
        future: asyncio.Future[None] = loop.create_future()
        entry = (deadline, next(self._order), loop, future)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sessions-alarm", daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()  # the thread sleeps towards a later deadline
        future.add_done_callback(self._on_done)
        return future

    def _on_done(self, future: asyncio.Future[None]) -> None:
        # A cancelled sleep leaves its entry (and with it its loop) in the heap until its deadline. Many of
        # them — waits under a timeout, a cancelled batch — are swept out once they are half the heap.
        if not future.cancelled():
            return
        with self._cond:
            self._abandoned += 1
            if self._abandoned > 64 and self._abandoned * 2 > len(self._heap):
                self._heap[:] = [entry for entry in self._heap if not entry[3].done()]
                heapq.heapify(self._heap)
                self._abandoned = 0

    @property
    def running(self) -> bool:
        """Whether the thread is alive (it exits when idle)."""
        with self._cond:
            return self._thread is not None

    def _run(self) -> None:
        cond, heap = self._cond, self._heap
        with cond:
            try:
                self._serve(cond, heap)
            finally:
                self._thread = None  # whatever ended the thread, the next `wake_at` starts a new one

    def _serve(
        self,
        cond: threading.Condition,
        heap: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]],
    ) -> None:
        while True:
            if not heap:
                if not cond.wait(self._idle_exit) and not heap:
                    return
                continue
            remaining = heap[0][0] - time.monotonic()
            if remaining > 0:
                cond.wait(min(remaining, LONGEST_WAIT))
                continue
            _, _, loop, future = heapq.heappop(heap)
            # RuntimeError: the loop was closed while the sleep was pending; nobody is waiting for it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)


_clock = AlarmClock()


def _fresh_clock_in_child() -> None:
    global _clock
    _clock = AlarmClock()  # the parent's thread (and maybe its lock) did not survive the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_clock_in_child)


async def precise_sleep(seconds: float) -> None:
    """``asyncio.sleep(seconds)`` that ends within the machine's thread wake-up latency of its deadline
    instead of up to a millisecond late; never early. Cancellable."""
    if not on_asyncio():  # trio (a plain AsyncSession's retries): anyio sleeps on whatever loop runs
        await anyio.sleep(seconds if seconds > 0 else 0)
        return
    if not 0 < seconds <= LONGEST_SLEEP:  # also nan and inf
        await asyncio.sleep(seconds if seconds > 0 else 0)
        return
    future: Any = _clock.wake_at(time.monotonic() + seconds, asyncio.get_running_loop())
    await future
