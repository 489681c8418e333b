"""The public Limiter / AsyncLimiter API and the Rate value object."""

from __future__ import annotations

import pytest

from sessions._exceptions import ImpossibleRequest, RateLimitExceeded
from sessions.ratelimit import (
    GCRA,
    AsyncLimiter,
    FixedWindow,
    LeakyBucket,
    Limiter,
    MemoryStorage,
    Rate,
    SlidingWindow,
    TokenBucket,
)

from .conftest import VirtualClock


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        *[("5/2s", 5, 2.0), ("100/m", 100, 60.0), ("10", 10, 1.0), ("20/500ms", 20, 0.5)],
        *[("3 per hour", 3, 3600.0), ("1/d", 1, 86400.0), ("7/1.5s", 7, 1.5)],
    ],
)
def test_rate_parse(text: str, limit: int, period: float) -> None:
    assert Rate(text) == Rate.parse(text) == Rate(limit, period)


@pytest.mark.parametrize("text", ["", "5/", "5/2x", "x/s", "-1/s", "0/s", "5/0s"])
def test_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)rate"):
        Rate(text)


def test_rate_converts_to_every_algorithm() -> None:
    rate = Rate("5/2s")
    assert rate.params("slidingwindow") == SlidingWindow(limit=5, window=2)
    assert rate.params("fixed_window") == FixedWindow(limit=5, window=2)
    assert rate.params("gcra") == GCRA(limit=5, period=2, burst=1)
    assert rate.params("tokenbucket") == TokenBucket(capacity=5, fill_rate=2.5)
    assert rate.params("leakybucket", burst=2) == LeakyBucket(capacity=2, leak_rate=2.5)
    assert str(rate) == "5/2s"
    assert repr(Rate(3)) == "Rate('3/s')"


def test_acquire_sleeps_once_for_the_reserved_slot(clock: VirtualClock) -> None:
    slept: list[float] = []
    limiter = Limiter("2/s", clock=clock, sleep=slept.append)
    for _ in range(5):
        limiter.acquire("k")
    assert slept == pytest.approx([1.0, 1.0, 2.0])


def test_acquire_max_wait_and_raise_errors(clock: VirtualClock) -> None:
    limiter = Limiter(SlidingWindow(limit=1, window=10), clock=clock, sleep=lambda s: None)
    limiter.acquire("k")
    with pytest.raises(RateLimitExceeded) as info:
        limiter.acquire("k", max_wait=5)
    assert info.value.retry_after == pytest.approx(10)
    assert info.value.key == "k"
    assert info.value.algorithm == "slidingwindow"
    strict = Limiter("1/10s", clock=clock, raise_errors=True, sleep=lambda s: pytest.fail("slept"))
    strict.acquire("k")
    with pytest.raises(RateLimitExceeded):
        strict.acquire("k")


def test_try_acquire_peek_pause_clear(clock: VirtualClock) -> None:
    with Limiter("2/s", algorithm="gcra", clock=clock) as limiter:
        assert limiter.algorithm == "gcra"
        assert limiter.peek("k").allowed
        assert limiter.try_acquire("k").allowed
        assert not limiter.try_acquire("k").allowed
        limiter.pause("other", 3)
        assert limiter.peek("other").retry_after == pytest.approx(3)
        limiter.clear()
        assert limiter.try_acquire("k").allowed


def test_impossible_and_invalid_costs(clock: VirtualClock) -> None:
    limiter = Limiter(TokenBucket(capacity=2, fill_rate=1), clock=clock)
    with pytest.raises(ImpossibleRequest) as info:
        limiter.acquire("k", cost=3)
    assert info.value.capacity == 2
    with pytest.raises(ValueError, match="positive"):
        limiter.try_acquire("k", cost=0)
    with pytest.raises(ValueError, match="conflicts"):
        Limiter(GCRA(limit=1, period=1), algorithm="slidingwindow")


def test_storage_instance_is_shared_and_not_closed() -> None:
    store = MemoryStorage()
    a = Limiter("1/m", store)
    b = Limiter("1/m", store)
    assert a.try_acquire("k").allowed
    assert not b.try_acquire("k").allowed
    a.close()
    with pytest.raises(ValueError, match="unknown rate-limit backend"):
        Limiter("1/s", "mongo")
    with pytest.raises(TypeError):
        Limiter("1/s", "memory", db="x.db")


async def test_async_limiter(clock: VirtualClock) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with AsyncLimiter("2/s", algorithm="fixedwindow", clock=clock, sleep=sleep) as limiter:
        for _ in range(5):
            await limiter.acquire("k")
        assert len(slept) == 3
        assert not (await limiter.try_acquire("k")).allowed
        await limiter.pause("k", 100)
        assert (await limiter.peek("k")).retry_after == pytest.approx(100)
        await limiter.clear("k")
        assert (await limiter.try_acquire("k")).allowed
