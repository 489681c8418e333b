"""The values that travel through a session: `Call` in, `Response` (or `ErrorResult`) out."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx
import yarl
from httpx._content import ByteStream  # the stream type httpx itself uses for in-memory bodies

__all__ = ["Call", "ErrorResult", "RequestSpec", "Response"]

RawHeaders = Sequence[tuple[bytes, bytes]]

_EMPTY_ELAPSED = datetime.timedelta(0)
_UTC = datetime.UTC


class Response(httpx.Response):
    """An `httpx.Response` with the attributes this library adds.

    * `callbacks` — results of batch callbacks when `return_callbacks` is on, else None.
    * `attempts` — how many wire attempts the request took (retries included).
    * cache fields (`from_cache`, `created_at`, `expires`, `is_expired`, `revalidated`,
      `cache_key`) — filled by `CacheMixin`; defaults describe an uncached response.
    * `coalesced` — True on a single-flight follower's copy: it joined an identical request in flight
      and carries that request's latency and attempts (it sent nothing itself).

    Responses made by the fast path are built without running `httpx.Response.__init__`:
    headers and the `httpx.Request` are materialised on first access, which is what keeps
    the batch engine close to raw aiohttp (see `_engine.py`).
    """

    callbacks: tuple[Any, ...] | None = None
    callback_errors: tuple[BaseException, ...] = ()
    attempts: int = 1
    coalesced: bool = False

    _raw_headers: RawHeaders | None
    _elapsed_seconds: float
    #: Set by the fast path when the response carries Set-Cookie (the session's jar must see it).
    _set_cookie: bool = False
    _call_parts: tuple[str, str, bytes | None]  # (method, URL, body) of the `Call`: see `from_parts`
    _call_headers: httpx.Headers
    _call_extensions: dict[str, Any]

    # Fast-path responses leave these out of the instance (see `from_parts`); httpx's own __init__ sets them.
    next_request: httpx.Request | None = None
    is_closed: bool = True
    is_stream_consumed: bool = True
    default_encoding: str | Callable[[bytes], str] = "utf-8"

    @classmethod
    def from_parts(
        cls,
        status_code: int,
        raw_headers: RawHeaders,
        content: bytes,
        *,
        request: httpx.Request | Call | None = None,
        elapsed: datetime.timedelta | float = _EMPTY_ELAPSED,
        extensions: dict[str, Any] | None = None,
    ) -> Response:
        """Build a fully read response cheaply (no header parsing, no request unless asked).

        A batch keeps every response until it returns, so each container made here is traversed by
        every garbage collection until then: ``extensions``, ``history`` and ``stream`` are made on
        first access, and ``raw_headers`` is kept as given (aiohttp's tuple), not copied. ``request`` may
        be the `Call`, whose ``httpx.Request`` is then built on first access (no bound method kept).
        """
        self = cls.__new__(cls)
        # Plain attribute stores, not `__dict__[...]`: CPython keeps the values inline in the object until
        # something asks for `__dict__` (the lazy properties below do, on first use), so a response waiting
        # in a batch's results is one object for the garbage collector to traverse, not two.
        self.status_code = status_code
        self._raw_headers = raw_headers
        if isinstance(request, Call) and request._request is None:
            # The call's parts, not the call: it holds its parsed URL, one more object per kept response.
            self._request = None
            self._call_parts = (request.method, request.url_str, request.content)
            self._call_headers = request.headers
            self._call_extensions = request.extensions
        else:  # a request, none, or a call made from a request (send(), cookies=…), which keeps it
            self._request = request._request if isinstance(request, Call) else request
        if extensions is not None:
            self.extensions = extensions
        self._content = content
        if isinstance(elapsed, float):
            self._elapsed_seconds = elapsed  # the timedelta is made on first access (~0.4 us saved)
        else:
            self._elapsed = elapsed
        return self

    @property
    def extensions(self) -> dict[str, Any]:
        """httpx's response extensions (made on first access on fast-path responses; the cache's fields
        join them then too)."""
        attrs = self.__dict__
        extensions: dict[str, Any] = attrs.setdefault("extensions", {})
        pending = attrs.pop("_cache_extensions", None)
        if pending is not None:
            extensions.update(pending.extensions())
        return extensions

    @extensions.setter
    def extensions(self, value: dict[str, Any]) -> None:
        self.__dict__["extensions"] = value

    # -- the cache's fields: kept as one tuple, made into values when read (set on every hit and miss) --

    @property
    def from_cache(self) -> bool:
        """True when the response came from the cache, not the network."""
        facts = self.__dict__.get("_cache")
        return facts is not None and facts.from_cache

    @property
    def created_at(self) -> datetime.datetime | None:
        """When the cached response was received or last revalidated (UTC); None when not stored."""
        facts = self.__dict__.get("_cache")
        when = None if facts is None else facts.created_at
        return None if when is None else datetime.datetime.fromtimestamp(when, datetime.UTC)

    @property
    def expires(self) -> datetime.datetime | None:
        """When the cached response stops being fresh (UTC); None for never, or when not stored."""
        facts = self.__dict__.get("_cache")
        when = None if facts is None else facts.expires
        return None if when is None else datetime.datetime.fromtimestamp(when, datetime.UTC)

    @property
    def is_expired(self) -> bool:
        """True when the cached response was already stale when served."""
        facts = self.__dict__.get("_cache")
        return facts is not None and facts.is_expired

    @property
    def revalidated(self) -> bool:
        """True when the cached response was confirmed by a 304 to a conditional request."""
        facts = self.__dict__.get("_cache")
        return facts is not None and facts.revalidated

    @property
    def cache_key(self) -> str | None:
        """The cache key the response is (or would be) stored under; None without a cache."""
        facts = self.__dict__.get("_cache")
        return None if facts is None else facts.key

    @property
    def history(self) -> list[httpx.Response]:
        """The redirect responses that led here, oldest first (made on first access on the fast path)."""
        return self.__dict__.setdefault("history", [])  # type: ignore[no-any-return]

    @history.setter
    def history(self, value: list[httpx.Response]) -> None:
        self.__dict__["history"] = value

    @property
    def stream(self) -> Any:
        """The body stream; on the fast path, an in-memory stream of the content (made on first access)."""
        attrs = self.__dict__
        stream = attrs.get("stream")
        if stream is None:
            content = attrs.get("_content")
            if content is None:
                raise AttributeError("this response has neither a stream nor a body")
            stream = attrs["stream"] = ByteStream(content)
        return stream

    @stream.setter
    def stream(self, value: Any) -> None:
        self.__dict__["stream"] = value

    @property
    def num_bytes_downloaded(self) -> int:
        """Body bytes read off the wire, as httpx counts them: before decompression (on the fast path that
        length is known from Content-Length; a compressed chunked body counts as its decoded length)."""
        attrs = self.__dict__
        count = attrs.get("_num_bytes_downloaded")
        if count is None:
            content = attrs["_content"]
            headers = self.headers
            length = headers.get("content-length", "")
            compressed = content and "content-encoding" in headers and length.isdigit()
            count = int(length) if compressed else len(content)
        return count

    @property
    def elapsed(self) -> datetime.timedelta:
        """Time from sending the request to reading the whole response."""
        attrs = self.__dict__
        elapsed = attrs.get("_elapsed")
        if elapsed is None:
            seconds = attrs.get("_elapsed_seconds")
            if seconds is None:
                raise RuntimeError(
                    "'.elapsed' may only be accessed after the response has been read or closed."
                )
            elapsed = attrs["_elapsed"] = datetime.timedelta(seconds=seconds)
        return elapsed

    @elapsed.setter
    def elapsed(self, value: datetime.timedelta) -> None:
        self.__dict__["_elapsed"] = value

    @property
    def headers(self) -> httpx.Headers:
        """Response headers, parsed on first access."""
        attrs = self.__dict__
        headers = attrs.get("_headers")
        if headers is None:
            raw = attrs.get("_raw_headers")
            headers = attrs["_headers"] = httpx.Headers(raw)
        return headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        self.__dict__["_headers"] = value

    @property
    def request(self) -> httpx.Request:
        """The request that produced this response, built on first access."""
        attrs = self.__dict__
        request = attrs.get("_request")
        if request is None:
            parts = attrs.get("_call_parts")
            if parts is None:
                raise RuntimeError("The request instance has not been set on this response.")
            method, url, content = parts
            request = _request(method, url, attrs["_call_headers"], content, attrs["_call_extensions"])
            attrs["_request"] = request
        return request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self.__dict__["_request"] = value

    def raise_for_status(self) -> Response:
        """As httpx's: this response for 1xx/2xx, else `httpx.HTTPStatusError` (with the request built first:
        httpx's method reads the request attribute directly, which a fast-path response fills on demand)."""
        attrs = self.__dict__
        if attrs.get("_request") is None and "_call_parts" in attrs:
            attrs["_request"] = self.request
        super().raise_for_status()
        return self

    @property
    def ok(self) -> bool:
        """True unless the status is 4xx/5xx (as `requests.Response.ok`; the seed's callbacks use it)."""
        return self.status_code < 400

    @classmethod
    def adopt(cls, response: httpx.Response) -> Response:
        """Turn a plain `httpx.Response` (from the httpx path) into ours without copying."""
        if isinstance(response, cls):
            return response
        attrs = response.__dict__
        # httpx keeps headers and the request as plain attributes; our properties read them lazily.
        attrs["_headers"] = attrs.pop("headers", None)
        attrs.setdefault("_raw_headers", None)
        response.__class__ = cls
        return response  # type: ignore[return-value]


