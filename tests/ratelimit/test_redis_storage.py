"""RedisStorage against real servers: one round trip, keys and TTLs, script cache flush, restarts, clocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from sessions._exceptions import BackendError
from sessions.backends import TemporaryRedisServer
from sessions.ratelimit._algorithms import GCRA, FixedWindow, SlidingWindow, TokenBucket
from sessions.ratelimit._redis import RedisStorage

redis = pytest.importorskip("redis")
pytestmark = pytest.mark.redis


@pytest.fixture
def storage(redis_url: str, redis_prefix: str) -> Iterator[RedisStorage]:
    store = RedisStorage(url=redis_url, prefix=redis_prefix)
    yield store
    store.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[object]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_keys_carry_the_hash_tag_and_an_exact_ttl(
    storage: RedisStorage, raw: object, redis_prefix: str
) -> None:
    client: redis.Redis = raw  # type: ignore[assignment]
    storage.apply("api.example", SlidingWindow(limit=2, window=5))
    storage.apply("api.example", GCRA(limit=1, period=3))
    storage.pause("api.example", SlidingWindow(limit=2, window=5), 7)
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{{{redis_prefix}}}*"))
    assert keys == [
        f"{{{redis_prefix}}}:rl:p:slidingwindow:api.example",
        f"{{{redis_prefix}}}:rl:s:gcra:api.example",
        f"{{{redis_prefix}}}:rl:s:slidingwindow:api.example",
    ]
    assert 2_900 < client.pttl(f"{{{redis_prefix}}}:rl:s:gcra:api.example") <= 3_002
    # the pause (7 s) outlives the window (5 s): both sliding-window keys live as long as the pause
    assert 6_900 < client.pttl(f"{{{redis_prefix}}}:rl:s:slidingwindow:api.example") <= 7_002
    assert 6_900 < client.pttl(f"{{{redis_prefix}}}:rl:p:slidingwindow:api.example") <= 7_002


def test_client_clock_keys_keep_a_slack_for_late_decisions(
    redis_url: str, raw: object, redis_prefix: str
) -> None:
    """A decision whose clock reading is older than the server's view must still find its state."""
    client: redis.Redis = raw  # type: ignore[assignment]
    now = [10**18]
    store = RedisStorage(url=redis_url, prefix=redis_prefix, clock=lambda: now[0])
    window = SlidingWindow(limit=2, window=0.05)
    gcra = GCRA(limit=1, period=0.05)
    try:
        assert store.apply("k", window).allowed
        assert store.apply("k", window).allowed
        assert store.apply("k", gcra).allowed
        # 50 ms of state plus the 1 s slack, not just the 52 ms a server-clock key would get (the margin
        # below 1_052 leaves room for a slow machine between the SET and the PTTL)
        assert client.pttl(f"{{{redis_prefix}}}:rl:s:slidingwindow:k") > 500
        assert client.pttl(f"{{{redis_prefix}}}:rl:s:gcra:k") > 500
        # 100 ms later by the server's clock a server-clock key would be gone; a decision whose
        # reading is still inside the window (a stalled thread, a lagging host) must find the state
        time.sleep(0.1)
        now[0] += 10**6
        assert not store.apply("k", window).allowed
        assert not store.apply("k", gcra).allowed
    finally:
        store.close()


def test_clear_removes_only_our_keys(storage: RedisStorage, raw: object, redis_prefix: str) -> None:
    client: redis.Redis = raw  # type: ignore[assignment]
    bystanders = [f"{{{redis_prefix}}}:cache:x", f"{redis_prefix}:rl:s:gcra:k", "unrelated"]
    for key in bystanders:
        client.set(key, "keep", ex=60)
    params = FixedWindow(limit=1, window=60)
    storage.apply("a", params)
    storage.apply("b", params)
    storage.clear("a")
    assert storage.apply("a", params).allowed
    assert not storage.apply("b", params).allowed
    storage.clear()
    assert storage.apply("b", params).allowed
    assert all(client.get(k) == b"keep" for k in bystanders)
    client.delete(*bystanders[1:])


