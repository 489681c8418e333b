"""HTTP caching: pure policy (RFC 9111 private cache), keys, msgpack storage format, storages
(memory / SQLite / Redis) and `CacheMixin`.

Layout::

    _policy.py      what to store, for how long, fresh/stale decisions (pure, injected clock)
    _keys.py        versioned SHA-256 keys, URL normalisation, credential fingerprints
    _entry.py       CachedEntry / EntryInfo
    _serializer.py  the versioned msgpack storage format (no pickle)
    storage/        CacheStorage contract + memory, SQLite, Redis
    _flight.py      single-flight for concurrent identical misses
    _core.py        CacheCore: every decision the mixin takes, no I/O
    _inspect.py     session.cache (urls, contains, delete, filter, count, size, clear, [url])
    _mixin.py       CacheMixin: the sync and async shells
"""

from __future__ import annotations

from ._entry import CachedEntry, EntryInfo
from ._keys import CREDENTIAL_PARAMETERS, KeyBuilder
from ._mixin import CACHE_OPTIONS, CacheMixin, cache_disabled
from ._policy import DO_NOT_CACHE, EXPIRE_IMMEDIATELY, NEVER_EXPIRE, CacheSettings
from .storage import CacheStorage, MemoryStorage, StorageLimits

__all__ = [
    "CACHE_OPTIONS",
    "CREDENTIAL_PARAMETERS",
    "DO_NOT_CACHE",
    "EXPIRE_IMMEDIATELY",
    "NEVER_EXPIRE",
    "CacheMixin",
    "CacheSettings",
    "CacheStorage",
    "CachedEntry",
    "EntryInfo",
    "KeyBuilder",
    "MemoryStorage",
    "StorageLimits",
    "cache_disabled",
]
