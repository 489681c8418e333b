"""Backend-specific behaviour: memory sweeping and speed-critical shapes, SQLite clocks and sharing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sessions.ratelimit import GCRA, MemoryStorage, SlidingWindow, SQLiteStorage, TokenBucket

from .conftest import VirtualClock


def test_memory_never_evicts_live_state(clock: VirtualClock) -> None:
    store = MemoryStorage(clock=clock)
    params = SlidingWindow(limit=1, window=3600)
    for i in range(5000):
        store.apply(f"k{i}", params)
    assert all(not store.apply(f"k{i}", params).allowed for i in range(5000))


def test_memory_sweeps_expired_keys_on_access(clock: VirtualClock) -> None:
    store = MemoryStorage(clock=clock)
    short = GCRA(limit=1, period=0.001)
    for i in range(3000):
        store.apply(f"old{i}", short)
    clock.advance(1)
    for i in range(5000):
        store.apply(f"new{i}", short)
    assert len(store) < 8000  # the expired "old" keys were swept without a timer thread


def test_memory_is_thread_safe() -> None:
    store = MemoryStorage()
    params = SlidingWindow(limit=1000, window=3600)
    admitted = []

    def worker() -> None:
        admitted.append(sum(store.apply("k", params).allowed for _ in range(500)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 1000


def test_sqlite_clock_going_backwards_is_clamped(tmp_path: Path, clock: VirtualClock) -> None:
    store = SQLiteStorage(db=tmp_path / "rl.db", clock=clock)
    params = SlidingWindow(limit=2, window=10)
    assert store.apply("k", params).allowed
    assert store.apply("k", params).allowed
    clock.advance(-3600)  # NTP step back by an hour: the row's clock still holds time in place
    d = store.apply("k", params)
    assert not d.allowed
    assert d.retry_after == pytest.approx(10.0)
    clock.advance(3600 + 10)
    assert store.apply("k", params).allowed
    store.close()


def test_sqlite_state_is_shared_between_connections(tmp_path: Path, clock: VirtualClock) -> None:
    a = SQLiteStorage(db=tmp_path / "rl.db", clock=clock)
    b = SQLiteStorage(db=tmp_path / "rl.db", clock=clock)
    params = TokenBucket(capacity=2, fill_rate=1)
    assert a.apply("k", params).allowed
    assert b.apply("k", params).allowed
    assert not a.apply("k", params).allowed
    b.pause("k", params, 30)
    clock.advance(10)
    assert not a.apply("k", params).allowed
    a.close()
    b.close()


def test_sqlite_adopts_a_connection_and_leaves_it_open(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "own.db", check_same_thread=False, isolation_level=None)
    store = SQLiteStorage(conn=conn)
    assert store.apply("k", SlidingWindow(limit=1, window=1)).allowed
    store.close()
    assert conn.execute("SELECT count(*) FROM sessions_ratelimit").fetchone() == (1,)
    conn.close()


async def test_sqlite_async_runs_off_the_event_loop(tmp_path: Path) -> None:
    store = SQLiteStorage(db=tmp_path / "rl.db")
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = store.apply

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(threading.get_ident())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.apply = spy  # type: ignore[method-assign]
    assert (await store.aapply("k", SlidingWindow(limit=1, window=1))).allowed
    assert seen
    assert loop_thread not in seen
    await store.aclose()
