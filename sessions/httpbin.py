"""An embedded, httpbin-compatible HTTP server on `aiohttp.web`.

`LocalHttpbin` starts the server in-process, in a background thread with its own event
loop, on a free loopback port — no Docker, no network::

    with LocalHttpbin() as hb:
        httpx.get(f"{hb.url}/get")
        hb.arrivals.count(path="/get")

`serve(port)` runs the same app in the foreground (the `sessions httpbin` command).

The endpoints answer with httpbin's JSON shapes (``/get``, ``/post``, ``/anything``,
``/status/{codes}``, ``/delay/{s}``, ``/cache/{n}``, ``/etag/{etag}`` …). Two extras exist for
our own tests:

* ``/retry-after/{n}?seconds=…|date=…&key=…&status=…`` answers 429 (or ``status``) with a
  ``Retry-After`` header the first *n* times per ``key``, then 200.
* the arrival log: every routed request is recorded as ``Arrival(time, method, path)`` with
  ``time.monotonic()`` taken when the handler starts, so rate-limit tests can count what
  the *server* saw per window (`LocalHttpbin.arrivals`).

The server is also the target of throughput benchmarks, so the per-request path stays
lean: no middleware, no access log, one `deque.append` per request for the log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import email.utils
import functools
import gzip
import json
import random
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiohttp import web
from multidict import CIMultiDict, MultiMapping

__all__ = ["Arrival", "ArrivalLog", "LocalHttpbin", "build_app", "serve"]

_dumps = json.JSONEncoder(ensure_ascii=False).encode
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_DELAY = 10.0
MAX_BYTES = 100 * 1024
DEFAULT_LOG_SIZE = 100_000
_ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_REDIRECT_CODES = frozenset({301, 302, 303, 305, 307, 308})
_TEAPOT = """
    -=[ teapot ]=-

       _...._
     .'  _ _ `.
    | ."` ^ `". _,
    \\_;`"---"`|//
      |       ;/
      \\_     _/
        `\"\"\"`
"""
_HTML = (
    "<!DOCTYPE html>\n<html>\n  <head>\n  </head>\n  <body>\n"
    "      <h1>Herman Melville - Moby-Dick</h1>\n      <div>\n        <p>\n"
    "          Availing himself of the mild, summer-cool weather that now reigned in these latitudes, "
    "and in preparation for the peculiarly active pursuits shortly to be anticipated, Perth, the "
    "begrimed, blistered old blacksmith, had not removed his portable forge to the hold again.\n"
    "        </p>\n      </div>\n  </body>\n</html>"
)
_SLIDESHOW = {
    "slideshow": {
        "author": "Yours Truly",
        "date": "date of publication",
        "slides": [
            {"title": "Wake up to WonderWidgets!", "type": "all"},
            {
                "items": ["Why <em>WonderWidgets</em> are great", "Who <em>buys</em> WonderWidgets"],
                "title": "Overview",
                "type": "all",
            },
        ],
        "title": "Sample Slide Show",
    }
}
_ROBOTS = "User-agent: *\nDisallow: /deny\n"


class Arrival(NamedTuple):
    """One request as the server saw it: `time.monotonic()` at arrival, method, path."""

    time: float
    method: str
    path: str


class ArrivalLog:
    """A bounded, thread-safe record of request arrivals.

    The server thread appends; test threads read snapshots. `deque.append` and
    `list(deque)` are atomic under the GIL, so no lock sits on the request path.
    The bound keeps a long-running `sessions httpbin` from growing without limit.
    """

    def __init__(self, maxlen: int = DEFAULT_LOG_SIZE) -> None:
        self._items: deque[Arrival] = deque(maxlen=maxlen)
        self.append = self._items.append

    def clear(self) -> None:
        """Forget every recorded arrival."""
        self._items.clear()

    def snapshot(self) -> list[Arrival]:
        """A copy of the log, oldest first."""
        return list(self._items)

    def __iter__(self) -> Iterator[Arrival]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._items)

    def select(self, *, path: str | None = None, method: str | None = None) -> list[Arrival]:
        """Arrivals whose path starts with `path` and whose method equals `method` (when given)."""
        return [
            a
            for a in self.snapshot()
            if (path is None or a.path.startswith(path)) and (method is None or a.method == method.upper())
        ]

    def count(self, *, path: str | None = None, method: str | None = None) -> int:
        """How many arrivals match `path` (prefix) and `method`."""
        return len(self.select(path=path, method=method))

    def times(self, *, path: str | None = None, method: str | None = None) -> list[float]:
        """The monotonic arrival times of the matching requests, oldest first."""
        return [a.time for a in self.select(path=path, method=method)]

    def max_in_window(self, window: float, *, path: str | None = None, method: str | None = None) -> int:
        """The largest number of matching arrivals inside any half-open interval of `window` seconds.

        This is the server-side check for a sliding-window limit: with a limit of *n* per
        `window`, a correct client never lets this exceed *n*.
        """
        times = sorted(self.times(path=path, method=method))
        best = 0
        for i, start in enumerate(times):
            best = max(best, bisect.bisect_left(times, start + window, lo=i) - i)
        return best


# ---------------------------------------------------------------- request helpers


def _multi(values: MultiMapping[str]) -> dict[str, str | list[str]]:
    """httpbin's rendering of a multi-dict: a repeated key becomes a list."""
    out: dict[str, str | list[str]] = {}
    for key in values:
        if key not in out:
            found = values.getall(key)
            out[key] = found[0] if len(found) == 1 else list(found)
    return out


