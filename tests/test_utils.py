"""sessions.utils: Urls (the seed's httpbin URL helper), timer, make_test and extract_args."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
from collections.abc import Iterator

import httpx
import pytest

from sessions.httpbin import LocalHttpbin
from sessions.ratelimit import ALGORITHMS, required_parameters, session_params
from sessions.utils import STATUS_CODES, Urls, extract_args, make_test, timer

# ---------------------------------------------------------------- Urls


def test_default_base_url_is_the_docker_httpbin() -> None:
    assert Urls().BASE_URL == "http://localhost:8080"
    assert Urls(port=8000).GET == "http://localhost:8000/get"
    assert Urls(port=443, secure=True).UUID == "https://localhost:443/uuid"
    assert Urls("http://example.test/").GET == "http://example.test/get"


def test_endpoint_attributes_and_seed_aliases() -> None:
    urls = Urls("http://h")
    assert (urls.GET, urls.POST, urls.UUID, urls.IP) == (
        "http://h/get",
        "http://h/post",
        "http://h/uuid",
        "http://h/ip",
    )
    assert urls.GET_URL == urls.GET
    assert urls.DELETE_URL == urls.DELETE


def test_parametrised_endpoints() -> None:
    urls = Urls("http://h")
    assert urls.STATUS(404) == "http://h/status/404"
    assert urls.STATUS(200, 503) == "http://h/status/200,503"
    assert urls.DELAY(0.5) == "http://h/delay/0.5"
    assert urls.DELAY(2) == "http://h/delay/2"
    assert urls.BYTES(10, seed=3) == "http://h/bytes/10?seed=3"
    assert urls.CACHE_FOR(60) == "http://h/cache/60"
    assert urls.ETAG("a b") == "http://h/etag/a%20b"
    assert urls.REDIRECT(2) == "http://h/redirect/2"
    assert (
        urls.REDIRECT_TO("http://x/?a=1", 307)
        == "http://h/redirect-to?url=http%3A%2F%2Fx%2F%3Fa%3D1&status_code=307"
    )
    assert urls.BASIC_AUTH("u", "p/w") == "http://h/basic-auth/u/p%2Fw"
    assert urls.HEADERS_FOR(X_A="1") == "http://h/response-headers?X_A=1"
    assert urls.RETRY_AFTER(2, key="k", seconds=1) == "http://h/retry-after/2?key=k&seconds=1"
    assert urls.ANYTHING_AT("/a/b") == "http://h/anything/a/b"
    with pytest.raises(ValueError, match="at least one"):
        urls.STATUS()


def test_random_urls_is_lazy_and_in_range() -> None:
    urls = Urls("http://h", rng=random.Random(1))
    gen = urls.RANDOM_URLS(10**12, min=3, max=5)
    assert inspect.isgenerator(gen)
    first = list(itertools.islice(gen, 200))
    ids = {int(u.rsplit("=", 1)[1]) for u in first}
    assert ids == {3, 4, 5}
    assert all(u.startswith("http://h/get?id=") for u in first)


def test_random_urls_are_repeatable_with_a_seeded_rng() -> None:
    a = list(Urls("http://h", rng=random.Random(7)).RANDOM_URLS(20))
    b = list(Urls("http://h", rng=random.Random(7)).RANDOM_URLS(20))
    assert a == b


def test_random_urls_weights() -> None:
    urls = Urls("http://h", rng=random.Random(0))
    got = list(urls.RANDOM_URLS(50, min=0, max=2, weights=[0, 1, 0]))
    assert set(got) == {"http://h/get?id=1"}
    with pytest.raises(ValueError, match="one per id"):
        urls.RANDOM_URLS(5, min=0, max=2, weights=[1, 1])
    with pytest.raises(ValueError, match="must not exceed"):
        urls.RANDOM_URLS(5, min=3, max=2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("GET_URLS", "/get"), ("POST_URLS", "/post"), ("UUID_URLS", "/uuid"), ("IP_URLS", "/ip")],
)
def test_repeat_generators(name: str, expected: str) -> None:
    gen: Iterator[str] = getattr(Urls("http://h"), name)(3)
    assert inspect.isgenerator(gen)
    assert list(gen) == [f"http://h{expected}"] * 3


def test_random_endpoint_generators() -> None:
    urls = Urls("http://h", rng=random.Random(3))
    statuses = list(urls.STATUS_CODE_URLS(30))
    assert all(int(u.rsplit("/", 1)[1]) in STATUS_CODES for u in statuses)
    assert all(0 <= int(u.rsplit("/", 1)[1]) < 10 for u in urls.BYTES_URLS(30, numbytes=10))
    assert all(0 <= float(u.rsplit("/", 1)[1]) <= 0.5 for u in urls.DELAY_URLS(30, max_delay=0.5))
    assert urls.random() in {urls.GET, urls.POST, urls.PUT, urls.PATCH, urls.DELETE, urls.UUID, urls.IP}


def test_urls_reach_the_local_httpbin(httpbin: LocalHttpbin) -> None:
    urls = httpbin.urls
    with httpx.Client() as client:
        assert client.get(urls.GET).status_code == 200
        assert client.get(urls.STATUS(418)).status_code == 418
        assert [client.get(u).status_code for u in urls.RANDOM_URLS(5)] == [200] * 5


# ---------------------------------------------------------------- timer


class Clock:
    """A manual clock: each read advances by `step`."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_timer_reports_sync_calls_and_passes_the_result() -> None:
    seen: list[tuple[str, float]] = []

    @timer(report=lambda name, s: seen.append((name, s)), clock=Clock(0.25))
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert seen == [("test_timer_reports_sync_calls_and_passes_the_result.<locals>.add", 0.25)]
    assert add.__name__ == "add"


