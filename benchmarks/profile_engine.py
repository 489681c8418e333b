"""Research and profiling for the batch engine (not a test; prints figures).

    python benchmarks/profile_engine.py loops        # (a) raw aiohttp, default asyncio loop vs uvloop
    python benchmarks/profile_engine.py objects      # (b) µs per httpx object construction, and the fast way
    python benchmarks/profile_engine.py prototype    # (c) aiohttp I/O + our fast Response objects vs raw aiohttp
    python benchmarks/profile_engine.py ablate       # the prototype with each per-request cost switched on alone
    python benchmarks/profile_engine.py httpx        # (d) cProfile of httpx.AsyncClient at c=32
    python benchmarks/profile_engine.py ours-ablate  # our batch with one per-request cost patched out at a time
    python benchmarks/profile_engine.py ours-diff    # cProfile: per-function µs/request, ours minus raw aiohttp
    python benchmarks/profile_engine.py ours         # cProfile of sessions.AsyncSession.requests (when it exists)
    python benchmarks/profile_engine.py all

Common options: --n 5000 --concurrency 32 --repeat 5 --uvloop --server nginx|httpbin.
Findings are written up in benchmarks/README.md.

The "fast Response" here is the recipe recommended to the engine (see ``FastResponse`` / ``fast_response``):
an ``httpx.Response`` subclass created with ``__new__`` (no ``__init__``), whose instance ``__dict__`` is filled
with exactly the attributes httpx 0.28's ``Response`` methods read, and whose ``headers`` and ``_request`` are
built lazily (raw aiohttp header pairs / method+URL string kept until first access).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import io
import os
import pstats
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aiohttp
import httpx
from httpx._models import Headers

from benchmarks._servers import bench_server, exit_on_sigterm

# --------------------------------------------------------------------------------------------------------------
# The fast Response recipe
# --------------------------------------------------------------------------------------------------------------

_ZERO = datetime.timedelta(0)


def fast_headers(raw: Iterable[tuple[bytes, bytes]]) -> httpx.Headers:
    """httpx.Headers from aiohttp's ``raw_headers`` without re-normalising (~0.5 µs vs 1.2 µs for 5 headers).

    httpx 0.28 stores ``_list`` as ``(raw_key, lower_key, value)`` byte triples and ``_encoding`` (None = sniff).
    """
    h = Headers.__new__(Headers)
    h._list = [(k, k.lower(), v) for k, v in raw]
    h._encoding = None
    return h


class FastResponse(httpx.Response):
    """httpx.Response whose ``headers`` and ``_request`` are materialised on first access.

    ``headers`` is a plain instance attribute in httpx.Response; a property on the subclass (a data descriptor)
    takes precedence, so every httpx method that reads ``self.headers`` gets the lazily built object. Same for
    ``_request`` (read directly by ``raise_for_status`` and the ``request``/``url`` properties): a URL string and
    a method are kept and ``httpx.Request`` (~18 µs with a str URL, most of it URL parsing) is built only if used.
    """

    @property  # type: ignore[override]
    def headers(self) -> httpx.Headers:
        d = self.__dict__
        h = d.get("_headers")
        if h is None:
            h = d["_headers"] = fast_headers(d["_raw_headers"])
        return h

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        self.__dict__["_headers"] = value

    @property
    def _request(self) -> httpx.Request | None:  # type: ignore[override]
        d = self.__dict__
        r = d.get("_request_obj")
        if r is None and d.get("_req_url") is not None:
            r = d["_request_obj"] = httpx.Request(d["_req_method"], d["_req_url"])
        return r

    @_request.setter
    def _request(self, value: httpx.Request | None) -> None:
        self.__dict__["_request_obj"] = value


def fast_response(
    status: int,
    raw_headers: Any,
    content: bytes,
    method: str,
    url: str,
    elapsed: datetime.timedelta = _ZERO,
    http_version: str = "HTTP/1.1",
    cls: type[FastResponse] = FastResponse,
) -> FastResponse:
    """Build a fully read response without ``__init__``: ~0.6 µs instead of ~11 µs (+18 µs for the Request)."""
    r = cls.__new__(cls)
    d = r.__dict__
    d["status_code"] = status  # everything
    d["_raw_headers"] = raw_headers  # -> .headers (lazy)
    d["_req_method"] = method  # -> ._request / .request / .url (lazy)
    d["_req_url"] = url
    d["next_request"] = None  # client redirect logic
    d["extensions"] = {"http_version": http_version.encode()} if http_version != "HTTP/1.1" else {}
    d["history"] = []
    d["is_closed"] = True  # read() / close() / aread() / aclose() short-circuit
    d["is_stream_consumed"] = True
    d["default_encoding"] = "utf-8"  # .encoding / .text
    d["stream"] = httpx.ByteStream(content)  # iter_bytes()/aiter_bytes() replay _content; pickling drops it
    d["_content"] = content  # .content / .json() / .text / .read()
    d["_num_bytes_downloaded"] = len(content)  # .num_bytes_downloaded
    d["_elapsed"] = elapsed  # .elapsed
    return r


# --------------------------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------------------------


class Clock:
    """Wall time and process CPU time (all threads) of a block: ``.result = (wall_s, cpu_s)``.

    CPU seconds per request is the steadier metric on a shared 2-core VM: another process stealing the CPU
    lowers req/s but barely changes our own CPU time per request (nginx's CPU is not counted: other process).
    """

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = (time.perf_counter() - self._w, time.process_time() - self._c)


def make_urls(base: str, n: int) -> list[str]:
    return [f"{base}/get?i={i}" for i in range(n)]


async def raw_aiohttp(urls: list[str], c: int) -> tuple[float, float]:
    it = iter(urls)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:

        async def worker() -> None:
            for u in it:
                async with s.get(u) as r:
                    await r.read()

        with Clock() as clk:
            await asyncio.gather(*[worker() for _ in range(c)])
        return clk.result


class ErrorResult:
    __slots__ = ("exception", "index", "method", "url")
    ok = False
    status_code = None

    def __init__(self, index: int, url: str, method: str, exception: BaseException) -> None:
        self.index, self.url, self.method, self.exception = index, url, method, exception


async def proto_engine(urls: Iterable[str], c: int, mode: str = "lazy") -> tuple[float, float]:
    """The engine loop as recommended: workers pull (index, url) from one shared iterator (lazy, bounded),
    aiohttp does the I/O, the result slot gets a FastResponse or an ErrorResult. ``mode``:
    ``lazy`` (FastResponse, lazy headers + request), ``eager`` (fast __new__ response but real httpx.Headers
    and httpx.Request built per item), ``httpx`` (public httpx.Request(...) + httpx.Response(...) constructors).
    """
    results: list[Any] = []
    it = enumerate(urls)
    method = "GET"
    headers = {"Accept": "*/*", "User-Agent": "sessions-proto"}  # merged once per batch, set on the session
    perf = time.perf_counter
    td = datetime.timedelta
    # Per-request headers= costs aiohttp a CIMultiDict merge per request (~8 µs): set them on the ClientSession.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c), headers=headers) as s:

        async def worker() -> None:
            for i, u in it:
                while len(results) <= i:
                    results.append(None)
                t0 = perf()
                try:
                    async with s.request(method, u) as r:
                        body = await r.read()
                        if mode == "lazy":
                            results[i] = fast_response(
                                r.status, r.raw_headers, body, method, u, td(seconds=perf() - t0)
                            )
                        elif mode == "eager":
                            resp = fast_response(
                                r.status, r.raw_headers, body, method, u, td(seconds=perf() - t0)
                            )
                            resp.headers = fast_headers(r.raw_headers)
                            resp._request = httpx.Request(method, u)
                            results[i] = resp
                        else:
                            req = httpx.Request(method, u)
                            resp2 = httpx.Response(r.status, headers=r.raw_headers, content=body, request=req)
                            resp2.elapsed = td(seconds=perf() - t0)
                            results[i] = resp2
                except Exception as exc:
                    results[i] = ErrorResult(i, u, method, exc)

        with Clock() as clk:
            await asyncio.gather(*[worker() for _ in range(c)])
        el = clk.result
    assert all(getattr(x, "status_code", None) == 200 for x in results), "prototype produced errors"
    return el


async def ablation_engine(
    urls: list[str],
    c: int,
    *,
    build: bool,
    session_headers: bool,
    request_headers: bool,
    timing: bool,
    slots: bool,
) -> tuple[float, float]:
    """The prototype with each per-request cost switchable, to attribute the gap to raw aiohttp."""
    results: list[Any] = []
    it = enumerate(urls)
    perf, td = time.perf_counter, datetime.timedelta
    hdrs = {"Accept": "*/*", "User-Agent": "sessions-proto"}
    skw: dict[str, Any] = {"headers": hdrs} if session_headers else {}
    rkw: dict[str, Any] = {"headers": hdrs} if request_headers else {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c), **skw) as s:

        async def worker() -> None:
            for i, u in it:
                if slots:
                    while len(results) <= i:
                        results.append(None)
                t0 = perf() if timing else 0.0
                try:
                    async with s.request("GET", u, **rkw) as r:
                        body = await r.read()
                        if build:
                            x: Any = fast_response(
                                r.status,
                                r.raw_headers,
                                body,
                                "GET",
                                u,
                                td(seconds=perf() - t0) if timing else _ZERO,
                            )
                        else:
                            x = body
                        if slots:
                            results[i] = x
                        else:
                            results.append(x)
                except Exception as exc:
                    results.append(exc)

        with Clock() as clk:
            await asyncio.gather(*[worker() for _ in range(c)])
    return clk.result


async def raw_httpx(urls: list[str], c: int) -> tuple[float, float]:
    sem = asyncio.Semaphore(c)
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits) as client:

        async def one(u: str) -> None:
            async with sem:
                r = await client.get(u)
                r.read()

        with Clock() as clk:
            await asyncio.gather(*[one(u) for u in urls])
        return clk.result


# --------------------------------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------------------------------


Timing = tuple[float, float]


def runner(use_uvloop: bool) -> Callable[[Coroutine[Any, Any, Timing]], Timing]:
    if use_uvloop:
        import uvloop

        return uvloop.run  # type: ignore[no-any-return]
    return asyncio.run


def interleaved(
    contenders: dict[str, Callable[[], Timing]], n: int, repeat: int
) -> dict[str, tuple[float, ...]]:
    """Warm up each contender once, then ``repeat`` rounds in rotated order.

    Returns per contender (median req/s, median CPU µs/req, min CPU µs/req). On a shared VM, interference only
    ever adds CPU time, so the minimum is the steadiest estimate of a contender's own cost.
    """
    for f in contenders.values():  # warm-up
        f()
    rps: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(repeat):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate so nobody always goes first
        for k in order:
            wall, c = contenders[k]()
            rps[k].append(n / wall)
            cpu[k].append(c / n * 1e6)
    return {k: (statistics.median(rps[k]), statistics.median(cpu[k]), min(cpu[k])) for k in contenders}


def show(res: dict[str, tuple[float, ...]], ref: str) -> None:
    r_rps, r_cpu, r_min = res[ref]
    print(
        f"  {'':38s} {'req/s':>7s} {'ratio':>6s}  {'CPU µs/req med':>14s} {'ratio':>6s}  {'min':>6s} {'ratio':>6s}"
        f"   (vs {ref}; CPU ratio = ref CPU / this CPU)"
    )
    for k, (v, c, m) in res.items():
        print(
            f"  {k:38s} {v:7.0f} {v / r_rps:5.2f}x  {c:14.1f} {r_cpu / c:5.2f}x  {m:6.1f} {r_min / m:5.2f}x"
        )


def cmd_loops(base: str, a: argparse.Namespace) -> None:
    urls = make_urls(base, a.n)
    res = interleaved(
        {
            "aiohttp/asyncio": lambda: runner(False)(raw_aiohttp(urls, a.concurrency)),
            "aiohttp/uvloop": lambda: runner(True)(raw_aiohttp(urls, a.concurrency)),
        },
        a.n,
        a.repeat,
    )
    show(res, "aiohttp/asyncio")


def cmd_objects(base: str, a: argparse.Namespace) -> None:
    raw = [
        (b"Server", b"nginx"),
        (b"Date", b"Fri, 20 Nov 2026 23:59:00 GMT"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"52"),
        (b"Connection", b"keep-alive"),
    ]
    body = b'{"ok": true, "server": "nginx", "bench": "sessions"}'
    url = "http://127.0.0.1:8080/get?i=1"
    client, aclient = httpx.Client(), httpx.AsyncClient()
    req, uobj = httpx.Request("GET", url), httpx.URL(url)
    cases: dict[str, Callable[[], Any]] = {
        "httpx.URL(str)": lambda: httpx.URL(url),
        "httpx.Request('GET', str)": lambda: httpx.Request("GET", url),
        "httpx.Request('GET', httpx.URL)": lambda: httpx.Request("GET", uobj),
        "Client.build_request('GET', str)": lambda: client.build_request("GET", url),
        "AsyncClient.build_request('GET', str)": lambda: aclient.build_request("GET", url),
        "httpx.Headers(5 byte pairs)": lambda: httpx.Headers(raw),
        "fast_headers(5 byte pairs)": lambda: fast_headers(raw),
        "httpx.Response(200, headers=, content=, request=)": lambda: httpx.Response(
            200, headers=raw, content=body, request=req
        ),
        "fast_response (lazy headers + request)": lambda: fast_response(200, raw, body, "GET", url),
        "fast_response + .headers access": lambda: fast_response(200, raw, body, "GET", url).headers,
        "fast_response + .request access": lambda: fast_response(200, raw, body, "GET", url).request,
        "datetime.timedelta(seconds=x)": lambda: datetime.timedelta(seconds=0.001),
    }
    for name, f in cases.items():
        t = timeit.Timer(f)
        k, _ = t.autorange()
        best = min(t.repeat(5, k)) / k
        print(f"  {name:52s} {best * 1e6:7.2f} µs")
    client.close()
    check_fast_response()
    print(
        "  fast_response: .content .text .json() .headers .raise_for_status() .elapsed .is_success .url "
        ".request .cookies .encoding .iter_bytes() .aread() pickle: all OK"
    )


def check_fast_response() -> None:
    import pickle

    raw = [(b"Content-Type", b"application/json; charset=utf-8"), (b"Server", b"nginx")]
    body = b'{"ok": true}'
    r = fast_response(200, raw, body, "GET", "http://h/x?a=1", datetime.timedelta(seconds=0.25))
    assert isinstance(r, httpx.Response)
    assert r.content == body and r.text == body.decode() and r.json() == {"ok": True}
    assert r.headers["content-type"].startswith("application/json") and r.headers is r.headers
    assert r.is_success and r.raise_for_status() is r and r.elapsed.total_seconds() == 0.25
    assert str(r.url) == "http://h/x?a=1" and r.request.method == "GET" and r.encoding == "utf-8"
    assert r.http_version == "HTTP/1.1" and r.reason_phrase == "OK" and r.num_bytes_downloaded == len(body)
    assert list(r.iter_bytes()) == [body] and r.read() == body and not r.links and r.cookies is not None
    assert repr(r) == "<Response [200 OK]>"
    r2 = pickle.loads(pickle.dumps(fast_response(200, raw, body, "GET", "http://h/")))
    assert r2.content == body and r2.headers["server"] == "nginx" and str(r2.url) == "http://h/"
    e = fast_response(503, raw, body, "GET", "http://h/")
    try:
        e.raise_for_status()
        raise AssertionError("no raise")
    except httpx.HTTPStatusError as exc:
        assert exc.response is e and "503" in str(exc)

    async def _a() -> None:
        assert await r.aread() == body and [c async for c in r.aiter_bytes()] == [body]
        await r.aclose()

    asyncio.run(_a())


def cmd_prototype(base: str, a: argparse.Namespace) -> None:
    urls = make_urls(base, a.n)
    run = runner(a.uvloop)
    c = a.concurrency
    res = interleaved(
        {
            "raw aiohttp": lambda: run(raw_aiohttp(urls, c)),
            "proto lazy FastResponse": lambda: run(proto_engine(iter(urls), c, "lazy")),
            "proto eager Headers+Request": lambda: run(proto_engine(iter(urls), c, "eager")),
            "proto httpx Request+Response": lambda: run(proto_engine(iter(urls), c, "httpx")),
        },
        a.n,
        a.repeat,
    )
    print(f"  loop: {'uvloop' if a.uvloop else 'asyncio default'}; n={a.n} c={c} median of {a.repeat}")
    show(res, "raw aiohttp")


def cmd_ablate(base: str, a: argparse.Namespace) -> None:
    urls = make_urls(base, a.n)
    run = runner(a.uvloop)
    c = a.concurrency
    none = dict(build=False, session_headers=False, request_headers=False, timing=False, slots=False)
    variants = {
        "retain body only": none,
        "+ fast_response": {**none, "build": True},
        "+ ClientSession(headers=)": {**none, "build": True, "session_headers": True},
        "+ request(headers=) instead": {**none, "build": True, "request_headers": True},
        "+ perf_counter/timedelta": {**none, "build": True, "timing": True},
        "+ index slots": {**none, "build": True, "slots": True},
        "all (session headers)": {
            **none,
            "build": True,
            "session_headers": True,
            "timing": True,
            "slots": True,
        },
    }
    contenders: dict[str, Callable[[], Timing]] = {"raw aiohttp": lambda: run(raw_aiohttp(urls, c))}
    for name, kw in variants.items():
        contenders[name] = lambda kw=kw: run(ablation_engine(urls, c, **kw))  # type: ignore[misc]
    res = interleaved(contenders, a.n, a.repeat)
    print(f"  loop: {'uvloop' if a.uvloop else 'asyncio default'}; n={a.n} c={c} median of {a.repeat}")
    show(res, "raw aiohttp")


def _profile(coro_factory: Callable[[], Coroutine[Any, Any, Any]], n: int, run: Any, top: int) -> None:
    run(coro_factory())  # warm-up (connections, imports)
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.enable()
    run(coro_factory())
    pr.disable()
    el = time.perf_counter() - t
    print(
        f"  profiled run: {n / el:.0f} req/s under cProfile ({el / n * 1e6:.0f} µs/request incl. profiler overhead)"
    )
    s = io.StringIO()
    st = pstats.Stats(pr, stream=s)
    rows = []
    for (fn, line, name), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, ct, nc, f"{os.path.basename(fn)}:{line}({name})" if line else name))
    print(f"  {'tottime µs/req':>14s} {'cumtime µs/req':>14s} {'calls/req':>9s}  function")
    for tt, ct, nc, name in sorted(rows, reverse=True)[:top]:
        print(f"  {tt / n * 1e6:14.2f} {ct / n * 1e6:14.2f} {nc / n:9.2f}  {name}")
    print("  -- by cumulative --")
    for tt, ct, nc, name in sorted(rows, key=lambda r: -r[1])[:top]:
        print(f"  {tt / n * 1e6:14.2f} {ct / n * 1e6:14.2f} {nc / n:9.2f}  {name}")


def cmd_httpx(base: str, a: argparse.Namespace) -> None:
    n = min(a.n, 2000)
    urls = make_urls(base, n)
    run = runner(a.uvloop)
    print(f"  sniffio importable: {_has('sniffio')}; n={n} c={a.concurrency}")
    _profile(lambda: raw_httpx(urls, a.concurrency), n, run, a.top)


def cmd_ours(base: str, a: argparse.Namespace) -> None:
    try:
        from sessions import AsyncSession
    except ImportError as exc:
        print(f"  skipped: {exc}")
        return
    if not hasattr(AsyncSession, "requests"):
        print("  skipped: AsyncSession.requests does not exist yet")
        return
    urls = make_urls(base, a.n)
    run = runner(a.uvloop)

    async def ours() -> None:
        async with AsyncSession() as s:
            await s.requests(urls, concurrency=a.concurrency, progress=False)

    _profile(ours, a.n, run, a.top)


# --- ablation of our engine: each patch removes one per-request cost, measured without a profiler ------------


def _ours_patches() -> dict[str, Callable[[], Callable[[], None]]]:
    """Runtime-only monkeypatches of sessions internals (nothing is written): name -> apply() -> undo()."""
    import sessions._engine as eng
    import sessions._session as sess

    def patch(obj: Any, name: str, value: Any) -> Callable[[], None]:
        old = obj.__dict__[name]
        setattr(obj, name, value)
        return lambda: setattr(obj, name, old)

    no_timeout = aiohttp.ClientTimeout(total=None)

    def timeout_off() -> Callable[[], None]:
        # aiohttp's sock_read re-arms a call_later timer on every data_received (httpx's read timeout).
        return patch(eng.Engine, "client_timeout", lambda self, timeout: no_timeout)

    def timeout_total() -> Callable[[], None]:
        # one timer per request instead (what aiohttp's default total= does)
        cache: dict[Any, aiohttp.ClientTimeout] = {}

        def ct(self: Any, timeout: Any) -> aiohttp.ClientTimeout:
            key = None if timeout is None else timeout.read
            if key not in cache:
                cache[key] = aiohttp.ClientTimeout(
                    total=key, sock_connect=None if timeout is None else timeout.connect
                )
            return cache[key]

        return patch(eng.Engine, "client_timeout", ct)

    def timeout_watchdog() -> Callable[[], None]:
        # Keep sock_read semantics, but instead of one call_later per data_received, stamp a deadline and let
        # one periodic tick per loop fire _on_read_timeout for stale handlers.
        orig_client = eng.Engine.__dict__["client"]

        def client(self: Any) -> aiohttp.ClientSession:
            cs = orig_client(self)
            conn = cs.connector
            if conn is not None and not getattr(conn, "_bench_wd", False):
                import functools

                conn._factory = functools.partial(WatchdogHandler, loop=conn._loop)
                conn._bench_wd = True
            return cs

        return patch(eng.Engine, "client", client)

    def cheap_call() -> Callable[[], None]:
        # per-batch Call template: what _make_call computes is constant for plain-URL items of one batch
        import sessions._batch as batch
        from sessions._models import Call

        orig_send = batch.Batch.__dict__["_send"]

        async def _send(self: Any, index: int, item: Any, method: str) -> Any:
            tpl = self.__dict__.get("_bench_tpl")
            if tpl is None:
                tpl = self.__dict__["_bench_tpl"] = self.session._make_call(method, "http://x/", {}, {})
            if type(item) is str and not self.request_kwargs and item.startswith(("http://", "https://")):
                call = Call(method, item, tpl.headers, None, tpl.timeout, tpl.follow_redirects, False, {}, {})
                try:
                    response = await self.session._adispatch(call)
                except Exception as exc:
                    from sessions._models import ErrorResult

                    return ErrorResult(index, method, item, exc)
                return response
            return await orig_send(self, index, item, method)

        return patch(batch.Batch, "_send", _send)

    def bypass_dispatch() -> Callable[[], None]:
        # upper bound: no retry/redirect/cookie layer at all (only valid without retries, mixins, cookies)
        undo = cheap_call()
        orig = sess._SessionCore.__dict__["_adispatch"]

        async def _adispatch(self: Any, call: Any) -> Any:
            return await self._engine.fetch(call)

        setattr(sess._SessionCore, "_adispatch", _adispatch)

        def both() -> None:
            setattr(sess._SessionCore, "_adispatch", orig)
            undo()

        return both

    def options_cached() -> Callable[[], None]:
        orig = sess._SessionCore.__dict__["_all_request_options"].__func__
        cache: dict[type, frozenset[str]] = {}

        def cached(cls: type) -> frozenset[str]:
            got = cache.get(cls)
            if got is None:
                got = cache[cls] = orig(cls)
            return got

        return patch(sess._SessionCore, "_all_request_options", classmethod(cached))

    def lean_fetch(*, headers_on_session: bool, no_ctxmgr: bool) -> Callable[[], Callable[[], None]]:
        def apply() -> Callable[[], None]:
            orig_client = eng.Engine.__dict__["client"]
            from sessions._models import Response

            def client(self: Any) -> aiohttp.ClientSession:
                cs = orig_client(self)
                if headers_on_session and not getattr(cs, "_bench_headers", False):
                    cs._default_headers = aiohttp.client.CIMultiDict(self._bench_default)  # type: ignore[attr-defined]
                    cs._bench_headers = True  # type: ignore[attr-defined]
                return cs

            async def fetch(self: Any, call: Any) -> Any:
                started = time.perf_counter()
                url = call.yurl
                if headers_on_session:
                    if (
                        getattr(self, "_bench_src", None) is not call.headers
                    ):  # one snapshot per header object
                        self._bench_src = call.headers
                        self._bench_default = call.headers.multi_items()
                    hdrs = None
                else:
                    hdrs = call.headers.multi_items()
                kw = {
                    "headers": hdrs,
                    "data": call.content,
                    "allow_redirects": False,
                    "timeout": self.client_timeout(call.timeout),
                    "ssl": self._ssl_for(url),
                }
                if no_ctxmgr:
                    try:
                        async with client(self).request(call.method, url, **kw) as resp:
                            content = await resp.read()
                            status = resp.status
                            raw = resp.raw_headers
                    except (aiohttp.ClientError, OSError, TimeoutError):
                        with eng.map_aiohttp_errors():
                            raise
                        raise
                else:
                    with eng.map_aiohttp_errors():
                        async with client(self).request(call.method, url, **kw) as resp:
                            content = await resp.read()
                            status = resp.status
                            raw = resp.raw_headers
                return Response.from_parts(
                    status,
                    raw,
                    content,
                    request=call.build_request,
                    elapsed=datetime.timedelta(seconds=time.perf_counter() - started),
                )

            undo1 = patch(eng.Engine, "fetch", fetch)
            return undo1

        return apply

    return {
        "timeout: none (no sock_read timer)": timeout_off,
        "timeout: total= (one timer/req)": timeout_total,
        "_all_request_options cached": options_cached,
        "fetch: no contextmanager": lean_fetch(headers_on_session=False, no_ctxmgr=True),
        "fetch: headers on ClientSession": lean_fetch(headers_on_session=True, no_ctxmgr=False),
        "fetch: both": lean_fetch(headers_on_session=True, no_ctxmgr=True),
        "timeout: watchdog handler": timeout_watchdog,
        "batch: per-batch Call template": cheap_call,
        "batch: template + bypass _adispatch": bypass_dispatch,
    }


class WatchdogHandler(aiohttp.client_proto.ResponseHandler):
    """aiohttp's ResponseHandler with sock_read enforced by a per-loop periodic check instead of a timer per read.

    ``_reschedule_timeout`` (called on every ``data_received``) costs one ``loop.time()`` and a set insert instead
    of cancel + ``call_later`` (a TimerHandle, a heap push, and heap garbage until the cancelled handle is popped).
    Timeouts fire up to one tick (``TICK`` s) late.
    """

    TICK = 0.25
    _live: dict[asyncio.AbstractEventLoop, set[WatchdogHandler]] = {}
    _deadline: float | None = None

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if timeout:
            loop = self._loop
            self._deadline = loop.time() + timeout
            live = WatchdogHandler._live.get(loop)
            if live is None:
                live = WatchdogHandler._live[loop] = set()
                loop.call_later(self.TICK, WatchdogHandler._tick, loop)
            live.add(self)
        else:
            self._deadline = None

    def _drop_timeout(self) -> None:
        self._deadline = None

    @staticmethod
    def _tick(loop: asyncio.AbstractEventLoop) -> None:
        live = WatchdogHandler._live.get(loop)
        if not live:
            WatchdogHandler._live.pop(loop, None)
            return
        now = loop.time()
        for h in list(live):
            d = h._deadline
            if d is None:
                live.discard(h)
            elif now >= d:
                h._deadline = None
                live.discard(h)
                h._on_read_timeout()
        loop.call_later(WatchdogHandler.TICK, WatchdogHandler._tick, loop)


def cmd_ours_ablate(base: str, a: argparse.Namespace) -> None:
    try:
        from sessions import AsyncSession
    except ImportError as exc:
        print(f"  skipped: {exc}")
        return
    urls = make_urls(base, a.n)
    run = runner(a.uvloop)
    c = a.concurrency
    patches = _ours_patches()

    async def ours() -> Timing:
        async with AsyncSession() as s:
            with Clock() as clk:
                res = await s.requests(urls, concurrency=c, progress=False)
        assert all(getattr(r, "status_code", None) == 200 for r in res), res[0]
        return clk.result

    def with_patches(names: list[str]) -> Callable[[], Timing]:
        def go() -> Timing:
            undos = [patches[nm]() for nm in names]
            try:
                return run(ours())
            finally:
                for u in reversed(undos):
                    u()

        return go

    contenders: dict[str, Callable[[], Timing]] = {
        "raw aiohttp": lambda: run(raw_aiohttp(urls, c)),
        "ours (as is)": with_patches([]),
    }
    for nm in patches:
        contenders["ours + " + nm] = with_patches([nm])
    contenders["ours + all but timeout"] = with_patches(["_all_request_options cached", "fetch: both"])
    contenders["ours + all (no sock_read)"] = with_patches(
        ["timeout: none (no sock_read timer)", "_all_request_options cached", "fetch: both"]
    )
    contenders["ours + all (watchdog)"] = with_patches(
        ["timeout: watchdog handler", "_all_request_options cached", "fetch: both"]
    )
    contenders["ours + all + template"] = with_patches(
        ["timeout: watchdog handler", "fetch: both", "batch: per-batch Call template"]
    )
    contenders["ours + all + template + bypass"] = with_patches(
        ["timeout: watchdog handler", "fetch: both", "batch: template + bypass _adispatch"]
    )
    res = interleaved(contenders, a.n, a.repeat)
    print(f"  loop: {'uvloop' if a.uvloop else 'asyncio default'}; n={a.n} c={c} median of {a.repeat}")
    show(res, "raw aiohttp")


def _profile_stats(
    coro_factory: Callable[[], Coroutine[Any, Any, Any]], run: Any
) -> dict[str, tuple[float, int]]:
    run(coro_factory())
    pr = cProfile.Profile()
    pr.enable()
    run(coro_factory())
    pr.disable()
    st = pstats.Stats(pr)
    out: dict[str, tuple[float, int]] = {}
    for (fn, line, name), (_cc, nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        key = f"{os.path.basename(fn)}:{line}({name})" if line else name
        out[key] = (tt, nc)
    return out


def cmd_ours_diff(base: str, a: argparse.Namespace) -> None:
    """Function-level difference (cProfile tottime, µs/request) between our batch and raw aiohttp."""
    from sessions import AsyncSession

    urls = make_urls(base, a.n)
    run = runner(a.uvloop)
    c = a.concurrency
    patches = _ours_patches()

    async def ours() -> None:
        async with AsyncSession() as s:
            await s.requests(urls, concurrency=c, progress=False)

    undos = [patches[nm]() for nm in (a.patch or [])]
    try:
        mine = _profile_stats(ours, run)
    finally:
        for u in reversed(undos):
            u()
    raw = _profile_stats(lambda: raw_aiohttp(urls, c), run)
    n = a.n
    tot_m = sum(v[0] for v in mine.values()) / n * 1e6
    tot_r = sum(v[0] for v in raw.values()) / n * 1e6
    print(
        f"  patches: {a.patch or 'none'}; total profiled µs/req: ours {tot_m:.1f}, raw aiohttp {tot_r:.1f} "
        f"(cProfile inflates both; read the differences)"
    )
    rows = []
    for k in set(mine) | set(raw):
        tm, nm = mine.get(k, (0.0, 0))
        tr, nr = raw.get(k, (0.0, 0))
        rows.append(((tm - tr) / n * 1e6, tm / n * 1e6, tr / n * 1e6, nm / n, nr / n, k))
    print(f"  {'Δ µs/req':>9s} {'ours':>7s} {'raw':>7s} {'calls':>6s} {'raw c':>6s}  function")
    for d, tm, tr, cm, cr, k in sorted(rows, reverse=True)[: a.top]:
        print(f"  {d:9.2f} {tm:7.2f} {tr:7.2f} {cm:6.2f} {cr:6.2f}  {k}")


def _has(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "what",
        choices=[
            "loops",
            "objects",
            "prototype",
            "ablate",
            "httpx",
            "ours",
            "ours-ablate",
            "ours-diff",
            "all",
        ],
    )
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--server", choices=["nginx", "httpbin"], default="nginx")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--patch", action="append", help="ours-diff: apply a named ablation patch (repeatable)")
    a = p.parse_args()
    exit_on_sigterm()
    cmds = {
        "loops": cmd_loops,
        "objects": cmd_objects,
        "prototype": cmd_prototype,
        "ablate": cmd_ablate,
        "httpx": cmd_httpx,
        "ours": cmd_ours,
        "ours-ablate": cmd_ours_ablate,
        "ours-diff": cmd_ours_diff,
    }
    with bench_server(a.server) as srv:
        print(
            f"server: {srv.name} {srv.detail} at {srv.base_url}; python {sys.version.split()[0]}; "
            f"aiohttp {aiohttp.__version__}; httpx {httpx.__version__}; cpus {os.cpu_count()}"
        )
        for name in cmds if a.what == "all" else [a.what]:
            print(f"== {name}")
            cmds[name](srv.base_url, a)


if __name__ == "__main__":
    main()