class CacheFacts(NamedTuple):
    """What `CacheMixin` says of a response (`Response.from_cache` and the rest read it)."""

    from_cache: bool
    created_at: float | None  # epoch seconds; None: not stored
    expires: float | None
    is_expired: bool
    revalidated: bool
    key: str | None
    stored: bool = True  # False: a response the cache did not store (its extensions say less)

    def extensions(self) -> dict[str, Any]:
        """The response extensions these facts add (hishel's and requests-cache's names)."""
        if not self.stored:
            return {"from_cache": False, "cache_key": self.key, "revalidated": False}
        created = None if self.created_at is None else datetime.datetime.fromtimestamp(self.created_at, _UTC)
        expires = None if self.expires is None else datetime.datetime.fromtimestamp(self.expires, _UTC)
        return {
            "from_cache": self.from_cache, "created_at": created, "expires": expires,
            "is_expired": self.is_expired, "revalidated": self.revalidated, "cache_key": self.key,
        }  # fmt: skip


@dataclass(slots=True)
class Call:
    """One logical request on its way down the mixin chain.

    Everything the hooks need is here already merged with the session defaults. The
    `httpx.URL` and `httpx.Request` are built lazily, because the fast path needs neither
    (parsing an `httpx.URL` alone costs ~11 µs, more than aiohttp's whole request setup).
    """

    method: str
    url_str: str
    headers: httpx.Headers
    content: bytes | None = None
    timeout: httpx.Timeout | None = None
    follow_redirects: bool = False
    stream: bool = False
    extensions: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    #: False when the request needs httpx's own send(): auth, cookies, hooks, streams, mounts.
    fast: bool = True
    auth: Any = None
    _request: httpx.Request | None = None
    _url: httpx.URL | None = None
    _yurl: yarl.URL | None = None

    @property
    def yurl(self) -> yarl.URL:
        """The URL as a `yarl.URL` (C-parsed, cached): cheap host/path access for keys, and what the fast path
        sends. Taken as already encoded, unless it holds characters a URL cannot carry as they are (non-ASCII,
        spaces, control characters): it is then percent-encoded first, as httpx encodes it."""
        if self._yurl is None:
            url = self.url_str
            # Three C-speed tests (per request on the batch path); httpx's encoding (and its errors, for a
            # control character) only for the URLs that fail them.
            if not url.isascii() or not url.isprintable() or " " in url:
                url = str(self.url)
            self._yurl = yarl.URL(url, encoded=True)
        return self._yurl

    @property
    def url(self) -> httpx.URL:
        """The URL as an `httpx.URL`."""
        if self._url is None:
            self._url = self._request.url if self._request is not None else httpx.URL(self.url_str)
        return self._url

    @property
    def host(self) -> str:
        """Host name (lower case), as used for per-host limits."""
        return self.yurl.host or ""

    @property
    def endpoint(self) -> str:
        """scheme://host[:port]/path — the unit of per-endpoint limits: no query, no credentials (the key is
        stored in shared backends and named in errors), host in lower case and the scheme's default port left
        out, so every spelling of one endpoint shares its limit."""
        u = self.yurl
        return f"{u.scheme}://{(u.host_port_subcomponent or '').lower()}{u.path}"

    def build_request(self) -> httpx.Request:
        """The equivalent `httpx.Request` (built once)."""
        if self._request is None:
            self._request = _request(self.method, self.url, self.headers, self.content, self.extensions)
        return self._request

    def with_headers(self, updates: Mapping[str, str]) -> Call:
        """A copy whose headers include `updates` (the session's header object is never mutated)."""
        headers = httpx.Headers(self.headers)
        headers.update(updates)
        request = None
        if self._request is not None:
            request = httpx.Request(
                self.method,
                self._request.url,
                headers=headers,
                content=self.content if self.content is not None else self._request.content,
                extensions=self._request.extensions,
            )
        return Call(
            self.method,
            self.url_str,
            headers,
            self.content,
            self.timeout,
            self.follow_redirects,
            self.stream,
            self.extensions,
            self.options,
            self.attempt,
            self.fast,
            self.auth,
            request,
            self._url,
            self._yurl,
        )


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """A request description for batches: what a JSONL line or a recipe step turns into."""

    url: str
    method: str = "GET"
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    json: Any = None
    data: Any = None
    content: bytes | str | None = None

    @classmethod
    def coerce(cls, item: Any, default_method: str) -> RequestSpec:
        """Accept a URL string, an `httpx.URL`, a mapping or a `RequestSpec`."""
        if isinstance(item, RequestSpec):
            return item
        if isinstance(item, str | httpx.URL):
            return cls(str(item), default_method)
        if isinstance(item, Mapping):
            unknown = set(item) - {"url", "method", "params", "headers", "json", "data", "content"}
            if unknown:
                raise TypeError(f"request description has unknown field(s): {', '.join(sorted(unknown))}")
            if "url" not in item:
                raise TypeError("request description needs a 'url'")
            return cls(
                str(item["url"]),
                str(item.get("method") or default_method).upper(),
                item.get("params"),
                item.get("headers"),
                item.get("json"),
                item.get("data"),
                item.get("content"),
            )
        raise TypeError(f"cannot make a request from {type(item).__name__}: give a URL string or a mapping")


@dataclass(slots=True)
class ErrorResult:
    """The slot of a batch request that failed: it holds the exception instead of a response."""

    index: int
    method: str
    url: str
    exception: BaseException
    attempts: int = 1
    callbacks: tuple[Any, ...] | None = None

    ok = False
    is_success = False
    status_code = None
    from_cache = False

    def raise_for_status(self) -> None:
        """Re-raise the stored exception (mirrors `Response.raise_for_status`)."""
        raise self.exception

    def __repr__(self) -> str:
        return f"<ErrorResult #{self.index} {self.method} {self.url}: {self.exception!r}>"


def _request(
    method: str,
    url: httpx.URL | str,
    headers: httpx.Headers,
    content: bytes | None,
    extensions: dict[str, Any],
) -> httpx.Request:
    """The `httpx.Request` of a call (`Call.build_request`, and a fast-path response's `.request`)."""
    return httpx.Request(method, url, headers=headers, content=content, extensions=extensions)
