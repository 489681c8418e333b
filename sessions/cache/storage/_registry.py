"""Choosing a storage by name: an explicit registry, drivers imported lazily."""

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


def _redis(limits: StorageLimits, namespace: str, options: dict[str, Any]) -> CacheStorage:
    from ._redis import RedisStorage

    return RedisStorage(limits, namespace=namespace, **options)


STORAGES: dict[str, Callable[[StorageLimits, str, dict[str, Any]], CacheStorage]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "sql": _sqlite,  # the seed's spelling
    "redis": _redis,
}


def make_storage(
    backend: str | CacheStorage, *, limits: StorageLimits, namespace: str, options: dict[str, Any]
) -> CacheStorage:
    """A storage from a name in `STORAGES` or an instance (returned as is)."""
    if isinstance(backend, CacheStorage):
        return backend
    factory = STORAGES.get(str(backend).lower())
    if factory is None:
        raise ConfigurationError(f"unknown cache backend {backend!r}; choose one of: memory, sqlite, redis")
    return factory(limits, namespace, dict(options))
