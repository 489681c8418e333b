"""The fast path's HTTP/1.1 exchange: aiohttp's connection pool and C response parser, without aiohttp's
per-request client objects.

Why: ``ClientSession.request`` builds, for every request, a ``ClientRequest`` (a new ``CIMultiDict`` of
headers, yarl properties, a payload object, a ``StreamWriter``), a timer context and a ``ClientResponse``.
Under callgrind that is about 60 % of raw aiohttp's instructions for a small GET (benchmarks/README.md,
"The lean exchange"). The fast path only sends requests whose shape it knows — a method from a fixed set,
no body or whole bytes, no proxy, no credentials in the URL, no Host or Transfer-Encoding header of the
caller's — so here it writes the request head itself, byte for byte as aiohttp serialises it (the tests
hold the two identical), and reads the response with the parser aiohttp attaches to every connection of
its pool. Everything else still goes through ``ClientSession.request``.

What aiohttp's request path does that is kept here, because users see it: the header-injection guard (the
same forbidden characters, the same ``ValueError``), ``Content-Length: 0`` for a body-less method that
usually carries one, a response's 1xx interim messages skipped, no body read for ``HEAD``, and one retry on
a fresh connection for an idempotent method whose kept-alive connection turned out to be closed (RFC 9112
§9.3.1; aiohttp's ``retry_persistent_connection``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import yarl
from aiohttp import http
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["HeaderBlock", "Origins", "exchange", "is_idempotent", "lean_method", "request_head"]

# aiohttp's guard against header injection (`http_writer._FORBIDDEN_HEADER_CHARS_RE`): C0 but tab, and DEL.
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FORBIDDEN_TEXT = re.compile(_FORBIDDEN.pattern.decode())
_INJECTION = "Forbidden control character detected in headers. Potential header injection attack."

# Headers of the caller's that aiohttp acts on rather than just sends (see `HeaderBlock`).
_AIOHTTPS_TO_PLACE = frozenset({b"host", b"transfer-encoding", b"expect"})

# Methods aiohttp sends without a body and without `Content-Length: 0` (its GET_METHODS, CONNECT aside).
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_LEAN_METHODS = _BODILESS | {"POST", "PUT", "PATCH", "DELETE"}
# Retried once on a fresh connection when a kept-alive one fails before the response (aiohttp's set).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def is_idempotent(method: str) -> bool:
    """Whether a request with this method is sent again, once, when its kept-alive connection fails first."""
    return method in _IDEMPOTENT


def lean_method(method: str) -> bool:
    """Whether the lean exchange knows how aiohttp would send this method."""
    return method in _LEAN_METHODS


class HeaderBlock:
    """One header list serialised once: the lines written for it after the ``Host`` line.

    Names as aiohttp writes them here (httpx's lower-case form), values as the raw bytes httpx holds — what
    httpx itself would send, whatever their encoding. ``sendable`` is False when the list holds something
    whose handling is aiohttp's to decide (a Host, Transfer-Encoding or Expect header of the caller's: aiohttp
    places the Host, frames the body, waits for a 100 Continue); such calls take ``ClientSession.request``.
    ``length`` is the caller's Content-Length value, if any.
    """

    __slots__ = ("length", "lines", "sendable")

    def __init__(self, items: list[tuple[bytes, bytes, bytes]]) -> None:
        names = {lower for _, lower, _ in items}
        self.sendable = not names & _AIOHTTPS_TO_PLACE
        lengths = [value for _, lower, value in items if lower == b"content-length"]
        self.length: bytes | None = lengths[0] if len(lengths) == 1 else None
        if len(lengths) > 1:
            self.sendable = False
        # Checked once per distinct header list (names and values, as aiohttp checks each).
        if _FORBIDDEN.search(b"".join(lower + value for _, lower, value in items)) is not None:
            raise ValueError(_INJECTION)
        self.lines = b"".join(b"%s: %s\r\n" % (lower, value) for _, lower, value in items)


def request_head(method: str, url: yarl.URL, block: HeaderBlock, body: bytes | None) -> bytes:
    """The request line and headers, as aiohttp's `ClientRequest` would write them for this call."""
    target = url.raw_path_qs
    host = url.host_port_subcomponent or ""  # never empty here: the lean exchange needs a host
    if _FORBIDDEN_TEXT.search(target) is not None or _FORBIDDEN_TEXT.search(host) is not None:
        raise ValueError(_INJECTION)
    start = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n".encode()
    if block.length is not None:
        length = b""
    elif body is not None:
        length = b"Content-Length: %d\r\n" % len(body)
    elif method in _BODILESS:
        length = b""
    else:
        length = b"Content-Length: 0\r\n"
    return b"%s%s%s\r\n" % (start, block.lines, length)


