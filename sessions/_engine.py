"""The I/O engine: one aiohttp connection pool behind both the fast path and httpx's send().

Why aiohttp under an httpx API: on this class of machine httpx's own async stack does
0.19–0.33k req/s at 32 in flight while aiohttp does 4–6k (REFERENCE.md; encode/httpx#3215),
and most of what is left is the cost of httpx's model objects. So:

* the **fast path** (`Engine.fetch`) sends a `Call` straight through aiohttp and builds our
  `Response` with `Response.from_parts` — no `httpx.Request`, no header parsing until asked;
* the **httpx path** (`AsyncEngineTransport` / `SyncEngineTransport`) is an ordinary httpx
  transport on the *same* aiohttp pool, used whenever a request needs httpx's machinery
  (auth flows, cookies, event hooks, streaming, multipart);
* a sync `Session` owns a private event loop in a daemon thread (`LoopThread`), so its
  single calls and its batches share that one pool too.

aiohttp errors are mapped onto httpx's exception classes, so callers catch what they
would catch with plain httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import httpx
import yarl

from ._models import Call, Response

__all__ = ["AsyncEngineTransport", "Engine", "LoopThread", "SyncEngineTransport", "map_aiohttp_errors"]

T = TypeVar("T")
_CHUNK = 64 * 1024
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def _httpx_error(exc: BaseException, request: httpx.Request | None) -> Exception:
    """The httpx exception a user of httpx expects for an aiohttp/asyncio failure."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError
    ):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(f"invalid URL {exc}", request=request)
    return httpx.NetworkError(message, request=request)


@contextlib.contextmanager
def map_aiohttp_errors(request: httpx.Request | None = None) -> Iterator[None]:
    """Re-raise aiohttp/asyncio failures as the httpx exception a user of httpx expects."""
    try:
        yield
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise _httpx_error(exc, request) from exc


def _client_session(connector: Any, headers: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        connector_owner=headers is None,  # the plain view owns the pool; the defaulted view shares it
        headers=headers,
        cookie_jar=aiohttp.DummyCookieJar(),  # httpx's jar on the session is the one source of truth
        auto_decompress=True,
        raise_for_status=False,
        trust_env=False,  # proxies from the environment become httpx mounts (httpx path)
        skip_auto_headers=("User-Agent",),
    )


class _Watch:
    """One fast-path request under the read-timeout watchdog."""

    __slots__ = ("deadline", "expired", "resp", "seen", "task", "timeout")

    def __init__(self, task: asyncio.Task[Any], timeout: float, now: float) -> None:
        self.task = task
        self.timeout = timeout
        self.deadline = now + timeout
        self.resp: aiohttp.ClientResponse | None = None
        self.seen = -1
        self.expired = False

    def progress(self) -> int:
        resp = self.resp
        return -1 if resp is None else resp.content.total_bytes


