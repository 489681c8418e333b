"""Failures on the fast path raise what httpx raises: the same bad request through `Session` and through a
plain `httpx.Client` ends in the same exception class (the fast path maps aiohttp's and asyncio's errors),
carrying the same `exc.request` (method and URL) — what a handler logs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sessions import AsyncSession, Session
from sessions.httpbin import LocalHttpbin


@pytest.fixture(scope="module")
def server() -> Iterator[LocalHttpbin]:
    with LocalHttpbin() as hb:
        yield hb


@pytest.fixture(scope="module")
def refused_url() -> Iterator[str]:
    """A loopback port bound but not listening: connections are refused, and no other test can take it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture(scope="module")
def hang_up_url() -> Iterator[str]:
    """A server that reads the request and closes the connection without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


def _described(exc: httpx.HTTPError) -> str:
    try:
        request = exc.request
    except RuntimeError:  # httpx's way of saying "no request attached"
        return f"{type(exc).__name__} without a request"
    return f"{type(exc).__name__} for {request.method} {request.url}"


def _outcome(send: Any) -> str:
    try:
        send()
    except httpx.HTTPError as exc:
        return _described(exc)
    except Exception as exc:  # a non-httpx error is itself the finding
        return f"not an httpx error: {type(exc).__name__}"
    return "no error"


CASES = [
    ("refused", {}),
    ("hang-up", {}),
    ("ftp", {}),
    ("no-scheme", {}),
    ("read-timeout", {"timeout": httpx.Timeout(5.0, read=0.2)}),
    ("redirect-loop", {"follow_redirects": True}),
]


def _url(case: str, server: LocalHttpbin, refused_url: str, hang_up_url: str) -> str:
    return {
        "refused": refused_url,
        "hang-up": hang_up_url,
        "ftp": "ftp://127.0.0.1/file",
        "no-scheme": "127.0.0.1/get",
        "read-timeout": f"{server.url}/delay/2",
        "redirect-loop": f"{server.url}/redirect/30",
    }[case]


@pytest.mark.parametrize(("case", "kwargs"), CASES, ids=[c for c, _ in CASES])
def test_sync_failures_raise_as_httpx(
    case: str, kwargs: dict[str, Any], server: LocalHttpbin, refused_url: str, hang_up_url: str
) -> None:
    url = _url(case, server, refused_url, hang_up_url)
    with httpx.Client() as reference, Session() as session:
        expected = _outcome(lambda: reference.get(url, **kwargs))
        assert expected != "no error"
        assert _outcome(lambda: session.get(url, **kwargs)) == expected


@pytest.mark.parametrize(("case", "kwargs"), CASES, ids=[c for c, _ in CASES])
async def test_async_failures_raise_as_httpx(
    case: str, kwargs: dict[str, Any], server: LocalHttpbin, refused_url: str, hang_up_url: str
) -> None:
    url = _url(case, server, refused_url, hang_up_url)
    async with httpx.AsyncClient() as reference, AsyncSession() as session:
        try:
            await reference.get(url, **kwargs)
            expected = "no error"
        except httpx.HTTPError as exc:
            expected = _described(exc)
        try:
            await session.get(url, **kwargs)
            got = "no error"
        except httpx.HTTPError as exc:
            got = _described(exc)
        except Exception as exc:  # a non-httpx error is itself the finding
            got = f"not an httpx error: {type(exc).__name__}"
    assert expected != "no error"
    assert got == expected
