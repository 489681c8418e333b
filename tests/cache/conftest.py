"""Storage fixtures for the cache contract suite: memory, SQLite (real file), Redis, PostgreSQL and MariaDB
(real servers; this run's own schema / table prefix, see tests/fixtures/sql_servers.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessions.cache.storage import CacheStorage, MemoryStorage, StorageLimits
from tests.fixtures.sql_servers import sql_run_database, sql_run_options

SQL_DIALECTS = {"postgres": "postgresql", "mysql": "mysql"}

MakeStorage = Callable[..., CacheStorage]


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres", "mysql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name; redis, postgres and mysql pull in the real-server fixtures."""
    name: str = request.param
    return name


@pytest.fixture
def backend_options(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, object]:
    """Session keywords selecting `backend` in an isolated place (own file / own Redis prefix)."""
    if backend == "sqlite":
        return {"backend": "sqlite", "db": str(tmp_path / "cache.sqlite3")}
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return {"backend": "redis", "url": url, "key": prefix}
    if backend in ("postgres", "mysql"):
        return {
            "backend": backend,
            "db": sql_run_database(SQL_DIALECTS[backend]),
            "key": f"ns-{uuid.uuid4().hex}",
        }
    return {"backend": "memory"}


@pytest.fixture
def make_storage(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MakeStorage]:
    """Factory of storages of `backend`, closed after the test."""
    made: list[CacheStorage] = []

    def factory(limits: StorageLimits | None = None, **kw: object) -> CacheStorage:
        storage: CacheStorage
        if backend == "memory":
            storage = MemoryStorage(limits, **kw)  # type: ignore[arg-type]
        elif backend == "sqlite":
            from sessions.cache.storage._sqlite import SQLiteStorage

            kw.setdefault("db", tmp_path / "cache.sqlite3")
            storage = SQLiteStorage(limits, **kw)  # type: ignore[arg-type]
        elif backend in ("postgres", "mysql"):
            from sessions.cache.storage._sql import SQLStorage

            url, options = sql_run_options(SQL_DIALECTS[backend])
            kw.setdefault("namespace", f"ns-{uuid.uuid4().hex}")
            storage = SQLStorage(limits, db=url, **options, **kw)  # type: ignore[arg-type]
        else:
            from sessions.cache.storage._redis import RedisStorage

            kw.setdefault("namespace", request.getfixturevalue("redis_prefix"))
            storage = RedisStorage(limits, url=request.getfixturevalue("redis_url"), **kw)  # type: ignore[arg-type]
        made.append(storage)
        return storage

    yield factory
    for storage in made:
        storage.close()
