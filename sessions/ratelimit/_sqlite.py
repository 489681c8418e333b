"""SQLite rate-limit storage: one row per key, one ``BEGIN IMMEDIATE`` transaction per decision.

Correct across threads and processes sharing the file: ``BEGIN IMMEDIATE`` takes the write lock before the
row is read, so the read-decide-write cycle of two processes can never interleave, and ``busy_timeout``
(set by ``sessions.backends.open_sqlite``, with WAL) makes the second writer wait instead of failing.

Time is the wall clock in integer nanoseconds (monotonic clocks do not agree across processes), clamped so
it never runs backwards: per process by ``sessions.backends.wall_clock_ns`` and per key by the ``clock``
column, which records the latest time a decision on that row used — a process whose clock lags another's,
or a clock stepped back by NTP, still sees time move forward for that key.

Async calls run in one worker thread per storage, so a ``busy_timeout`` wait never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import msgpack

from sessions.backends import open_sqlite, transaction, wall_clock_ns

from ._algorithms import MODES, NS, AlgorithmParams, Decision, Mode, State, max_wait_ticks

__all__ = ["SQLiteStorage"]

_T = TypeVar("_T")

_TABLE = "sessions_ratelimit"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    " key TEXT PRIMARY KEY, state BLOB NOT NULL, clock INTEGER NOT NULL, expires INTEGER NOT NULL"
    ") WITHOUT ROWID",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_expires ON {_TABLE} (expires)",
)
_SELECT = f"SELECT state, clock, expires FROM {_TABLE} WHERE key = ?"
_UPSERT = f"INSERT OR REPLACE INTO {_TABLE} (key, state, clock, expires) VALUES (?, ?, ?, ?)"
_SWEEP = f"DELETE FROM {_TABLE} WHERE expires <= ?"
_SWEEP_EVERY = 1000  # commits between deletions of expired rows (amortised; no timer thread)


class SQLiteStorage:
    """Rate-limit state in an SQLite file shared by threads and processes.

    Args:
        db: database path (default: the per-user cache file from ``sessions.backends``).
        conn: an existing ``sqlite3.Connection`` to use instead (not closed by ``close()``).
        clock: wall clock in integer ns, injectable for tests (still clamped never to run backwards).
        cache_timeout: accepted for option compatibility; rows live exactly as long as their state matters.
    """

    name = "sqlite"

    def __init__(
        self,
        *,
        db: str | os.PathLike[str] | None = None,
        conn: sqlite3.Connection | None = None,
        clock: Callable[[], int] | None = None,
        cache_timeout: Any = None,
    ) -> None:
        self._owns_conn = conn is None
        self._conn = open_sqlite(db, conn=conn)
        self._clock = clock or wall_clock_ns
        self._commits = 0
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._closed = False
        with transaction(self._conn):
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def apply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Decide (and commit, per ``mode``) one request atomically; see ``Storage.apply``."""
        spec = params.spec(NS)
        wait = MODES[mode] if max_wait is None else max_wait_ticks(mode, max_wait, NS)
        with transaction(self._conn) as conn:
            state, now = self._load(conn, key)
            new, ttl, decision = spec.decide(state, now, cost, wait)
            if new is not None:
                self._store(conn, key, new, now, ttl)
        return decision

    def pause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Admit nothing for ``key`` before ``seconds`` from now, in every process sharing the file."""
        spec = params.spec(NS)
        with transaction(self._conn) as conn:
            state, now = self._load(conn, key)
            new, ttl = spec.pause(state, now, seconds)
            if ttl > 0:
                self._store(conn, key, new, now, ttl)

    def clear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Forget ``key``, every key starting with ``prefix`` (other sessions' rows in the same file stay),
        or every rate-limit row (only this storage's table)."""
        with transaction(self._conn) as conn:
            if prefix is not None:
                conn.execute(f"DELETE FROM {_TABLE} WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
            elif key is None:
                conn.execute(f"DELETE FROM {_TABLE}")
            else:
                conn.execute(f"DELETE FROM {_TABLE} WHERE key = ?", (key,))

    def close(self) -> None:
        """Stop the worker thread and close the connection if this storage opened it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._owns_conn:
            self._conn.close()

    async def aapply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Async twin of ``apply``, run in the storage's worker thread."""
        decision: Decision = await self._in_thread(partial(self.apply, key, params, cost, mode, max_wait))
        return decision

    async def apause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Async twin of ``pause``."""
        await self._in_thread(partial(self.pause, key, params, seconds))

    async def aclear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Async twin of ``clear``."""
        await self._in_thread(partial(self.clear, key, prefix=prefix))

    async def aclose(self) -> None:
        """Async twin of ``close``."""
        await asyncio.to_thread(self.close)

    def _load(self, conn: sqlite3.Connection, key: str) -> tuple[State | None, int]:
        """Read ``key``'s row; return its live state (None if absent or expired) and the clamped now."""
        row = conn.execute(_SELECT, (key,)).fetchone()
        now = self._clock()
        if row is None:
            return None, now
        blob, clock, expires = row
        if clock > now:
            now = clock  # another process (or this one before a clock step) already used a later time
        state = msgpack.unpackb(blob, use_list=False) if expires > now else None
        return state, now

    def _store(self, conn: sqlite3.Connection, key: str, state: State, now: int, ttl: int) -> None:
        conn.execute(_UPSERT, (key, msgpack.packb(state), now, now + ttl))
        self._commits += 1
        if self._commits >= _SWEEP_EVERY:
            self._commits = 0
            conn.execute(_SWEEP, (now,))

    async def _in_thread(self, call: Callable[[], Any]) -> Any:
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="sessions-ratelimit"
                    )
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)
