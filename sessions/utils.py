"""Test conveniences: `Urls` builds httpbin URLs, `timer` times a function, `make_test` and
`extract_args` make and read rate-limit test parameters (the original README's Testing section).

`Urls` follows the original pysessions helper: a base URL (by default the docker httpbin
on ``http://localhost:8080``; point it at `sessions.httpbin.LocalHttpbin().url`), one
attribute per endpoint and lazy generators of many URLs for load tests::

    urls = Urls(hb.url)
    session.get(urls.GET)
    session.requests(urls.RANDOM_URLS(1000, min=0, max=50))   # nothing is materialised
"""

from __future__ import annotations

import functools
import inspect
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar, cast, overload
from urllib.parse import quote, urlencode

from sessions.ratelimit import (
    DEFAULT_ALGORITHM,
    algorithm_name,
    guess_algorithm,
    parameter_names,
    session_params,
)

__all__ = ["STATUS_CODES", "Urls", "extract_args", "make_test", "timer"]

P = ParamSpec("P")
R = TypeVar("R")

#: The status codes `STATUS_CODE_URLS` draws from (the common, body-carrying ones).
STATUS_CODES: tuple[int, ...] = (200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 418, 429, 500, 503)


class Urls:
    """httpbin URLs for tests and benchmarks.

    Args:
        base_url: e.g. ``"http://127.0.0.1:43817"``; when omitted, ``http(s)://localhost:{port}``.
        port: the port for the default base URL (8080, the usual docker httpbin mapping).
        secure: use https for the default base URL.
        rng: the random source of the random generators (seed it for repeatable URLs).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        port: int | None = None,
        secure: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        scheme = "https" if secure else "http"
        self.port = port if port is not None else 8080
        self.BASE_URL = (base_url or f"{scheme}://localhost:{self.port}").rstrip("/")
        self.rng = rng or random.Random()
        base = self.BASE_URL
        self.GET = f"{base}/get"
        self.POST = f"{base}/post"
        self.PUT = f"{base}/put"
        self.PATCH = f"{base}/patch"
        self.DELETE = f"{base}/delete"
        self.ANYTHING = f"{base}/anything"
        self.UUID = f"{base}/uuid"
        self.IP = f"{base}/ip"
        self.HEADERS = f"{base}/headers"
        self.USER_AGENT = f"{base}/user-agent"
        self.CACHE = f"{base}/cache"
        self.COOKIES = f"{base}/cookies"
        self.BEARER = f"{base}/bearer"
        self.GZIP = f"{base}/gzip"
        self.JSON = f"{base}/json"
        self.HTML = f"{base}/html"
        self.ROBOTS_TXT = f"{base}/robots.txt"
        self.RESPONSE_HEADERS = f"{base}/response-headers"
        # The original pysessions names, kept so its test scripts run unchanged.
        self.GET_URL, self.POST_URL, self.PUT_URL = self.GET, self.POST, self.PUT
        self.PATCH_URL, self.DELETE_URL = self.PATCH, self.DELETE
        self.UUID_URL, self.IP_URL = self.UUID, self.IP

    def __repr__(self) -> str:
        return f"Urls({self.BASE_URL!r})"

    def _url(self, path: str, query: dict[str, Any] | None = None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{self.BASE_URL}{path}" + (f"?{urlencode(params, doseq=True)}" if params else "")

    # ------------------------------------------------------------ parametrised endpoints

    def STATUS(self, *codes: int) -> str:
        """``/status/200`` or, for several codes, ``/status/200,404`` (httpbin picks one at random)."""
        if not codes:
            raise ValueError("STATUS() needs at least one status code")
        return f"{self.BASE_URL}/status/{','.join(str(c) for c in codes)}"

    def DELAY(self, seconds: float) -> str:
        """``/delay/{seconds}`` (the server caps it at 10 s)."""
        return f"{self.BASE_URL}/delay/{seconds:g}"

    def BYTES(self, n: int, *, seed: int | None = None) -> str:
        """``/bytes/{n}``: n random bytes, repeatable with `seed`."""
        return self._url(f"/bytes/{n}", {"seed": seed})

    def STREAM_BYTES(self, n: int, *, seed: int | None = None, chunk_size: int | None = None) -> str:
        """``/stream-bytes/{n}``: n random bytes sent chunked."""
        return self._url(f"/stream-bytes/{n}", {"seed": seed, "chunk_size": chunk_size})

    def CACHE_FOR(self, seconds: int) -> str:
        """``/cache/{seconds}``: answered with ``Cache-Control: public, max-age=seconds``."""
        return f"{self.BASE_URL}/cache/{seconds}"

    def ETAG(self, etag: str) -> str:
        """``/etag/{etag}``: honours If-None-Match (304) and If-Match (412)."""
        return f"{self.BASE_URL}/etag/{quote(etag, safe='')}"

    def ANYTHING_AT(self, path: str) -> str:
        """``/anything/{path}``: echoes any method at any sub-path."""
        return f"{self.ANYTHING}/{path.lstrip('/')}"

    def REDIRECT(self, n: int, *, absolute: bool = False) -> str:
        """``/redirect/{n}``: n 302 hops ending at /get."""
        return self._url(f"/redirect/{n}", {"absolute": "true" if absolute else None})

    def REDIRECT_TO(self, url: str, status_code: int | None = None) -> str:
        """``/redirect-to?url=…``: one redirect to `url`."""
        return self._url("/redirect-to", {"url": url, "status_code": status_code})

    def BASIC_AUTH(self, user: str, passwd: str) -> str:
        """``/basic-auth/{user}/{passwd}``: 200 only with those Basic credentials."""
        return f"{self.BASE_URL}/basic-auth/{quote(user, safe='')}/{quote(passwd, safe='')}"

    def COOKIES_SET(self, **cookies: str) -> str:
        """``/cookies/set?k=v``: sets the cookies and redirects to /cookies."""
        return self._url("/cookies/set", cookies)

    def HEADERS_FOR(self, **headers: str) -> str:
        """``/response-headers?k=v``: the server answers with these headers."""
        return self._url("/response-headers", headers)

    def RETRY_AFTER(
        self,
        n: int,
        *,
        key: str | None = None,
        seconds: float | None = None,
        date: float | str | None = None,
        status: int | None = None,
    ) -> str:
        """``/retry-after/{n}`` (LocalHttpbin only): 429 + Retry-After the first n times per `key`.

        `seconds` sends the delta form, `date` the HTTP-date form (a number means "that many
        seconds from now").
        """
        return self._url(
            f"/retry-after/{n}", {"key": key, "seconds": seconds, "date": date, "status": status}
        )

    # ------------------------------------------------------------ lazy generators

    def random(self) -> str:
        """One of the plain endpoints, chosen at random."""
        return self.rng.choice((self.GET, self.POST, self.PUT, self.PATCH, self.DELETE, self.UUID, self.IP))

    def RANDOM_URLS(
        self, n: int = 1000, min: int = 0, max: int = 5, weights: Sequence[float] | None = None
    ) -> Iterator[str]:
        """`n` URLs ``/get?id=k`` with k drawn from [min, max] (inclusive), lazily.

        The small default range repeats URLs on purpose: cache and per-endpoint limit tests
        need hits. `weights` (one per id) skews the draw.
        """
        if min > max:
            raise ValueError(f"min ({min}) must not exceed max ({max})")
        ids = range(min, max + 1)
        if weights is not None and len(weights) != len(ids):
            raise ValueError(f"weights has {len(weights)} entries; expected {len(ids)} (one per id)")
        return self._random_ids(n, ids, weights)

    def _random_ids(self, n: int, ids: range, weights: Sequence[float] | None) -> Iterator[str]:
        for _ in range(n):
            ident = self.rng.choices(ids, weights)[0] if weights else self.rng.choice(ids)
            yield f"{self.GET}?id={ident}"

    def _repeat(self, url: str, n: int) -> Iterator[str]:
        for _ in range(n):
            yield url

    def GET_URLS(self, n: int = 1000, suffix: str = "") -> Iterator[str]:
        """`n` times ``/get`` (+ `suffix`), lazily."""
        return self._repeat(self.GET + suffix, n)

    def POST_URLS(self, n: int = 1000) -> Iterator[str]:
        """`n` times ``/post``, lazily."""
        return self._repeat(self.POST, n)

    def PUT_URLS(self, n: int = 1000) -> Iterator[str]:
        """`n` times ``/put``, lazily."""
        return self._repeat(self.PUT, n)

    def PATCH_URLS(self, n: int = 1000) -> Iterator[str]:
        """`n` times ``/patch``, lazily."""
        return self._repeat(self.PATCH, n)

    def DELETE_URLS(self, n: int = 1000) -> Iterator[str]:
        """`n` times ``/delete``, lazily."""
        return self._repeat(self.DELETE, n)

    def UUID_URLS(self, n: int = 1000) -> Iterator[str]:
        """`n` times ``/uuid``, lazily."""
        return self._repeat(self.UUID, n)

    def IP_URLS(self, n: int = 1000) -> Iterator[str]:
        """`n` times ``/ip``, lazily."""
        return self._repeat(self.IP, n)

    def BYTES_URLS(self, n: int = 1000, numbytes: int = 100) -> Iterator[str]:
        """`n` ``/bytes/{k}`` URLs with k random in [0, numbytes), lazily."""
        for _ in range(n):
            yield self.BYTES(self.rng.randrange(numbytes))

    def STATUS_CODE_URLS(self, n: int = 1000, codes: Sequence[int] = STATUS_CODES) -> Iterator[str]:
        """`n` ``/status/{code}`` URLs with codes drawn from `codes`, lazily."""
        for _ in range(n):
            yield self.STATUS(self.rng.choice(codes))

    def DELAY_URLS(self, n: int = 1000, max_delay: float = 1.0) -> Iterator[str]:
        """`n` ``/delay/{s}`` URLs with s uniform in [0, max_delay] (rounded to ms), lazily."""
        for _ in range(n):
            yield self.DELAY(round(self.rng.uniform(0, max_delay), 3))


# ---------------------------------------------------------------- timer

Report = Callable[[str, float], None]


def _print_report(name: str, seconds: float) -> None:
    print(f"{name} took {seconds:.3f}s", file=sys.stderr)


def _takes_type(func: Callable[..., Any]) -> bool:
    """A test function of the seed's Testing runner: ``(n_tests=25, min=0, max=5, **kwargs)``."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    names = {p.name for p in parameters if p.kind is not p.POSITIONAL_ONLY}
    return "n_tests" in names and "type" not in names and any(p.kind is p.VAR_KEYWORD for p in parameters)


def _with_type(kwargs: dict[str, Any]) -> None:
    """The seed's async runner calls its tests without ``type=``: name the algorithm they run."""
    if "type" not in kwargs:
        kwargs["type"] = guess_algorithm(kwargs) or DEFAULT_ALGORITHM


def _wrap(func: Callable[P, Any], report: Report, clock: Callable[[], float]) -> Callable[P, Any]:
    name = getattr(func, "__qualname__", repr(func))
    fill_type = _takes_type(func)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def atimed(*args: P.args, **kwargs: P.kwargs) -> Any:
            if fill_type:
                _with_type(kwargs)
            start = clock()
            try:
                return await func(*args, **kwargs)
            finally:
                report(name, clock() - start)

        return atimed

    @functools.wraps(func)
    def timed(*args: P.args, **kwargs: P.kwargs) -> Any:
        if fill_type:
            _with_type(kwargs)
        start = clock()
        try:
            return func(*args, **kwargs)
        finally:
            report(name, clock() - start)

    return timed


@overload
def timer(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def timer(
    *, report: Report = ..., clock: Callable[[], float] = ...
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def timer(
    func: Callable[P, R] | None = None,
    /,
    *,
    report: Report = _print_report,
    clock: Callable[[], float] = time.perf_counter,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Time each call of a sync or async function; the result passes through unchanged.

    ``@timer`` prints ``"<name> took 0.123s"`` to stderr; ``@timer(report=fn)`` calls
    ``fn(name, seconds)`` instead (collect timings in tests), and `clock` replaces
    `time.perf_counter`. For a coroutine function the time covers the awaited call,
    not just the creation of the coroutine. A call that raises is timed too.

    The original's timer was its Testing section's, and filled in the algorithm its test
    functions read from ``kwargs["type"]``; so does this one, for those functions only — the
    ones taking ``n_tests`` and ``**kwargs`` but no ``type`` parameter, like
    ``test_memory(n_tests=25, min=0, max=5, **kwargs)``. Called without ``type=`` (the seed's
    async runner does), such a function gets the algorithm whose parameters the call carries
    (``capacity=5, fill_rate=10`` → ``"tokenbucket"``; `sessions.ratelimit.guess_algorithm`,
    ``limit`` + ``window`` naming the sliding window), else the sessions' default, the sliding
    window. Every other function is called exactly as it was.
    """

    def decorate(f: Callable[P, R]) -> Callable[P, R]:
        return cast(Callable[P, R], _wrap(f, report, clock))

    return decorate(func) if func is not None else decorate


# ---------------------------------------------------------------- rate-limit test parameters

#: How long, at most, the waiting part of a `make_test` run takes by default (seconds).
MAKE_TEST_SECONDS = 1.0


@overload
def make_test(
    type: str,
    dct: Literal[True],
    *,
    rng: random.Random | None = ...,
    max_seconds: float = ...,
) -> dict[str, Any]: ...
@overload
def make_test(
    type: str,
    dct: Literal[False] = ...,
    *,
    rng: random.Random | None = ...,
    max_seconds: float = ...,
) -> tuple[Any, ...]: ...
def make_test(
    type: str,
    dct: bool = False,
    *,
    rng: random.Random | None = None,
    max_seconds: float = MAKE_TEST_SECONDS,
) -> dict[str, Any] | tuple[Any, ...]:
    """Random valid parameters for algorithm `type`, plus ``n_tests``, the number of requests a
    test sends through them (the original README's ``run_sync_tests(randomize=True)``).

    ``make_test("gcra", dct=True)`` → ``{"limit": 4, "period": 0.37, "n_tests": 9}``: the
    algorithm's required parameters (`sessions.ratelimit.required_parameters`) and ``n_tests``
    more than its burst, so the limit is felt, while the waits of ``n_tests`` requests stay
    within about `max_seconds`. With ``dct=False`` (the original's default) the same values as
    a tuple, in that order. `rng` makes the draw repeatable. Never includes ``type``: the
    runner passes it beside these.
    """
    draw = rng or random.Random()
    algorithm = algorithm_name(type)
    limit = draw.randint(2, 6)
    period = round(draw.uniform(0.2, 0.5), 2)
    if algorithm in ("tokenbucket", "leakybucket"):
        capacity = draw.randint(1, limit)
        rate_name = "fill_rate" if algorithm == "tokenbucket" else "leak_rate"
        chosen: dict[str, Any] = {"capacity": capacity, rate_name: round(limit / period, 2)}
    elif algorithm == "gcra":
        chosen = {"limit": limit, "period": period}
    else:
        chosen = {"limit": limit, "window": period}
    params = session_params(type=algorithm, **chosen)
    burst = max(1, int(params.max_cost))
    room = max(1, int(max_seconds / params.slot_spacing))  # requests the limit lets through in max_seconds
    chosen["n_tests"] = draw.randint(burst + 1, burst + room)
    return chosen if dct else tuple(chosen.values())


def extract_args(type: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters algorithm `type` uses out of `kwargs`, as the original README's test
    functions report them: ``extract_args("gcra", {"limit": 3, "period": 2, "window": 1,
    "n_tests": 25})`` → ``{"limit": 3, "period": 2, "burst": 1, "n_tests": 25}``.

    The values are those a `RatelimitMixin` session given ``type=type, **kwargs`` uses: the
    algorithm's own parameters (other algorithms' are dropped), ``rate=``, or
    `sessions.ratelimit.DEFAULT_RATE` when none is given; ``n_tests`` is kept when present
    (the runner's request count). Invalid or incomplete parameters raise the session's
    `ValueError`.
    """
    algorithm = algorithm_name(type)
    options = {k: v for k, v in kwargs.items() if k != "type"}
    params = session_params(**options, type=algorithm)
    found = {name: getattr(params, name) for name in parameter_names(algorithm)}
    if "n_tests" in kwargs:
        found["n_tests"] = kwargs["n_tests"]
    return found
