"""The fast path's read timeout means idle time between bytes, as in httpx — not total time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

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


# --- queueing for the pool is not read time (httpx: pool timeout, then read timeout) -----------------------


async def test_requests_queued_for_the_pool_do_not_time_out_while_queued(slow: HTTPServer) -> None:
    # One connection, four requests of 0.3 s each: the last waits ~0.9 s for the connection, far past the
    # 0.5 s read timeout, yet never waits more than 0.3 s for a byte once it has the connection.
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(0.5, pool=None)
    async with AsyncSession(timeout=timeout, limits=limits) as s:
        responses = await asyncio.gather(*(s.get(slow.url_for("/slow")) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4


def test_sync_batch_wider_than_the_pool_does_not_time_out(slow: HTTPServer) -> None:
    limits = httpx.Limits(max_connections=2)
    with Session(timeout=httpx.Timeout(0.5, pool=None), limits=limits) as s:
        results = s.requests([slow.url_for("/slow")] * 6, concurrency=6)
    assert [r.status_code for r in results] == [200] * 6


async def test_waiting_longer_than_the_pool_timeout_is_a_pool_timeout(slow: HTTPServer) -> None:
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.1, connect=0.05)  # queue limit: 0.15 s, the first request holds 0.3 s
    async with AsyncSession(timeout=timeout, limits=limits) as s:
        first, second = await asyncio.gather(
            s.get(slow.url_for("/slow")), s.get(slow.url_for("/slow")), return_exceptions=True
        )
    assert isinstance(first, httpx.Response)
    assert first.status_code == 200
    assert isinstance(second, httpx.PoolTimeout), second
    assert "pool" in str(second)


async def test_a_server_that_never_answers_still_times_out_after_connecting(slow: HTTPServer) -> None:
    # The connection is had at once (pool timeout unbounded), so the 0.3 s answer is a 0.3 s read: > 0.1 s.
    async with AsyncSession(timeout=httpx.Timeout(0.1, pool=None)) as s:
        with pytest.raises(httpx.ReadTimeout):
            await s.get(slow.url_for("/slow"))


def test_no_connect_timeout_means_no_limit_on_waiting_for_a_connection() -> None:
    from sessions._engine import _queue_limit

    assert _queue_limit(httpx.Timeout(5, pool=0.2, connect=None)) is None  # connect may take for ever
    assert _queue_limit(httpx.Timeout(5, pool=None)) is None
    assert _queue_limit(httpx.Timeout(5, pool=0.2, connect=1.0)) == pytest.approx(1.2)


async def test_pool_timeout_holds_without_a_read_timeout(slow: HTTPServer) -> None:
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(None, pool=0.1, connect=0.05)
    async with AsyncSession(timeout=timeout, limits=limits) as s:
        first, second = await asyncio.gather(
            s.get(slow.url_for("/slow")), s.get(slow.url_for("/slow")), return_exceptions=True
        )
    assert isinstance(first, httpx.Response)
    assert isinstance(second, httpx.PoolTimeout), second


# --- a large upload that keeps moving is not a read timeout (httpx: write timeout per write) ---------------


class _SlowReader:
    """A raw HTTP server that reads request bodies slowly (``pause`` s per 64 KiB), or stops reading."""

    def __init__(self, pause: float, stall: bool = False) -> None:
        import socket
        import threading

        self.pause, self.stall = pause, stall
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/upload"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: Any) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, body = data.split(b"\r\n\r\n", 1)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            got = len(body)
            if self.stall:
                time.sleep(3)
                return
            while got < length:
                time.sleep(self.pause)
                got += len(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self._listener.close()


def test_an_upload_longer_than_the_read_timeout_that_keeps_moving_succeeds_as_with_httpx() -> None:
    # 16 MiB to a server reading ~12 MiB/s: ~1.3 s of upload, 2.5 read timeouts. As in httpx the read timeout
    # starts once the body is handed to the connection; what the kernel still buffers then (a few MiB on
    # loopback) drains well within it. Before, the fast path counted the whole upload as read time.
    server = _SlowReader(pause=0.005)
    timeout = httpx.Timeout(5, read=0.5)
    body = b"x" * (16 * 1024 * 1024)
    try:
        with httpx.Client(timeout=timeout) as plain:
            try:
                reference = plain.post(server.url, content=body).status_code
            except httpx.ReadTimeout:
                pytest.skip("this machine is too slow for the server's pace: httpx itself times out")
        with Session(timeout=timeout) as s:
            response = s.post(server.url, content=body)
        assert (response.status_code, response.content) == (reference, b"ok")
    finally:
        server.close()


@pytest.mark.parametrize("path", ["fast", "httpx"])
def test_an_upload_the_server_stops_reading_is_a_write_timeout(path: str) -> None:
    server = _SlowReader(pause=0.0, stall=True)
    body = b"x" * (16 * 1024 * 1024)  # far more than the socket buffers hold
    try:
        # httpx's meaning: the write timeout bounds the wait to send more of the body (the read timeout
        # stays long here, so only the write timeout can end the call before the server hangs up at 3 s)
        with Session(timeout=httpx.Timeout(5, write=0.3)) as s:
            # a prepared request goes by httpx's send(), on the engine's pool
            send = (
                s.post
                if path == "fast"
                else lambda url, content: s.send(s.build_request("POST", url, content=content))
            )
            with pytest.raises(httpx.WriteTimeout):
                send(server.url, content=body)
    finally:
        server.close()
