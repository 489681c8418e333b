"""The pure algorithms on a virtual clock: admission sequences, Decision values, edge cases."""

from __future__ import annotations

import math

import pytest

from sessions.ratelimit._algorithms import (
    GCRA,
    NS,
    US,
    AlgorithmParams,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    State,
    TokenBucket,
    algorithm_name,
    decide,
    make_params,
)

S = NS  # one second in ticks


class Run:
    """Drives one key of one algorithm through the pure ``decide``."""

    def __init__(self, params: AlgorithmParams, unit: int = NS) -> None:
        self.params = params
        self.unit = unit
        self.state: State | None = None

    def __call__(self, now: float, mode: str = "try", cost: float = 1):  # type: ignore[no-untyped-def]
        new, decision = decide(self.params, self.state, round(now * self.unit), cost, mode, unit=self.unit)  # type: ignore[arg-type]
        if new is not None:
            self.state = new
        return decision

    def admitted(self, times: list[float]) -> list[bool]:
        return [self(t).allowed for t in times]


ALL = [
    SlidingWindow(limit=3, window=1),
    FixedWindow(limit=3, window=1),
    TokenBucket(capacity=3, fill_rate=3),
    LeakyBucket(capacity=3, leak_rate=3),
    GCRA(limit=3, period=1, burst=3),
]


@pytest.mark.parametrize("params", ALL, ids=lambda p: p.algorithm)
def test_frozen_clock_admits_exactly_the_burst(params: AlgorithmParams) -> None:
    run = Run(params)
    assert run.admitted([5.0] * 10) == [True] * 3 + [False] * 7


@pytest.mark.parametrize("params", ALL, ids=lambda p: p.algorithm)
def test_frozen_clock_admits_exactly_the_burst_in_microseconds(params: AlgorithmParams) -> None:
    run = Run(params, unit=US)
    assert run.admitted([5.0] * 10) == [True] * 3 + [False] * 7


def test_gcra_default_burst_keeps_limit_per_period() -> None:
    # limit=5, period=2: T = 0.4 s, burst 1 — at most 5 in any 2-second window.
    run = Run(GCRA(limit=5, period=2))
    assert run.admitted([0.0, 0.0]) == [True, False]
    d = run(0.0)
    assert d.retry_after == pytest.approx(0.4)
    assert run.admitted([0.4, 0.8, 1.2, 1.6, 1.99, 2.0]) == [True, True, True, True, False, True]


def test_gcra_opt_in_burst_bound() -> None:
    run = Run(GCRA(limit=5, period=2, burst=3))
    assert run.admitted([0.0] * 4) == [True, True, True, False]
    # then one every 0.4 s: in [0, 2) at most limit + burst - 1 = 7
    assert run.admitted([0.4, 0.8, 1.2, 1.6, 1.7]) == [True, True, True, True, False]


def test_sliding_window_values() -> None:
    run = Run(SlidingWindow(limit=3, window=1))
    d = run(0.0)
    assert (d.allowed, d.remaining, d.retry_after, d.reset_after, d.delay) == (True, 2, 0.0, 1.0, 0.0)
    run(0.25)
    run(0.5)
    d = run(0.75)
    assert not d.allowed
    assert d.remaining == 0
    assert d.retry_after == pytest.approx(0.25)  # the oldest entry (0.0) leaves the window at 1.0
    assert d.reset_after == pytest.approx(0.75)  # the newest (0.5) leaves at 1.5
    assert run(1.0).allowed  # half-open window: an entry exactly W old no longer counts
    assert not run(1.1).allowed


def test_sliding_window_reserve_is_fifo_and_exact() -> None:
    run = Run(SlidingWindow(limit=2, window=1))
    delays = [run(0.0, "reserve").delay for _ in range(6)]
    assert delays == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    d = run(0.5, "try")
    assert not d.allowed
    assert d.retry_after == pytest.approx(2.5)
    assert run(0.5, "peek").remaining == 0


def test_fixed_window_denials_do_not_consume() -> None:
    run = Run(FixedWindow(limit=2, window=1))
    assert run.admitted([0.1, 0.2, 0.3, 0.4, 0.5]) == [True, True, False, False, False]
    d = run(0.6)
    assert d.retry_after == pytest.approx(0.4)
    assert d.reset_after == pytest.approx(0.4)
    assert run.admitted([1.0, 1.5, 1.9]) == [True, True, False]  # denials above consumed nothing


def test_fixed_window_boundary_burst_is_2L() -> None:
    run = Run(FixedWindow(limit=3, window=1))
    assert run.admitted([0.999] * 3 + [1.0] * 3) == [True] * 6


def test_fixed_window_reserve_rolls_over() -> None:
    run = Run(FixedWindow(limit=2, window=1))
    delays = [run(0.5, "reserve").delay for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 0.5, 0.5, 1.5])


def test_token_bucket_exact_refill_without_lost_fractions() -> None:
    run = Run(TokenBucket(capacity=3, fill_rate=3))
    assert run.admitted([0.0] * 3) == [True] * 3
    # Polled every millisecond, each token is taken slightly late; the fraction it overshot by must carry
    # over to the next one (flooring elapsed time or resetting the refill anchor would lose it).
    admitted = sum(run(ms / 1000).allowed for ms in range(1, 3002))
    assert admitted == 9  # 3.001 s at 3 tokens/s
    d = run(3.001)
    assert not d.allowed
    assert 0 < d.retry_after <= 1 / 3


