"""A sync Session's single calls run on the calling thread (`CallerLoop`), not handed to the loop thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from sessions import Session
from sessions.httpbin import LocalHttpbin


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sessions-loop"]


def test_single_calls_start_no_loop_thread(httpbin: LocalHttpbin) -> None:
    before = len(_loop_threads())
    with Session() as s:
        for _ in range(3):
            assert s.get(f"{httpbin.url}/get").status_code == 200
        assert len(_loop_threads()) == before  # no hop: the caller ran its own call
        assert s._caller_loop._engine is not None
        s.requests([f"{httpbin.url}/get"] * 2, progress=False)  # batches still run on the loop thread
        assert len(_loop_threads()) == before + 1


@pytest.fixture
def closes_idle_connections() -> Iterator[tuple[str, list[int]]]:
    """A keep-alive server that closes each connection 50 ms after answering on it (as servers do with
    idle ones). Yields its URL and the count of connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                stop.wait(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/", accepted
    stop.set()
    thread.join(5)
    listener.close()


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    closes_idle_connections: tuple[str, list[int]],
) -> None:
    # Between calls nobody runs the caller's loop, so the server's FIN waits in the socket; the call must
    # take it in before picking a pooled connection, or the request goes out on a closed connection.
    # (POST: aiohttp resends an idempotent request once on its own when a reused connection fails.)
    url, accepted = closes_idle_connections
    with Session() as s:
        for _ in range(3):
            assert s.post(url, content=b"x").text == "ok"
            threading.Event().wait(0.2)  # the server has closed this connection by now
    assert accepted[0] == 3


def test_calls_from_many_threads_all_complete(httpbin: LocalHttpbin) -> None:
    # One thread at a time runs the caller's loop; the others take the loop thread, as before.
    results: list[int] = []
    with Session() as s:

        def work(n: int) -> None:
            for i in range(20):
                results.append(s.get(f"{httpbin.url}/get?t={n}&i={i}").status_code)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results == [200] * 120


def test_a_sync_call_inside_a_running_loop_still_works(httpbin: LocalHttpbin) -> None:
    # The calling thread runs an event loop already (a sync Session used from async code): it cannot run
    # another, so the call goes to the loop thread.
    async def main() -> int:
        with Session() as s:
            return s.get(f"{httpbin.url}/get").status_code

    assert asyncio.run(main()) == 200


def test_a_closed_session_refuses_calls(httpbin: LocalHttpbin) -> None:
    s = Session()
    assert s.get(f"{httpbin.url}/get").status_code == 200
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.get(f"{httpbin.url}/get")
