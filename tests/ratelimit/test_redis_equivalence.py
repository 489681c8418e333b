"""The Redis Lua scripts give exactly the decisions of the pure algorithms (``_algorithms.py``, µs ticks).

Hypothesis drives random parameters and random sequences of try / reserve / peek / pause with random
clock jumps through both the pure ``Spec.decide`` (with a reference store that expires state at its TTL,
like the memory storage) and ``RedisStorage`` on a real server, and demands identical ``Decision``s.

Redis expires keys in *real* time while both sides decide in *virtual* time. The virtual clock therefore
runs 1000x faster than real time (plus random jumps) with parameters in seconds to match: a key's real TTL
(its virtual TTL / 1000, plus at least 1 ms) then always outlasts the virtual TTL unless a single round trip
stalls for over a millisecond right as a state expires. A key outliving its virtual TTL is fine: the state
is by definition equivalent to empty by then, which the scripts must (and do) respect.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.ratelimit._algorithms import (
    GCRA,
    MODES,
    US,
    AlgorithmParams,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    State,
    TokenBucket,
    max_wait_ticks,
)
from sessions.ratelimit._redis import RedisStorage

pytestmark = pytest.mark.redis
SPEEDUP = 1000


class VirtualClock:
    """Microsecond ticks = 1000 x real elapsed time + explicit jumps."""

    def __init__(self) -> None:
        self._start = time.monotonic_ns()
        self._jumps = 0
        self.now = 0

    def advance(self, jump_us: int) -> int:
        self._jumps += jump_us
        real = (time.monotonic_ns() - self._start) // 1000 * SPEEDUP
        self.now = max(self.now, real + self._jumps + 1)
        return self.now

    def ns(self) -> int:
        return self.now * 1000


class Reference:
    """The pure algorithm plus TTL expiry, like the memory storage, in µs ticks."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[int, State]] = {}

    def _state(self, key: str, now: int) -> State | None:
        entry = self._data.get(key)
        return entry[1] if entry is not None and entry[0] > now else None

    def apply(
        self, key: str, params: AlgorithmParams, now: int, cost: float, mode: str, max_wait: Any
    ) -> Any:
        spec = params.spec(US)
        wait = MODES[mode] if max_wait is None else max_wait_ticks(mode, max_wait, US)
        new, ttl, decision = spec.decide(self._state(key, now), now, cost, wait)
        if new is not None:
            self._data[key] = (now + ttl, new)
        return decision

    def pause(self, key: str, params: AlgorithmParams, now: int, seconds: float) -> None:
        new, ttl = params.spec(US).pause(self._state(key, now), now, seconds)
        self._data[key] = (now + ttl, new)


_window = st.integers(min_value=800, max_value=20_000).map(lambda ms: ms / 1000)
_rate = st.floats(min_value=0.05, max_value=5.0, allow_nan=False).map(lambda r: round(r, 6))
_capacity = st.sampled_from([1, 1.5, 2, 3, 4.25, 5])

PARAMS = st.one_of(
    st.builds(SlidingWindow, limit=st.integers(1, 6), window=_window),
    st.builds(FixedWindow, limit=st.integers(1, 6), window=_window),
    st.builds(TokenBucket, capacity=_capacity, fill_rate=_rate),
    st.builds(LeakyBucket, capacity=_capacity, leak_rate=_rate),
    st.builds(GCRA, limit=st.integers(1, 6), period=_window, burst=st.integers(1, 4)),
)
OPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6_000_000),  # clock jump (µs)
        st.sampled_from(["try", "try", "try", "reserve", "peek", "pause"]),
        st.sampled_from([1, 1, 1, 2, 3, 0.5, 1.75]),  # cost (made whole for windows)
        st.sampled_from([None, None, 0.0, 2.0]),  # reserve cap (s) / pause length (s) when not None
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture
def storage_and_clock(redis_url: str, redis_prefix: str) -> Iterator[tuple[RedisStorage, VirtualClock]]:
    clock = VirtualClock()
    storage = RedisStorage(url=redis_url, prefix=redis_prefix, clock=clock.ns, shared=False)
    yield storage, clock
    storage.clear()
    storage.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=PARAMS, ops=OPS)
def test_redis_decisions_equal_the_pure_algorithm(
    storage_and_clock: tuple[RedisStorage, VirtualClock], params: AlgorithmParams, ops: list[Any]
) -> None:
    storage, clock = storage_and_clock
    reference = Reference()
    key = uuid.uuid4().hex
    windowed = isinstance(params, SlidingWindow | FixedWindow)
    for jump, op, cost, extra in ops:
        now = clock.advance(jump)
        if windowed:
            cost = max(1, round(cost))
        if op == "pause":
            seconds = 3.0 if extra is None else extra
            storage.pause(key, params, seconds)
            reference.pause(key, params, now, seconds)
            continue
        max_wait = extra if op == "reserve" else None
        got = storage.apply(key, params, cost, op, max_wait)  # type: ignore[arg-type]
        want = reference.apply(key, params, now, cost, op, max_wait)
        assert got == want, (op, cost, now)


def test_impossible_cost_matches_the_pure_algorithm(
    storage_and_clock: tuple[RedisStorage, VirtualClock],
) -> None:
    storage, clock = storage_and_clock
    reference = Reference()
    for params in (
        SlidingWindow(limit=2, window=1),
        FixedWindow(limit=2, window=1),
        TokenBucket(capacity=2, fill_rate=1),
        LeakyBucket(capacity=2, leak_rate=1),
        GCRA(limit=2, period=1, burst=2),
    ):
        key = params.algorithm
        now = clock.advance(10)
        storage.apply(key, params)
        reference.apply(key, params, now, 1, "try", None)
        now = clock.advance(10)
        got = storage.apply(key, params, 3)
        assert got == reference.apply(key, params, now, 3, "try", None)
        assert got.retry_after == float("inf")
        assert not got.allowed
