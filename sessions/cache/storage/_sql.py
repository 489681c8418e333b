"""PostgreSQL / MySQL (MariaDB) storage: one row per entry, LRU by an ``accessed`` column.

Layout (the table name carries the schema version, so a future format can live beside this one)::

    <table_prefix>http_cache_v1(ns, key, kind, method, url, status, created_at, expires, deadline,
                                size, accessed, value)      PRIMARY KEY (ns, key)

``ns`` is the cache namespace (the ``key=`` prefix): several caches share the table and ``clear()`` deletes
only its own rows. ``value`` is the msgpack entry (``_serializer``). The table is created on first use
(under a server lock, so processes starting together create it once); nothing is ever dropped or truncated.

* A hit is one primary-key SELECT (one round trip); ``accessed`` is refreshed at most once per
  ``TOUCH_INTERVAL``, so LRU order is exact to that granularity and hits do not write.
* A store is one upsert. With ``max_entries`` / ``max_bytes`` it is one transaction that also takes a
  per-namespace lock (``pg_advisory_xact_lock`` / ``SELECT … FOR UPDATE`` on a lock row on MySQL), counts
  the namespace and deletes the least-recently-used rows over the caps — exact across processes and hosts.
* Entries past their retention deadline are misses (and deleted) on read, and swept every
  ``check_frequency`` seconds by a store.

Connections come from ``sessions.backends.open_sql`` (URL or a psycopg 3 / PyMySQL connection, never closed
by us). PostgreSQL hits run on psycopg's async connection in async sessions; everything else runs on the
backend's worker threads there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from ..._exceptions import ConfigurationError
from ...backends._sql import SQLBackend, open_sql, sql_name, transaction
from .._entry import CachedEntry, EntryInfo
from .._serializer import dumps
from ._base import CacheStorage, StorageLimits, decode_or_none

__all__ = ["SQLStorage"]

TOUCH_INTERVAL: Final = 60.0
SCHEMA_VERSION: Final = 1
_COLUMNS: Final = "ns, key, kind, method, url, status, created_at, expires, deadline, size, accessed, value"
_PG_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS @T@ (
        ns text NOT NULL, key text NOT NULL, kind integer NOT NULL, method text NOT NULL,
        url text NOT NULL, status integer NOT NULL, created_at double precision NOT NULL,
        expires double precision, deadline double precision, size bigint NOT NULL,
        accessed double precision NOT NULL, value bytea NOT NULL, PRIMARY KEY (ns, key))""",
    "CREATE INDEX IF NOT EXISTS @I@_lru ON @T@ (ns, accessed)",
    "CREATE INDEX IF NOT EXISTS @I@_deadline ON @T@ (ns, deadline)",
    "CREATE TABLE IF NOT EXISTS @T@_locks (ns text PRIMARY KEY)",
)
_MYSQL_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS @T@ (
        ns VARBINARY(190) NOT NULL, `key` VARBINARY(512) NOT NULL, kind INT NOT NULL,
        method VARCHAR(32) NOT NULL, url TEXT NOT NULL, status INT NOT NULL, created_at DOUBLE NOT NULL,
        expires DOUBLE NULL, deadline DOUBLE NULL, size BIGINT NOT NULL, accessed DOUBLE NOT NULL,
        value LONGBLOB NOT NULL, PRIMARY KEY (ns, `key`), KEY (ns, accessed), KEY (ns, deadline)
    ) ENGINE = InnoDB""",
    "CREATE TABLE IF NOT EXISTS @T@_locks (ns VARBINARY(190) PRIMARY KEY) ENGINE = InnoDB",
)


class SQLStorage(CacheStorage):
    """HTTP cache entries on a PostgreSQL or MySQL/MariaDB server; see the module docstring.

    Args:
        limits: size caps (``max_entries``, ``max_bytes``), enforced exactly across processes.
        namespace: this cache's rows (the session's ``key=``).
        db: ``postgresql://…`` / ``mysql://…`` URL; or ``conn=`` a psycopg 3 / PyMySQL connection.
        table_prefix: the start of our table name (default ``"sessions_"``).
        schema: PostgreSQL only: the schema for our table (created if missing).
        check_frequency: seconds between sweeps of entries past their retention deadline.
        clock: wall clock in float seconds (tests).
    """

    def __init__(
        self,
        limits: StorageLimits | None = None,
        *,
        namespace: str = "Session",
        db: str | None = None,
        conn: Any = None,
        table_prefix: str = "sessions_",
        schema: str | None = None,
        check_frequency: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits or StorageLimits()
        self.namespace = namespace
        self.backend: SQLBackend = open_sql(db, conn=conn)
        self.dialect = self.backend.dialect
        if schema is not None and self.dialect != "postgresql":
            raise ConfigurationError("schema= is for PostgreSQL; on MySQL give the database in the URL")
        base = f"{sql_name(table_prefix, 'table_prefix')}http_cache_v{SCHEMA_VERSION}"
        self.table = base if schema is None else f"{sql_name(schema, 'schema')}.{base}"
        self._schema, self._index = schema, base
        self._clock = clock
        self.check_frequency = check_frequency
        self._next_sweep = 0.0
        k = "key" if self.dialect == "postgresql" else "`key`"
        self._k = k
        self._get = f"SELECT value, accessed, deadline FROM {self.table} WHERE ns = %s AND {k} = %s"
        self._delete = f"DELETE FROM {self.table} WHERE ns = %s AND {k} = %s"
        marks = ", ".join(["%s"] * 12)
        columns = _COLUMNS.replace("key", k)
        if self.dialect == "postgresql":
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS.split(", ")[2:])
            conflict = f"ON CONFLICT (ns, key) DO UPDATE SET {updates}"
        else:
            updates = ", ".join(f"{c} = VALUES({c})" for c in _COLUMNS.split(", ")[2:])
            conflict = f"ON DUPLICATE KEY UPDATE {updates}"
        self._upsert = f"INSERT INTO {self.table} ({columns}) VALUES ({marks}) {conflict}"
        try:
            self.backend.run(self._create_schema)
        except BaseException:
            self.backend.close()
            raise

    # ------------------------------------------------------------------ reads
    def get(self, key: str) -> CachedEntry | None:
        """Primary-key SELECT; refreshes the LRU stamp at most once per TOUCH_INTERVAL."""
        rows = self.backend.execute(self._get, (self.namespace, key))
        return self._finish_get(key, rows[0] if rows else None)

    async def aget(self, key: str) -> CachedEntry | None:
        """Async `get` (the read on psycopg's async connection, or a worker thread for MySQL)."""
        rows = await self.backend.aexecute(self._get, (self.namespace, key))
        if not rows:
            return None
        value, accessed, deadline = rows[0]
        now = self._clock()
        if now - accessed <= TOUCH_INTERVAL and (deadline is None or now < deadline):
            return decode_or_none(bytes(value), key, lambda k: None)  # no write needed
        result: CachedEntry | None = await self.backend.in_thread(lambda: self._finish_get(key, rows[0]))
        return result

    def _finish_get(self, key: str, row: tuple[Any, ...] | None) -> CachedEntry | None:
        if row is None:
            return None
        value, accessed, deadline = row
        now = self._clock()
        if deadline is not None and now >= deadline:
            self.delete([key])
            return None
        if now - accessed > TOUCH_INTERVAL:
            self.backend.execute(
                f"UPDATE {self.table} SET accessed = %s WHERE ns = %s AND {self._k} = %s",
                (now, self.namespace, key),
            )
        return decode_or_none(bytes(value), key, lambda k: self.delete([k]))

    def infos(self) -> Iterator[EntryInfo]:
        """Metadata of every stored response (no bodies read)."""
        rows = self.backend.execute(
            f"SELECT {self._k}, method, url, status, created_at, expires, size FROM {self.table}"
            " WHERE ns = %s AND kind = 0",
            (self.namespace,),
        )
        return iter([_info(row) for row in rows])

    def count(self) -> int:
        """How many responses are stored."""
        rows = self.backend.execute(
            f"SELECT count(*) FROM {self.table} WHERE ns = %s AND kind = 0", (self.namespace,)
        )
        return int(rows[0][0])

    def size(self) -> int:
        """Total stored bytes (Vary index rows included: they count against the caps too)."""
        rows = self.backend.execute(
            f"SELECT coalesce(sum(size), 0) FROM {self.table} WHERE ns = %s", (self.namespace,)
        )
        return int(rows[0][0])

    # ------------------------------------------------------------------ writes
    def set(self, entry: CachedEntry, ttl: float | None) -> None:
        """Upsert the row; with caps, also evict least-recently-used rows, in one locked transaction."""
        blob = dumps(entry)
        now = self._clock()
        row = (
            self.namespace, entry.key, entry.kind, entry.method, entry.url, entry.status, entry.created_at,
            entry.expires, None if ttl is None else now + ttl, len(blob), now, blob,
        )  # fmt: skip
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + self.check_frequency
        if self.limits.max_entries is None and self.limits.max_bytes is None:
            self.backend.execute(self._upsert, row)
            if sweep:
                self._sweep(now)
            return
        self.backend.run(lambda conn: self._set_capped(conn, row, now if sweep else None))

    async def aset(self, entry: CachedEntry, ttl: float | None) -> None:
        """Async `set` (on the backend's worker threads)."""
        await self.backend.in_thread(lambda: self.set(entry, ttl))

    def _sweep(self, now: float) -> None:
        self.backend.execute(
            f"DELETE FROM {self.table} WHERE ns = %s AND deadline IS NOT NULL AND deadline <= %s",
            (self.namespace, now),
        )

    def _set_capped(self, conn: Any, row: tuple[Any, ...], sweep: float | None) -> None:
        with transaction(self.backend, conn), conn.cursor() as cursor:
            self._lock_namespace(cursor)
            cursor.execute(self._upsert, row)
            if sweep is not None:
                cursor.execute(
                    f"DELETE FROM {self.table} WHERE ns = %s AND deadline IS NOT NULL AND deadline <= %s",
                    (self.namespace, sweep),
                )
            self._evict(cursor)

    def _lock_namespace(self, cursor: Any) -> None:
        """Serialise capped stores of this namespace (every process, every host) until commit."""
        locks = f"{self.table}_locks"
        if self.dialect == "postgresql":
            cursor.execute(f"INSERT INTO {locks} (ns) VALUES (%s) ON CONFLICT DO NOTHING", (self.namespace,))
        else:
            cursor.execute(f"INSERT IGNORE INTO {locks} (ns) VALUES (%s)", (self.namespace,))
        cursor.execute(f"SELECT ns FROM {locks} WHERE ns = %s FOR UPDATE", (self.namespace,))
        cursor.fetchall()

    def _evict(self, cursor: Any) -> None:
        max_entries, max_bytes = self.limits.max_entries, self.limits.max_bytes
        cursor.execute(
            f"SELECT count(*), coalesce(sum(size), 0) FROM {self.table} WHERE ns = %s", (self.namespace,)
        )
        entries, total = (int(v) for v in cursor.fetchone())
        over_entries = entries - max_entries if max_entries is not None else 0
        over_bytes = total - max_bytes if max_bytes is not None else 0
        if over_entries <= 0 and over_bytes <= 0:
            return
        cursor.execute(
            f"SELECT {self._k}, size FROM {self.table} WHERE ns = %s ORDER BY accessed LIMIT %s",
            (self.namespace, max(over_entries, 0) + (entries if over_bytes > 0 else 0)),
        )
        doomed: list[Any] = []
        for key, size in cursor.fetchall():
            if over_entries <= 0 and over_bytes <= 0:
                break
            doomed.append(key)
            over_entries -= 1
            over_bytes -= int(size)
        cursor.executemany(self._delete, [(self.namespace, key) for key in doomed])

    def delete(self, keys: Iterable[str]) -> int:
        """Delete these keys; return how many existed."""
        names = list(keys)
        if not names:
            return 0
        marks = ", ".join(["%s"] * len(names))
        query = f"DELETE FROM {self.table} WHERE ns = %s AND {self._k} IN ({marks})"
        counted: int = self.backend.run(lambda conn: _rowcount(conn, query, (self.namespace, *names)))
        return counted

    async def adelete(self, keys: Iterable[str]) -> int:
        """Async `delete` (on the backend's worker threads)."""
        names = list(keys)
        counted: int = await self.backend.in_thread(lambda: self.delete(names))
        return counted

    def delete_where(self, predicate: Callable[[EntryInfo], bool]) -> int:
        """Delete matching responses (metadata filtered in Python, rows deleted in one statement)."""
        doomed = [info.key for info in self.infos() if predicate(info)]
        return self.delete(doomed)

    def clear(self) -> None:
        """Delete this namespace's rows only (other caches share the table)."""
        self.backend.execute(f"DELETE FROM {self.table} WHERE ns = %s", (self.namespace,))

    async def aclear(self) -> None:
        """Async `clear`."""
        await self.backend.aexecute(f"DELETE FROM {self.table} WHERE ns = %s", (self.namespace,))

    def close(self) -> None:
        """Close the connections we opened (never one handed in)."""
        self.backend.close()

    def _create_schema(self, conn: Any) -> None:
        statements = _PG_SCHEMA if self.dialect == "postgresql" else _MYSQL_SCHEMA
        with conn.cursor() as cursor:
            if self.dialect == "postgresql":
                with transaction(self.backend, conn):
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('sessions schema'))")
                    if self._schema is not None:
                        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")
                    for statement in statements:
                        cursor.execute(statement.replace("@T@", self.table).replace("@I@", self._index))
                return
            cursor.execute("SELECT GET_LOCK('sessions schema', 60)")
            try:
                for statement in statements:
                    cursor.execute(statement.replace("@T@", self.table))
            finally:
                cursor.execute("SELECT RELEASE_LOCK('sessions schema')")


def _rowcount(conn: Any, query: str, params: tuple[Any, ...]) -> int:
    with conn.cursor() as cursor:
        cursor.execute(query, params)
        return int(cursor.rowcount)


def _info(row: tuple[Any, ...]) -> EntryInfo:
    key, method, url, status, created_at, expires, size = row
    return EntryInfo(_text(key), _text(method), _text(url), int(status), created_at, expires, int(size))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)
