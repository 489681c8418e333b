"""`Session` and `AsyncSession`: httpx clients with a cooperative hook protocol for mixins.

A request flows through two hooks (docs/ARCHITECTURE.md):

    request() ─► _dispatch(call)     once per logical request: CacheMixin wraps this
                   └ retry and redirect loop
                       └ _send_wire(call)   once per wire attempt: RatelimitMixin wraps this

Why hook at the session and not in an httpx transport: a cache hit through
`Client.get` → `build_request` → `send` → transport costs ~160 µs before any storage work
(`build_request` alone ~28–51 µs, `httpx.URL` parsing ~11 µs), while a hit caught in
`request()` from the raw arguments costs a key computation and a lookup. The wire hook
sits inside our own retry/redirect loop, so every retry and every redirect hop passes the
limiter once, on the fast path and on the httpx path alike.

Each hook has a sync and an async flavour (`_dispatch`/`_adispatch`,
`_send_wire`/`_asend_wire`); a mixin implements both and calls `super()` of the same one.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ClassVar

import httpx
import sniffio
from httpx._client import USE_CLIENT_DEFAULT, UseClientDefault
from httpx._content import encode_request

from ._alarm import on_asyncio, precise_sleep
from ._engine import NOT_RUN, AsyncEngineTransport, CallerLoop, Engine, LoopThread, SyncEngineTransport
from ._models import Call, ErrorResult, Response
from ._options import CLAIMED, KNOWN, reject_unknown
from ._retry import Retry

__all__ = ["AsyncSession", "Session"]

_HTTPX_CLIENT_ARGS = frozenset(inspect.signature(httpx.Client.__init__).parameters) - {"self"}
_OWN_ARGS = frozenset({"retries"})
_REQUEST_ARGS = frozenset(
    {
        "content",
        "data",
        "files",
        "json",
        "params",
        "headers",
        "cookies",
        "auth",
        "follow_redirects",
        "timeout",
    }
)
Result = Response | ErrorResult
_PER_REQUEST_COOKIES = (  # httpx's own words (Client.request), so filters written for httpx match ours
    "Setting per-request cookies=<...> is being deprecated, because the expected behaviour on cookie "
    "persistence is ambiguous. Set cookies directly on the client instance instead."
)
_RETRY_AFTER = frozenset({413, 429, 503})  # statuses whose Retry-After alone makes them retryable


class _SessionCore:
    """What `Session` and `AsyncSession` share: option checking, building calls, retry policy."""

    #: Overridable in tests to observe waits without sleeping.
    # `precise_sleep`: a reserved rate-limit slot is met on time (asyncio's timers round up to milliseconds).
    _asleep: Callable[[float], Any] = staticmethod(precise_sleep)

    #: Per-request options the base session understands; mixins add theirs (collected per class).
    request_options: ClassVar[frozenset[str]] = frozenset({"retries"})

    _retry: Retry
    _engine: Engine
    #: The exception info of the ``with`` block being left, while `__exit__` runs `close()`.
    _exit_info: tuple[Any, ...] | None = None
    _fast_ok: bool
    _max_redirects: int

    # -- construction -------------------------------------------------------------------

    @staticmethod
    def _prepare_init(kwargs: dict[str, Any], cls_name: str) -> dict[str, Any]:
        """Drop what mixins claimed, reject what nobody did, return httpx's own keywords."""
        claimed: set[str] = kwargs.pop(CLAIMED, set())
        known: set[str] = kwargs.pop(KNOWN, set())
        for name in claimed:
            kwargs.pop(name, None)
        reject_unknown(kwargs, _HTTPX_CLIENT_ARGS | _OWN_ARGS | known, where=f"{cls_name}()")
        return kwargs

    @staticmethod
    def _engine_from(kwargs: dict[str, Any]) -> Engine | None:
        """Our aiohttp engine, unless the user asked for something only httpx's transports do."""
        if kwargs.get("transport") is not None or kwargs.get("http2") or kwargs.get("proxy") is not None:
            return None
        return Engine(
            verify=kwargs.get("verify", True),
            cert=kwargs.get("cert"),
            trust_env=kwargs.get("trust_env", True),
            limits=kwargs.get("limits") or httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    #: Whether the fast path may join an iterator body into bytes (a sync session may; an async one
    #: sends it through httpx's path, which refuses a sync iterator as httpx.AsyncClient does).
    _joins_sync_iterators: ClassVar[bool] = True

    def _joinable_body(self, content: Any) -> bool:
        """Whether a ``content=`` body can go by the fast path (an async one is read by httpx's path)."""
        if content is None or isinstance(content, bytes | str):
            return True
        return self._joins_sync_iterators and not hasattr(content, "__aiter__")

    @classmethod
    def _all_request_options(cls) -> frozenset[str]:
        """Per-request option names of every class in the MRO (computed once per class)."""
        cached = cls.__dict__.get("_request_options_cache")
        if cached is None:
            names: set[str] = set()
            for klass in cls.__mro__:
                names |= klass.__dict__.get("request_options", frozenset())
            cached = frozenset(names)
            cls._request_options_cache = cached  # type: ignore[attr-defined]
        return cached

    # -- calls ----------------------------------------------------------------------------

    def _plain_absolute(self, url: str) -> bool:
        """True when `url` needs no merging (no base_url, no session params) and the fast path is open."""
        client: Any = self
        return (
            url.startswith(("http://", "https://"))
            and not client._params
            and not client._base_url.host
            and self._fast_path_usable()
        )

    def _fast_path_usable(self) -> bool:
        client: Any = self
        return (
            self._fast_ok
            and not client._mounts
            and client._auth is None
            and not client._event_hooks["request"]
            and not client._event_hooks["response"]
            and _no_cookies(client._cookies.jar)
        )

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        """httpx's `build_request`, except that ``params`` (the session's and the call's) are merged into the
        URL's own query string, as on the fast path, in requests, and in httpx before 0.28 — httpx 0.28
        replaces the query instead (encode/httpx#3433), which would make one call's URL depend on the path it
        takes."""
        request: httpx.Request = super().build_request(method, url, **kwargs)  # type: ignore[misc]
        client: Any = self
        params = kwargs.get("params")
        if params is not None or client._params:
            request.url = client._merge_url(url).copy_merge_params(client._merge_queryparams(params))
        return request

    def _make_call(
        self,
        method: str,
        url: httpx.URL | str,
        kwargs: dict[str, Any],
        options: dict[str, Any],
        fast_ok: bool = True,
    ) -> Call:
        """The call for a request; `fast_ok=False` builds it as httpx would, for httpx's own send()."""
        client: Any = self
        if options:
            reject_unknown(
                options, type(self)._all_request_options(), where=f"{type(self).__name__}.request()"
            )
        if fast_ok and not kwargs and type(url) is str and self._plain_absolute(url):
            # The batch engine's common case: a bare absolute URL and no per-request settings.
            return Call(
                method.upper(),
                url,
                client._headers,
                None,
                client.timeout,
                client.follow_redirects,
                False,
                {},
                options,
            )
        follow = kwargs.get("follow_redirects", USE_CLIENT_DEFAULT)
        follow_redirects = client.follow_redirects if isinstance(follow, UseClientDefault) else bool(follow)
        timeout_arg = kwargs.get("timeout", USE_CLIENT_DEFAULT)
        timeout = client.timeout if isinstance(timeout_arg, UseClientDefault) else httpx.Timeout(timeout_arg)
        auth = kwargs.get("auth", USE_CLIENT_DEFAULT)
        extensions = kwargs.get("extensions") or {}
        simple = (
            fast_ok
            and isinstance(auth, UseClientDefault)
            and kwargs.get("cookies") is None
            and kwargs.get("files") is None
            and self._joinable_body(kwargs.get("content"))
            and self._fast_path_usable()
        )
        if not simple:
            request = client.build_request(
                method,
                url,
                **{k: v for k, v in kwargs.items() if k in _REQUEST_ARGS - {"auth", "follow_redirects"}},
            )
            return Call(
                request.method,
                str(request.url),
                request.headers,
                None,
                timeout,
                follow_redirects,
                extensions=dict(request.extensions),
                options=options,
                fast=False,
                auth=auth,
                _request=request,
                _url=request.url,
            )
        method = method.upper()
        params = kwargs.get("params")
        if (
            isinstance(url, str)
            and not params
            and not client._params
            and not client._base_url.raw_path.strip(b"/")
            and not client._base_url.host
            and url.startswith(("http://", "https://"))
        ):
            url_str = url
        else:
            merged = client._merge_url(url)
            if params or client._params:
                merged = merged.copy_merge_params(client._merge_queryparams(params))
            url_str = str(merged)
        headers = kwargs.get("headers")
        merged_headers = client._headers if headers is None else client._merge_headers(headers)
        content = None
        if any(kwargs.get(name) is not None for name in ("content", "data", "json")):
            body_headers, stream = encode_request(
                kwargs.get("content"), kwargs.get("data"), None, kwargs.get("json")
            )
            content = b"".join(stream)  # type: ignore[arg-type]
            merged_headers = _with_body_headers(merged_headers, body_headers, len(content))
        return Call(
            method, url_str, merged_headers, content, timeout, follow_redirects, False, extensions, options
        )

    def _call_from_request(
        self, request: httpx.Request, *, stream: bool, auth: Any, follow_redirects: Any
    ) -> Call:
        client: Any = self
        follow = (
            client.follow_redirects
            if isinstance(follow_redirects, UseClientDefault)
            else bool(follow_redirects)
        )
        timeout = request.extensions.get("timeout")
        return Call(
            request.method,
            str(request.url),
            request.headers,
            None,
            httpx.Timeout(**timeout) if timeout else client.timeout,
            follow,
            stream,
            extensions=dict(request.extensions),
            fast=False,
            auth=auth,
            _request=request,
            _url=request.url,
        )

    # -- retries and redirects (shared by the sync and async loops) -----------------------

    def _retry_for(self, call: Call) -> Retry:
        given = call.options.get("retries")
        return self._retry if given is None else Retry.coerce(given)

    @staticmethod
    def _retry_after_error(retry: Retry, call: Call, exc: Exception) -> Retry | None:
        """The policy for another attempt after a transport error, or None to re-raise it."""
        if call.stream or _never_retries(retry):
            return None
        return retry.on_error(call.method, call.url_str, exc)

    @staticmethod
    def _retry_after_response(retry: Retry, call: Call, response: Response) -> Retry | None:
        """The policy for another attempt after this response, or None to return it."""
        status = response.status_code
        # Cheap test first: most responses are not retryable, and on_response parses headers.
        if (
            call.stream
            or (retry.total <= 0 and not retry.raise_on_status)  # spent: on_response would only say so
            or (status not in retry.status_forcelist and status not in _RETRY_AFTER)
        ):
            return None
        return retry.on_response(call.method, call.url_str, response)

    def _redirect(self, call: Call, response: Response, history: list[Response]) -> Call:
        """The call for the next hop (httpx's own rules: method rewrite, auth stripping, cookies).

        `history` holds this response already: as in httpx, `max_redirects` hops are followed and the
        one after them raises.

        Credentials never leave their origin. httpx's `_build_redirect_request` drops the
        ``Authorization`` header on a cross-origin hop (except an http→https upgrade of the same host)
        and takes cookies from the jar for the new URL; but our loop sends each hop on its own, so the
        call's auth (or the client's) would sign the next request again, for the new host. On such a
        hop the auth flow is replaced by httpx's no-op `Auth`, and ``Proxy-Authorization`` (a header a
        caller may set by hand, meant for the proxy of the first request) is dropped with it — as
        requests does since CVE-2018-18074.
        """
        client: Any = self
        if len(history) > 1:
            response.history = list(history[:-1])  # each hop carries the hops before it, as in httpx
        previous = call.build_request()
        next_request = client._build_redirect_request(previous, response)
        if len(history) > self._max_redirects:  # httpx's error carries the hop it refused to send
            raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=next_request)
        auth = call.auth
        if not keeps_credentials(previous.url, next_request.url):
            auth = httpx.Auth()
            next_request.headers.pop("Proxy-Authorization", None)
        nxt = self._call_from_request(next_request, stream=call.stream, auth=auth, follow_redirects=True)
        nxt.options = call.options
        return nxt

    async def _adispatch(self, call: Call) -> Response:
        """One logical request: the retry and redirect loop around `_asend_wire`."""
        retry = self._retry_for(call)
        history: list[Response] | None = None  # made on the first redirect (most requests have none)
        # No mixin hooks the attempt: a fast-path attempt goes straight to the engine, one coroutine
        # fewer per request (the batch engine's hot path).
        plain_wire = type(self)._asend_wire in _PLAIN_ASYNC_WIRES and "_asend_wire" not in self.__dict__
        attempts = 0
        while True:
            attempts += 1
            try:
                if plain_wire and call.fast and not call.stream:
                    response = await self._engine.fetch(call)
                else:
                    response = await self._asend_wire(call)
                self._absorb_cookies(call, response)
            except httpx.TransportError as exc:
                next_retry = self._retry_after_error(retry, call, exc)
                if next_retry is None:
                    raise
                retry = next_retry
                await self._asleep(retry.sleep_for(None))
                call.attempt += 1
                continue
            if call.follow_redirects and _is_redirect(response):
                response.attempts = attempts
                if history is None:
                    history = []
                history.append(response)
                call = self._redirect(call, response, history)
                continue
            next_retry = self._retry_after_response(retry, call, response)
            if next_retry is None:
                return self._finish(call, response, history, attempts)
            retry = next_retry
            await response.aclose()
            await self._asleep(retry.sleep_for(response))
            call.attempt += 1

    async def _asend_wire(self, call: Call) -> Response:
        raise NotImplementedError

    def _absorb_cookies(self, call: Call, response: Response) -> None:
        """Keep Set-Cookie from fast-path responses (httpx's send() does this on its own path)."""
        if call.fast and response._set_cookie:
            self.cookies.extract_cookies(response)  # type: ignore[attr-defined]

    def _finish(
        self, call: Call, response: Response, history: list[Response] | None, attempts: int
    ) -> Response:
        client: Any = self
        if attempts != 1:  # the class default is 1
            response.attempts = attempts
        if history:
            response.history = list(history)
        if not call.follow_redirects and _is_redirect(response):
            response.next_request = client._build_redirect_request(call.build_request(), response)
        return response


