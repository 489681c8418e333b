"""Cache storages: memory, SQLite and Redis behind one contract (`CacheStorage`).

Choose one by name with `make_storage("memory" | "sqlite" | "redis", ...)`, or pass an instance.
Every storage caps its total size (`max_entries`, `max_bytes`, least-recently-used eviction),
drops entries past their retention deadline on read, and turns an unreadable entry into a
logged miss.
"""

from __future__ import annotations

from ._base import CacheStorage, StorageLimits
from ._memory import MemoryStorage
from ._registry import STORAGES, make_storage

__all__ = ["STORAGES", "CacheStorage", "MemoryStorage", "StorageLimits", "make_storage"]
