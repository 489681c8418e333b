"""The I/O engine: one aiohttp connection pool behind both the fast path and httpx's send().

Why aiohttp under an httpx API: on this class of machine httpx's own async stack does
0.19–0.33k req/s at 32 in flight while aiohttp does 4–6k (REFERENCE.md; encode/httpx#3215),
and most of what is left is the cost of httpx's model objects. So:

* the **fast path** (`Engine.fetch`) sends a `Call` straight through aiohttp and builds our
  `Response` with `Response.from_parts` — no `httpx.Request`, no header parsing until asked;
* the **httpx path** (`AsyncEngineTransport` / `SyncEngineTransport`) is an ordinary httpx
  transport on the *same* aiohttp pool, used whenever a request needs httpx's machinery
  (auth flows, cookies, event hooks, streaming, multipart);
* a sync `Session` makes a single fast-path call on the calling thread (`CallerLoop`: a private
  loop and pool it runs for the length of the call); its batches, streams and httpx-path requests,
  and calls that find the connections busy, run on a private event loop in a daemon thread
  (`LoopThread`) with its own pool.

aiohttp errors are mapped onto httpx's exception classes, so callers catch what they
would catch with plain httpx.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import ssl
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import aiohttp
import httpx
import yarl

from ._alarm import on_asyncio
from ._models import Call, Response
from ._wire import HeaderBlock, Origins, exchange, is_idempotent, lean_method, request_head

__all__ = [
    "NOT_RUN",
    "AsyncEngineTransport",
    "CallerLoop",
    "Engine",
    "LoopThread",
    "SyncEngineTransport",
    "map_aiohttp_errors",
]

T = TypeVar("T")
_CHUNK = 64 * 1024
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def _httpx_error(exc: BaseException, request: httpx.Request | None) -> Exception:
    """The httpx exception a user of httpx expects for an aiohttp/asyncio failure."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, PoolWaitExpired):
        return httpx.PoolTimeout(message, request=request)
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
    if isinstance(exc, aiohttp.NonHttpUrlClientError):  # not an InvalidURL in every aiohttp release
        scheme = str(exc).partition(":")[0]
        return httpx.UnsupportedProtocol(
            f"Request URL has an unsupported protocol '{scheme}://'.", request=request
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(f"invalid URL {exc}", request=request)
    return httpx.NetworkError(message, request=request)


@contextlib.contextmanager
def map_aiohttp_errors(request: httpx.Request | None = None) -> Iterator[None]:
    """Re-raise aiohttp/asyncio failures as the httpx exception a user of httpx expects."""
    try:
        yield
    except (aiohttp.ClientError, OSError, TimeoutError, PoolWaitExpired) as exc:
        raise _httpx_error(exc, request) from exc


# Headers aiohttp adds on its own when a request lacks them (`ClientRequest.DEFAULT_HEADERS`, its User-Agent),
# as (httpx's lower-case raw name, the name to skip).
_AIOHTTP_AUTO_HEADERS = (
    (b"accept", "Accept"),
    (b"accept-encoding", "Accept-Encoding"),
    (b"user-agent", "User-Agent"),
)


# Methods aiohttp gives a Content-Type (application/octet-stream) even without a body.
_TYPED_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _auto_headers_to_skip(items: list[tuple[bytes, bytes, bytes]], typed: bool) -> tuple[str, ...] | None:
    """What aiohttp must not add to a request with these headers (httpx's raw list), so that the wire carries
    the headers httpx would send: none of aiohttp's defaults, and no Content-Type of its own
    (application/octet-stream) when ``typed`` (a body, or a method in `_TYPED_METHODS`). None when there is
    nothing to skip: aiohttp's fast path."""
    present = {lower for _, lower, _ in items}
    skip = [name for lower, name in _AIOHTTP_AUTO_HEADERS if lower not in present]
    if typed and b"content-type" not in present:
        skip.append("Content-Type")
    return tuple(skip) or None


def _header_items(headers: httpx.Headers) -> list[tuple[str, str]]:
    """httpx's ``multi_items()`` with the encoding worked out afresh: a merged `Headers` keeps the encoding
    its source had cached (ascii) when non-ASCII values are added to it, and ``multi_items()`` then fails on
    a request httpx itself sends (it writes the raw bytes). Tried in httpx's order: ascii, utf-8, latin-1."""
    items = headers._list
    for encoding in ("ascii", "utf-8"):
        try:
            return [(lower.decode(encoding), value.decode(encoding)) for _, lower, value in items]
        except UnicodeDecodeError:
            continue
    return [(lower.decode("iso-8859-1"), value.decode("iso-8859-1")) for _, lower, value in items]


def _sendable_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The request's headers for aiohttp, whose body here is always whole bytes: without httpx's
    ``Transfer-Encoding: chunked`` (from a generator body), aiohttp then sends a Content-Length instead of
    both (which servers reject)."""
    items = _header_items(headers)
    if "transfer-encoding" in headers:
        items = [(k, v) for k, v in items if k.lower() != "transfer-encoding"]
    return items


_HOLD_CONNECTION: ContextVar[bool] = ContextVar("sessions_hold_connection", default=False)


class _HeldResponse(aiohttp.ClientResponse):
    """A response whose connection, on the httpx path, stays checked out of the pool until its body stream is
    closed — as httpx holds it, so that `max_connections` and the pool timeout count an open stream. aiohttp
    hands the connection back as soon as the whole body has arrived, read or not; the fast path reads the
    body at once, so there the two are the same and nothing is held."""

    _hold = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hold = _HOLD_CONNECTION.get()

    def _release_connection(self) -> None:
        if not self._hold:
            super()._release_connection()

    def release(self) -> Any:
        """Hand the connection back now (the body stream was closed)."""
        self._hold = False
        return super().release()


def _client_session(connector: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        response_class=_HeldResponse,
        cookie_jar=aiohttp.DummyCookieJar(),  # httpx's jar on the session is the one source of truth
        auto_decompress=True,
        raise_for_status=False,
        trust_env=False,  # proxies from the environment become httpx mounts (httpx path)
        # No skip_auto_headers here: set on the session, aiohttp builds a CIMultiDict of them per request;
        # `_auto_headers_to_skip` passes them per request, only when one is needed.
    )


class _Watch:
    """One fast-path request under the read-timeout watchdog.

    Two phases, as in httpx: until the request has a connection (queued for the pool, DNS, connect, TLS)
    it may take ``pool + connect`` seconds, unbounded when the pool timeout is None, and expiring then is a
    `httpx.PoolTimeout`; from the moment it has one, the read timeout counts idle time between bytes.
    """

    __slots__ = (
        "body",
        "deadline",
        "expired",
        "loop",
        "pool",
        "queue_limit",
        "queued",
        "seen",
        "sent",
        "task",
        "timeout",
        "transport",
        "uploading",
        "write",
    )

    def __init__(
        self,
        task: asyncio.Task[Any],
        timeout: float,
        queue_limit: float | None,
        loop: asyncio.AbstractEventLoop,
        write: float = float("inf"),
        pool: float | None = None,
    ) -> None:
        self.task = task
        self.timeout = timeout
        self.write = write
        self.pool = pool  # httpx's pool timeout: the longest wait for a full pool's connection
        self.queue_limit = queue_limit
        self.loop = loop
        self.queue()
        self.body: aiohttp.StreamReader | None = None  # the response's body, once its headers arrived
        self.seen = -1
        self.sent = 0  # body bytes handed to the connection (large uploads only: see `_upload`)
        self.transport: asyncio.Transport | None = None  # the connection's, once the connector handed it over
        self.uploading = False
        self.expired: type[httpx.TimeoutException] | None = None

    def queue(self) -> None:
        """Waiting for a connection: ``pool + connect`` from now."""
        self.queued = True
        limit = self.queue_limit
        self.deadline = float("inf") if limit is None else self.loop.time() + limit

    def connected(self) -> None:
        """The request has its connection: the read timeout starts now."""
        self.queued = False
        self.deadline = self.loop.time() + self.timeout

    def start_upload(self) -> None:
        """A large body starts going out: the write timeout counts idle time until it is all sent."""
        self.uploading = True
        self.deadline = self.loop.time() + self.write

    def end_upload(self) -> None:
        """The body is sent: from now on the read timeout counts, waiting for the response."""
        self.uploading = False
        self.deadline = self.loop.time() + self.timeout

    def idle_limit(self) -> float:
        """Seconds without progress allowed in the current phase (queued phases never re-arm)."""
        return self.write if self.uploading else self.timeout

    def timeout_error(self) -> httpx.TimeoutException:
        """The exception for an expired watch."""
        if self.expired is httpx.PoolTimeout:
            return httpx.PoolTimeout(f"no connection within {self.queue_limit}s (pool + connect timeout)")
        if self.expired is httpx.WriteTimeout:
            return httpx.WriteTimeout(f"the server took no body bytes for {self.write}s (after {self.sent})")
        return httpx.ReadTimeout(f"no data for {self.timeout}s (read timeout)")

    def progress(self) -> int:
        """Body bytes received so far; before the response headers, ``-1 - bytes sent`` (an upload moving
        on is progress too: the read timeout must not fire while a large body is still going out)."""
        body = self.body
        return -1 - self.sent if body is None else body.total_bytes

    def abort(self) -> None:
        """Drop the connection of an expired request at once: a graceful close would wait for ever for a
        server that stopped reading to take the unsent rest of the body (the socket would stay open)."""
        transport = self.transport
        if transport is not None:
            transport.abort()

    def expiry(self) -> type[httpx.TimeoutException]:
        """Which timeout this watch ran out of."""
        if self.queued:
            return httpx.PoolTimeout
        return httpx.WriteTimeout if self.uploading else httpx.ReadTimeout


# The fast-path request in flight in this task, for `_WatchedConnector` (set and reset around each call).
_CURRENT_WATCH: ContextVar[_Watch | None] = ContextVar("sessions_current_watch", default=None)


class _WatchedConnector(aiohttp.TCPConnector):
    """Tells the watchdog when a fast-path request got its connection (the one step aiohttp takes between
    queueing for the pool and sending, without trace hooks, which cost every request several microseconds)."""

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:  # noqa: ASYNC109 (aiohttp's signature)
        watch = _CURRENT_WATCH.get()
        if watch is not None and not watch.queued:
            watch.queue()  # aiohttp retries on a new connection after a stale keep-alive one: queued again
        connection = await super().connect(req, traces, timeout)
        if watch is not None:
            watch.transport = connection.transport
            watch.connected()
        return connection

    async def _wait_for_available_connection(self, key: Any, traces: Any) -> None:
        # Only reached when the pool is full: httpx's pool timeout bounds this wait alone (aiohttp's
        # `connect=` would bound the wait and the connecting together, and call either a ConnectTimeout).
        watch = _CURRENT_WATCH.get()
        limit = None if watch is None else watch.pool
        if limit is None:
            await super()._wait_for_available_connection(key, traces)
            return
        try:
            async with asyncio.timeout(limit):
                await super()._wait_for_available_connection(key, traces)
        except TimeoutError:
            raise PoolWaitExpired(f"no connection from the pool within {limit}s (pool timeout)") from None


class PoolWaitExpired(Exception):
    """The pool timeout ran out (not a TimeoutError: aiohttp would report that as a connect timeout)."""


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

    def watch(
        self,
        timeout: float,
        queue_limit: float | None,
        write: float = float("inf"),
        pool: float | None = None,
    ) -> _Watch:
        """Start watching the current task; pair with `unwatch`. See `_Watch` for the limits."""
        loop = asyncio.get_running_loop()
        task: Any = asyncio.current_task()
        entry = _Watch(task, timeout, queue_limit, loop, write, pool)
        self._watches.add(entry)
        shortest = min(timeout, write) if queue_limit is None else min(timeout, write, queue_limit)
        if shortest < self._timeout_seen:
            self._timeout_seen = shortest
            self._tick = min(self._tick, max(shortest / 4, 0.01))
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
                    entry.deadline = now + entry.idle_limit()
                    continue
                entry.expired = entry.expiry()
                self._watches.discard(entry)
                entry.task.cancel()

    def stop(self) -> None:
        """Cancel the checker (the engine is closing)."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()


@dataclass(frozen=True, slots=True)
class _TimeoutPlan:
    """What the fast path does with one httpx timeout value, worked out once (the same few values repeat)."""

    client_timeout: aiohttp.ClientTimeout
    read: float  # idle seconds between bytes once connected (inf: no limit)
    queue_limit: float | None  # seconds to get a connection: pool + connect (None: no limit)
    watched: bool  # whether the watchdog has anything to enforce
    write: float = float("inf")  # idle seconds while a large body goes out (inf: no limit)
    pool: float | None = None  # seconds to wait for a free connection of a full pool (None: no limit)


def _timeout_plan(timeout: httpx.Timeout | None) -> _TimeoutPlan:
    if timeout is None:
        return _TimeoutPlan(aiohttp.ClientTimeout(total=None), float("inf"), None, False)
    # No `connect=` (httpx's pool timeout) and no `sock_read=`: aiohttp arms those timers on every request,
    # even on a reused connection; `ReadWatchdog` enforces both (see `_Watch`).
    client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout.connect)
    queue_limit = _queue_limit(timeout)
    read = float("inf") if timeout.read is None else timeout.read
    write = float("inf") if timeout.write is None else timeout.write
    return _TimeoutPlan(
        client_timeout,
        read,
        queue_limit,
        watched=any(value is not None for value in (timeout.read, queue_limit, timeout.write, timeout.pool)),
        write=write,
        pool=timeout.pool,
    )


