"""Rate limiting: pure algorithm cores, storages (memory, SQLite, Redis, PostgreSQL, MySQL), Limiter API,
RatelimitMixin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessions._alarm import precise_sleep
from sessions._lazy import lazy_exports as _lazy_exports

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
from ._storage import STORAGES, Storage, open_storage

if TYPE_CHECKING:
    from ._sql import SQLStorage
    from ._sqlite import SQLiteStorage

# The server storages load on first use (or when `open_storage` names them): a limiter in memory never
# imports the SQL and Redis code.
_HOMES = {"SQLStorage": "._sql", "SQLiteStorage": "._sqlite"}
__getattr__, __dir__ = _lazy_exports(__name__, globals(), _HOMES)

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