@functools.lru_cache(maxsize=512)
def _title(name: str) -> str:
    """`x-api-key` → `X-Api-Key`, the casing httpbin (werkzeug) reports."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _headers(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.headers.items():
        name = _title(key)
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def _origin(request: web.Request) -> str:
    return request.remote or ""


def _basic_info(request: web.Request) -> dict[str, Any]:
    return {
        "args": _multi(request.query),
        "headers": _headers(request),
        "origin": _origin(request),
        "url": str(request.url),
    }


def _decode_data(raw: bytes, content_type: str) -> str:
    """Body text as httpbin shows it: UTF-8 text, or a base64 data URL for binary bodies."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        kind = content_type or "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(raw).decode('ascii')}"


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


async def _form_fields(request: web.Request) -> dict[str, Any]:
    """`form` and `files` of a urlencoded or multipart body (werkzeug consumes it: `data` is empty)."""
    form: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            files.setdefault(key, []).append(_decode_data(value.file.read(), value.content_type))
        else:
            form.setdefault(key, []).append(str(value))
    flat = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    flat_files = {k: v[0] if len(v) == 1 else v for k, v in files.items()}
    return {"data": "", "files": flat_files, "form": flat, "json": None}


async def _body_fields(request: web.Request) -> dict[str, Any]:
    """httpbin's `data`, `files`, `form`, `json` keys for a request body."""
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded" or ctype.startswith("multipart/form-data"):
        return await _form_fields(request)
    raw = await request.read()
    return {"data": _decode_data(raw, ctype), "files": {}, "form": {}, "json": _json_or_none(raw)}


async def _full_info(request: web.Request, *, method: bool = False) -> dict[str, Any]:
    info = _basic_info(request)
    info.update(await _body_fields(request))
    if method:
        info["method"] = request.method
    return info


def _json(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Compact on purpose: `indent=` switches json to its pure-Python encoder, which halved
    # the server's throughput in `sessions bench`. Clients parse the body; layout is moot.
    body = _dumps(data).encode() + b"\n"
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


def _int(text: str, name: str) -> int:
    """Parse a path/query integer, answering 400 (not 500) on garbage."""
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"invalid {name}: {text!r}") from None


def _float(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"invalid {name}: {text!r}") from None


def _parse_etags(value: str | None) -> list[str]:
    """Entity tags of an If-Match / If-None-Match header, quotes and weak prefixes removed."""
    if not value:
        return []
    tags = []
    for part in value.split(","):
        tag = part.strip()
        tag = tag.removeprefix("W/")
        tags.append(tag.strip('"'))
    return tags


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


# ---------------------------------------------------------------- endpoints


