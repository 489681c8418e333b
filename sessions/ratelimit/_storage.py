"""The storage contract for rate-limit state, and the registry that picks a storage by name.

A storage holds one small state tuple per key (see ``_algorithms``) and runs one *atomic* decision per call:
load the key's state, read its own clock, call ``params.spec(unit).decide(state, now, cost, max_wait)``,
save the new state with its TTL when one was committed — all under one lock (memory), one ``BEGIN IMMEDIATE``
transaction (SQLite) or one Lua script (Redis, which mirrors the Python arithmetic in microseconds).

Each storage owns its clock: monotonic ns in memory, the wall clock clamped never to run backwards in SQLite,
Redis ``TIME`` in µs. Callers never pass a time, so processes sharing a backend agree on it.

Registry: ``STORAGES`` maps a backend name to ``"module:Class"``; drivers are imported only when chosen (the
Redis storage lives in ``sessions.ratelimit._redis`` as ``RedisStorage``). Every storage class is constructed
with keyword options only and must raise ``TypeError`` naming an option it does not know.
"""

from __future__ import annotations

import importlib
from typing import Any, Final, Protocol, runtime_checkable

from ._algorithms import AlgorithmParams, Decision, Mode

__all__ = ["STORAGES", "Storage", "open_storage"]


@runtime_checkable
class Storage(Protocol):
    """What every rate-limit storage (memory, SQLite, Redis) implements, sync and async.

    Semantics (checked by ``tests/ratelimit/test_contract.py`` on every backend):

    * ``apply(key, params, cost, mode, max_wait)`` — one atomic decision. ``mode`` is ``"try"`` (admit now or
      deny without consuming), ``"reserve"`` (commit the earliest slot, unless it is more than ``max_wait``
      seconds away, and return its ``delay``) or ``"peek"`` (never commits). ``cost`` is positive and at most
      ``params.max_cost`` (callers raise ``ImpossibleRequest`` before calling).
    * ``pause(key, params, seconds)`` — server feedback: nothing is admitted for ``key`` before now + seconds,
      for every process sharing the backend; pauses only ever extend. ``params`` tells the storage how to
      build an empty state for a key it has never seen.
    * ``clear(key=None, prefix=None)`` — forget one key, every key starting with ``prefix`` (a session's
      ``"{key}:"`` namespace), or every key *this storage* wrote (never other data).
    * ``close()`` — release connections / servers the storage opened itself; idempotent.
    * ``a``-prefixed twins do the same without blocking the event loop.
    """

    name: str
    """The backend's registry name: ``"memory"``, ``"sqlite"`` or ``"redis"``."""

    def apply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Decide (and commit, per ``mode``) one request of ``cost`` for ``key`` atomically."""
        ...

    async def aapply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Async twin of ``apply``."""
        ...

    def pause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Admit nothing for ``key`` before ``seconds`` from now (extends, never shortens, a pause)."""
        ...

    async def apause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Async twin of ``pause``."""
        ...

    def clear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Forget ``key``'s state, every key starting with ``prefix``, or all state this storage wrote."""
        ...

    async def aclear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Async twin of ``clear``."""
        ...

    def close(self) -> None:
        """Release what the storage opened itself (idempotent)."""
        ...

    async def aclose(self) -> None:
        """Async twin of ``close``."""
        ...


STORAGES: Final[dict[str, str]] = {
    "memory": "sessions.ratelimit._memory:MemoryStorage",
    "sqlite": "sessions.ratelimit._sqlite:SQLiteStorage",
    "redis": "sessions.ratelimit._redis:RedisStorage",
    "sql": "sessions.ratelimit._sql:sql_storage",  # a PostgreSQL/MySQL URL or connection, else SQLite
    "postgres": "sessions.ratelimit._sql:postgres_storage",
    "postgresql": "sessions.ratelimit._sql:postgres_storage",
    "mysql": "sessions.ratelimit._sql:mysql_storage",
    "mariadb": "sessions.ratelimit._sql:mysql_storage",
}
"""Backend name → ``"module:Class"`` (or a factory), imported on first use so unused drivers are never
loaded. A server URL is a name too: ``"postgresql://…"`` / ``"mysql://…"`` is ``"sql"`` with that ``db``."""


_SQL_SCHEMES: Final = frozenset({"postgresql", "postgres", "mysql", "mariadb"})


def open_storage(backend: str | Storage = "memory", **options: Any) -> Storage:
    """Return ``backend`` if it already is a storage, else construct the registered one with ``options``."""
    if not isinstance(backend, str):
        if options:
            raise TypeError(f"options {sorted(options)} cannot be applied to an existing storage instance")
        return backend
    name = backend.lower()
    if "://" in name and name.partition("://")[0].partition("+")[0] in _SQL_SCHEMES:
        options["db"] = options.get("db") or backend
        name = "sql"
    try:
        target = STORAGES[name]
    except KeyError:
        known = ", ".join(STORAGES)
        raise ValueError(f"unknown rate-limit backend {backend!r}; choose one of {known}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    storage: Storage = cls(**options)
    return storage