async def test_timer_times_the_awaited_coroutine() -> None:
    seen: list[float] = []

    @timer(report=lambda _name, s: seen.append(s))
    async def nap() -> str:
        await asyncio.sleep(0.05)
        return "done"

    assert inspect.iscoroutinefunction(nap)
    assert await nap() == "done"
    assert seen[0] >= 0.04


def test_timer_reports_failures_too() -> None:
    seen: list[float] = []

    @timer(report=lambda _n, s: seen.append(s), clock=Clock(1.0))
    def fail() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        fail()
    assert seen == [1.0]


def test_bare_timer_prints_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    @timer
    def work() -> int:
        return 1

    assert work() == 1
    captured = capsys.readouterr()
    assert "work took" in captured.err
    assert captured.out == ""


def _seen_kwargs() -> tuple[list[dict[str, object]], object]:
    seen: list[dict[str, object]] = []

    @timer(report=lambda _n, _s: None)
    def run(n_tests: int = 25, **kwargs: object) -> None:
        seen.append(kwargs)

    return seen, run


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"capacity": 5, "fill_rate": 10, "n_tests": 9}, "tokenbucket"),
        ({"capacity": 5, "leak_rate": 10}, "leakybucket"),
        ({"limit": 3, "period": 2}, "gcra"),
        ({"limit": 3, "window": 2}, "slidingwindow"),  # both windows take these: the default one
        ({"n_tests": 3}, "slidingwindow"),  # no algorithm parameters: the sessions' default
        ({"capacity": 5}, "slidingwindow"),  # incomplete: no algorithm is named
    ],
)
def test_timer_names_the_algorithm_a_call_without_type_means(given: dict[str, object], expected: str) -> None:
    seen, run = _seen_kwargs()
    run(**given)  # type: ignore[operator]
    run(type="fixedwindow", **given)  # type: ignore[operator]
    assert [kw.get("type") for kw in seen] == [expected, "fixedwindow"]


def test_timer_leaves_other_functions_alone() -> None:
    seen: list[object] = []

    @timer(report=lambda _n, _s: None)
    def plain(limit: int, window: int) -> None:
        seen.append((limit, window))

    @timer(report=lambda _n, _s: None)
    def generic(url: str, **kwargs: object) -> None:  # **kwargs but no n_tests: not a runner test
        seen.append(kwargs)

    @timer(report=lambda _n, _s: None)
    def typed(n_tests: int, type: str = "gcra", **kwargs: object) -> None:  # handles type itself
        seen.append(type)

    plain(limit=1, window=2)
    generic("u", limit=1, window=2)
    typed(3, limit=1, window=2)
    assert seen == [(1, 2), {"limit": 1, "window": 2}, "gcra"]


# ---------------------------------------------------------------- make_test / extract_args


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_make_test_draws_valid_bounded_parameters(algorithm: str) -> None:
    rng = random.Random(12)
    for _ in range(200):
        drawn = make_test(algorithm, dct=True, rng=rng, max_seconds=0.8)
        assert set(drawn) == {*required_parameters(algorithm), "n_tests"}  # never "type": the runner adds it
        params = session_params(type=algorithm, **drawn)  # valid: a session takes them
        burst = max(1, int(params.max_cost))
        assert drawn["n_tests"] > burst  # the limit is felt ...
        assert (drawn["n_tests"] - burst) * params.slot_spacing <= 0.8  # ... and the waits stay bounded
    assert make_test(algorithm, rng=random.Random(3)) == tuple(
        make_test(algorithm, True, rng=random.Random(3)).values()
    )


def test_make_test_names_an_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit algorithm 'bogus'"):
        make_test("bogus")


def test_extract_args_keeps_what_the_algorithm_uses() -> None:
    every = {
        "window": 1,
        "limit": 3,
        "period": 2,
        "capacity": 5,
        "fill_rate": 10,
        "leak_rate": 5,
        "n_tests": 25,
    }
    assert extract_args("slidingwindow", every) == {"limit": 3, "window": 1, "n_tests": 25}
    assert extract_args("gcra", {**every, "type": "gcra"}) == {
        "limit": 3,
        "period": 2,
        "burst": 1,
        "n_tests": 25,
    }
    assert extract_args("token-bucket", every) == {"capacity": 5, "fill_rate": 10, "n_tests": 25}
    assert extract_args("leakybucket", {"backend": "redis"}) == {
        "capacity": 5.0,
        "leak_rate": 5.0,
    }  # the default
    with pytest.raises(ValueError, match="fixedwindow: missing parameter"):
        extract_args("fixedwindow", {"limit": 3})