class ReadWatchdog:
    """Enforces httpx's read timeout on fast-path requests with one periodic check per loop.

    aiohttp's `sock_read` re-arms a `call_later` timer on every `data_received`; at tens of
    thousands of requests a second those timers are ~10% of the CPU (benchmarks/README.md). Here a
    request costs a set insert and removal; a single task wakes every `tick` seconds and cancels a
    request that has received no bytes for `timeout` seconds (the same idle-time meaning as httpx's
    read timeout, with `tick` granularity: at most a quarter of the timeout, and 0.5 s).
    """

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._runner: asyncio.Task[None] | None = None
        self._tick = 0.5
        self._timeout_seen = float("inf")

    def watch(self, timeout: float) -> _Watch:
        """Start watching the current task; pair with `unwatch`."""
        loop = asyncio.get_running_loop()
        entry = _Watch(asyncio.current_task(), timeout, loop.time())  # type: ignore[arg-type]
        self._watches.add(entry)
        if timeout < self._timeout_seen:
            self._timeout_seen = timeout
            self._tick = min(self._tick, max(timeout / 4, 0.01))
        runner = self._runner
        if runner is None or runner.done() or runner.get_loop() is not loop:
            self._runner = loop.create_task(self._run(), name="sessions-read-watchdog")
        return entry

    def unwatch(self, entry: _Watch) -> None:
        """Stop watching (the request finished, failed or was cancelled)."""
        self._watches.discard(entry)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._watches:
            await asyncio.sleep(self._tick)
            now = loop.time()
            for entry in [w for w in self._watches if now >= w.deadline]:
                progress = entry.progress()
                if progress != entry.seen:  # bytes arrived since the last look: not idle
                    entry.seen = progress
                    entry.deadline = now + entry.timeout
                    continue
                entry.expired = True
                self._watches.discard(entry)
                entry.task.cancel()

    def stop(self) -> None:
        """Cancel the checker (the engine is closing)."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()


def _client_timeout(timeout: httpx.Timeout | None) -> aiohttp.ClientTimeout:
    if timeout is None:
        return aiohttp.ClientTimeout(total=None)
    # No `connect=` (httpx's pool timeout): aiohttp arms that timer on every request, even on a reused
    # connection; the pool is sized by `limits`. No `sock_read=`: `ReadWatchdog` enforces the read timeout.
    return aiohttp.ClientTimeout(total=None, sock_connect=timeout.connect)


class Engine:
    """One aiohttp `ClientSession` — one connection pool — bound to one event loop.

    The pool is created lazily on the loop that first uses it (aiohttp objects must be
    made inside a running loop) and made again if a later call comes from another loop
    (e.g. two `asyncio.run` calls on one `AsyncSession`).
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        limits: httpx.Limits = _DEFAULT_LIMITS,
    ) -> None:
        self._verify = verify
        self._cert = cert
        self._trust_env = trust_env
        self._limits = limits
        self._ssl: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None
        # A second view of the same pool whose default headers are the httpx session's headers: a call
        # carrying exactly those (the common case) passes none, which saves aiohttp ~5-8 us of header
        # merging per request. Anything else goes through `_session`, which has no defaults, so a header
        # httpx removed (e.g. Authorization on a cross-origin redirect) is never put back.
        self._defaulted: aiohttp.ClientSession | None = None
        self._default_items: list[tuple[bytes, bytes, bytes]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[tuple[float | None, ...] | None, aiohttp.ClientTimeout] = {}
        self._closed = False
        self._watchdog = ReadWatchdog()

    def _ssl_context(self) -> ssl.SSLContext:
        # Built on first https use: loading the CA bundle costs milliseconds.
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(
                verify=self._verify, cert=self._cert, trust_env=self._trust_env
            )
        return self._ssl

    def client(self) -> aiohttp.ClientSession:
        """The pool for the running loop (made on first use)."""
        loop = asyncio.get_running_loop()
        session = self._session
        # `closed` is not checked: only aclose()/close_from_other_loop() close it, and they drop it.
        if session is not None and self._loop is loop:
            return session
        if self._closed:
            raise RuntimeError("Cannot send a request, as the session has been closed.")
        if session is not None:
            self.close_from_other_loop()  # a pool is bound to its loop: the old one cannot serve here
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 15.0,
            ttl_dns_cache=300,
        )
        self._session = _client_session(connector, None)
        self._defaulted = None
        self._loop = loop
        return self._session

    def _client_for(self, headers: httpx.Headers) -> tuple[aiohttp.ClientSession, Any]:
        """The pool view and the `headers=` argument for a fast-path call."""
        plain = self.client()
        # Compare httpx's internal (raw, lower, value) list: C-level equality, no list built per call.
        items: list[tuple[bytes, bytes, bytes]] = headers._list
        if self._defaulted is None:
            if self._default_items is not None and items != self._default_items:
                return plain, headers.multi_items()
            self._default_items = list(items)
            self._defaulted = _client_session(plain.connector, headers.multi_items())
        if items == self._default_items:
            return self._defaulted, None
        return plain, headers.multi_items()

    def client_timeout(self, timeout: httpx.Timeout | None) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for an httpx one (memoised: the same few values repeat)."""
        key = None if timeout is None else (timeout.connect, timeout.read, timeout.write, timeout.pool)
        found = self._timeouts.get(key)
        if found is None:
            found = self._timeouts[key] = _client_timeout(timeout)
        return found

    def _ssl_for(self, url: yarl.URL) -> ssl.SSLContext | bool:
        return self._ssl_context() if url.scheme == "https" else True

    async def fetch(self, call: Call) -> Response:
        """Send `call` over the fast path and return the fully read response."""
        started = time.perf_counter()
        url = call.yurl
        client, headers = self._client_for(call.headers)
        read_timeout = None if call.timeout is None else call.timeout.read
        watch = None if read_timeout is None else self._watchdog.watch(read_timeout)
        try:
            async with client.request(
                call.method,
                url,
                headers=headers,
                data=call.content,
                allow_redirects=False,
                timeout=self.client_timeout(call.timeout),
                ssl=self._ssl_for(url),
            ) as resp:
                if watch is not None:
                    watch.resp = resp
                content = await resp.read()
                set_cookie = "Set-Cookie" in resp.headers
                response = Response.from_parts(
                    resp.status,
                    list(resp.raw_headers),
                    content,
                    request=call.build_request,
                    elapsed=time.perf_counter() - started,
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _httpx_error(exc, None) from exc
        except asyncio.CancelledError:
            if watch is None or not watch.expired:
                raise
            current = asyncio.current_task()
            if current is not None and current.cancelling() > 1:
                raise  # the caller cancelled too: theirs wins, never swallow it
            if current is not None:
                current.uncancel()  # the cancellation was our timeout, not the caller's
            raise httpx.ReadTimeout(f"no data for {read_timeout}s (read timeout)") from None
        finally:
            if watch is not None:
                self._watchdog.unwatch(watch)
        if set_cookie:
            response._set_cookie = True
        return response

    async def open(self, request: httpx.Request, body: bytes) -> aiohttp.ClientResponse:
        """Start `request` for the httpx path: headers read, body left to stream (raw bytes)."""
        timeout = request.extensions.get("timeout")
        url = yarl.URL(str(request.url), encoded=True)
        with map_aiohttp_errors(request):
            return await self.client().request(
                request.method,
                url,
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes Content-Encoding itself on this path
                timeout=_timeout_from_extension(timeout),
                ssl=self._ssl_for(url),
            )

    async def aclose(self) -> None:
        """Close the pool; the engine refuses new requests afterwards."""
        self._closed = True
        self._watchdog.stop()
        defaulted, self._defaulted = self._defaulted, None
        if defaulted is not None and not defaulted.closed:
            await defaulted.close()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def close_from_other_loop(self) -> None:
        """Best-effort close when the owning loop is gone (no await possible)."""
        defaulted, self._defaulted = self._defaulted, None
        if defaulted is not None:
            defaulted._connector = None  # shares the pool closed below
        session, self._session = self._session, None
        if session is not None and not session.closed:
            connector = session.connector
            session._connector = None  # stop aiohttp's "unclosed session" warning: we close the connector
            if connector is not None:
                connector._close()


def _timeout_from_extension(value: Any) -> aiohttp.ClientTimeout:
    if not value:
        return aiohttp.ClientTimeout(total=None)
    return aiohttp.ClientTimeout(
        total=None, connect=value.get("pool"), sock_connect=value.get("connect"), sock_read=value.get("read")
    )


def _to_httpx_response(
    resp: aiohttp.ClientResponse, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        resp.status,
        headers=list(resp.raw_headers),
        stream=stream,
        extensions={
            "http_version": f"HTTP/{resp.version.major}.{resp.version.minor}".encode()
            if resp.version
            else b"HTTP/1.1",
            "reason_phrase": (resp.reason or "").encode(),
        },
    )


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, resp: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._resp = resp
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_aiohttp_errors(self._request):
            async for chunk in self._resp.content.iter_chunked(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        self._resp.release()


class AsyncEngineTransport(httpx.AsyncBaseTransport):
    """httpx transport on the engine's aiohttp pool (the httpx path of `AsyncSession`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await self.engine.open(request, await request.aread())
        return _to_httpx_response(resp, _AsyncBody(resp, request))

    async def aclose(self) -> None:
        await self.engine.aclose()


