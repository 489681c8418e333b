"""RatelimitMixin's per-call path, bound once per session: the remembered endpoint keys are the derived ones,
the memo is bounded, and every hook a subclass overrides still sees what it saw."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from sessions._exceptions import ImpossibleRequest, RateLimitExceeded
from sessions._models import Call
from sessions.httpbin import LocalHttpbin
from sessions.ratelimit import GCRA, MemoryStorage
from sessions.ratelimit._algorithms import AlgorithmParams, Decision, Mode
from sessions.ratelimit._mixin import _KEY_MEMO_SIZE

from .conftest import VirtualClock
from .test_mixin import LimitedAsyncSession, LimitedSession, Stub

BASES = [
    "http://example.com/a/b",
    "http://Example.COM/a/b",
    "HTTP://EXAMPLE.COM/A",
    "http://example.com:80/a",
    "http://example.com:8080/a",
    "http://example.com:/a",
    "https://example.com:443/a",
    "https://example.com:80/a",
    "http://example.com./a",
    "http://user:s3cret@example.com/p",
    "http://user@Example.com:80/p",
    "http://[::1]/p",
    "http://[::1]:8080/p",
    "http://[2001:DB8::1]:443/p",
    "http://127.0.0.1:8080/get",
    "http://xn--bcher-kva.example/p",
    "http://example.com",
    "http://example.com/",
    "http://example.com//double//slash/",
    "http://example.com/a%20b",
    "http://example.com/a%2Fb",
    "http://example.com/%7Euser",
    "http://example.com/~user",
    "http://example.com/caf%C3%A9",
    "http://example.com/p;params",
    'http://example.com/a"b{c}|d^',
    "http://example.com/a+b",
    "http://bücher.example/p",
    "http://example.com/café",
    "http://example.com/a b",
]
# What may follow a base: each URL is sent after another with the same base filled the memo.
SUFFIXES = [
    "",
    "?",
    "?x=1",
    "?x=1&y=2",
    "#frag",
    "#frag?x=1",
    "?x=1#frag",
    "?q=é",
    "?q=a b",
    "?a=%20",
    "?u=http://x/?#",
]


def derived(url: str, prefix: str = "Session") -> str:
    """The key as ``ratelimit_key`` derives it, on a call of its own."""
    return f"{prefix}:{Call('GET', url, httpx.Headers()).endpoint}"


class RecordingStorage(MemoryStorage):
    """A memory storage whose ``apply`` records each key it decides for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keys: list[str] = []

    def apply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        self.keys.append(key)
        return super().apply(key, params, cost, mode, max_wait)


def stub(clock: VirtualClock, **options: Any) -> Any:
    storage = RecordingStorage(clock=clock)
    return Stub(type="gcra", limit=10**6, period=1, backend=storage, **options)


def test_remembered_keys_are_the_derived_ones(clock: VirtualClock) -> None:
    s = stub(clock)
    urls = [base + suffix for suffix in SUFFIXES for base in BASES]
    for url in urls + urls:  # the second round: every base is remembered
        s._send_wire(Call("GET", url, httpx.Headers()))
    assert s.ratelimit_storage.keys == [derived(url) for url in urls + urls]
    assert not any("s3cret" in key or "user@" in key for key in s.ratelimit_storage.keys)
    assert s._ratelimit_keys  # the memo was used


async def test_async_remembered_keys_are_the_derived_ones(clock: VirtualClock) -> None:
    s = stub(clock, key="jobs")
    urls = [base + suffix for suffix in SUFFIXES for base in BASES]
    for url in urls + urls:
        await s._asend_wire(Call("GET", url, httpx.Headers()))
    assert s.ratelimit_storage.keys == [derived(url, "jobs") for url in urls + urls]


