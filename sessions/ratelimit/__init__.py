"""Rate limiting: pure algorithm cores, storages (memory, SQLite, Redis, PostgreSQL, MySQL), Limiter API,
RatelimitMixin."""

from __future__ import annotations

from sessions._alarm import precise_sleep

from ._algorithms import (
    ALGORITHMS,
    GCRA,
    PARAMETER_NAMES,
    AlgorithmParams,
    Decision,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    TokenBucket,
    algorithm_name,
    make_params,
    parameter_names,
    required_parameters,
)
from ._limiter import AsyncLimiter, Limiter
from ._memory import MemoryStorage
from ._mixin import DEFAULT_ALGORITHM, DEFAULT_RATE, RatelimitMixin, guess_algorithm, session_params
from ._rate import Rate
from ._sql import SQLStorage
from ._sqlite import SQLiteStorage
from ._storage import STORAGES, Storage, open_storage

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_RATE",
    "GCRA",
    "PARAMETER_NAMES",
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
    "algorithm_name",
    "guess_algorithm",
    "make_params",
    "open_storage",
    "parameter_names",
    "precise_sleep",
    "required_parameters",
    "session_params",
]
