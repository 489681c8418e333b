"""The hot paths decide exactly like the general code they shortcut: pure core, memory storage, Limiter.

``Spec.decide`` handles the common cases inline (a try or reserve on an unpaused key) and hands everything
else to ``Spec._general``; refusals in try mode build their Decision inline instead of calling ``_refuse``;
the fixed window caches the current window and the buckets the drain end of the last denied state;
``Limiter`` calls a path to ``MemoryStorage`` bound once per limiter instead of ``apply``. Each must give the
very same values, types included (an int where the general code gives an int), for every state, clock, cost.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.ratelimit import Limiter, MemoryStorage
from sessions.ratelimit._algorithms import (
    GCRA,
    MODES,
    NS,
    AlgorithmParams,
    Decision,
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    Spec,
    State,
    TokenBucket,
    decide,
)

from .conftest import VirtualClock

MS = NS // 1000

params_strategy = st.one_of(
    st.builds(SlidingWindow, limit=st.integers(1, 5), window=st.sampled_from([0.001, 0.05, 1, 60])),
    st.builds(FixedWindow, limit=st.integers(1, 5), window=st.sampled_from([0.001, 0.05, 1, 60])),
    st.builds(
        TokenBucket, capacity=st.sampled_from([0.5, 1, 2.5, 3]), fill_rate=st.sampled_from([0.1, 1, 7, 1e6])
    ),
    st.builds(
        LeakyBucket, capacity=st.sampled_from([0.5, 1, 2.5, 3]), leak_rate=st.sampled_from([0.1, 1, 7, 1e6])
    ),
    st.builds(
        GCRA, limit=st.integers(1, 5), period=st.sampled_from([0.001, 0.05, 1, 60]), burst=st.integers(1, 3)
    ),
)
# (ms since the previous event, mode, cost, pause for that many ms first, ms the probing clock moves back)
events_strategy = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 1, 7, 50, 400, 70_000]),
        st.sampled_from(["try", "try", "reserve", "peek"]),
        st.sampled_from([1, 1, 2, 0.5, 4]),
        st.sampled_from([0, 0, 0, 30]),
        st.sampled_from([0, 1, 2_000]),
    ),
    min_size=1,
    max_size=40,
)


def exact(value: Any) -> Any:
    """``value`` with the type of every number kept, so that 0 and 0.0 (or 1 and True) differ."""
    if isinstance(value, tuple):
        return tuple(exact(v) for v in value)
    return (type(value).__name__, value)


def costs_fit(spec: Spec, cost: float) -> float:
    """Window algorithms take whole costs only (else both paths raise the same ValueError)."""
    return max(1, round(cost)) if isinstance(spec.params, SlidingWindow | FixedWindow) else cost


def probe(spec: Spec, state: State | None, now: int, cost: float, max_wait: int) -> None:
    """``decide`` equals ``_general`` (tuple states); a refused try equals the matching peek (every spec)."""
    got = spec.decide(state, now, cost, max_wait)
    general = getattr(spec, "_general", None)
    if general is not None:
        assert exact(got) == exact(general(state, now, cost, max_wait))
    if max_wait == 0 and not got[2].allowed:  # the inlined refusal equals _refuse's (peek never admits)
        assert exact(got[2]) == exact(spec.decide(state, now, cost, MODES["peek"])[2])


@settings(max_examples=300, deadline=None)
@given(params_strategy, events_strategy, st.booleans())
def test_decide_equals_the_general_path(params: AlgorithmParams, events: list[Any], floats: bool) -> None:
    spec = params.spec(NS)
    state: State | None = None
    now = 10 * NS
    for gap_ms, mode, cost, pause_ms, back_ms in events:
        now += gap_ms * MS
        cost = costs_fit(spec, cost)
        if pause_ms:
            state, _ = spec.pause(state, now, pause_ms / 1000)
        if floats and state is not None:  # states read back from JSON-like stores may hold floats
            state = tuple(float(v) for v in state)
        for max_wait in (0, MODES["reserve"], 20 * MS, MODES["peek"]):
            probe(spec, state, now, cost, max_wait)
        delay = spec.decide(state, now, cost, MODES["reserve"])[2].delay
        if delay:  # a cap of exactly the wait reserves, one tick less refuses
            wait = round(delay * NS)
            probe(spec, state, now, cost, wait)
            probe(spec, state, now, cost, wait - 1)
        # The same state object again (the buckets' drain-end cache), a moment later and earlier (the fixed
        # window's current-window cache must not be trusted outside its window).
        probe(spec, state, now + 1, cost, 0)
        probe(spec, state, now - back_ms * MS, cost, 0)
        new, _, _ = spec.decide(state, now, cost, MODES[mode])
        if new is not None:
            state = new


steps_strategy = st.lists(st.tuples(st.sampled_from([0, 1, 30, 900, 70_000]), st.sampled_from("abc")))


@settings(max_examples=100, deadline=None)
@given(params_strategy, steps_strategy)
def test_limiter_try_acquire_equals_storage_apply(
    params: AlgorithmParams, steps: list[tuple[int, str]]
) -> None:
    clock = VirtualClock()
    limiter = Limiter(params, MemoryStorage(clock=clock))
    reference = MemoryStorage(clock=clock)
    cost = min(1, params.max_cost)
    for ms, key in steps:
        clock.advance(ms / 1000)
        if ms == 900:  # a server's Retry-After on both
            limiter.pause(key, 0.5)
            reference.pause(key, params, 0.5)
        want = reference.apply(key, params, cost, "try")
        assert exact(limiter.try_acquire(key, cost)) == exact(want)
        stored, kept = limiter.storage._data.get(key), reference._data.get(key)  # type: ignore[attr-defined]
        if kept is not None:  # the same state and expiry written (tuple-state algorithms)
            assert exact((stored.expires, stored.state)) == exact((kept.expires, kept.state))
        log, kept_log = limiter.storage._logs.get(key), reference._logs.get(key)  # type: ignore[attr-defined]
        assert (log is None) == (kept_log is None)
        if kept_log is not None:  # the sliding window's log: the same admissions, pause and expiry
            assert exact((log.expires, log.paused, *log.entries)) == exact(
                (kept_log.expires, kept_log.paused, *kept_log.entries)
            )


def test_gcra_denial_when_rounding_puts_tat_at_now() -> None:
    # A float cost times an interval above 2**53 ticks rounds up past the tolerance: a denial with tat == now,
    # the branch where the reset is not ``tat - now`` (and ``remaining`` counts the whole tolerance).
    spec = GCRA(limit=1, period=1).spec(NS)
    spec = type(spec)(spec.params, NS, interval=2**60 + 255, burst=1)
    now = 2**61
    probe(spec, (0, now), now, 1.0, 0)
    assert spec.decide((0, now), now, 1.0, 0)[2] == (False, 1, 1e-09, 0.0, 0.0)


def test_reassigned_params_and_storage_take_effect(clock: VirtualClock) -> None:
    limiter = Limiter(FixedWindow(limit=1, window=60), MemoryStorage(clock=clock))
    assert limiter.try_acquire("k").allowed
    assert not limiter.try_acquire("k").allowed
    limiter.params = FixedWindow(limit=3, window=60)
    assert limiter.try_acquire("k").allowed  # the new limit, on the same stored window
    limiter.storage = MemoryStorage(clock=clock)
    assert limiter.try_acquire("k").remaining == 2  # a fresh storage


def test_a_storage_subclass_overriding_apply_sees_every_try(clock: VirtualClock) -> None:
    seen: list[str] = []

    class Recording(MemoryStorage):
        def apply(self, key: str, params: AlgorithmParams, *args: Any, **kwargs: Any) -> Decision:
            seen.append(key)
            return super().apply(key, params, *args, **kwargs)

    limiter = Limiter(GCRA(limit=1, period=1), Recording(clock=clock))
    limiter.try_acquire("a")
    limiter.try_acquire("a")
    assert seen == ["a", "a"]


def test_compiled_spec_follows_the_parameters() -> None:
    params = TokenBucket(capacity=2, fill_rate=1)
    assert params._ns_spec is params.spec(NS)
    wider = dataclasses.replace(params, capacity=5)
    assert wider._ns_spec.capacity == 5.0
    assert params == pickle.loads(pickle.dumps(params))
    assert params == TokenBucket(capacity=2, fill_rate=1)
    assert hash(params) == hash(TokenBucket(capacity=2, fill_rate=1))
    assert repr(params) == "TokenBucket(capacity=2, fill_rate=1)"
    assert decide(params, None, 0)[1].allowed