class LoopThread:
    """A private event loop in a daemon thread, so a sync `Session` can drive aiohttp.

    Started on first use, restarted after `fork()` (a child inherits no threads), and
    stopped by `stop()` (the session's `close()`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running private loop (started if needed)."""
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="sessions-loop", daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()

    def in_loop_thread(self) -> bool:
        """True when called from the private loop's own thread."""
        return self._thread is threading.current_thread()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the private loop and wait for its result (cancelled on Ctrl-C)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self, final: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `final` (cleanup) on the loop, then stop and join it."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or self._pid != os.getpid():
            if final is not None:
                final.close()
            return
        if final is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(final, loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, resp: aiohttp.ClientResponse, loop: LoopThread, request: httpx.Request) -> None:
        self._resp = resp
        self._loop = loop
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        content = self._resp.content
        while True:
            with map_aiohttp_errors(self._request):
                chunk = self._loop.run(content.readany())
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self._resp.release()


class SyncEngineTransport(httpx.BaseTransport):
    """httpx transport for a sync `Session`: each call hops onto the session's loop thread."""

    def __init__(self, engine: Engine, loop: LoopThread) -> None:
        self.engine = engine
        self.loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.loop.run(self.engine.open(request, request.read()))
        return _to_httpx_response(resp, _SyncBody(resp, self.loop, request))

    def close(self) -> None:
        self.loop.stop(self.engine.aclose())