def keeps_credentials(url: httpx.URL, location: httpx.URL) -> bool:
    """Whether a redirect from `url` to `location` may carry the first request's credentials: the same
    origin (scheme, host, port), or the same host upgraded from http:80 to https:443 — httpx's rule."""
    if url.host != location.host:
        return False
    port, new_port = _port_or_default(url), _port_or_default(location)
    if url.scheme == location.scheme:
        return port == new_port
    return url.scheme == "http" and port == 80 and location.scheme == "https" and new_port == 443


def _port_or_default(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def _is_redirect(response: Response) -> bool:
    """3xx with a Location (the status test first: it spares most responses a header lookup)."""
    return 300 <= response.status_code < 400 and response.has_redirect_location


def _never_retries(retry: Retry) -> bool:
    """True for the no-retry default (and not for a budget spent by earlier attempts)."""
    return retry.total <= 0 and not retry.history


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """httpx's request keywords vs. per-request mixin options."""
    httpx_kwargs = {k: v for k, v in kwargs.items() if k in _REQUEST_ARGS or k == "extensions"}
    options = {k: v for k, v in kwargs.items() if k not in httpx_kwargs}
    return httpx_kwargs, options


def _stop_dropped(loop_thread: LoopThread, engine: Engine, caller: CallerLoop) -> None:
    caller.close()
    loop_thread.stop(engine.aclose())


class Session(_SessionCore, httpx.Client):
    """A synchronous HTTP session: `httpx.Client`'s API, retries, batches and mixin hooks.

    Every keyword httpx.Client takes works here. Extra keywords:

    * `retries` — an int or a `Retry` (default: no retries).

    Mixins (`CacheMixin`, `RatelimitMixin`) are composed as in the original interface:
    `class Session(CacheMixin, RatelimitMixin, sessions.Session): pass`.
    """

    #: Overridable in tests to observe waits without sleeping.
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, **kwargs: Any) -> None:
        retries = kwargs.pop("retries", None)
        httpx_kwargs = self._prepare_init(kwargs, type(self).__name__)
        engine = self._engine_from(httpx_kwargs)
        self._loop_thread = LoopThread()
        if engine is not None:
            httpx_kwargs["transport"] = SyncEngineTransport(engine, self._loop_thread)
        httpx.Client.__init__(self, **httpx_kwargs)
        self._engine = engine if engine is not None else Engine()
        self._loop_thread.final_at_exit = self._engine.aclose
        # A session dropped unclosed (`Session().get(url)` in a loop) closes its loops and pools when it is
        # collected, as an httpx.Client's pool goes with it; at exit, `_close_open_sessions_at_exit` does.
        self._caller_loop = CallerLoop(self._engine)
        finalizer = weakref.finalize(self, _stop_dropped, self._loop_thread, self._engine, self._caller_loop)
        finalizer.atexit = False
        self._fast_ok = engine is not None
        self._retry = Retry.coerce(retries)
        self._max_redirects = httpx_kwargs.get("max_redirects", 20)

    # -- the public request API ---------------------------------------------------------

    def request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> Response:
        """Send a request (httpx's keywords plus per-request mixin options such as `expire_after`)."""
        if kwargs.get("cookies") is not None:
            warnings.warn(_PER_REQUEST_COOKIES, DeprecationWarning, stacklevel=2)
        httpx_kwargs, options = _split_kwargs(kwargs)
        return self._dispatch(self._make_call(method, url, httpx_kwargs, options))

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        **options: Any,
    ) -> Response:
        """Send a prepared `httpx.Request` through the hooks (so `client.stream(...)` is limited too)."""
        reject_unknown(options, type(self)._all_request_options(), where=f"{type(self).__name__}.send()")
        call = self._call_from_request(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        call.options = options
        return self._dispatch(call)

    def get(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """GET `url`."""
        return self.request("GET", url, **kwargs)

    def head(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """HEAD `url`."""
        return self.request("HEAD", url, **kwargs)

    def options(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """OPTIONS `url`."""
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """POST to `url`."""
        return self.request("POST", url, **kwargs)

    def put(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """PUT to `url`."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """PATCH `url`."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """DELETE `url`."""
        return self.request("DELETE", url, **kwargs)

    # -- hooks --------------------------------------------------------------------------

    def _dispatch(self, call: Call) -> Response:
        """One logical request: the retry and redirect loop around `_send_wire`."""
        retry = self._retry_for(call)
        history: list[Response] | None = None  # made on the first redirect (most requests have none)
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._send_wire(call)
                self._absorb_cookies(call, response)
            except httpx.TransportError as exc:
                next_retry = self._retry_after_error(retry, call, exc)
                if next_retry is None:
                    raise
                retry = next_retry
                self._sleep(retry.sleep_for(None))
                call.attempt += 1
                continue
            if call.follow_redirects and _is_redirect(response):
                response.attempts = attempts
                if history is None:
                    history = []
                history.append(response)
                call = self._redirect(call, response, history)
                continue
            next_retry = self._retry_after_response(retry, call, response)
            if next_retry is None:
                return self._finish(call, response, history, attempts)
            retry = next_retry
            response.close()
            self._sleep(retry.sleep_for(response))
            call.attempt += 1

    def _send_wire(self, call: Call) -> Response:
        """One wire attempt: the fast path through aiohttp (on this thread, else on the loop thread), or
        httpx's send()."""
        if call.fast and not call.stream:
            fetched = self._caller_loop.fetch(call)
            return self._loop_thread.run(self._engine.fetch(call)) if fetched is NOT_RUN else fetched
        sent = httpx.Client.send(
            self, call.build_request(), stream=call.stream, auth=call.auth, follow_redirects=False
        )
        return Response.adopt(sent)

    async def _asend_wire(self, call: Call) -> Response:
        """One wire attempt inside a batch (on the session's loop thread)."""
        if call.fast and not call.stream:
            return await self._engine.fetch(call)
        # httpx's sync send() hops onto this very loop for its I/O: run it from a worker thread.
        response = await asyncio.to_thread(
            httpx.Client.send,
            self,
            call.build_request(),
            stream=call.stream,
            auth=call.auth,
            follow_redirects=False,
        )
        return Response.adopt(response)

    # -- batches ------------------------------------------------------------------------

    def requests(
        self, urls: Iterable[Any], method: str | Iterable[str] = "GET", **options: Any
    ) -> list[Result]:
        """Send many requests concurrently on this session; results in input order.

        See `sessions._batch.Batch` for the options (callbacks, concurrency, progress,
        return_callbacks, raise_errors) and the per-request keywords.
        """
        from ._batch import Batch

        batch = Batch.create(self, urls, method, options)
        return self._loop_thread.run(batch.collect())

    def iter_requests(
        self, urls: Iterable[Any], method: str | Iterable[str] = "GET", **options: Any
    ) -> Iterator[tuple[int, Result]]:
        """Like `requests()`, but yield `(index, result)` as each completes (memory bounded)."""
        from ._batch import Batch

        batch = Batch.create(self, urls, method, options)
        return batch.iterate_sync(self._loop_thread)

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the session, its connection pool and whatever the mixins opened."""
        if self._exit_info is not None:
            httpx.Client.__exit__(self, *self._exit_info)
        else:
            httpx.Client.close(self)
        self._caller_loop.close()
        self._loop_thread.stop(self._engine.aclose())

    def __enter__(self) -> Session:
        httpx.Client.__enter__(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        # close() runs the mixins' chain (a cache finishes its background refreshes while the
        # transports still work); at its end httpx's __exit__, not close(), releases the transports, so
        # a user's transport and mounts are exited as they were entered, as with httpx.Client.
        self._exit_info = exc_info
        try:
            self.close()
        finally:
            self._exit_info = None


class AsyncSession(_SessionCore, httpx.AsyncClient):
    """An asynchronous HTTP session: `httpx.AsyncClient`'s API, retries, batches and mixin hooks."""

    _joins_sync_iterators = False

    def __init__(self, **kwargs: Any) -> None:
        retries = kwargs.pop("retries", None)
        httpx_kwargs = self._prepare_init(kwargs, type(self).__name__)
        engine = self._engine_from(httpx_kwargs)
        if engine is not None:
            httpx_kwargs["transport"] = AsyncEngineTransport(engine, _httpx_transport_like(httpx_kwargs))
        httpx.AsyncClient.__init__(self, **httpx_kwargs)
        self._engine = engine if engine is not None else Engine()
        self._fast_ok = engine is not None
        self._retry = Retry.coerce(retries)
        self._max_redirects = httpx_kwargs.get("max_redirects", 20)

    async def request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> Response:
        """Send a request (httpx's keywords plus per-request mixin options such as `expire_after`)."""
        if kwargs.get("cookies") is not None:
            warnings.warn(_PER_REQUEST_COOKIES, DeprecationWarning, stacklevel=2)
        httpx_kwargs, options = _split_kwargs(kwargs)
        if on_asyncio():
            return await self._adispatch(self._make_call(method, url, httpx_kwargs, options))
        self._refuse_mixins_off_asyncio()
        return await self._adispatch(self._make_call(method, url, httpx_kwargs, options, fast_ok=False))

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        **options: Any,
    ) -> Response:
        """Send a prepared `httpx.Request` through the hooks."""
        reject_unknown(options, type(self)._all_request_options(), where=f"{type(self).__name__}.send()")
        call = self._call_from_request(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        call.options = options
        if not on_asyncio():
            self._refuse_mixins_off_asyncio()
        return await self._adispatch(call)

    def _refuse_mixins_off_asyncio(self) -> None:
        """Under trio (or another non-asyncio loop) a call goes by httpx's own send() and transport
        (httpcore on anyio): slower, but correct. The aiohttp engine, the batch engine and the mixins'
        storages and waits are asyncio code, so a session with mixins says what to do instead."""
        cls = type(self)
        if cls._adispatch is not _SessionCore._adispatch or cls._asend_wire is not AsyncSession._asend_wire:
            raise RuntimeError(
                f"{cls.__name__}: the cache and rate-limit mixins need asyncio, and this call runs under "
                f"{_async_library()}; use a plain sessions.AsyncSession here, or run under asyncio"
            )

    async def get(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """GET `url`."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """HEAD `url`."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """OPTIONS `url`."""
        return await self.request("OPTIONS", url, **kwargs)

    async def post(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """POST to `url`."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """PUT to `url`."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """PATCH `url`."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: httpx.URL | str, **kwargs: Any) -> Response:
        """DELETE `url`."""
        return await self.request("DELETE", url, **kwargs)

    async def _asend_wire(self, call: Call) -> Response:
        """One wire attempt: the fast path through aiohttp, or httpx's send()."""
        if call.fast and not call.stream:
            return await self._engine.fetch(call)
        response = await httpx.AsyncClient.send(
            self, call.build_request(), stream=call.stream, auth=call.auth, follow_redirects=False
        )
        return Response.adopt(response)

    async def requests(
        self, urls: Iterable[Any], method: str | Iterable[str] = "GET", **options: Any
    ) -> list[Result]:
        """Send many requests concurrently on this session; results in input order."""
        from ._batch import Batch

        return await Batch.create(self, urls, method, options).collect()

    def iter_requests(
        self, urls: Iterable[Any], method: str | Iterable[str] = "GET", **options: Any
    ) -> AsyncIterator[tuple[int, Result]]:
        """Yield `(index, result)` as each completes (memory bounded by concurrency)."""
        from ._batch import Batch

        return Batch.create(self, urls, method, options).iterate()

    async def aclose(self) -> None:
        """Close the session, its connection pool and whatever the mixins opened."""
        if self._exit_info is not None:
            await httpx.AsyncClient.__aexit__(self, *self._exit_info)
        else:
            await httpx.AsyncClient.aclose(self)
        await self._engine.aclose()

    async def __aenter__(self) -> AsyncSession:
        await httpx.AsyncClient.__aenter__(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._exit_info = exc_info  # as in `Session.__exit__`
        try:
            await self.aclose()
        finally:
            self._exit_info = None


def _httpx_transport_like(kwargs: dict[str, Any]) -> Callable[[], httpx.AsyncBaseTransport]:
    """What httpx.AsyncClient would have made of these keywords, for calls made off asyncio (trio)."""
    options = {
        name: kwargs[name]
        for name in ("verify", "cert", "trust_env", "http1", "http2", "limits")
        if kwargs.get(name) is not None
    }
    return lambda: httpx.AsyncHTTPTransport(**options)


def require_asyncio(what: str) -> None:
    """Fail clearly where only asyncio will do (the batch engine) and the caller runs on another loop."""
    if not on_asyncio():
        raise RuntimeError(
            f"{what} runs on asyncio, and this call runs under {_async_library()}: "
            "send the requests one by one (e.g. in a nursery) or run the batch under asyncio"
        )


def _async_library() -> str:
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "no known async library"


def _no_cookies(jar: Any) -> bool:
    """Whether the cookie jar is empty: O(1) while it never held a cookie (``len(jar)`` walks every one).

    A cookie the server deletes (``Max-Age=0``, expiry) leaves empty per-domain dicts behind in
    ``http.cookiejar``, so only then is the jar counted — else the fast path would stay off for good.
    """
    return not jar._cookies or not len(jar)


#: The attempt hooks that only send (see `_SessionCore._adispatch`).
_PLAIN_ASYNC_WIRES = frozenset({Session._asend_wire, AsyncSession._asend_wire})


def _with_body_headers(headers: httpx.Headers, body_headers: dict[str, str], length: int) -> httpx.Headers:
    """``headers`` plus what httpx's encoder says the body needs, merged as `httpx.Request` does (a header the
    caller set wins). The fast path has joined the body into bytes, so a generator's
    ``Transfer-Encoding: chunked`` becomes the Content-Length it now has."""
    merged = httpx.Headers(headers)
    for name, value in body_headers.items():
        if name.lower() == "transfer-encoding":
            merged.setdefault("Content-Length", str(length))
        else:
            merged.setdefault(name, value)
    return merged
