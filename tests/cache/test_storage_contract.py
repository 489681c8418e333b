"""One contract, every storage (memory, SQLite file, real Redis, PostgreSQL, MariaDB), sync and async."""

from __future__ import annotations

import asyncio
import time

import pytest

from sessions.cache._entry import VARY_INDEX, CachedEntry
from sessions.cache.storage import CacheStorage, StorageLimits

from .conftest import MakeStorage


def entry(
    key: str = "v1-a", *, url: str = "https://h/a", body: bytes = b"x" * 100, **kw: object
) -> CachedEntry:
    fields: dict[str, object] = {
        "key": key, "method": "GET", "url": url, "status": 200, "headers": [(b"etag", b'"1"')],
        "content": body, "created_at": time.time(), "expires": time.time() + 60,
    }  # fmt: skip
    fields.update(kw)
    return CachedEntry(**fields)  # type: ignore[arg-type]


class TestSync:
    def test_store_and_hit(self, make_storage: MakeStorage) -> None:
        s = make_storage()
        assert s.get("v1-a") is None
        s.set(entry(), None)
        got = s.get("v1-a")
        assert got is not None
        assert got.content == b"x" * 100
        assert got.headers == [(b"etag", b'"1"')]

    def test_replace(self, make_storage: MakeStorage) -> None:
        s = make_storage()
        s.set(entry(body=b"old"), None)
        s.set(entry(body=b"new"), None)
        assert s.get("v1-a").content == b"new"  # type: ignore[union-attr]
        assert s.count() == 1

    def test_ttl_drops_entry(self, make_storage: MakeStorage) -> None:
        s = make_storage()
        s.set(entry(), 0.05)
        time.sleep(0.15)
        assert s.get("v1-a") is None

    def test_inspection(self, make_storage: MakeStorage) -> None:
        s = make_storage()
        s.set(entry("v1-a", url="https://h/a"), None)
        s.set(entry("v1-b", url="https://h/b", expires=time.time() - 1), None)
        s.set(entry("v1-idx", status=0, kind=VARY_INDEX, body=b""), None)
        infos = {i.key: i for i in s.infos()}
        assert set(infos) == {"v1-a", "v1-b"}  # Vary indexes are not listed
        assert infos["v1-b"].is_expired()
        assert not infos["v1-a"].is_expired()
        assert s.count() == 2
        assert s.size() > 200
        assert s.delete_expired() == 1
        assert s.delete(["v1-a", "missing"]) == 1
        assert s.count() == 0

    def test_clear_only_this_namespace(self, make_storage: MakeStorage, backend: str) -> None:
        if backend == "memory":
            pytest.skip("memory storages are private objects")
        mine, other = make_storage(), make_storage(namespace="other-ns-" + str(time.time_ns()))
        mine.set(entry(), None)
        other.set(entry(), None)
        mine.clear()
        assert mine.get("v1-a") is None
        assert other.get("v1-a") is not None
        other.clear()

    def test_max_entries_lru(self, make_storage: MakeStorage) -> None:
        s = make_storage(StorageLimits(max_entries=2))
        s.set(entry("v1-1"), None)
        time.sleep(0.002)
        s.set(entry("v1-2"), None)
        time.sleep(0.002)
        s.set(entry("v1-3"), None)
        assert s.get("v1-1") is None
        assert s.get("v1-2") is not None
        assert s.get("v1-3") is not None
        assert s.count() == 2

    def test_max_bytes(self, make_storage: MakeStorage) -> None:
        s = make_storage(StorageLimits(max_bytes=2500))
        for i in range(10):
            s.set(entry(f"v1-{i}", body=b"y" * 1000), None)
            time.sleep(0.002)
        assert s.size() <= 2500
        assert s.get("v1-9") is not None
        assert s.get("v1-0") is None

    def test_corrupt_entry_is_a_miss(self, make_storage: MakeStorage, backend: str) -> None:
        s = make_storage()
        s.set(entry(), None)
        if backend == "memory":
            pytest.skip("memory keeps objects, nothing to corrupt")
        if backend == "sqlite":
            s.conn.execute("UPDATE sessions_http_cache_v1 SET value = x'c1c1c1'")  # type: ignore[attr-defined]
        elif backend in ("postgres", "mysql"):
            table, ns = s.table, s.namespace  # type: ignore[attr-defined]
            s.backend.execute(f"UPDATE {table} SET value = %s WHERE ns = %s", (b"\xc1\xc1", ns))  # type: ignore[attr-defined]
        else:
            s.backend.client.hset(s.entry_prefix + "v1-a", "v", b"\xc1garbage")  # type: ignore[attr-defined]
        assert s.get("v1-a") is None


class TestAsync:
    async def test_store_hit_delete_clear(self, make_storage: MakeStorage) -> None:
        s = make_storage()
        try:
            await self._store_hit_delete_clear(s)
        finally:
            await s.aclose()

    async def _store_hit_delete_clear(self, s: CacheStorage) -> None:
        assert await s.aget("v1-a") is None
        await s.aset(entry(), None)
        got = await s.aget("v1-a")
        assert got is not None
        assert got.content == b"x" * 100
        assert await s.adelete(["v1-a"]) == 1
        await s.aset(entry(), None)
        await s.aclear()
        assert await s.aget("v1-a") is None

    async def test_caps(self, make_storage: MakeStorage) -> None:
        s = make_storage(StorageLimits(max_entries=3))
        try:
            for i in range(6):
                await s.aset(entry(f"v1-{i}"), None)
                await asyncio.sleep(0.002)
            assert s.count() == 3
            assert await s.aget("v1-5") is not None
            assert await s.aget("v1-0") is None
        finally:
            await s.aclose()
