"""RatelimitMixin: options, keys, waiting, server feedback — on a stub session and on the real one."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from sessions._exceptions import RateLimitExceeded
from sessions._session import AsyncSession, Session
from sessions.httpbin import LocalHttpbin
from sessions.ratelimit import DEFAULT_RATE, GCRA, FixedWindow, LeakyBucket, Rate, SlidingWindow, TokenBucket
from sessions.ratelimit._mixin import MAX_SERVER_PAUSE, RatelimitMixin, server_pause

from .conftest import VirtualClock


class StubBase:
    """Stands in for Session: records wire attempts, answers with a canned response."""

    def __init__(self, **kwargs: Any) -> None:
        self.response = SimpleNamespace(status_code=200, headers=httpx.Headers())
        self.sent: list[str] = []
        self.slept: list[float] = []
        self.closed = False

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def _asleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def _send_wire(self, call: Any) -> Any:
        self.sent.append(call.endpoint)
        return self.response

    async def _asend_wire(self, call: Any) -> Any:
        self.sent.append(call.endpoint)
        return self.response

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


class Stub(RatelimitMixin, StubBase):
    pass


def call(url: str) -> Any:
    u = httpx.URL(url)
    return SimpleNamespace(
        method="GET", url=u, host=u.host, endpoint=f"{u.scheme}://{u.netloc.decode()}{u.path}"
    )


ALIASES = ["type", "algorithm", "ratelimit", "rate_limit", "limiter", "ratelimiter", "limitertype"]


@pytest.mark.parametrize("alias", ALIASES)
def test_algorithm_aliases(alias: str) -> None:
    s = Stub(**{alias: "tokenbucket"}, capacity=2, fill_rate=0.5)
    assert s.ratelimit_params == TokenBucket(capacity=2, fill_rate=0.5)


def test_options_dicts_and_rate() -> None:
    s = Stub(ratelimit={"type": "gcra", "limit": 5, "period": 2})
    assert s.ratelimit_params == GCRA(limit=5, period=2)
    s = Stub(ratelimit_options={"rate": "10/m"}, type="leakybucket")
    assert s.ratelimit_params == LeakyBucket(capacity=10, leak_rate=10 / 60)
    s = Stub(limit=3, window=0.5)  # sliding window by default
    assert s.ratelimit_params == SlidingWindow(limit=3, window=0.5)


def test_option_errors_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="gcra: missing parameter"):
        Stub(type="gcra", limit=5)
    with pytest.raises(ValueError, match="conflicting"):
        Stub(type="gcra", algorithm="fixedwindow", limit=5, period=1)
    with pytest.raises(ValueError, match="leak_rate"):
        Stub(type="leakybucket", capacity=1, leak_rate=-1)
    with pytest.raises(TypeError, match="windw"):
        Stub(ratelimit_options={"limit": 1, "windw": 2})


def test_keys_by_scope() -> None:
    url = "https://api.example.com/v1/items?page=2"
    assert Stub(limit=1, window=1).ratelimit_key(call(url)) == "Session:https://api.example.com/v1/items"
    assert (
        Stub(limit=1, window=1, per_host=True, key="jobs").ratelimit_key(call(url)) == "jobs:api.example.com"
    )
    assert Stub(limit=1, window=1, per_endpoint=False).ratelimit_key(call(url)) == "Session:global"
    custom = Stub(limit=1, window=1, key_fn=lambda c: c.method)
    assert custom.ratelimit_key(call(url)) == "Session:GET"


def test_endpoint_keys_carry_no_credentials_and_one_spelling_per_endpoint(clock: VirtualClock) -> None:
    # The key is stored in shared backends (Redis, SQL) and named in RateLimitExceeded: a URL's userinfo
    # must not reach it. Host case and an explicit default port are spellings of the same endpoint.
    with Session() as session:
        calls = [
            session._make_call("GET", url, {}, {})
            for url in (
                "http://user:s3cret@Api.Example:80/v1/items?page=2",
                "http://api.example/v1/items",
                "https://api.example:443/v1/items",
                "https://[::1]:8443/v1/items",
            )
        ]
    s = Stub(limit=1, window=10, raise_errors=True, clock=clock)
    keys = [s.ratelimit_key(c) for c in calls]
    assert keys == [
        "Session:http://api.example/v1/items",
        "Session:http://api.example/v1/items",
        "Session:https://api.example/v1/items",
        "Session:https://[::1]:8443/v1/items",
    ]
    s._send_wire(calls[0])
    with pytest.raises(RateLimitExceeded) as info:
        s._send_wire(calls[1])  # the same endpoint spelled without credentials shares the limit
    assert "s3cret" not in str(info.value)
    assert "user" not in info.value.key


def test_waits_once_per_request_and_limits_per_endpoint(clock: VirtualClock) -> None:
    s = Stub(limit=2, window=1, clock=clock, sleep_duration=0.05)
    for _ in range(5):
        s._send_wire(call("http://h/a"))
    s._send_wire(call("http://h/b"))
    assert s.slept == pytest.approx([1.0, 1.0, 2.0])  # /b has its own limit: no wait
    assert len(s.sent) == 6


async def test_async_hook_waits_without_blocking(clock: VirtualClock) -> None:
    s = Stub(type="gcra", limit=4, period=1, clock=clock)
    await asyncio.gather(*[s._asend_wire(call("http://h/a")) for _ in range(4)])
    assert sorted(s.slept) == pytest.approx([0.25, 0.5, 0.75])


def test_raise_errors(clock: VirtualClock) -> None:
    s = Stub(limit=1, window=10, raise_errors=True, clock=clock)
    s._send_wire(call("http://h/a"))
    with pytest.raises(RateLimitExceeded) as info:
        s._send_wire(call("http://h/a"))
    assert info.value.key == "Session:http://h/a"
    assert info.value.retry_after == pytest.approx(10)
    assert s.slept == []


@pytest.mark.parametrize("status", [429, 503])
def test_server_feedback_pauses_the_key(clock: VirtualClock, status: int) -> None:
    s = Stub(type="tokenbucket", capacity=100, fill_rate=100, clock=clock)
    s.response = SimpleNamespace(status_code=status, headers=httpx.Headers({"Retry-After": "7"}))
    s._send_wire(call("http://h/a"))
    s.response = SimpleNamespace(status_code=200, headers=httpx.Headers())
    s._send_wire(call("http://h/a"))
    assert s.slept == pytest.approx([7.0])


def test_server_feedback_can_be_switched_off(clock: VirtualClock) -> None:
    s = Stub(limit=100, window=1, clock=clock, server_feedback=False)
    s.response = SimpleNamespace(status_code=429, headers=httpx.Headers({"Retry-After": "7"}))
    s._send_wire(call("http://h/a"))
    s._send_wire(call("http://h/a"))
    assert s.slept == []


def test_server_pause_headers() -> None:
    assert server_pause({"retry-after": "2.5"}) == 2.5
    assert server_pause({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert server_pause({"ratelimit-reset": "4"}) == 4.0
    assert server_pause({"x-ratelimit-reset": "1700000030"}, now=1700000000.0) == 30.0
    assert server_pause({"x-ratelimit-reset": "12"}) == 12.0
    assert server_pause({"retry-after": "soon", "ratelimit-reset": "-3"}) == 0.0
    assert server_pause({"retry-after": "1e12"}) == MAX_SERVER_PAUSE
    assert server_pause({}) == 0.0


def test_close_closes_the_storage() -> None:
    s = Stub(limit=1, window=1, backend="sqlite", db=":memory:")
    s.close()
    assert s.closed
    with pytest.raises(Exception, match="closed"):
        s.ratelimit_storage.apply("k", s.ratelimit_params)


# -- end to end, through the real session and the local httpbin ----------------------------------------


class LimitedSession(RatelimitMixin, Session):
    pass


class LimitedAsyncSession(RatelimitMixin, AsyncSession):
    pass


def max_in_window(times: list[float], window: float) -> int:
    return max((bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def test_session_and_batch_respect_the_limit_server_side(server: LocalHttpbin) -> None:
    with LimitedSession(type="slidingwindow", limit=4, window=1.0, per_host=True) as s:
        for _ in range(6):
            assert s.get(server.url + "/get").status_code == 200
        results = s.requests([server.url + "/get"] * 6)
    assert all(r.status_code == 200 for r in results)
    times = server.arrivals.times(path="/get")
    assert len(times) == 12
    # Arrivals can only be *later* than their admission, but not all equally late (the first one also
    # opens the connection, and CI machines are busy): 150 ms of the window absorbs that transit jitter.
    # An over-admitting limiter would put 5+ requests in far less than a second.
    assert max_in_window(times, 1.0 - 0.15) <= 4


async def test_async_session_server_feedback(server: LocalHttpbin, clock: VirtualClock) -> None:
    async with LimitedAsyncSession(type="gcra", limit=100, period=1, burst=100, clock=clock) as s:
        slept: list[float] = []

        async def record(seconds: float) -> None:
            slept.append(seconds)

        s._asleep = record  # type: ignore[method-assign]
        first = await s.get(server.url + "/retry-after/1", params={"seconds": "3", "key": "feedback"})
        assert first.status_code == 429
        second = await s.get(server.url + "/retry-after/1", params={"seconds": "3", "key": "feedback"})
        assert second.status_code == 200
    assert slept == pytest.approx([3.0])


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ({}, SlidingWindow(limit=5, window=1)),
        ({"type": "fixedwindow"}, FixedWindow(limit=5, window=1)),
        ({"type": "gcra"}, GCRA(limit=5, period=1)),
        ({"type": "tokenbucket"}, TokenBucket(capacity=5, fill_rate=5)),
        ({"type": "leakybucket"}, LeakyBucket(capacity=5, leak_rate=5)),
    ],
)
def test_no_parameters_means_the_documented_default(alias: dict[str, str], expected: object) -> None:
    assert Stub(**alias).ratelimit_params == expected
    assert Rate(5, 1) == DEFAULT_RATE


def test_composed_session_constructs_without_arguments() -> None:
    from sessions import CacheMixin

    class Composed(CacheMixin, RatelimitMixin, Session):
        pass

    with Composed() as session:
        assert session.ratelimit_params == SlidingWindow(limit=5, window=1)


def test_some_parameters_still_need_the_rest() -> None:
    with pytest.raises(ValueError, match=r"tokenbucket: missing parameter.*fill_rate"):
        Stub(type="tokenbucket", capacity=5)


ALL_PARAMETERS = {"window": 1, "limit": 3, "period": 2, "capacity": 5, "fill_rate": 10, "leak_rate": 5}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("slidingwindow", SlidingWindow(limit=3, window=1)),
        ("fixedwindow", FixedWindow(limit=3, window=1)),
        ("gcra", GCRA(limit=3, period=2)),
        ("tokenbucket", TokenBucket(capacity=5, fill_rate=10)),
        ("leakybucket", LeakyBucket(capacity=5, leak_rate=5)),
    ],
)
def test_every_algorithms_parameters_at_once(algorithm: str, expected: object) -> None:
    # The seed's Testing section: each algorithm takes its own, the others' are accepted and unused.
    assert Stub(type=algorithm, **ALL_PARAMETERS).ratelimit_params == expected
    assert Stub(ratelimit={"type": algorithm, **ALL_PARAMETERS}).ratelimit_params == expected


def test_rate_with_other_algorithms_parameters() -> None:
    assert Stub(rate="2/s", capacity=5).ratelimit_params == SlidingWindow(limit=2, window=1)
    with pytest.raises(ValueError, match=r"rate= or the slidingwindow parameters \['limit'\]"):
        Stub(rate="2/s", limit=3)