def test_a_url_the_derivation_rejects_is_rejected_before_any_decision(clock: VirtualClock) -> None:
    s = stub(clock)
    s._send_wire(Call("GET", "http://example.com/p?x=1", httpx.Headers()))
    with pytest.raises(httpx.InvalidURL):
        derived("http://example.com/p?x=\x7f")
    with pytest.raises(httpx.InvalidURL):
        s._send_wire(Call("GET", "http://example.com/p?x=\x7f", httpx.Headers()))
    assert s.ratelimit_storage.keys == ["Session:http://example.com/p"]


def test_the_memo_is_bounded(clock: VirtualClock) -> None:
    s = stub(clock)
    urls = [f"http://example.com/item/{i}?page=1" for i in range(_KEY_MEMO_SIZE * 2 + 10)]
    for url in urls:
        s._send_wire(Call("GET", url, httpx.Headers()))
        assert len(s._ratelimit_keys) <= _KEY_MEMO_SIZE
    assert s.ratelimit_storage.keys == [derived(url) for url in urls]


def test_other_scopes_and_an_overridden_key_are_not_remembered(clock: VirtualClock) -> None:
    url = "http://Example.com:80/a?x=1"
    scopes: list[tuple[dict[str, Any], str]] = [
        ({"per_host": True}, "Session:example.com"),
        ({"per_endpoint": False}, "Session:global"),
        ({"key_fn": lambda c: c.method}, "Session:GET"),
    ]
    for options, expected in scopes:
        s = stub(clock, **options)
        s._send_wire(Call("GET", url, httpx.Headers()))
        assert s._ratelimit_keys is None
        assert s.ratelimit_storage.keys == [expected]

    class Keyed(Stub):
        def ratelimit_key(self, call: Any) -> str:
            self.asked = getattr(self, "asked", 0) + 1
            return "mine"

    storage = RecordingStorage(clock=clock)
    k = Keyed(type="gcra", limit=10, period=1, backend=storage)
    for _ in range(3):
        k._send_wire(Call("GET", url, httpx.Headers()))
    assert (k.asked, storage.keys) == (3, ["mine"] * 3)


def test_an_assigned_storage_or_parameters_take_effect(clock: VirtualClock) -> None:
    s = Stub(type="gcra", limit=10, period=1, clock=clock)
    recording = RecordingStorage(clock=clock)
    s.ratelimit_storage = recording
    s._send_wire(Call("GET", "http://h/a", httpx.Headers()))
    assert recording.keys == ["Session:http://h/a"]
    s.ratelimit_params = GCRA(limit=1, period=60)
    s._send_wire(Call("GET", "http://h/b", httpx.Headers()))
    s._send_wire(Call("GET", "http://h/b", httpx.Headers()))
    assert s.slept == pytest.approx([60.0])  # the new limit: one a minute

    class Wrapper:  # a storage that is no MemoryStorage (bench's TimedStorage wraps one so)
        name = "wrapper"

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.modes: list[str] = []

        def apply(
            self, key: str, params: Any, cost: float = 1, mode: Mode = "try", max_wait: Any = None
        ) -> Any:
            self.modes.append(mode)
            return self.inner.apply(key, params, cost, mode, max_wait)

    wrapped = Wrapper(MemoryStorage(clock=clock))
    s.ratelimit_storage = wrapped  # type: ignore[assignment]
    s._send_wire(Call("GET", "http://h/c", httpx.Headers()))
    assert wrapped.modes == ["reserve"]


