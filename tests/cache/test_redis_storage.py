"""The Redis cache storage against a real server: clients that decode responses, dropped connections."""

from __future__ import annotations

import asyncio

import pytest

from sessions.cache.storage._redis import RedisStorage

from .test_storage_contract import entry

redis = pytest.importorskip("redis")
pytestmark = pytest.mark.redis


def test_hits_work_on_a_client_that_decodes_responses(redis_url: str, redis_prefix: str) -> None:
    """Entries are binary (msgpack): a ``decode_responses=True`` client must not turn hits into misses."""
    user = redis.Redis.from_url(redis_url, decode_responses=True)
    storage = RedisStorage(conn=user, namespace=redis_prefix)
    try:
        storage.set(entry(body=b"\x9c\xff binary"), None)
        got = storage.get("v1-a")
        assert got is not None
        assert got.content == b"\x9c\xff binary"
        assert [info.key for info in storage.infos()] == ["v1-a"]  # metadata still reads as text
    finally:
        storage.close()
        user.close()


def test_a_hit_survives_its_connection_being_closed(redis_url: str, redis_prefix: str) -> None:
    """The held connection dies: the pipelined fallback answers, still reading the blob raw."""
    name = f"{redis_prefix}-under-test"
    user = redis.Redis.from_url(redis_url, decode_responses=True, client_name=name)
    other = redis.Redis.from_url(redis_url)
    storage = RedisStorage(conn=user, namespace=redis_prefix)
    try:
        storage.set(entry(), None)
        assert storage.get("v1-a") is not None  # now a connection is held
        ours = [c["id"] for c in other.client_list() if c["name"] == name]
        assert ours
        for client_id in ours:
            assert other.client_kill_filter(_id=client_id) == 1
        got = storage.get("v1-a")
        assert got is not None
        assert got.content == b"x" * 100
    finally:
        storage.close()
        other.close()
        user.close()


def test_async_hits_work_on_a_client_that_decodes_responses(redis_url: str, redis_prefix: str) -> None:
    async def main() -> None:
        user = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        storage = RedisStorage(conn=user, namespace=redis_prefix)
        try:
            await storage.aset(entry(body=b"\x9c async"), None)
            got = await storage.aget("v1-a")
            assert got is not None
            assert got.content == b"\x9c async"
        finally:
            await storage.aclose()
            await user.aclose()

    asyncio.run(main())