def _connection_key_request(
    url: yarl.URL, ssl: Any, loop: asyncio.AbstractEventLoop
) -> aiohttp.ClientRequest:
    """A request for the origin of `url`, as the pool's key: the connector reads only its host, port, TLS
    settings and proxy (none) to pick or open a connection."""
    return aiohttp.ClientRequest("GET", url.origin(), loop=loop, ssl=ssl)


class Origins:
    """The key request of each origin the pool has served (bounded: a crawl over a million hosts would
    otherwise keep one per host)."""

    _LIMIT = 1024

    def __init__(self) -> None:
        self._by_origin: dict[tuple[str, str | None, int | None], aiohttp.ClientRequest] = {}

    def key_for(
        self, url: yarl.URL, ssl_for: Callable[[yarl.URL], Any], loop: asyncio.AbstractEventLoop
    ) -> aiohttp.ClientRequest:
        """The key request of `url`'s origin; `ssl_for` gives its TLS setting, asked only for a new origin."""
        origin = (url.scheme, url.raw_host, url.port)
        found = self._by_origin.get(origin)
        if found is None:
            if len(self._by_origin) >= self._LIMIT:
                self._by_origin.clear()
            found = self._by_origin[origin] = _connection_key_request(url, ssl_for(url), loop)
        return found


def _protocol_error(exc: http.HttpProcessingError, method: str, url: yarl.URL) -> aiohttp.ClientResponseError:
    """What aiohttp's `ClientResponse.start` raises for a response the parser rejects."""
    info = aiohttp.RequestInfo(url, method, CIMultiDictProxy(CIMultiDict()), url)
    return aiohttp.ClientResponseError(info, (), status=exc.code, message=exc.message, headers=exc.headers)


async def _final_response(protocol: Any, method: str, url: yarl.URL) -> tuple[Any, Any]:
    """The response's message and payload, past any 1xx interim responses (101 ends the exchange)."""
    while True:
        try:
            message, payload = await protocol.read()
        except http.HttpProcessingError as exc:
            raise _protocol_error(exc, method, url) from exc
        code = message.code
        if code < 100 or code > 199 or code == 101:
            return message, payload


async def exchange(
    session: aiohttp.ClientSession,
    key: aiohttp.ClientRequest,
    method: str,
    url: yarl.URL,
    data: bytes,
    client_timeout: aiohttp.ClientTimeout,
    watch: Any = None,
) -> tuple[Any, bytes]:
    """Send `data` (a request head, and its body) over a connection of `session`'s pool and read the whole
    response: (aiohttp's parsed message, the decoded body). The connection goes back to the pool once the
    body is read, or is closed if the exchange fails or the server asked to close."""
    connector: Any = session.connector
    retry = method in _IDEMPOTENT
    while True:
        try:
            connection = await connector.connect(key, [], client_timeout)
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(
                f"Connection timeout to host {url.with_fragment(None)}"
            ) from exc
        protocol = connection.protocol
        try:
            protocol.set_response_params(
                skip_payload=method == "HEAD",
                read_until_eof=True,
                auto_decompress=True,
                read_bufsize=session._read_bufsize,  # the session's parser settings, as aiohttp passes them
                timeout_ceil_threshold=connector._timeout_ceil_threshold,
                max_line_size=session._max_line_size,
                max_field_size=session._max_field_size,
                max_headers=session._max_headers,
            )
            transport = protocol.transport
            if transport is None or transport.is_closing():
                raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
            transport.write(data)
            message, payload = await _final_response(protocol, method, url)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            connection.close()
            if not retry:
                raise
            retry = False  # once, on a fresh connection or a next pooled one, as aiohttp does
            continue
        except BaseException:
            connection.close()
            raise
        break
    try:
        if watch is not None:
            watch.body = payload  # the read timeout counts body bytes from now
        content = await payload.read()
    except BaseException:
        connection.close()
        raise
    connection.release()  # back to the pool, or closed if the response asked for it
    return message, content
