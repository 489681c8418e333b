"""One contract for every storage: the same algorithm means the same thing on memory, SQLite (and Redis).

The ``storage`` fixture (conftest.py) is parametrized over the backends and driven by a virtual clock.
"""

from __future__ import annotations

import pytest

from sessions.ratelimit import (
    GCRA,
    AlgorithmParams,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    Storage,
    TokenBucket,
)
from sessions.ratelimit._algorithms import NS, State, decide

from .conftest import VirtualClock

ALL = [
    SlidingWindow(limit=3, window=1),
    FixedWindow(limit=3, window=1),
    TokenBucket(capacity=3, fill_rate=3),
    LeakyBucket(capacity=3, leak_rate=3),
    GCRA(limit=3, period=1, burst=3),
]
ids = [p.algorithm for p in ALL]

SCRIPT = [
    *[(0.0, "try"), (0.0, "try"), (0.1, "peek"), (0.1, "try"), (0.1, "try"), (0.2, "reserve")],
    *[(0.2, "reserve"), (0.3, "try"), (0.9, "peek"), (1.5, "try"), (1.5, "reserve"), (4.0, "try")],
]


@pytest.mark.parametrize("params", ALL, ids=ids)
def test_decisions_match_the_pure_core(
    storage: Storage, clock: VirtualClock, params: AlgorithmParams
) -> None:
    state: State | None = None
    start = clock.now
    for t, mode in SCRIPT:
        clock.now = start + round(t * NS)
        unit = getattr(storage, "unit", NS)
        expected_state, expected = decide(params, state, clock.now // (NS // unit), 1, mode, unit=unit)  # type: ignore[arg-type]
        state = expected_state or state
        assert storage.apply("k", params, 1, mode) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("params", ALL, ids=ids)
async def test_async_decisions_match_the_pure_core(
    storage: Storage, clock: VirtualClock, params: AlgorithmParams
) -> None:
    state: State | None = None
    start = clock.now
    for t, mode in SCRIPT:
        clock.now = start + round(t * NS)
        unit = getattr(storage, "unit", NS)
        expected_state, expected = decide(params, state, clock.now // (NS // unit), 1, mode, unit=unit)  # type: ignore[arg-type]
        state = expected_state or state
        assert await storage.aapply("k", params, 1, mode) == expected  # type: ignore[arg-type]


def test_denials_never_consume(storage: Storage, clock: VirtualClock) -> None:
    params = FixedWindow(limit=2, window=1)
    assert [storage.apply("k", params).allowed for _ in range(10)] == [True, True] + [False] * 8
    clock.advance(1)
    assert [storage.apply("k", params).allowed for _ in range(3)] == [True, True, False]


def test_keys_are_independent(storage: Storage) -> None:
    params = SlidingWindow(limit=1, window=10)
    assert storage.apply("a", params).allowed
    assert storage.apply("b", params).allowed
    assert not storage.apply("a", params).allowed


def test_reserve_hands_out_consecutive_slots(storage: Storage) -> None:
    params = GCRA(limit=4, period=1)
    delays = [storage.apply("k", params, 1, "reserve").delay for _ in range(4)]
    assert delays == pytest.approx([0.0, 0.25, 0.5, 0.75])


def test_reserve_with_max_wait_does_not_commit(storage: Storage) -> None:
    params = SlidingWindow(limit=1, window=1)
    storage.apply("k", params)
    d = storage.apply("k", params, 1, "reserve", 0.5)
    assert not d.allowed
    assert d.retry_after == pytest.approx(1.0)
    assert storage.apply("k", params, 1, "reserve").delay == pytest.approx(1.0)


@pytest.mark.parametrize("params", ALL, ids=ids)
def test_pause_blocks_every_algorithm(storage: Storage, clock: VirtualClock, params: AlgorithmParams) -> None:
    storage.pause("k", params, 2.0)
    d = storage.apply("k", params)
    assert not d.allowed
    assert d.retry_after == pytest.approx(2.0)
    storage.pause("k", params, 0.5)  # shorter: no effect
    assert storage.apply("k", params, 1, "peek").retry_after == pytest.approx(2.0)
    clock.advance(2.0)
    assert storage.apply("k", params).allowed


async def test_async_pause_and_clear(storage: Storage, clock: VirtualClock) -> None:
    params = SlidingWindow(limit=1, window=60)
    await storage.apause("k", params, 1.0)
    assert not (await storage.aapply("k", params)).allowed
    await storage.aclear("k")
    assert (await storage.aapply("k", params)).allowed
    assert not (await storage.aapply("k", params)).allowed
    await storage.aclear()
    assert (await storage.aapply("k", params)).allowed


def test_clear(storage: Storage) -> None:
    params = SlidingWindow(limit=1, window=60)
    storage.apply("a", params)
    storage.apply("b", params)
    storage.clear("a")
    assert storage.apply("a", params).allowed
    assert not storage.apply("b", params).allowed
    storage.clear()
    assert storage.apply("b", params).allowed


@pytest.mark.parametrize("params", ALL, ids=ids)
async def test_clear_by_prefix_forgets_exactly_that_namespace(
    storage: Storage, params: AlgorithmParams
) -> None:
    # a namespace's keys, a key whose prefix only looks alike, and one with glob characters in it
    keys = ["A:/x", "A:/y", "AB:/x", "[A]*:/x"]
    for key in keys:
        for _ in range(3):
            storage.apply(key, params)
    storage.pause("A:/p", params, 60)
    storage.clear(prefix="A:")
    assert [storage.apply(k, params, 3, "peek").allowed for k in [*keys, "A:/p"]] == [
        True,
        True,
        False,
        False,
        True,
    ]
    await storage.aclear(prefix="[A]*:")
    assert storage.apply("[A]*:/x", params, 3, "peek").allowed
    assert not storage.apply("AB:/x", params, 3, "peek").allowed


def test_expired_state_is_forgotten(storage: Storage, clock: VirtualClock) -> None:
    params = TokenBucket(capacity=2, fill_rate=1)
    storage.apply("k", params, 2)
    clock.advance(2.0)  # exactly refilled: indistinguishable from empty
    assert storage.apply("k", params, 1, "peek").remaining == 2


def test_fractional_costs_on_buckets(storage: Storage) -> None:
    params = LeakyBucket(capacity=1, leak_rate=1)
    assert [storage.apply("k", params, 0.25).allowed for _ in range(5)] == [True] * 4 + [False]


def test_close_is_idempotent(storage: Storage) -> None:
    storage.close()
    storage.close()