class _Endpoints:
    """The handlers. State (retry counters) lives here, touched only by the server's loop thread."""

    def __init__(self) -> None:
        self.retry_counts: dict[str, int] = {}

    # -- HTTP methods
    async def get(self, request: web.Request) -> web.Response:
        return _json(_basic_info(request))

    async def with_body(self, request: web.Request) -> web.Response:
        """/post, /put, /patch, /delete."""
        return _json(await _full_info(request))

    async def anything(self, request: web.Request) -> web.Response:
        return _json(await _full_info(request, method=True))

    # -- status codes
    async def status(self, request: web.Request) -> web.Response:
        code = self._pick_status(request.match_info["codes"])
        return self._status_response(code)

    @staticmethod
    def _pick_status(spec: str) -> int:
        """`200`, `200,404` (uniform) or `200:0.9,500:0.1` (weighted), like httpbin."""
        codes: list[int] = []
        weights: list[float] = []
        for item in spec.split(","):
            code, _, weight = item.partition(":")
            codes.append(_int(code.strip(), "status code"))
            weights.append(_float(weight, "weight") if weight else 1.0)
        if any(not 100 <= c <= 999 for c in codes):
            raise web.HTTPBadRequest(text="invalid status code")
        return codes[0] if len(codes) == 1 else random.choices(codes, weights)[0]

    @staticmethod
    def _status_response(code: int) -> web.Response:
        headers: dict[str, str] = {}
        text = ""
        if code in _REDIRECT_CODES:
            headers["Location"] = "/redirect/1"
        elif code == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Fake Realm"'
        elif code == 418:
            text = _TEAPOT
            headers["x-more-info"] = "http://tools.ietf.org/html/rfc2324"
        body = None if code in (204, 304) or code < 200 else text.encode()
        return web.Response(status=code, body=body, headers=headers, content_type="text/html")

    # -- timing and data
    async def delay(self, request: web.Request) -> web.Response:
        seconds = min(max(_float(request.match_info["seconds"], "delay"), 0.0), MAX_DELAY)
        await asyncio.sleep(seconds)
        return _json(await _full_info(request))

    async def uuid_(self, request: web.Request) -> web.Response:
        return _json({"uuid": str(uuid.uuid4())})

    @staticmethod
    def _random_bytes(request: web.Request) -> bytes:
        n = min(max(_int(request.match_info["n"], "byte count"), 0), MAX_BYTES)
        seed = request.query.get("seed")
        rng = random.Random(_int(seed, "seed")) if seed is not None else random.Random()
        return rng.randbytes(n)

    async def bytes_(self, request: web.Request) -> web.Response:
        return web.Response(body=self._random_bytes(request), content_type="application/octet-stream")

    async def stream_bytes(self, request: web.Request) -> web.StreamResponse:
        data = self._random_bytes(request)
        chunk = max(_int(request.query.get("chunk_size", "10240"), "chunk_size"), 1)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), chunk):
            await response.write(data[start : start + chunk])
        await response.write_eof()
        return response

    # -- request inspection
    async def headers(self, request: web.Request) -> web.Response:
        return _json({"headers": _headers(request)})

    async def ip(self, request: web.Request) -> web.Response:
        return _json({"origin": _origin(request)})

    async def user_agent(self, request: web.Request) -> web.Response:
        return _json({"user-agent": request.headers.get("User-Agent")})

    # -- caching
    async def cache(self, request: web.Request) -> web.Response:
        if "If-Modified-Since" in request.headers or "If-None-Match" in request.headers:
            return web.Response(status=304)
        headers = {"Last-Modified": _http_date(time.time()), "ETag": f'"{uuid.uuid4().hex}"'}
        return _json(_basic_info(request), headers=headers)

    async def cache_for(self, request: web.Request) -> web.Response:
        seconds = _int(request.match_info["n"], "max-age")
        return _json(_basic_info(request), headers={"Cache-Control": f"public, max-age={seconds}"})

    async def etag(self, request: web.Request) -> web.Response:
        """httpbin's /etag: If-None-Match wins over If-Match. The ETag is sent quoted (RFC 9110)."""
        tag = request.match_info["etag"]
        quoted = {"ETag": f'"{tag}"'}
        if_none_match = _parse_etags(request.headers.get("If-None-Match"))
        if_match = _parse_etags(request.headers.get("If-Match"))
        if if_none_match:
            if tag in if_none_match or "*" in if_none_match:
                return web.Response(status=304, headers=quoted)
        elif if_match and tag not in if_match and "*" not in if_match:
            return web.Response(status=412)
        return _json(_basic_info(request), headers=quoted)

    async def response_headers(self, request: web.Request) -> web.Response:
        """Query parameters become response headers and the JSON body (with its own Content-Length)."""
        headers: CIMultiDict[str] = CIMultiDict(request.query)
        headers.setdefault("Content-Type", "application/json")
        headers.popall("Content-Length", None)
        shown: dict[str, Any] = _multi(headers)
        body = b""
        # httpbin iterates until the advertised Content-Length matches the body it is part of.
        for _ in range(5):
            shown["Content-Length"] = str(len(body))
            new_body = _dumps(shown).encode() + b"\n"
            if new_body == body:
                break
            body = new_body
        return web.Response(body=body, headers=headers)

    # -- redirects
    async def redirect(self, request: web.Request) -> web.Response:
        n = _int(request.match_info["n"], "redirect count")
        if n < 1:
            raise web.HTTPBadRequest(text="redirect count must be at least 1")
        target = "/get" if n == 1 else f"/redirect/{n - 1}"
        if request.query.get("absolute", "").lower() == "true":
            target = str(request.url.with_path(target).with_query(None))
        return web.Response(status=302, headers={"Location": target})

    async def redirect_to(self, request: web.Request) -> web.Response:
        url = request.query.get("url")
        if not url:
            raise web.HTTPBadRequest(text="missing url")
        code = _int(request.query.get("status_code", "302"), "status_code")
        code = code if 300 <= code < 400 else 302
        return web.Response(status=code, headers={"Location": url})

    # -- cookies
    async def cookies(self, request: web.Request) -> web.Response:
        return _json({"cookies": dict(request.cookies)})

    async def cookies_set(self, request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "/cookies"})
        for key, value in request.query.items():
            response.set_cookie(key, value, path="/")
        return response

    async def cookies_delete(self, request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "/cookies"})
        for key in request.query:
            response.del_cookie(key, path="/")
        return response

    # -- auth
    async def basic_auth(self, request: web.Request) -> web.Response:
        user, passwd = request.match_info["user"], request.match_info["passwd"]
        if _basic_credentials(request.headers.get("Authorization", "")) == (user, passwd):
            return _json({"authenticated": True, "user": user})
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Fake Realm"'})

    async def bearer(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        return _json({"authenticated": True, "token": token.strip()})

    # -- formats
    async def gzip_(self, request: web.Request) -> web.Response:
        data = {
            "gzipped": True,
            "headers": _headers(request),
            "method": request.method,
            "origin": _origin(request),
        }
        body = gzip.compress(_dumps(data).encode() + b"\n")
        headers = {"Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers, content_type="application/json")

    async def json_(self, request: web.Request) -> web.Response:
        return _json(_SLIDESHOW)

    async def html(self, request: web.Request) -> web.Response:
        return web.Response(text=_HTML, content_type="text/html")

    async def robots(self, request: web.Request) -> web.Response:
        return web.Response(text=_ROBOTS, content_type="text/plain")

    # -- our own test endpoint
    async def retry_after(self, request: web.Request) -> web.Response:
        """429 with Retry-After for the first `n` calls per `key`, then 200."""
        n = _int(request.match_info["n"], "count")
        key = request.query.get("key", "default")
        attempt = self.retry_counts[key] = self.retry_counts.get(key, 0) + 1
        body = {"attempt": attempt, "key": key}
        if attempt > n:
            return _json(body)
        status = _int(request.query.get("status", "429"), "status")
        return _json(body, status=status, headers={"Retry-After": _retry_after_value(request.query)})


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, passwd = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, passwd) if sep else None


def _retry_after_value(query: Mapping[str, str]) -> str:
    """`seconds=1.5` → "1.5"; `date=2` → the HTTP date 2 s from now; `date=<HTTP date>` verbatim."""
    if "date" in query:
        raw = query["date"]
        try:
            return _http_date(time.time() + float(raw))
        except ValueError:
            return raw
    return query.get("seconds", "0")


# ---------------------------------------------------------------- app assembly


def _logged(handler: Handler, log: ArrivalLog) -> Handler:
    """Wrap a handler so its arrival is recorded first (cheaper than an aiohttp middleware)."""
    append, now = log.append, time.monotonic

    async def logged(request: web.Request) -> web.StreamResponse:
        append(Arrival(now(), request.method, request.path))
        return await handler(request)

    return logged


def _routes(e: _Endpoints) -> Iterable[tuple[Iterable[str], str, Handler]]:
    """(methods, path, handler) for every endpoint."""
    get, body = ("GET",), ("POST", "PUT", "PATCH", "DELETE")
    return [
        (get, "/get", e.get),
        (("POST",), "/post", e.with_body),
        (("PUT",), "/put", e.with_body),
        (("PATCH",), "/patch", e.with_body),
        (("DELETE",), "/delete", e.with_body),
        (_ALL_METHODS, "/anything", e.anything),
        (_ALL_METHODS, "/anything/{tail:.*}", e.anything),
        (_ALL_METHODS, "/status/{codes}", e.status),
        (_ALL_METHODS, "/delay/{seconds}", e.delay),
        (get, "/uuid", e.uuid_),
        (get, "/bytes/{n}", e.bytes_),
        (get, "/stream-bytes/{n}", e.stream_bytes),
        (get, "/headers", e.headers),
        (get, "/ip", e.ip),
        (get, "/user-agent", e.user_agent),
        (get, "/cache", e.cache),
        (get, "/cache/{n}", e.cache_for),
        (get, "/etag/{etag}", e.etag),
        (("GET", "POST"), "/response-headers", e.response_headers),
        (get, "/redirect/{n}", e.redirect),
        ((*get, *body), "/redirect-to", e.redirect_to),
        (get, "/cookies", e.cookies),
        (get, "/cookies/set", e.cookies_set),
        (get, "/cookies/delete", e.cookies_delete),
        (get, "/basic-auth/{user}/{passwd}", e.basic_auth),
        (get, "/bearer", e.bearer),
        (get, "/gzip", e.gzip_),
        (get, "/json", e.json_),
        (get, "/html", e.html),
        (get, "/robots.txt", e.robots),
        (_ALL_METHODS, "/retry-after/{n}", e.retry_after),
    ]


def build_app(log: ArrivalLog | None = None, endpoints: _Endpoints | None = None) -> web.Application:
    """The httpbin `web.Application`; requests are recorded in `log` when one is given."""
    app = web.Application()
    for methods, path, handler in _routes(endpoints or _Endpoints()):
        wrapped = _logged(handler, log) if log is not None else handler
        for method in methods:
            if method == "HEAD" and "GET" in methods:
                continue  # add_route("GET") already answers HEAD
            app.router.add_route(method, path, wrapped)
    return app


class LocalHttpbin:
    """The httpbin app served from a background thread on a loopback port.

    Args:
        port: the port to bind; 0 (default) picks a free one.
        host: the address to bind, loopback by default.
        log_size: how many arrivals to keep (oldest are dropped).
        ssl_context: serve https with this server-side context (e.g. from ``trustme``) instead of http.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        log_size: int = DEFAULT_LOG_SIZE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self._ssl_context = ssl_context
        self._requested_port = port
        self._port: int | None = None
        self.arrivals = ArrivalLog(log_size)
        self._endpoints = _Endpoints()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The bound port (only once started)."""
        if self._port is None:
            raise RuntimeError("LocalHttpbin is not running; call start() or use it as a context manager")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:43817``."""
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def urls(self) -> Any:
        """A `sessions.utils.Urls` pointing at this server."""
        from sessions.utils import Urls

        return Urls(self.url)

    @property
    def running(self) -> bool:
        return self._port is not None

    def reset(self) -> None:
        """Clear the arrival log and the /retry-after counters."""
        self.arrivals.clear()
        self._endpoints.retry_counts.clear()

    def start(self) -> Self:
        """Start serving; returns once the port is bound (raises if binding failed)."""
        if self.running:
            return self
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="sessions-httpbin", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._raise_startup_error()
        return self

    def _raise_startup_error(self) -> None:
        if self._error is not None and self._thread is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"LocalHttpbin failed to start: {self._error}") from self._error

    def stop(self) -> None:
        """Stop serving, close every connection and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._loop = self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<LocalHttpbin {where}>"

    # -- the server thread
    def _run(self) -> None:
        loop = _new_event_loop()
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # report any bind failure to start()
            self._error = exc
            loop.run_until_complete(self._shutdown())
            loop.close()
            self._ready.set()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        app = build_app(self.arrivals, self._endpoints)
        # Short shutdown timeout: a pending /delay must not hold up a test session's teardown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self._requested_port, backlog=1024, ssl_context=self._ssl_context
        )
        await site.start()
        self._port = _bound_port(self._runner)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the `speedups` extra: 4.3k → 7.5k req/s on /get here), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()  # typed even where uvloop's stubs are absent
    return loop


def _bound_port(runner: web.AppRunner) -> int:
    """The port the OS picked for a port-0 bind."""
    address = runner.addresses[0]
    return int(address[1])


def serve(port: int = 8080, host: str = "127.0.0.1", *, print_fn: Callable[..., None] | None = print) -> None:
    """Run the httpbin app in the foreground until interrupted (Ctrl-C); no arrival log."""
    web.run_app(
        build_app(),
        loop=_new_event_loop(),
        host=host,
        port=port,
        access_log=None,
        print=print_fn,
        backlog=1024,
        shutdown_timeout=0.5,
    )
