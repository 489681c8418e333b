"""Fixtures for the rate-limit tests: a virtual clock and the storages of the contract suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessions.httpbin import LocalHttpbin
from sessions.ratelimit import MemoryStorage, SQLiteStorage, Storage
from tests.fixtures.redis_server import contract_redis_storage
from tests.fixtures.sql_servers import contract_mysql_storage, contract_postgres_storage


class VirtualClock:
    """Integer nanoseconds that move only when a test says so."""

    def __init__(self, start: int = 1_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1_000_000_000)


@pytest.fixture
def clock() -> VirtualClock:
    """A frozen clock at t = 1 s; advance it explicitly."""
    return VirtualClock()


def _memory(clock: VirtualClock, tmp_path: Path) -> Storage:
    return MemoryStorage(clock=clock)


def _sqlite(clock: VirtualClock, tmp_path: Path) -> Storage:
    return SQLiteStorage(db=tmp_path / "ratelimit.sqlite3", clock=clock)


# One contract, five backends: Redis, PostgreSQL and MySQL run the same suite (their Lua / stored-function
# twins decide in µs).
STORAGE_FACTORIES: dict[str, Callable[[VirtualClock, Path], Storage]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": contract_redis_storage,
    "postgres": contract_postgres_storage,
    "mysql": contract_mysql_storage,
}


@pytest.fixture(params=sorted(STORAGE_FACTORIES))
def storage(request: pytest.FixtureRequest, clock: VirtualClock, tmp_path: Path) -> Iterator[Storage]:
    """Each storage backend, driven by the virtual ``clock``."""
    store = STORAGE_FACTORIES[request.param](clock, tmp_path)
    yield store
    store.close()


@pytest.fixture
def server() -> Iterator[LocalHttpbin]:
    """A local httpbin on loopback, for the tests that send through a real session."""
    with LocalHttpbin() as hb:
        yield hb