def test_token_bucket_values() -> None:
    run = Run(TokenBucket(capacity=4, fill_rate=2))
    d = run(0.0, cost=3)
    assert (d.allowed, d.remaining) == (True, 1)
    assert d.reset_after == pytest.approx(1.5)  # 3 tokens at 2/s
    d = run(0.0, cost=2)
    assert not d.allowed
    assert d.retry_after == pytest.approx(0.5)
    d = run(0.25, "reserve", cost=2)
    assert d.allowed
    assert d.delay == pytest.approx(0.25)


def test_leaky_bucket_meter() -> None:
    run = Run(LeakyBucket(capacity=2, leak_rate=1))
    assert run.admitted([0.0, 0.0, 0.0]) == [True, True, False]
    assert run.admitted([0.5, 1.0, 1.0]) == [False, True, False]
    d = run(1.25, "peek")
    assert not d.allowed
    assert d.retry_after == pytest.approx(0.75)


def test_fractional_and_sub_second_parameters() -> None:
    run = Run(TokenBucket(capacity=1.5, fill_rate=0.5))
    assert run.admitted([0.0, 0.0]) == [True, False]
    assert run(1.0).allowed  # 0.5 + 0.5 tokens
    run = Run(SlidingWindow(limit=2, window=0.01))
    assert run.admitted([0.0, 0.0, 0.005, 0.01]) == [True, True, False, True]


@pytest.mark.parametrize("params", ALL, ids=lambda p: p.algorithm)
def test_cost_above_capacity_is_never_admitted(params: AlgorithmParams) -> None:
    run = Run(params)
    d = run(0.0, "reserve", cost=4)
    assert not d.allowed
    assert math.isinf(d.retry_after)
    assert run.state is None
    assert params.max_cost == 3


@pytest.mark.parametrize("params", ALL, ids=lambda p: p.algorithm)
def test_peek_never_commits(params: AlgorithmParams) -> None:
    run = Run(params)
    for _ in range(5):
        d = run(0.0, "peek")
        assert d.allowed
        assert d.remaining == 3
    assert run.state is None


@pytest.mark.parametrize("params", ALL, ids=lambda p: p.algorithm)
def test_pause_blocks_until_it_ends(params: AlgorithmParams) -> None:
    spec = params.spec(NS)
    state, ttl = spec.pause(None, 0, 2.5)
    assert ttl == 2_500_000_000
    new, _, d = spec.decide(state, 1 * S, 1, 0)
    assert new is None
    assert not d.allowed
    assert d.retry_after == pytest.approx(1.5)
    assert d.remaining == 0
    new, _, d = spec.decide(state, 1 * S, 1, 10 * S)
    assert new is not None
    assert d.delay == pytest.approx(1.5)
    # pauses only extend
    state2, _ = spec.pause(state, 0, 1.0)
    assert state2[0] == state[0]


@pytest.mark.parametrize("params", ALL, ids=lambda p: p.algorithm)
def test_ttl_says_when_state_is_empty(params: AlgorithmParams) -> None:
    spec = params.spec(NS)
    state, ttl, d = spec.decide(None, 10 * S, 1, 0)
    assert state is not None
    assert ttl > 0
    assert d.reset_after == pytest.approx(ttl / NS)
    assert spec.ttl(state, 10 * S + ttl) <= 0
    # after the TTL, the state decides exactly like no state at all
    later = 10 * S + ttl
    assert spec.decide(state, later, 1, 0)[2] == spec.decide(None, later, 1, 0)[2]


def test_reserve_respects_max_wait() -> None:
    run = Run(SlidingWindow(limit=1, window=1))
    run(0.0)
    new, d = decide(run.params, run.state, 0, 1, "reserve", max_wait=0.5)
    assert new is None
    assert not d.allowed
    assert d.retry_after == pytest.approx(1.0)
    new, d = decide(run.params, run.state, 0, 1, "reserve", max_wait=1.0)
    assert new is not None
    assert d.delay == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (SlidingWindow, {"limit": 0, "window": 1}, "slidingwindow: limit"),
        (SlidingWindow, {"limit": 2.5, "window": 1}, "slidingwindow: limit"),
        (FixedWindow, {"limit": 1, "window": -1}, "fixedwindow: window"),
        (TokenBucket, {"capacity": 1, "fill_rate": 0}, "tokenbucket: fill_rate"),
        (LeakyBucket, {"capacity": float("nan"), "leak_rate": 1}, "leakybucket: capacity"),
        (GCRA, {"limit": 1, "period": 1, "burst": 0}, "gcra: burst"),
        (GCRA, {"limit": True, "period": 1}, "gcra: limit"),
    ],
)
def test_validation_names_parameter_and_algorithm(cls: type, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_make_params_and_names() -> None:
    assert make_params("Sliding_Window", limit=2, window=0.5) == SlidingWindow(limit=2, window=0.5)
    assert algorithm_name("token-bucket") == "tokenbucket"
    with pytest.raises(ValueError, match="gcra: missing parameter"):
        make_params("gcra", limit=5)
    with pytest.raises(ValueError, match="unexpected parameter"):
        make_params("gcra", limit=5, period=1, window=2)
    with pytest.raises(ValueError, match="unknown rate-limit algorithm"):
        make_params("bogus")
    with pytest.raises(ValueError, match="whole number"):
        decide(SlidingWindow(limit=2, window=1), None, 0, 1.5)
    with pytest.raises(ValueError, match="mode"):
        decide(SlidingWindow(limit=2, window=1), None, 0, 1, "wait")  # type: ignore[arg-type]


def test_state_is_small_and_serialisable() -> None:
    import msgpack

    for params in ALL:
        run = Run(params)
        for t in (0.0, 0.1, 0.2):
            run(t, "reserve")
        assert run.state is not None
        assert all(isinstance(v, int | float) for v in run.state)
        assert tuple(msgpack.unpackb(msgpack.packb(run.state), use_list=False)) == run.state
