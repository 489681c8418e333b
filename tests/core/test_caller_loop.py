"""A sync Session's single calls run on the calling thread (`CallerLoop`), not handed to the loop thread."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any

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


def _read_request(conn: socket.socket) -> bytes:
    """One whole request (head, and the body its Content-Length announces)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


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
                _read_request(conn)
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


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", None), ("DELETE", None), ("PUT", b"x" * 1000), ("PUT", b"x" * (300 * 1024))],
    ids=["GET", "PUT", "DELETE", "PUT-small-body", "PUT-streamed-body"],
)
def test_an_idempotent_call_meeting_a_connection_closed_while_idle_still_succeeds(
    closes_idle_connections: tuple[str, list[int]], method: str, body: bytes | None
) -> None:
    # Most take no loop turn before the request (one turn less per call): one that picks the closed
    # connection fails there before any answer and is sent again on a fresh connection, as in aiohttp. A
    # body over 256 KiB is streamed (under the write timeout) and cannot be sent twice: that call takes
    # the turn, as a POST does.
    url, accepted = closes_idle_connections
    with Session() as s:
        for _ in range(3):
            assert s.request(method, url, content=body).text == "ok"
            threading.Event().wait(0.2)
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


def test_close_from_another_thread_ends_a_call_in_flight_at_once(httpbin: LocalHttpbin) -> None:
    # close() used to wait for the other thread's call (for ever with timeout=None, which also hung exit).
    s = Session(timeout=None)
    s.get(f"{httpbin.url}/get")
    outcome: list[BaseException] = []

    def slow() -> None:
        try:
            s.get(f"{httpbin.url}/delay/10")
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=slow)
    caller.start()
    while s._caller_loop._task is None and caller.is_alive():
        threading.Event().wait(0.01)
    s.close()
    caller.join(5)
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], RuntimeError)
    assert "closed while this call was running" in str(outcome[0])
    assert s._caller_loop._loop is None  # the calling thread closed the loop and pool as its call ended


@pytest.fixture
def counts_concurrency() -> Iterator[tuple[str, list[int]]]:
    """A threaded server holding each request 0.3 s; yields its URL and [most requests seen at once]."""
    import http.server

    state = {"now": 0, "most": 0}
    lock = threading.Lock()
    most = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                state["now"] += 1
                most[0] = state["most"] = max(state["most"], state["now"])
            threading.Event().wait(0.3)
            with lock:
                state["now"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", most
    server.shutdown()
    server.server_close()


def test_max_connections_holds_for_calls_from_several_threads(
    counts_concurrency: tuple[str, list[int]],
) -> None:
    # A thread finding the caller's loop taken used to hop to the loop thread's pool, one connection more
    # than max_connections=1 allows; it now waits for the loop, as httpx's pool makes it wait.
    import httpx

    url, most = counts_concurrency
    with Session(limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(10.0)) as s:
        threads = [threading.Thread(target=lambda: s.get(url)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert most[0] == 1


QUIET_FORK = """
import os, sys
from sessions import Session
s = Session(timeout=3)
print(s.get(URL).status_code)
child = os.fork()
if child == 0:
    sys.exit(0)  # a normal exit: the child finalizes what it inherited, without ever using the session
os.waitpid(child, 0)
print(s.get(URL).status_code)
"""

CLOSE_IN_ASYNC = """
import asyncio
from sessions import Session
async def main():
    s = Session()
    print((await asyncio.to_thread(s.get, URL)).status_code)
    s.close()  # from a thread that runs an event loop
asyncio.run(main())
"""


@pytest.mark.parametrize("script", [QUIET_FORK, CLOSE_IN_ASYNC], ids=["fork-child-exits", "close-in-async"])
def test_scripts_run_cleanly(script: str, httpbin: LocalHttpbin) -> None:
    # fork-child-exits: the child's exit closed the parent's kept-alive connection (shared epoll), the
    # parent's next call timed out. close-in-async: the pool's last tasks were destroyed pending, noisily.
    import subprocess
    import sys

    code = f"URL = {httpbin.url + '/get'!r}\n" + script
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"200"}
    assert done.stderr == ""


class _CancelsOnCreate(asyncio.SelectorEventLoop):
    """A real loop whose tasks are cancelled as they are made: close() from another thread landing between
    the caller loop's create_task and its first step."""

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        task = super().create_task(coro, **kwargs)
        task.cancel()
        return task


def test_a_call_cancelled_before_its_first_step_leaves_no_unawaited_fetch(httpbin: LocalHttpbin) -> None:
    # A fetch coroutine made before the task's first step and dropped by the cancel is a "coroutine
    # 'Engine.fetch' was never awaited" warning at some later GC (it failed an unrelated test in CI).
    loop = _CancelsOnCreate()
    with Session() as s:
        caller = s._caller_loop
        caller._loop, caller._engine = loop, caller._template.sibling()
        call = s._make_call("GET", f"{httpbin.url}/get", {}, {})
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with pytest.raises(asyncio.CancelledError):
                    caller.fetch(call)
                gc.collect()
        finally:
            caller._loop = caller._engine = None  # nothing was opened on it: the session closes as usual
            loop.close()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


class _InterruptedAfterCreate(asyncio.SelectorEventLoop):
    """A loop on which a Ctrl-C lands right after the caller loop's create_task, before it runs the loop."""

    interrupt = True

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        task = super().create_task(coro, **kwargs)
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt
        return task


def test_a_ctrl_c_right_after_the_call_is_made_sends_nothing_later(httpbin: LocalHttpbin) -> None:
    # The interrupted call's task must not stay queued on the loop: the next call would send its request
    # and then stop that next call's loop early ("Event loop stopped before the call completed").
    loop = _InterruptedAfterCreate()
    with Session() as s:
        caller = s._caller_loop
        caller._loop, caller._engine = loop, caller._template.sibling()
        with pytest.raises(KeyboardInterrupt):
            s.post(f"{httpbin.url}/anything/abandoned", content=b"x")
        for _ in range(3):  # the loop runs again: a task left queued would go on with its request here
            assert s.get(f"{httpbin.url}/anything/next").json()["url"].endswith("/anything/next")
        assert caller._loop is loop  # the same loop served the next calls
    assert httpbin.arrivals.select(path="/anything/abandoned") == []


def test_a_ctrl_c_inside_a_call_leaves_the_next_call_working_and_logs_nothing(
    httpbin: LocalHttpbin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sessions._engine import Engine

    original = Engine.fetch
    interrupt = [True]

    async def fetch(self: Engine, call: Any) -> Any:
        if interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt
        return await original(self, call)

    monkeypatch.setattr(Engine, "fetch", fetch)
    with Session() as s:
        with pytest.raises(KeyboardInterrupt):
            s.get(f"{httpbin.url}/get")
        for _ in range(2):
            assert s.get(f"{httpbin.url}/get").status_code == 200
    gc.collect()
    assert "exception was never retrieved" not in caplog.text
