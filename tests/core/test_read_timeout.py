"""The fast path's read timeout means idle time between bytes, as in httpx — not total time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response as WResponse

from sessions import AsyncSession, Session


def _drip(pause: float, chunks: int, stall_after: int | None = None) -> Iterator[bytes]:
    for i in range(chunks):
        if stall_after is not None and i == stall_after:
            time.sleep(1.5)
        yield b"x" * 10
        time.sleep(pause)


@pytest.fixture
def dripping() -> Iterator[HTTPServer]:
    # A threaded server of our own: a stalled response must not hold up the next test's request.
    httpserver = HTTPServer(threaded=True)
    httpserver.start()
    httpserver.expect_request("/slow-but-steady").respond_with_handler(
        lambda _req: WResponse(_drip(0.1, 8), direct_passthrough=True)
    )
    httpserver.expect_request("/stalls").respond_with_handler(
        lambda _req: WResponse(_drip(0.05, 4, stall_after=2), direct_passthrough=True)
    )
    yield httpserver
    httpserver.clear()
    httpserver.stop()


def test_steady_body_longer_than_the_timeout_is_read(dripping: HTTPServer) -> None:
    with Session(timeout=0.4) as s:
        response = s.get(dripping.url_for("/slow-but-steady"))
    assert response.content == b"x" * 80  # ~0.8 s in all, never 0.4 s without a byte


def test_stalled_body_times_out(dripping: HTTPServer) -> None:
    with Session(timeout=0.4) as s, pytest.raises(httpx.ReadTimeout):
        s.get(dripping.url_for("/stalls"))


async def test_async_steady_body_then_stall(dripping: HTTPServer) -> None:
    async with AsyncSession(timeout=0.4) as s:
        assert (await s.get(dripping.url_for("/slow-but-steady"))).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            await s.get(dripping.url_for("/stalls"))