def test_overridden_hooks_see_every_decision_and_response(clock: VirtualClock) -> None:
    class Hooked(Stub):
        def __init__(self, **kwargs: Any) -> None:
            self.granted: list[tuple[str, float]] = []
            self.checked: list[str] = []
            self.statuses: list[int] = []
            super().__init__(**kwargs)

        def _ratelimit_granted(self, key: str, decision: Any) -> Any:
            decision = super()._ratelimit_granted(key, decision)
            self.granted.append((key, decision.delay))
            return decision

        def _ratelimit_pause_for(self, response: Any) -> float:
            self.statuses.append(response.status_code)
            return super()._ratelimit_pause_for(response)

    s = Hooked(type="gcra", limit=1, period=2, clock=clock)
    s.response = SimpleNamespace(status_code=404, headers=httpx.Headers())
    for _ in range(3):
        s._send_wire(Call("GET", "http://h/a?i=1", httpx.Headers()))
    assert s.granted == [
        ("Session:http://h/a", 0.0),
        ("Session:http://h/a", 2.0),
        ("Session:http://h/a", 4.0),
    ]
    assert s.statuses == [404, 404, 404]

    class Checked(Stub):
        checks = 0

        def _ratelimit_check(self, key: str) -> Any:
            type(self).checks += 1
            return "try"  # never waits, whatever raise_errors says

    c = Checked(type="gcra", limit=1, period=2, clock=clock)
    c._send_wire(Call("GET", "http://h/a", httpx.Headers()))
    with pytest.raises(RateLimitExceeded):
        c._send_wire(Call("GET", "http://h/a", httpx.Headers()))
    assert Checked.checks == 2


def test_a_limit_admitting_nothing_raises_on_each_attempt(clock: VirtualClock) -> None:
    s = Stub(type="tokenbucket", capacity=0.5, fill_rate=1, clock=clock)
    assert s.ratelimit_params.max_cost < 1
    for _ in range(2):
        with pytest.raises(ImpossibleRequest):
            s._send_wire(Call("GET", "http://h/a", httpx.Headers()))
    assert s.sent == []


def test_raise_errors_on_the_bound_path(clock: VirtualClock) -> None:
    s = Stub(type="gcra", limit=1, period=10, raise_errors=True, clock=clock)
    s._send_wire(Call("GET", "http://h/a?x", httpx.Headers()))
    with pytest.raises(RateLimitExceeded) as info:
        s._send_wire(Call("GET", "http://h/a?y", httpx.Headers()))
    assert info.value.key == "Session:http://h/a"
    assert info.value.retry_after == pytest.approx(10)


async def test_async_memory_subclass_overriding_aapply_sees_every_decision(clock: VirtualClock) -> None:
    keys: list[str] = []

    class AsyncRecording(MemoryStorage):
        async def aapply(
            self,
            key: str,
            params: AlgorithmParams,
            cost: float = 1,
            mode: Mode = "try",
            max_wait: float | None = None,
        ) -> Decision:
            keys.append(key)
            return await super().aapply(key, params, cost, mode, max_wait)

    storage = AsyncRecording(clock=clock)
    s = Stub(type="gcra", limit=10, period=1, backend=storage)
    await s._asend_wire(Call("GET", "http://h/a?1", httpx.Headers()))
    await s._asend_wire(Call("GET", "http://h/a?2", httpx.Headers()))
    assert keys == ["Session:http://h/a"] * 2
    s._send_wire(Call("GET", "http://h/a?3", httpx.Headers()))  # the sync path never takes aapply
    assert keys == ["Session:http://h/a"] * 2


# -- through the real session and the local httpbin -------------------------------------------------------


def test_real_session_keys(server: LocalHttpbin) -> None:
    storage = RecordingStorage()
    urls = [
        server.url + "/get?i=1",
        server.url + "/get?i=2",
        server.url.replace("127.0.0.1", "user:pw@127.0.0.1") + "/get?i=3",
        server.url + "/anything/caf%C3%A9?x=1",
        server.url + "/anything/café?x=1",
        server.url + "/get#frag",
    ]
    with LimitedSession(type="gcra", limit=1000, period=1, backend=storage) as s:
        for url in urls:
            assert s.get(url).status_code == 200
        assert s.get(server.url + "/status/404?x=1").status_code == 404
    expected = [derived(url) for url in urls] + [derived(server.url + "/status/404")]
    assert storage.keys == expected
    assert "pw" not in "".join(storage.keys)


async def test_real_async_session_keys(server: LocalHttpbin) -> None:
    storage = RecordingStorage()
    async with LimitedAsyncSession(type="gcra", limit=1000, period=1, backend=storage) as s:
        for i in range(3):
            assert (await s.get(server.url + f"/get?i={i}")).status_code == 200
    assert storage.keys == [derived(server.url + "/get")] * 3
