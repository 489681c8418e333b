"""`precise_sleep` / `AlarmClock`: never early, in deadline order, cancellable, many loops, idle exit, fork.

How *late* a sleep ends is a timing figure: benchmarks/ratelimit_accuracy.py measures it. These tests check
the behaviour that holds on any machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time

import pytest

from sessions._alarm import AlarmClock
from sessions.ratelimit import AsyncLimiter, precise_sleep


async def test_a_precise_sleep_never_ends_before_its_deadline() -> None:
    for delay in (0.0001, 0.0013, 0.004, 0.0105):
        deadline = time.monotonic() + delay
        await precise_sleep(delay)
        assert time.monotonic() >= deadline


async def test_sleepers_wake_in_deadline_order_whatever_order_they_asked() -> None:
    woke: list[float] = []

    async def sleeper(delay: float) -> None:
        await precise_sleep(delay)
        woke.append(delay)

    delays = [0.03, 0.01, 0.05, 0.02, 0.04]
    await asyncio.gather(*(sleeper(d) for d in delays))
    assert woke == sorted(delays)


async def test_a_cancelled_sleep_raises_and_leaves_the_others_running() -> None:
    doomed = asyncio.ensure_future(precise_sleep(0.05))
    await asyncio.sleep(0)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    deadline = time.monotonic() + 0.06
    await precise_sleep(0.06)  # outlives the cancelled entry's deadline: the thread skips it and goes on
    assert time.monotonic() >= deadline


def test_loops_in_several_threads_share_the_one_alarm_thread() -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def run_loop(delay: float) -> None:
        async def main() -> bool:
            deadline = time.monotonic() + delay
            await precise_sleep(delay)
            return time.monotonic() >= deadline

        ok = asyncio.run(main())
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=run_loop, args=(0.01 * (i + 1),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4


def test_a_loop_closed_before_its_alarm_does_not_break_the_clock() -> None:
    clock = AlarmClock()
    loop = asyncio.new_event_loop()
    clock.wake_at(time.monotonic() + 0.02, loop)
    loop.close()  # nobody will ever run that loop again

    async def later() -> None:
        await clock.wake_at(time.monotonic() + 0.05, asyncio.get_running_loop())

    asyncio.run(later())  # woken after the dead loop's deadline passed
    assert clock.running


def test_the_thread_exits_when_idle_and_comes_back_on_demand() -> None:
    clock = AlarmClock(idle_exit=0.05)

    async def nap() -> None:
        await clock.wake_at(time.monotonic() + 0.001, asyncio.get_running_loop())

    asyncio.run(nap())
    for _ in range(200):  # the exit is the thread's own doing: give it up to 2 s on a slow machine
        if not clock.running:
            break
        time.sleep(0.01)
    assert not clock.running
    asyncio.run(nap())
    assert clock.running


def _sleep_in_child(queue: multiprocessing.Queue[str]) -> None:
    async def main() -> None:
        await precise_sleep(0.01)

    asyncio.run(main())
    queue.put("woke")


def test_a_forked_child_gets_a_working_clock() -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")

    async def warm() -> None:
        await precise_sleep(0.001)  # the parent's thread exists at fork time

    asyncio.run(warm())
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_sleep_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=30) == "woke"
    child.join(timeout=30)
    assert child.exitcode == 0


async def test_async_limiter_waits_with_the_precise_sleep_by_default() -> None:
    async with AsyncLimiter("2/0.1s") as limiter:
        assert limiter._sleep is precise_sleep
        for _ in range(2):
            await limiter.acquire("k")
        before = time.monotonic()
        decision = await limiter.acquire("k")  # the third waits for a slot
        assert decision.delay > 0
        assert time.monotonic() - before >= decision.delay


async def test_sleeps_too_long_for_a_timed_wait_do_not_kill_the_clock() -> None:
    # A timed wait has a platform maximum (threading.TIMEOUT_MAX); past it the thread would die.
    for forever in (1e10, float("inf")):
        doomed = asyncio.ensure_future(precise_sleep(forever))
        await asyncio.sleep(0.01)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
    deadline = time.monotonic() + 0.01
    await asyncio.wait_for(precise_sleep(0.01), timeout=5)
    assert time.monotonic() >= deadline


def test_a_huge_deadline_in_the_heap_does_not_stop_nearer_ones() -> None:
    clock = AlarmClock()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        far = clock.wake_at(time.monotonic() + 1e10, loop)  # beyond any timed wait
        await asyncio.wait_for(clock.wake_at(time.monotonic() + 0.01, loop), timeout=5)
        far.cancel()

    asyncio.run(main())


async def test_cancelled_sleeps_do_not_pile_up_in_the_heap() -> None:
    clock = AlarmClock()
    loop = asyncio.get_running_loop()
    for _ in range(500):
        clock.wake_at(time.monotonic() + 600, loop).cancel()
    await asyncio.sleep(0)  # let the done-callbacks run
    assert len(clock._heap) <= 2 * 64 + 1


def test_async_sessions_wait_with_the_precise_sleep_by_default() -> None:
    # The rate-limit mixin's slot waits and retry back-offs both go through the session's `_asleep`.
    from sessions import AsyncSession

    assert AsyncSession._asleep is precise_sleep