def test_a_decision_is_one_evalsha(temporary_redis: TemporaryRedisServer) -> None:
    store = RedisStorage(url=temporary_redis.url, prefix="rt", shared=False)
    client = redis.Redis.from_url(temporary_redis.url)
    params = TokenBucket(capacity=5, fill_rate=2)
    store.apply("k", params)  # loads the script (NOSCRIPT → EVAL) once
    client.config_resetstat()
    for _ in range(50):
        store.apply("k", params)
    stats = client.info("commandstats")
    store.close()
    client.close()
    assert stats["cmdstat_evalsha"]["calls"] == 50
    # everything else counted ran inside the script (GET/SET/TIME) or is this test's own CONFIG
    inside = {"cmdstat_get", "cmdstat_set", "cmdstat_time"}
    assert {k for k in stats if not k.startswith("cmdstat_config")} - inside == {"cmdstat_evalsha"}


def test_script_cache_flushed_mid_run(temporary_redis: TemporaryRedisServer) -> None:
    store = RedisStorage(url=temporary_redis.url, prefix="flush", shared=False)
    client = redis.Redis.from_url(temporary_redis.url)
    params = SlidingWindow(limit=3, window=60)
    assert [store.apply("k", params).allowed for _ in range(2)] == [True, True]
    client.script_flush()
    assert store.apply("k", params).allowed  # NOSCRIPT → EVAL, state intact
    client.script_flush()
    assert not store.apply("k", params).allowed
    store.close()
    client.close()


async def test_script_cache_flushed_mid_run_async(temporary_redis: TemporaryRedisServer) -> None:
    store = RedisStorage(url=temporary_redis.url, prefix="aflush", shared=False)
    client = redis.Redis.from_url(temporary_redis.url)
    params = SlidingWindow(limit=2, window=60)
    assert (await store.aapply("k", params)).allowed
    client.script_flush()
    assert (await store.aapply("k", params)).allowed
    assert not (await store.aapply("k", params)).allowed
    await store.aclose()
    client.close()


def _stepping_clock() -> tuple[Callable[[], int], list[int]]:
    """A client clock returning the next of three readings: 0 s, 10 s, 14 s (in ns since some epoch)."""
    readings = [10**18 + seconds * 10**9 for seconds in (0, 10, 14)]
    return (lambda: readings.pop(0)), readings


def test_script_flush_retry_reads_the_client_clock_again(temporary_redis: TemporaryRedisServer) -> None:
    """The EVAL after NOSCRIPT is a second round trip: its decision is stamped with a reading taken for
    it, not the one the failed EVALSHA carried (stale by that round trip: the admission would be recorded,
    and expire, early)."""
    clock, readings = _stepping_clock()
    store = RedisStorage(url=temporary_redis.url, prefix="flushclock", shared=False, clock=clock)
    client = redis.Redis.from_url(temporary_redis.url)
    params = SlidingWindow(limit=1, window=5)
    client.script_flush()
    assert store.apply("k", params).allowed  # EVALSHA read 0 s, NOSCRIPT; EVAL reads 10 s
    # 14 s: 4 s after the admission at 10 s (admitted if it had been stamped 0 s)
    assert not store.apply("k", params).allowed
    assert readings == []
    store.close()
    client.close()


async def test_script_flush_retry_reads_the_client_clock_again_async(
    temporary_redis: TemporaryRedisServer,
) -> None:
    clock, readings = _stepping_clock()
    store = RedisStorage(url=temporary_redis.url, prefix="aflushclock", shared=False, clock=clock)
    client = redis.Redis.from_url(temporary_redis.url)
    params = SlidingWindow(limit=1, window=5)
    client.script_flush()
    assert (await store.aapply("k", params)).allowed
    assert not (await store.aapply("k", params)).allowed
    assert readings == []
    await store.aclose()
    client.close()


def test_server_restart_reconnects(temporary_redis: TemporaryRedisServer) -> None:
    store = RedisStorage(url=temporary_redis.url, prefix="restart", shared=False)
    params = SlidingWindow(limit=1, window=60)
    assert store.apply("k", params).allowed
    assert not store.apply("k", params).allowed
    temporary_redis.restart()  # no persistence: state and script cache are gone, connections broken
    assert store.apply("k", params).allowed
    assert not store.apply("k", params).allowed
    store.close()