# URL schemes the lean exchange sends (aiohttp reports the others, e.g. an unsupported-protocol error).
_LEAN_SCHEMES = frozenset({"http", "https"})

# A body larger than this may take longer to send than the read timeout; smaller ones fit the socket buffers.
_WATCHED_UPLOAD = 256 * 1024


async def _upload(body: bytes, watch: _Watch) -> AsyncIterator[bytes]:
    """``body`` in chunks, counting each one as sent when the connection asks for the next (aiohttp waits
    for the socket to drain between chunks), so the watchdog sees an upload that is moving."""
    watch.start_upload()
    view = memoryview(body)
    for start in range(0, len(view), _CHUNK):
        chunk = view[start : start + _CHUNK]
        yield bytes(chunk)
        watch.sent += len(chunk)
    watch.end_upload()


def _queue_limit(timeout: httpx.Timeout) -> float | None:
    """How long a request may wait for its connection: httpx's pool timeout plus its connect timeout."""
    if timeout.pool is None or timeout.connect is None:
        return None  # either wait may last for ever
    return timeout.pool + timeout.connect


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()  # the process whose loop made `_session`
        self._timeouts: dict[tuple[float | None, ...] | None, _TimeoutPlan] = {}
        # The lean exchange's state: the pool key of each origin, the last header list serialised.
        self._origins = Origins()
        self._block_items: list[tuple[bytes, bytes, bytes]] | None = None
        self._block: HeaderBlock | None = None
        self._closed = False
        self._watchdog = ReadWatchdog()

    def connections_in_use(self) -> int:
        """Connections of this pool serving a request or held by an open stream (read from any thread)."""
        session = self._session
        connector = None if session is None else session.connector
        return 0 if connector is None else len(connector._acquired)  # aiohttp's set of acquired connections

    def sibling(self) -> Engine:
        """A new engine (a pool of its own, for another loop) with this one's TLS, proxy and pool settings."""
        return Engine(verify=self._verify, cert=self._cert, trust_env=self._trust_env, limits=self._limits)

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
        if session is not None and self._pid != os.getpid():
            self._abandon_inherited()  # a forked child's copy of the parent's pool: the parent's to close
        elif session is not None:
            self.close_from_other_loop()  # a pool is bound to its loop: the old one cannot serve here
        limits = self._limits
        connector = _WatchedConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 15.0,
            ttl_dns_cache=300,
        )
        self._session = _client_session(connector)
        self._origins = Origins()  # its key requests belong to the old loop
        self._loop, self._pid = loop, os.getpid()
        return self._session

    def timeout_plan(self, timeout: httpx.Timeout | None) -> _TimeoutPlan:
        """The fast path's plan for an httpx timeout (memoised by value)."""
        key = None if timeout is None else (timeout.connect, timeout.read, timeout.write, timeout.pool)
        found = self._timeouts.get(key)
        if found is None:
            found = self._timeouts[key] = _timeout_plan(timeout)
        return found

    def _ssl_for(self, url: yarl.URL) -> ssl.SSLContext | bool:
        return self._ssl_context() if url.scheme == "https" else True

    def _lean_block(self, call: Call, url: yarl.URL, body: Any) -> HeaderBlock | None:
        """The serialised headers when `call` can take the lean exchange (`_wire`), else None."""
        if not lean_method(call.method) or url.scheme not in _LEAN_SCHEMES:
            return None
        if url.raw_user is not None or url.raw_password is not None:
            return None  # aiohttp turns URL credentials into an Authorization header
        if body is not None and (type(body) is not bytes or len(body) > _WATCHED_UPLOAD):
            return None
        headers = call.headers
        # httpx's internal (raw, lower, value) list: a C-level compare, no list built per call.
        items: list[tuple[bytes, bytes, bytes]] = headers._list
        block = self._block
        if block is None or items != self._block_items:
            block = self._block = HeaderBlock(items)
            self._block_items = list(items)
        if not block.sendable or not url.raw_host:
            return None
        if body is not None and block.length is not None and block.length != b"%d" % len(body):
            return None  # a caller's Content-Length that is not the body's: aiohttp refuses or cuts the body
        return block

    async def fetch(self, call: Call) -> Response:
        """Send `call` over the fast path and return the fully read response."""
        started = time.perf_counter()
        url = call.yurl
        body: Any = call.content
        block = self._lean_block(call, url, body)
        session = self.client()  # outside the `try`: a closed engine says so in its own words
        plan = self.timeout_plan(call.timeout)
        watch = (
            self._watchdog.watch(plan.read, plan.queue_limit, plan.write, plan.pool) if plan.watched else None
        )
        token = _CURRENT_WATCH.set(watch)
        try:
            if block is not None:
                status, raw_headers, content, set_cookie = await self._lean(
                    session, call, url, body, block, plan, watch
                )
            else:
                status, raw_headers, content, set_cookie = await self._through_aiohttp(
                    session, call, url, body, plan, watch
                )
        except Exception as exc:
            if self._closed:
                # The pool was closed under this call ("Connector is closed", or an internal assertion).
                raise RuntimeError("the session was closed while this call was running") from exc
            if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError | PoolWaitExpired):
                raise _httpx_error(exc, _request_of(call)) from exc
            raise
        except asyncio.CancelledError:
            expired = _expired(watch)
            if expired is None:
                raise
            request = _request_of(call)
            if request is not None:
                expired.request = request
            raise expired from None
        finally:
            _CURRENT_WATCH.reset(token)
            if watch is not None:
                self._watchdog.unwatch(watch)
        response = Response.from_parts(
            status, raw_headers, content, request=call, elapsed=time.perf_counter() - started
        )
        if set_cookie:
            response._set_cookie = True
        return response

    async def _lean(
        self,
        session: aiohttp.ClientSession,
        call: Call,
        url: yarl.URL,
        body: bytes | None,
        block: HeaderBlock,
        plan: _TimeoutPlan,
        watch: Any,
    ) -> tuple[int, Any, bytes, bool]:
        loop: Any = self._loop  # the running loop: `client()` just made or checked the pool for it
        key = self._origins.key_for(url, self._ssl_for, loop)
        method = call.method
        head = request_head(method, url, block, body)
        message, content = await exchange(
            session, key, method, url, head if body is None else head + body, plan.client_timeout, watch
        )
        return message.code, message.raw_headers, content, "Set-Cookie" in message.headers

    async def _through_aiohttp(
        self,
        session: aiohttp.ClientSession,
        call: Call,
        url: yarl.URL,
        body: Any,
        plan: _TimeoutPlan,
        watch: Any,
    ) -> tuple[int, Any, bytes, bool]:
        headers = call.headers
        typed = body is not None or call.method in _TYPED_METHODS
        if watch is not None and body is not None and len(body) > _WATCHED_UPLOAD:
            body = _upload(body, watch)
        async with session.request(
            call.method,
            url,
            headers=_header_items(headers),
            skip_auto_headers=_auto_headers_to_skip(headers._list, typed),
            data=body,
            allow_redirects=False,
            timeout=plan.client_timeout,
            ssl=self._ssl_for(url),
        ) as resp:
            if watch is not None:
                watch.body = resp.content  # its body's progress counts from now
            content = await resp.read()
            return resp.status, resp.raw_headers, content, "Set-Cookie" in resp.headers

    async def open(self, request: httpx.Request, body: bytes) -> aiohttp.ClientResponse:
        """Start `request` for the httpx path: headers read, body left to stream (raw bytes)."""
        timeout = request.extensions.get("timeout")
        url = yarl.URL(str(request.url), encoded=True)
        write, pool = (timeout.get("write"), timeout.get("pool")) if timeout else (None, None)
        # The watchdog bounds the pool wait, and a large body's upload, as on the fast path (aiohttp has
        # neither); the read timeout stays aiohttp's `sock_read` on this path.
        watch = None
        data: Any = body or None
        large = len(body) > _WATCHED_UPLOAD
        if pool is not None or (write is not None and large):
            watch = self._watchdog.watch(float("inf"), None, float("inf") if write is None else write, pool)
            if large and write is not None:
                data = _upload(body, watch)
        token = _CURRENT_WATCH.set(watch)
        hold = _HOLD_CONNECTION.set(True)
        try:
            with map_aiohttp_errors(request):
                return await self._open(request, bool(body), data, url, timeout)
        except asyncio.CancelledError:
            expired = _expired(watch)
            if expired is None:
                raise
            expired.request = request
            raise expired from None
        finally:
            _HOLD_CONNECTION.reset(hold)
            _CURRENT_WATCH.reset(token)
            if watch is not None:
                self._watchdog.unwatch(watch)

    async def _open(
        self, request: httpx.Request, has_body: bool, data: Any, url: yarl.URL, timeouts: Any
    ) -> aiohttp.ClientResponse:
        return await self.client().request(
            request.method,
            url,
            headers=_sendable_headers(request.headers),
            skip_auto_headers=_auto_headers_to_skip(
                request.headers._list, has_body or request.method in _TYPED_METHODS
            ),
            data=data,
            allow_redirects=False,
            auto_decompress=False,  # httpx decodes Content-Encoding itself on this path
            timeout=_timeout_from_extension(timeouts),
            ssl=self._ssl_for(url),
        )

    def _abandon_inherited(self) -> None:
        """Drop, without closing, a pool inherited through fork(). Closing it here would unregister its
        sockets from the parent's epoll instance (shared across fork): the parent's next read on that
        connection would never wake up (a ReadTimeout there). Kept referenced so no finalizer closes it."""
        _INHERITED.append((self._session, self._loop))
        self._session = None
        self._loop = None
        self._watchdog = ReadWatchdog()  # its task, if any, lives on the parent's loop

    async def aclose(self) -> None:
        """Close the pool; the engine refuses new requests afterwards."""
        if self._session is not None and self._pid != os.getpid():
            self._abandon_inherited()
        self._closed = True
        self._watchdog.stop()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def __del__(self) -> None:
        # A session nobody closed (`client = Session()` and exit, or an AsyncSession dropped after
        # asyncio.run): httpx says nothing then, and neither do we — aiohttp would print "Unclosed client
        # session" for each pool. Closed as when a call comes from another loop; a loop that is gone cannot
        # close its sockets any more (that error is dropped): the process, or the GC, does.
        if self._session is None or self._pid != os.getpid():
            return  # nothing, or a pool a forked child inherited: never closed from the child
        with contextlib.suppress(Exception):  # a finalizer can report nothing; the pool is gone anyway
            self.close_from_other_loop(final=True)

    def close_from_other_loop(self, *, final: bool = False) -> None:
        """Best-effort close when the owning loop is gone (no await possible); `final`: for good."""
        if final:
            self._closed = True
        if self._session is not None and self._pid != os.getpid():
            self._abandon_inherited()
            return
        session, self._session = self._session, None
        if session is not None and not session.closed:
            connector = session.connector
            session._connector = None  # stop aiohttp's "unclosed session" warning: we close the connector
            if connector is not None:
                connector._close()


