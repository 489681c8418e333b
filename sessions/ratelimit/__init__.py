"""Rate limiting: pure algorithm cores, storages (memory, SQLite, Redis, PostgreSQL, MySQL), Limiter API,
RatelimitMixin."""

from __future__ import annotations

from sessions._alarm import precise_sleep

from ._algorithms import (
    ALGORITHMS,
    GCRA,
    AlgorithmParams,
    Decision,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    TokenBucket,
    make_params,
)
from ._limiter import AsyncLimiter, Limiter
from ._memory import MemoryStorage
from ._mixin import RatelimitMixin
from ._rate import Rate
from ._sql import SQLStorage
from ._sqlite import SQLiteStorage
from ._storage import STORAGES, Storage, open_storage

__all__ = [
    "ALGORITHMS",
    "GCRA",
    "STORAGES",
    "AlgorithmParams",
    "AsyncLimiter",
    "Decision",
    "FixedWindow",
    "LeakyBucket",
    "Limiter",
    "MemoryStorage",
    "Rate",
    "RatelimitMixin",
    "SQLStorage",
    "SQLiteStorage",
    "SlidingWindow",
    "Storage",
    "TokenBucket",
    "make_params",
    "open_storage",
    "precise_sleep",
]
