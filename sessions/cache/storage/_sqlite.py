"""SQLite storage: one row per entry, LRU by an `accessed` column, caps kept by triggers.

Layout (table names carry the schema version, so a future format can live beside this one)::

    sessions_http_cache_v1(ns, key, kind, method, url, status, created_at, expires, deadline,
                           size, accessed, value BLOB)      PRIMARY KEY (ns, key)
    sessions_http_cache_stats_v1(ns, entries, bytes)        kept exact by triggers

`ns` is the cache namespace (the `key=` prefix), so several caches can share a file and
`clear()` only deletes its own rows. `value` is the msgpack entry (`_serializer`).

Concurrency: the connection comes from `sessions.backends.open_sqlite` (WAL, busy_timeout,
0600 file); every write is one `BEGIN IMMEDIATE` transaction; readers never block in WAL.
A hit does not write: `accessed` is refreshed at most once per `TOUCH_INTERVAL` per entry, so
LRU order is exact to that granularity and the hit path stays a primary-key SELECT.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from ..._exceptions import BackendError
from ...backends import open_sqlite, transaction
from ...backends._sqlite import _lock_for, default_sqlite_path
from .._entry import CachedEntry, EntryInfo
from .._serializer import dumps
from ._base import CacheStorage, StorageLimits, decode_or_none

__all__ = ["DEFAULT_FILE", "SQLiteStorage"]

DEFAULT_FILE: Final = "http_cache.sqlite3"
TOUCH_INTERVAL: Final = 60.0
_T = "sessions_http_cache_v1"
_S = "sessions_http_cache_stats_v1"
_SCHEMA: Final = (
    f"""CREATE TABLE IF NOT EXISTS {_T} (
        ns TEXT NOT NULL, key TEXT NOT NULL, kind INTEGER NOT NULL, method TEXT NOT NULL,
        url TEXT NOT NULL, status INTEGER NOT NULL, created_at REAL NOT NULL, expires REAL,
        deadline REAL, size INTEGER NOT NULL, accessed REAL NOT NULL, value BLOB NOT NULL,
        PRIMARY KEY (ns, key))""",
    f"CREATE INDEX IF NOT EXISTS {_T}_lru ON {_T}(ns, accessed)",
    f"CREATE INDEX IF NOT EXISTS {_T}_url ON {_T}(ns, url)",
    f"CREATE INDEX IF NOT EXISTS {_T}_deadline ON {_T}(ns, deadline)",
    f"CREATE TABLE IF NOT EXISTS {_S} (ns TEXT PRIMARY KEY, entries INTEGER NOT NULL, "
    "bytes INTEGER NOT NULL)",
    # The totals the caps need, exact and shared by every process: no count(*) per insert.
    f"""CREATE TRIGGER IF NOT EXISTS {_T}_ins AFTER INSERT ON {_T} BEGIN
        INSERT INTO {_S}(ns, entries, bytes) VALUES (NEW.ns, 1, NEW.size)
        ON CONFLICT(ns) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.size;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {_T}_del AFTER DELETE ON {_T} BEGIN
        UPDATE {_S} SET entries = entries - 1, bytes = bytes - OLD.size WHERE ns = OLD.ns;
    END""",
)
_GET = f"SELECT value, accessed, deadline FROM {_T} WHERE ns = ? AND key = ?"
_TOUCH = f"UPDATE {_T} SET accessed = ? WHERE ns = ? AND key = ?"
_DELETE = f"DELETE FROM {_T} WHERE ns = ? AND key = ?"
_INSERT = f"INSERT INTO {_T} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INFOS = f"SELECT key, method, url, status, created_at, expires, size FROM {_T} WHERE ns = ? AND kind = 0"
_EVICT = f"DELETE FROM {_T} WHERE rowid IN (SELECT rowid FROM {_T} WHERE ns = ? ORDER BY accessed LIMIT ?)"
_SWEEP = f"DELETE FROM {_T} WHERE ns = ? AND deadline IS NOT NULL AND deadline <= ?"


class SQLiteStorage(CacheStorage):
    """Entries in an SQLite file (default: the per-user cache dir, never the working directory)."""

    def __init__(
        self,
        limits: StorageLimits | None = None,
        *,
        namespace: str = "Session",
        db: str | os.PathLike[str] | None = None,
        conn: sqlite3.Connection | None = None,
        check_frequency: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits or StorageLimits()
        self.namespace = namespace
        self.path = (
            None if conn is not None else (db if db is not None else default_sqlite_path(DEFAULT_FILE))
        )
        self._owns_conn = conn is None
        self.conn = open_sqlite(self.path, conn=conn)
        self._lock = _lock_for(self.conn)
        self._clock = clock
        self.check_frequency = check_frequency
        self._next_sweep = 0.0
        with transaction(self.conn):
            for statement in _SCHEMA:
                self.conn.execute(statement)

    # ------------------------------------------------------------------ reads
    def get(self, key: str) -> CachedEntry | None:
        """Primary-key SELECT; refreshes the LRU stamp at most once per TOUCH_INTERVAL."""
        with self._lock:
            row = self.conn.execute(_GET, (self.namespace, key)).fetchone()
        return self._finish_get(key, row)

    def _finish_get(self, key: str, row: tuple[bytes, float, float | None] | None) -> CachedEntry | None:
        if row is None:
            return None
        value, accessed, deadline = row
        now = self._clock()
        if deadline is not None and now >= deadline:
            self.delete([key])
            return None
        if now - accessed > TOUCH_INTERVAL:
            self._write(_TOUCH, (now, self.namespace, key))
        return decode_or_none(value, key, lambda k: self.delete([k]))

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            self.conn.execute(sql, args)

    def infos(self) -> Iterator[EntryInfo]:
        """Metadata of every stored response (no bodies read)."""
        with self._lock:
            rows = self.conn.execute(_INFOS, (self.namespace,)).fetchall()
        return iter([EntryInfo(*row) for row in rows])

    def count(self) -> int:
        """How many responses are stored."""
        with self._lock:
            row = self.conn.execute(f"SELECT count(*) FROM {_T} WHERE ns = ? AND kind = 0", (self.namespace,))
            return int(row.fetchone()[0])

    def size(self) -> int:
        """Total stored bytes (Vary index rows included: they count against the caps too)."""
        with self._lock:
            row = self.conn.execute(f"SELECT bytes FROM {_S} WHERE ns = ?", (self.namespace,)).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ writes
    def set(self, entry: CachedEntry, ttl: float | None) -> None:
        """Replace the row and evict least-recently-used rows over the caps, in one transaction."""
        blob = dumps(entry)
        now = self._clock()
        row = (
            self.namespace, entry.key, entry.kind, entry.method, entry.url, entry.status, entry.created_at,
            entry.expires, None if ttl is None else now + ttl, len(blob), now, blob,
        )  # fmt: skip
        with transaction(self.conn) as conn:
            conn.execute(_DELETE, (self.namespace, entry.key))
            conn.execute(_INSERT, row)
            if now >= self._next_sweep:
                self._next_sweep = now + self.check_frequency
                conn.execute(_SWEEP, (self.namespace, now))
            self._evict(conn)

    def _evict(self, conn: sqlite3.Connection) -> None:
        max_entries, max_bytes = self.limits.max_entries, self.limits.max_bytes
        if max_entries is None and max_bytes is None:
            return
        while True:
            row = conn.execute(f"SELECT entries, bytes FROM {_S} WHERE ns = ?", (self.namespace,)).fetchone()
            entries, total = row if row else (0, 0)
            excess = 0
            if max_entries is not None and entries > max_entries:
                excess = entries - max_entries
            if max_bytes is not None and total > max_bytes:
                excess = max(excess, 1)
            if excess <= 0:
                return
            conn.execute(_EVICT, (self.namespace, excess))

    def delete(self, keys: Iterable[str]) -> int:
        """Delete these keys; return how many existed."""
        args = [(self.namespace, k) for k in keys]
        if not args:
            return 0
        with transaction(self.conn) as conn:
            return int(conn.executemany(_DELETE, args).rowcount)  # rowcount excludes trigger writes

    def delete_where(self, predicate: Callable[[EntryInfo], bool]) -> int:
        """Delete matching responses (metadata filtered in Python, rows deleted in one transaction)."""
        doomed = [info.key for info in self.infos() if predicate(info)]
        return self.delete(doomed)

    def clear(self) -> None:
        """Delete this namespace's rows only (other caches and the rate limiter share the file)."""
        with transaction(self.conn) as conn:
            conn.execute(f"DELETE FROM {_T} WHERE ns = ?", (self.namespace,))
            conn.execute(f"DELETE FROM {_S} WHERE ns = ?", (self.namespace,))

    def close(self) -> None:
        """Close the connection if we opened it."""
        if self._owns_conn:
            try:
                self.conn.close()
            except sqlite3.Error as exc:  # pragma: no cover - closing a broken file
                raise BackendError(f"closing the SQLite cache failed: {exc}") from exc

    # ------------------------------------------------------------------ async
    async def aget(self, key: str) -> CachedEntry | None:
        """Read inline when the connection is free (a WAL read never waits); else in a thread.

        A thread hop costs more than the read itself, so hits stay on the loop; only when another
        thread holds the connection (a write waiting on busy_timeout) do we move off the loop.
        """
        if self._lock.acquire(blocking=False):
            try:
                row = self.conn.execute(_GET, (self.namespace, key)).fetchone()
            finally:
                self._lock.release()
            if row is None:
                return None
            now = self._clock()
            if now - row[1] <= TOUCH_INTERVAL and (row[2] is None or now < row[2]):
                return decode_or_none(row[0], key, lambda k: None)  # no write needed: stay inline
            return await asyncio.to_thread(self._finish_get, key, row)
        return await asyncio.to_thread(self.get, key)

    async def aset(self, entry: CachedEntry, ttl: float | None) -> None:
        """Writes may wait for the file lock: run them in a thread."""
        await asyncio.to_thread(self.set, entry, ttl)

    async def adelete(self, keys: Iterable[str]) -> int:
        """Async `delete` (in a thread)."""
        return await asyncio.to_thread(self.delete, list(keys))

    async def aclear(self) -> None:
        """Async `clear` (in a thread)."""
        await asyncio.to_thread(self.clear)
