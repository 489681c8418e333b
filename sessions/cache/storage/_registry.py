"""Choosing a storage by name (or a server URL): an explicit registry, drivers imported lazily."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._exceptions import ConfigurationError
from ._base import CacheStorage, StorageLimits

__all__ = ["STORAGES", "make_storage"]


def _memory(limits: StorageLimits, namespace: str, options: dict[str, Any]) -> CacheStorage:
    from ._memory import MemoryStorage

    return MemoryStorage(limits, check_frequency=float(options.pop("check_frequency", 15.0)))


def _sqlite(limits: StorageLimits, namespace: str, options: dict[str, Any]) -> CacheStorage:
    from ._sqlite import SQLiteStorage

    return SQLiteStorage(limits, namespace=namespace, **options)


def _sql(limits: StorageLimits, namespace: str, options: dict[str, Any]) -> CacheStorage:
    """``"sql"``: PostgreSQL / MySQL for a server URL or connection, else SQLite (the seed's reading)."""
    from ...backends._sql import sql_dialect

    if sql_dialect(options.get("db"), options.get("conn")) is None:
        return _sqlite(limits, namespace, options)
    from ._sql import SQLStorage

    return SQLStorage(limits, namespace=namespace, **options)


def _server(dialect: str) -> Callable[[StorageLimits, str, dict[str, Any]], CacheStorage]:
    """``"postgres"`` / ``"mysql"``: that server, from ``db=`` (a URL of that kind) or ``conn=``."""

    def build(limits: StorageLimits, namespace: str, options: dict[str, Any]) -> CacheStorage:
        from ...backends._sql import sql_dialect

        if sql_dialect(options.get("db"), options.get("conn")) != dialect:
            scheme = "postgresql" if dialect == "postgresql" else "mysql"
            raise ConfigurationError(
                f"cache backend {dialect!r} needs db='{scheme}://user@host/database' or conn= a "
                f"{'psycopg 3' if dialect == 'postgresql' else 'PyMySQL'} connection"
            )
        from ._sql import SQLStorage

        return SQLStorage(limits, namespace=namespace, **options)

    return build


def _redis(limits: StorageLimits, namespace: str, options: dict[str, Any]) -> CacheStorage:
    from ._redis import RedisStorage

    return RedisStorage(limits, namespace=namespace, **options)


STORAGES: dict[str, Callable[[StorageLimits, str, dict[str, Any]], CacheStorage]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "sql": _sql,  # the seed's spelling: a PostgreSQL/MySQL URL or connection, else an SQLite path
    "postgres": _server("postgresql"),
    "postgresql": _server("postgresql"),
    "mysql": _server("mysql"),
    "mariadb": _server("mysql"),
    "redis": _redis,
}


def _is_sql_url(name: str) -> bool:
    from ...backends._sql import sql_dialect

    return "://" in name and sql_dialect(name) is not None


def make_storage(
    backend: str | CacheStorage, *, limits: StorageLimits, namespace: str, options: dict[str, Any]
) -> CacheStorage:
    """A storage from a name in `STORAGES` or an instance (returned as is)."""
    if isinstance(backend, CacheStorage):
        return backend
    name, options = str(backend).lower(), dict(options)
    if _is_sql_url(name):  # a server URL names its backend: postgresql://… / mysql://…
        options["db"] = options.get("db") or str(backend)
        name = "sql"
    factory = STORAGES.get(name)
    if factory is None:
        raise ConfigurationError(
            f"unknown cache backend {backend!r}; choose one of: memory, sqlite, redis, sql, postgres, mysql"
        )
    return factory(limits, namespace, options)
