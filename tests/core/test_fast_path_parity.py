"""The fast path answers as httpx does: the same request through `Session` and through a plain `httpx.Client`
reads the same through the whole `httpx.Response` API.

A fast-path response is built without `httpx.Response.__init__` (see `Response.from_parts`), so every reader
httpx has is a place where it could differ; this compares them side by side against the real server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sessions import AsyncSession, Session
from sessions.httpbin import LocalHttpbin

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/json", {}),
    ("GET", "/anything/ä%20b c", {"params": {"q": "ü b", "r": "/"}}),
    ("GET", "/html", {}),
    ("GET", "/gzip", {}),
    ("GET", "/bytes/300", {"params": {"seed": "7"}}),
    ("HEAD", "/get", {}),
    ("GET", "/status/404", {}),
    ("GET", "/status/503", {}),
    ("GET", "/redirect/2", {}),
    ("GET", "/redirect/2", {"follow_redirects": True}),
    ("GET", "/response-headers", {"params": {"Link": '<http://example.com/2>; rel="next"'}}),
    ("GET", "/cookies/set", {"params": {"flavour": "oat"}}),
    ("POST", "/post", {"json": {"a": [1, 2]}}),
    ("PUT", "/put", {"content": b"raw bytes", "headers": {"X-Extra": "1"}}),
]


def _status_error(response: httpx.Response) -> str | None:
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _view(response: httpx.Response) -> dict[str, Any]:
    """Everything a user can read off a response, minus what differs between any two responses (Date)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
    next_request = response.next_request
    return {
        "status": (response.status_code, response.reason_phrase, response.http_version),
        "flags": (
            response.is_success,
            response.is_error,
            response.is_redirect,
            response.has_redirect_location,
        ),
        "headers": headers,
        "content": response.content,
        "text": response.text,
        "encoding": (response.encoding, response.charset_encoding),
        "lines": list(response.iter_lines()),
        "bytes": b"".join(response.iter_bytes()),
        "downloaded": response.num_bytes_downloaded,
        "url": str(response.url),
        "request": (
            response.request.method,
            str(response.request.url),
            response.request.headers.multi_items(),
            response.request.read(),  # read(): after a redirect httpx leaves the request's stream unread
        ),
        "next_request": None if next_request is None else (next_request.method, str(next_request.url)),
        "history": [(r.status_code, str(r.url)) for r in response.history],
        "links": response.links,
        "cookies": dict(response.cookies),
        "raise_for_status": _status_error(response),
        "closed": (response.is_closed, response.is_stream_consumed),
        "repr": repr(response),
    }


@pytest.fixture(scope="module")
def server() -> Iterator[LocalHttpbin]:
    with LocalHttpbin() as hb:
        yield hb


@pytest.mark.parametrize(("method", "path", "kwargs"), CASES, ids=[f"{m} {p} {k}" for m, p, k in CASES])
def test_fast_path_reads_as_httpx(
    server: LocalHttpbin, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    url = server.url + path
    with httpx.Client() as reference, Session() as session:
        expected = _view(reference.request(method, url, **kwargs))
        got = session.request(method, url, **kwargs)
        first = got.history[0] if got.history else got  # later redirect hops go through httpx's own send()
        assert first.__dict__.get("_call_parts") is not None, "not the fast path: nothing compared"
        assert _view(got) == expected


@pytest.mark.parametrize(
    "removed", [(), ("accept",), ("user-agent",), ("accept", "accept-encoding", "user-agent")], ids=str
)
@pytest.mark.parametrize(
    "kwargs", [{}, {"headers": {"X-Extra": "1"}}, {"content": b"raw"}, {"json": {"a": 1}}], ids=str
)
def test_the_wire_carries_the_headers_httpx_sends(
    server: LocalHttpbin, removed: tuple[str, ...], kwargs: dict[str, Any]
) -> None:
    """aiohttp adds Accept, Accept-Encoding, User-Agent and a body's Content-Type when a request lacks them;
    httpx does not, and neither may the fast path (the server echoes what it received)."""
    url = f"{server.url}/anything"
    with httpx.Client() as reference, Session() as session:
        for name in removed:
            del reference.headers[name]
            del session.headers[name]
        method = "POST" if "content" in kwargs or "json" in kwargs else "GET"
        expected = reference.request(method, url, **kwargs).json()["headers"]
        got = session.request(method, url, **kwargs)
        assert got.__dict__.get("_call_parts") is not None, "not the fast path: nothing compared"
        assert got.json()["headers"] == expected


def _chunks() -> Iterator[bytes]:
    yield b"one,"
    yield b"two"


BODIES: list[tuple[str, dict[str, Any]]] = [
    ("POST", {}),
    ("PUT", {}),
    ("PATCH", {}),
    ("POST", {"content": b""}),
    ("POST", {"json": {"a": 1}, "headers": {"Content-Type": "text/plain"}}),
    ("POST", {"data": {"k": "v"}}),
]


@pytest.mark.parametrize(("method", "kwargs"), BODIES, ids=[f"{m} {k}" for m, k in BODIES])
def test_bodies_and_their_headers_arrive_as_httpx_sends_them(
    server: LocalHttpbin, method: str, kwargs: dict[str, Any]
) -> None:
    """No Content-Type of aiohttp's own on a bodiless POST/PUT/PATCH; a Content-Type the caller gave wins
    over the encoder's, as in `httpx.Request`."""
    url = f"{server.url}/anything"
    with httpx.Client() as reference, Session() as session:
        expected = reference.request(method, url, **kwargs).json()
        got = session.request(method, url, **kwargs)
        assert got.__dict__.get("_call_parts") is not None, "not the fast path: nothing compared"
        received = got.json()
    assert received["headers"] == expected["headers"]
    assert received["data"] == expected["data"]


def test_a_generator_body_arrives_whole(server: LocalHttpbin) -> None:
    """httpx streams a generator chunked; the fast path joins it and sends it with its Content-Length (it
    used to send both headers, which servers reject)."""
    url = f"{server.url}/anything"
    with httpx.Client() as reference, Session() as session:
        expected = reference.post(url, content=_chunks()).json()
        got = session.post(url, content=_chunks())
    assert got.status_code == 200
    received = got.json()
    assert received["data"] == expected["data"] == "one,two"
    assert received["headers"].get("Transfer-Encoding") is None
    assert received["headers"]["Content-Length"] == "7"
    assert got.request.headers["content-length"] == "7"


async def test_an_async_generator_body_arrives_whole(server: LocalHttpbin) -> None:
    """An async body cannot be joined where the call is made: it goes the httpx way, read by the transport."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"one,"
        yield b"two"

    url = f"{server.url}/anything"
    async with httpx.AsyncClient() as reference, AsyncSession() as session:
        expected = (await reference.post(url, content=chunks())).json()
        got = await session.post(url, content=chunks())
    assert got.status_code == 200
    assert got.json()["data"] == expected["data"] == "one,two"


def test_printable_ascii_a_url_should_escape_arrives_with_the_same_meaning(server: LocalHttpbin) -> None:
    """Quotes, angle brackets and the like go out as written (checking every URL for them costs the batch
    path more than a whole header lookup; servers decode them alike): the server reads the same path and
    query as from httpx, which escapes some of them."""
    url = f'{server.url}/anything/"quoted"?x=<y>&z={{1}}|2'
    with httpx.Client() as reference, Session() as session:
        expected = reference.get(url).json()
        got = session.get(url).json()
    assert got["args"] == expected["args"] == {"x": "<y>", "z": "{1}|2"}
    assert httpx.URL(got["url"]).path == httpx.URL(expected["url"]).path == '/anything/"quoted"'