def _request_of(call: Call) -> httpx.Request | None:
    """The `httpx.Request` an error of the fast path carries, as httpx's do (`exc.request`): built only
    now, on failure — the fast path builds none — and None for a URL httpx itself cannot parse."""
    try:
        return call.build_request()
    except Exception:
        return None


def _expired(watch: _Watch | None) -> httpx.TimeoutException | None:
    """The timeout a cancelled request ran out of, or None when the cancellation is the caller's."""
    if watch is None or watch.expired is None:
        return None
    current = asyncio.current_task()
    if current is not None and current.cancelling() > 1:
        return None  # the caller cancelled too: theirs wins, never swallow it
    if current is not None:
        current.uncancel()  # the cancellation was our timeout, not the caller's
    watch.abort()
    return watch.timeout_error()


def _timeout_from_extension(value: Any) -> aiohttp.ClientTimeout:
    if not value:
        return aiohttp.ClientTimeout(total=None)
    # No `connect=`: it bounds the pool wait and the connecting together; the watch bounds the wait alone.
    return aiohttp.ClientTimeout(total=None, sock_connect=value.get("connect"), sock_read=value.get("read"))


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
    """httpx transport on the engine's aiohttp pool (the httpx path of `AsyncSession`).

    aiohttp runs on asyncio only. Called from another loop (trio), the request goes to httpx's own
    `AsyncHTTPTransport`, made on first need from the session's settings (`fallback`): what httpx
    itself would have used.
    """

    def __init__(
        self, engine: Engine, fallback: Callable[[], httpx.AsyncBaseTransport] | None = None
    ) -> None:
        self.engine = engine
        self._make_fallback = fallback
        self._fallback: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not on_asyncio():
            return await self._other_loop_transport().handle_async_request(request)
        resp = await self.engine.open(request, await request.aread())
        return _to_httpx_response(resp, _AsyncBody(resp, request))

    def _other_loop_transport(self) -> httpx.AsyncBaseTransport:
        if self._fallback is None:
            if self._make_fallback is None:
                raise RuntimeError("this session's aiohttp engine runs on asyncio only")
            self._fallback = self._make_fallback()
        return self._fallback

    async def aclose(self) -> None:
        fallback, self._fallback = self._fallback, None
        if fallback is not None:
            await fallback.aclose()
        if on_asyncio():
            await self.engine.aclose()
        else:
            self.engine.close_from_other_loop(final=True)  # its pool, if any, is an asyncio loop's