async def test_server_restart_reconnects_async(temporary_redis: TemporaryRedisServer) -> None:
    store = RedisStorage(url=temporary_redis.url, prefix="arestart", shared=False)
    params = GCRA(limit=1, period=60)
    assert (await store.aapply("k", params)).allowed
    temporary_redis.restart()
    assert (await store.aapply("k", params)).allowed
    assert not (await store.aapply("k", params)).allowed
    await store.aclose()


def test_server_down_is_a_backend_error(temporary_redis: TemporaryRedisServer) -> None:
    store = RedisStorage(url=temporary_redis.url, prefix="down", shared=False, socket_timeout=1)
    temporary_redis.stop()
    with pytest.raises(BackendError, match="cannot reach"):
        store.apply("k", SlidingWindow(limit=1, window=1))
    temporary_redis.start()
    store.close()


def test_without_a_server_option_a_temporary_server_is_started_and_stopped() -> None:
    store = RedisStorage(prefix="own", shared=False)
    server = store.backend.server
    assert server is not None
    assert server.running
    assert store.apply("k", SlidingWindow(limit=1, window=1)).allowed
    store.close()
    assert not server.running
    store.close()  # idempotent


def test_server_time_and_client_clock_agree(redis_url: str, redis_prefix: str) -> None:
    server_clock = RedisStorage(url=redis_url, prefix=redis_prefix, shared=False)
    client_clock = RedisStorage(url=redis_url, prefix=redis_prefix, shared=False, use_client_clock=True)
    params = SlidingWindow(limit=2, window=30)
    assert server_clock.apply("k", params).allowed
    decision = client_clock.apply("k", params)
    assert decision.allowed
    assert decision.reset_after == pytest.approx(30, abs=0.5)  # same time scale from both clocks
    assert not server_clock.apply("k", params).allowed
    server_clock.close()
    client_clock.close()


def test_reserve_waits_are_real(storage: RedisStorage) -> None:
    params = GCRA(limit=10, period=1)
    delays = [storage.apply("k", params, 1, "reserve").delay for _ in range(3)]
    assert delays[0] == 0.0
    assert delays[1] == pytest.approx(0.1, abs=0.01)
    assert delays[2] == pytest.approx(0.2, abs=0.01)
    time.sleep(delays[2])
    assert storage.apply("k", params, 1, "peek").retry_after <= 0.1


async def test_sync_and_async_share_state(storage: RedisStorage) -> None:
    params = FixedWindow(limit=2, window=60)
    assert storage.apply("k", params).allowed
    assert (await storage.aapply("k", params)).allowed
    assert not storage.apply("k", params).allowed
    results = await asyncio.gather(*(storage.aapply("other", params) for _ in range(10)))
    assert sum(d.allowed for d in results) == 2
    await storage.aclear()
    assert (await storage.aapply("k", params)).allowed


def test_option_errors(redis_url: str) -> None:
    with pytest.raises(TypeError, match=r"'hots'.*did you mean 'host'"):
        RedisStorage(hots="localhost")
    with pytest.raises(ValueError, match="maxmemory_policy"):
        RedisStorage(maxmemory_policy="sometimes")
    store = RedisStorage(url=redis_url, prefix="opts", shared=False)
    with pytest.raises(ValueError, match="whole number"):
        store.apply("k", SlidingWindow(limit=2, window=1), 1.5)
    with pytest.raises(ValueError, match="positive"):
        store.apply("k", TokenBucket(capacity=2, fill_rate=1), 0)
    store.close()


def test_decode_responses_and_resp2_clients_work(redis_url: str, redis_prefix: str) -> None:
    for extra in ({"decode_responses": True}, {"protocol": 2}):
        client = redis.Redis.from_url(redis_url, **extra)
        store = RedisStorage(conn=client, prefix=redis_prefix, shared=False)
        d = store.apply(f"k{extra}", TokenBucket(capacity=1.5, fill_rate=0.5), 1.25)
        assert d.allowed
        assert d.remaining == 0
        store.clear()
        store.close()
        assert client.ping()  # the user's client is left open
        client.close()
