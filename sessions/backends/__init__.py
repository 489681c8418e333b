"""Backends shared by rate limiting (`sessions.ratelimit`) and caching (`sessions.cache`).

This package owns connection lifecycles; the storages on top of it own their schemas and
algorithms.

SQLite (`sessions.backends._sqlite`):
    `open_sqlite(path, *, conn=None, name=...)` → a WAL, ``busy_timeout``-30 s,
    autocommit, thread-shareable connection (file 0600 in a 0700 directory; a corrupt file
    raises `BackendUnavailable`); `transaction(conn)` → ``BEGIN IMMEDIATE`` … ``COMMIT``
    serialised per connection; `default_cache_dir()` / `default_sqlite_path(name)`
    (platformdirs, never the working directory); `wall_clock_ns()` / `WallClock` — wall
    time in ns clamped so it never runs backwards.

Redis (`sessions.backends._redis`, `sessions.backends._server`):
    `RedisOptions(...)` (frozen, validated) → `open_redis(options)` → `RedisBackend` with
    ``.client`` (sync), ``.aclient`` (asyncio, per loop), ``.server``, ``clear(keys)`` /
    ``aclear(keys)``, ``execute_packed(packed, *command)`` / ``aexecute_packed`` (one pre-packed
    command on a pooled connection, skipping redis-py's per-call packing; see `pack_command` /
    `bulk`), ``close()`` / ``aclose()``; `RedisKeys(prefix, role)` names keys
    ``{prefix}:role:…`` (Cluster hash tag); `TemporaryRedisServer` is the ``redis-server``
    started when no connection is given.

PostgreSQL and MySQL/MariaDB (`sessions.backends._sql`):
    `open_sql(db_url, conn=...)` → `SQLBackend` with ``execute(sql, params)`` / ``aexecute`` (one
    statement on a per-process pool of connections, retried once on a fresh one if the old one was
    lost), ``run(work)``, ``close()``; `sql_dialect(db, conn)` reads ``postgresql://``/``postgres://``/
    ``mysql://``/``mariadb://`` URLs and psycopg 3 / PyMySQL connection objects; `mask_url(url)`.

Nothing here imports ``redis``, ``psycopg`` or ``pymysql`` until such a backend is opened.
"""

from __future__ import annotations

from sessions.backends._redis import RedisBackend, RedisKeys, RedisOptions, bulk, open_redis, pack_command
from sessions.backends._server import MAXMEMORY_POLICIES, TemporaryRedisServer, find_redis_server
from sessions.backends._sql import SQL_SCHEMES, SQLBackend, mask_url, open_sql, sql_dialect
from sessions.backends._sqlite import (
    BUSY_TIMEOUT_S,
    DEFAULT_SQLITE_NAME,
    SQLiteConnection,
    WallClock,
    default_cache_dir,
    default_sqlite_path,
    open_sqlite,
    transaction,
    wall_clock_ns,
)

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_SQLITE_NAME",
    "MAXMEMORY_POLICIES",
    "SQL_SCHEMES",
    "RedisBackend",
    "RedisKeys",
    "RedisOptions",
    "SQLBackend",
    "SQLiteConnection",
    "TemporaryRedisServer",
    "WallClock",
    "bulk",
    "default_cache_dir",
    "default_sqlite_path",
    "find_redis_server",
    "mask_url",
    "open_redis",
    "open_sql",
    "open_sqlite",
    "pack_command",
    "sql_dialect",
    "transaction",
    "wall_clock_ns",
]
