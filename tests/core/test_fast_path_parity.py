"""The fast path answers as httpx does: the same request through `Session` and through a plain `httpx.Client`
reads the same through the whole `httpx.Response` API.

A fast-path response is built without `httpx.Response.__init__` (see `Response.from_parts`), so every reader
httpx has is a place where it could differ; this compares them side by side against the real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sessions import Session
from sessions.httpbin import LocalHttpbin

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/json", {}),
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