async def _finish_other_tasks(grace: float) -> None:
    """Wait up to `grace` seconds for the loop's other tasks, then cancel what is left and let it unwind."""
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    if others:
        _, pending = await asyncio.wait(others, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for _ in range(2):  # transports closed above finish on the next loop turns (connection_lost callbacks)
        await asyncio.sleep(0)


CLOSED_MESSAGE = "Cannot send a request, as the session has been closed."
#: What a forked child inherited and must never close: the parent's loops and pools. Closing a loop or a
#: transport unregisters file descriptors from an epoll instance the parent shares, which silences the
#: parent's sockets and its loop's wake-up pipe. Kept referenced, so no finalizer closes them either.
_INHERITED: list[object] = []
_LOOP_THREADS: weakref.WeakSet[LoopThread] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for loop_thread in list(_LOOP_THREADS):
        loop_thread._forget_parent()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_open_sessions_at_exit() -> None:
    """Close the pools of sync sessions still open at exit (`client = Session()` and no close()), on
    their own loops, as httpx and requests would stay quiet: no "Unclosed client session" from aiohttp."""
    for caller in list(_CALLER_LOOPS):
        if caller._pid == os.getpid():
            with contextlib.suppress(Exception):
                caller.close()
    for loop_thread in list(_LOOP_THREADS):
        if loop_thread.stopped or loop_thread._thread is None or loop_thread._pid != os.getpid():
            continue
        final = loop_thread.final_at_exit
        loop_thread.stop(final() if final is not None else None)


class LoopThread:
    """A private event loop in a daemon thread, so a sync `Session` can drive aiohttp.

    Started on first use, restarted after `fork()` (a child inherits no threads), and
    stopped for good by `stop()` (the session's `close()`): later calls raise RuntimeError,
    and calls that were still waiting on the loop when it stopped fail instead of hanging.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopped = False
        self._pending: set[concurrent.futures.Future[Any]] = set()  # calls of other threads in flight
        #: The cleanup `stop()` runs when the interpreter exits with the session still open.
        self.final_at_exit: Callable[[], Coroutine[Any, Any, Any]] | None = None
        _LOOP_THREADS.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's threads are gone, and with them whoever held our lock."""
        self._lock = threading.Lock()
        self._pending = set()

    @property
    def stopped(self) -> bool:
        """Whether `stop()` was called (the session is closed)."""
        return self._stopped

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running private loop (started if needed)."""
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._stopped:
                raise RuntimeError(CLOSED_MESSAGE)
            if self._loop is None or self._pid != os.getpid():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        if self._loop is not None and self._pid != os.getpid():
            _INHERITED.append(self._loop)  # a forked child: the parent's loop (see `_INHERITED`)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                self._fail_pending()
                loop.close()

        thread = threading.Thread(target=run, name="sessions-loop", daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()

    def in_loop_thread(self) -> bool:
        """True when called from the private loop's own thread."""
        return self._thread is threading.current_thread()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the private loop and wait for its result (cancelled on Ctrl-C)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "a sync Session cannot be called from its own loop (a batch callback, say): waiting there "
                "would deadlock; use an AsyncSession there, or make the call after requests() returns"
            )
        try:
            loop = self.loop
        except RuntimeError:
            coro.close()
            raise
        with self._lock:  # registered before `stop()` can sweep, or refused after it
            if self._stopped:
                coro.close()
                raise RuntimeError(CLOSED_MESSAGE)
            future = asyncio.run_coroutine_threadsafe(coro, loop)
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if not self._stopped:
                raise
            raise RuntimeError("the session was closed while this call was running") from None
        except BaseException:
            future.cancel()
            raise
        finally:
            with self._lock:
                self._pending.discard(future)

    def stop(self, final: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `final` (cleanup) on the loop, let calls in flight end, then stop the loop for good."""
        with self._lock:
            again, self._stopped = self._stopped, True
        loop, thread = self._loop, self._thread
        # `again`: the transport's close and the session's both stop the loop; the first one does it.
        if again or loop is None or thread is None or self._pid != os.getpid():
            if final is not None:
                final.close()
            return
        if self.in_loop_thread():  # close() from a callback running on the loop: nothing here may wait
            loop.create_task(_shut_down(loop, final))
            return
        if final is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(final, loop).result(timeout=10)
        # Calls still running (another thread's request or batch) must end, not be frozen with the loop:
        # with the pool closed they fail within a few loop turns; whatever is left after a grace is cancelled.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_finish_other_tasks(grace=1.0), loop).result(timeout=10)
        with contextlib.suppress(RuntimeError):  # already closed by a stop from inside
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    def _fail_pending(self) -> None:
        """Fail the calls whose coroutine never got to run (scheduled as the loop stopped)."""
        with self._lock:
            pending, self._pending = self._pending, set()
        for future in pending:
            if not future.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_exception(RuntimeError("the session was closed while this call was running"))


async def _shut_down(loop: asyncio.AbstractEventLoop, final: Coroutine[Any, Any, Any] | None) -> None:
    """`LoopThread.stop` from the loop's own thread, as a task: clean up, let the rest end, stop."""
    try:
        if final is not None:
            with contextlib.suppress(Exception):
                await final
        await _finish_other_tasks(grace=1.0)
    finally:
        loop.stop()


_CALLER_LOOPS: weakref.WeakSet[CallerLoop] = weakref.WeakSet()
NOT_RUN: Any = object()  # `CallerLoop.fetch` could not run the call here: the caller hops to the loop thread


class CallerLoop:
    """A sync `Session`'s single calls on the calling thread itself: a private loop and pool that the caller
    runs for the length of its call (`run_forever`, stopped by the call as it ends), instead of handing the
    call to the loop thread and waiting. That hand-over costs two thread wake-ups a call (~110 µs on a VM),
    as much as the rest of a small request.

    One thread at a time: a caller that already runs an event loop (a sync call inside async code, a batch
    callback), or that finds the loop thread's pool with a connection in use (a batch, another thread's
    call, an open stream), gets `NOT_RUN` and takes the loop thread as before, so `max_connections` holds as
    in httpx (with a stream open on the only connection the next call waits, or raises `httpx.PoolTimeout`).
    A caller that finds the loop taken by another thread hops too while the loop thread's pool has room for
    both calls, and otherwise waits for the loop, up to the pool timeout. Only a batch started while this
    loop's call is in flight can put one request beyond the limit on the wire. `close()` from another thread
    cancels a call in flight (it raises RuntimeError, as on the loop thread). Between calls nothing runs the
    loop: a call whose method is not retried first lets it take in what arrived meanwhile (a server closing
    an idle kept-alive connection), so that connection is not picked for the request; the others are sent
    again on a fresh connection if they meet a closed one, as aiohttp does.
    """

    def __init__(self, engine: Engine) -> None:
        self._template = engine  # the loop thread's engine: its settings, and the connections it has in use
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Engine | None = None
        # The call in flight, for a close() from elsewhere.
        self._task: asyncio.Task[Response | None] | None = None
        self._pid = os.getpid()
        self._closed = False
        _CALLER_LOOPS.add(self)

    def fetch(self, call: Call) -> Response:
        """`Engine.fetch(call)` run here and now, or `NOT_RUN`."""
        if asyncio._get_running_loop() is not None or self._template.connections_in_use():
            # A loop runs here already; or the loop thread's pool is busy (a batch, another thread's call, an
            # open stream): the call waits for that pool, within `max_connections`, as in httpx.
            return NOT_RUN  # type: ignore[no-any-return]
        if self._pid != os.getpid():
            self._forget_parent()
        if not self._acquire(call):
            return NOT_RUN  # type: ignore[no-any-return]
        try:
            if self._closed:
                return NOT_RUN  # type: ignore[no-any-return]  # the loop thread's path says it is closed
            loop, engine = self._loop, self._engine
            if loop is None or engine is None:
                loop, engine = self._loop, self._engine = asyncio.new_event_loop(), self._template.sibling()
            run = _Run()
            task: asyncio.Task[Response | None] | None = None
            try:  # from the task's creation on: a Ctrl-C right after it must not leave it queued for later
                task = self._task = loop.create_task(_run_and_stop(engine, call, loop, run))
                task.add_done_callback(run.stop_if_never_run)
                loop.run_forever()
                if not task.done():
                    raise RuntimeError("Event loop stopped before the call completed.")
                return cast(Response, task.result())  # None only for a task whose call was over first
            except asyncio.CancelledError:
                if not self._closed:
                    raise
                raise RuntimeError("the session was closed while this call was running") from None
            except BaseException:  # Ctrl-C in the middle: let the call unwind, briefly, before going on
                run.over = True  # from here on the unwinding, not the task or its callback, ends the loop
                if task is not None:
                    self._unwind(loop, task)
                    if task.done() and not task.cancelled():
                        task.exception()  # retrieved: raised to the caller below, not logged by asyncio later
                raise
            finally:
                # A task or callback of this call still queued (a Ctrl-C between the task's creation and
                # the loop's start) must neither send its request nor stop the next call's loop.
                run.over = True
        finally:
            self._task = None
            if self._closed:
                self._close_here()  # close() came from another thread during this call: it left it to us
            self._lock.release()

    def _acquire(self, call: Call) -> bool:
        """Take the loop, or say the caller should hop. With the loop taken by another thread's call, a hop
        would add a connection beside that one: allowed while the loop thread's pool keeps room for both,
        otherwise the caller waits for the loop (bounded by the pool timeout), as httpx's pool would."""
        if self._lock.acquire(blocking=False):
            return True
        limit = self._template._limits.max_connections
        if limit is None or self._template.connections_in_use() + 2 <= limit:
            return False
        pool = None if call.timeout is None else call.timeout.pool
        if self._lock.acquire(timeout=-1 if pool is None else pool):
            return True
        raise httpx.PoolTimeout("no connection free within the pool timeout", request=_request_of(call))

    def _unwind(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        """Cancel an interrupted call and give it a second to unwind; a loop it leaves in a state that
        cannot finish is dropped (the next call makes a new loop and pool)."""
        if task.done():
            return
        task.cancel()
        with contextlib.suppress(BaseException):  # interrupted again, or the loop is broken: dropped below
            loop.run_until_complete(asyncio.wait({task}, timeout=1.0))
        if not task.done():
            _INHERITED.append((self._loop, self._engine))  # never closed from under the stuck task
            self._loop = self._engine = None

    def _forget_parent(self) -> None:
        """In a forked child: the parent's loop and pool are never closed here (see `_INHERITED`), and the
        lock may have been held by a parent thread that does not exist here."""
        _INHERITED.append((self._loop, self._engine))
        self._loop = self._engine = None
        self._task = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the pool and the loop. A call in flight on another thread is cancelled (it raises
        RuntimeError, as on the loop thread) and that thread closes them as its call ends."""
        if self._pid != os.getpid():
            self._forget_parent()
        self._closed = True
        if not self._lock.acquire(blocking=False):
            loop, task = self._loop, self._task
            if loop is not None and task is not None:
                with contextlib.suppress(RuntimeError):  # the loop just stopped: the owner closes anyway
                    loop.call_soon_threadsafe(task.cancel)
            # The cancelled call ends within a loop turn or two; if its thread saw `_closed` too early to
            # close, the lock comes free here. Bounded: a thread that never runs again (exit) is not waited.
            if not self._lock.acquire(timeout=1.0):
                return
        try:
            self._close_here()
        finally:
            self._lock.release()

    def _close_here(self) -> None:
        """Close the loop and pool (with the lock held, the loop not running)."""
        loop, engine, self._loop, self._engine = self._loop, self._engine, None, None
        if loop is None or engine is None:
            return

        def finish() -> None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(engine.aclose())
                loop.run_until_complete(_finish_other_tasks(grace=0.0))  # the transports' last callbacks
            loop.close()

        if asyncio._get_running_loop() is None:
            finish()
        else:  # this thread runs an event loop (close() from async code): ours can only run on another
            closer = threading.Thread(target=finish, name="sessions-close", daemon=True)
            closer.start()
            closer.join(timeout=10)


def _forget_parents_of_caller_loops() -> None:
    # At fork, not lazily on first use: a child that never calls still finalizes what it inherited when it
    # exits, and aiohttp's finalizers would close the parent's sockets (see `_INHERITED`).
    for caller in list(_CALLER_LOOPS):
        caller._forget_parent()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_of_caller_loops)


class _Run:
    """One caller-loop call, as its driver (`CallerLoop.fetch`) and its task see it: whether the task's
    coroutine ran (it then stops the loop itself as it ends), and whether the call is over for its caller."""

    __slots__ = ("over", "ran")

    def __init__(self) -> None:
        self.ran = False
        self.over = False

    def stop_if_never_run(self, task: asyncio.Task[Any]) -> None:
        # A task cancelled before its first step (close() from another thread) never runs the coroutine's
        # `finally`: the loop is stopped from its done callback instead, one turn later.
        if not self.ran and not self.over:
            task.get_loop().stop()


def _resent_if_stale(call: Call) -> bool:
    """Whether `call`, meeting a kept-alive connection the server has closed, is sent again on a fresh one:
    an idempotent method (the lean exchange and aiohttp resend those) with a body that can be sent twice —
    a large body is streamed from a generator under the write timeout, which aiohttp will not replay."""
    body = call.content
    return is_idempotent(call.method) and (body is None or len(body) <= _WATCHED_UPLOAD)


async def _run_and_stop(
    engine: Engine, call: Call, loop: asyncio.AbstractEventLoop, run: _Run
) -> Response | None:
    """`engine.fetch(call)`, then stop the loop in the same turn (`run_until_complete` would take one more
    turn to run its done callback). A call that would not be sent again (`_resent_if_stale`) first lets the
    loop take one turn, so the readiness the selector reports (an idle connection's EOF or reset) is handled
    before the request takes a connection from the pool; the others are sent again on a fresh connection if
    they meet a closed one."""
    if run.over:  # its caller was interrupted before the loop ran: nothing is sent, the loop is not stopped
        return None
    run.ran = True
    try:
        if not _resent_if_stale(call):
            await asyncio.sleep(0)
        return await engine.fetch(call)
    finally:
        loop.stop()


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
        # The connection goes back to the pool, waking a request waiting for it: on the loop's own thread,
        # without waiting for it (this thread's next call is queued behind it on the loop, so it finds the
        # connection back).
        if self._loop.stopped or self._loop.in_loop_thread():
            self._resp.release()
            return
        with contextlib.suppress(RuntimeError):  # the session closed meanwhile: its pool is gone
            self._loop.loop.call_soon_threadsafe(self._resp.release)


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
