"""The lean exchange (`sessions._wire`): what it writes is byte for byte what aiohttp's
`ClientSession.request` writes for the same call, and what aiohttp's request path does that users see —
interim responses, HEAD, closing and retrying kept-alive connections, parser errors, the header-injection
guard — it does too. The oracle is the same `Engine` with the lean exchange switched off (every call
through aiohttp's client), against a raw socket server that records the bytes it receives."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sessions import AsyncSession, Session
from sessions._engine import Engine

# respond(connection number, request number on that connection, request head, body) -> bytes to send, or
# None to close the connection without answering.
Responder = Callable[[int, int, bytes, bytes], bytes | None]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def _ok(_conn: int, _n: int, head: bytes, _body: bytes) -> bytes:
    if head.startswith(b"HEAD "):
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    return OK


class ScriptedServer:
    """A raw HTTP/1.1 server on loopback that records each request's bytes and answers as `respond` says."""

    def __init__(self, respond: Responder = _ok) -> None:
        self.respond = respond
        self.requests: list[tuple[int, bytes]] = []  # (connection number, head + body)
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.base = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            number = self.connections
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn, number), daemon=True).start()

    def _answer(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            for n in range(1000):
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                if b"\r\nexpect: 100-continue" in head.lower():
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # go on: as a server does
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                self.requests.append((number, head + b"\r\n\r\n" + body))
                answer = self.respond(number, n, head, body)
                if answer is None:
                    return
                conn.sendall(answer)
                if b"connection: close" in answer.lower():
                    return

    def wire(self) -> list[bytes]:
        """The requests received, with this server's port taken out (the two runs use two servers)."""
        port = self.base.rsplit(":", 1)[1].encode()
        return [raw.replace(b":" + port, b":PORT") for _, raw in self.requests]

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def through_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call of this test through aiohttp's `ClientSession.request`: the oracle."""
    monkeypatch.setattr(Engine, "_lean_block", lambda self, call, url, body: None)


def _lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each call that took the lean exchange (so a test knows which path it exercised)."""
    seen: list[str] = []
    original = Engine._lean

    async def lean(self: Engine, session: Any, call: Any, *args: Any) -> Any:
        seen.append(call.method)
        return await original(self, session, call, *args)

    monkeypatch.setattr(Engine, "_lean", lean)
    return seen


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/a/b?x=1&y=%20&z=%2F", {}),
    ("GET", "/frag#part", {}),
    ("GET", "/", {"headers": {"X-Dup": "1", "Accept": "text/html", "X-Tab": "a\tb"}}),
    ("GET", "/", {"headers": [("X-Dup", "1"), ("X-Dup", "2")]}),
    ("GET", "/", {"headers": {"X-Utf8": "caf\u00e9".encode()}}),
    ("GET", "/?q=caf\u00e9 au lait", {}),
    ("HEAD", "/h", {}),
    ("OPTIONS", "/o", {}),
    ("DELETE", "/d", {}),
    ("PUT", "/p", {}),
    ("PATCH", "/p", {}),
    ("POST", "/p", {}),
    ("POST", "/p", {"content": b""}),
    ("POST", "/p", {"content": b"hello"}),
    ("POST", "/p", {"json": {"a": [1, 2]}}),
    ("POST", "/p", {"data": {"a": "1", "b": "two words"}}),
    ("PUT", "/p", {"content": b"x" * 70_000, "headers": {"Content-Type": "application/x-thing"}}),
    ("DELETE", "/d", {"content": b"body"}),
    ("TRACE", "/t", {}),
]


def _run_calls(base: str) -> None:
    with Session(headers={"X-Session": "s"}) as s:
        for method, path, kwargs in CALLS:
            assert s.request(method, base + path, **kwargs).status_code == 200


def test_the_lean_exchange_writes_what_aiohttp_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    lean_server, oracle_server = ScriptedServer(), ScriptedServer()
    try:
        taken = _lean_calls(monkeypatch)
        _run_calls(lean_server.base)
        assert taken == [method for method, _, _ in CALLS]  # every call above takes the lean exchange
        monkeypatch.setattr(Engine, "_lean_block", lambda self, call, url, body: None)
        _run_calls(oracle_server.base)
        assert len(taken) == len(CALLS)  # and none of the oracle's
        lean, oracle = lean_server.wire(), oracle_server.wire()
        assert len(lean) == len(oracle) == len(CALLS)
        for got, expected in zip(lean, oracle, strict=True):
            assert got == expected
        assert lean_server.connections == 1  # one kept-alive connection served them all
    finally:
        lean_server.close()
        oracle_server.close()


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("GET", {"headers": {"Host": "example.test"}}),  # aiohttp decides where a caller's Host goes
        ("POST", {"content": b"x" * (256 * 1024 + 1)}),  # a large body: streamed, under the write timeout
        ("PROPFIND", {}),  # a method the lean exchange does not know
        ("POST", {"content": b"abc", "headers": {"Expect": "100-continue"}}),  # aiohttp waits for the 100
        ("POST", {"content": b"helloEXTRA", "headers": {"Content-Length": "5"}}),  # aiohttp cuts the body
    ],
)
def test_calls_the_lean_exchange_does_not_know_still_go_out_through_aiohttp(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, method: str, kwargs: dict[str, Any]
) -> None:
    taken = _lean_calls(monkeypatch)
    with Session() as s:
        assert s.request(method, server.base + "/x", **kwargs).text == "ok"
    assert taken == []
    assert server.requests[0][1].startswith(f"{method} /x HTTP/1.1\r\n".encode())


@pytest.mark.parametrize("userinfo", ["user:pw@", ":pw@", "user@"])
def test_credentials_in_the_url_leave_the_lean_exchange(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, userinfo: str
) -> None:
    taken = _lean_calls(monkeypatch)
    with Session() as s:
        assert s.get(server.base.replace("http://", "http://" + userinfo) + "/x").text == "ok"
    assert taken == []
    assert b"\r\nauthorization: basic " in server.requests[0][1].lower()


def test_a_caller_content_length_that_is_not_the_bodys_never_lets_extra_bytes_onto_the_connection(
    server: ScriptedServer,
) -> None:
    with Session() as s:
        assert s.post(server.base + "/x", content=b"helloEXTRA", headers={"Content-Length": "5"}).text == "ok"
        assert s.get(server.base + "/next").text == "ok"
    assert [raw.split(b"\r\n\r\n", 1)[1] for _, raw in server.requests] == [b"hello", b""]
    request_lines = [raw.split(b"\r\n", 1)[0] for _, raw in server.requests]
    assert request_lines == [b"POST /x HTTP/1.1", b"GET /next HTTP/1.1"]


async def test_a_call_on_a_closed_async_session_says_the_session_is_closed(server: ScriptedServer) -> None:
    s = AsyncSession()
    assert (await s.get(server.base + "/x")).text == "ok"
    await s.aclose()
    with pytest.raises(RuntimeError, match="Cannot send a request, as the session has been closed"):
        await s.get(server.base + "/x")


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "aiohttp"])
def test_a_header_carrying_a_line_break_is_refused_before_anything_is_sent(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    if not lean:
        monkeypatch.setattr(Engine, "_lean_block", lambda self, call, url, body: None)
    with Session() as s:
        for value in ("a\r\nX-Injected: 1", "a\nb", "a\x00b", "a\x7fb"):
            with pytest.raises(ValueError, match="Forbidden control character detected in headers"):
                s.get(server.base + "/x", headers={"X-Evil": value})
        assert s.get(server.base + "/x").text == "ok"  # the session carries on
    assert len(server.requests) == 1


def test_interim_responses_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def respond(_c: int, _n: int, _head: bytes, _body: bytes) -> bytes:
        return b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK

    server = ScriptedServer(respond)
    taken = _lean_calls(monkeypatch)
    try:
        with Session() as s:
            for _ in range(2):
                r = s.post(server.base + "/x", content=b"abc")
                assert (r.status_code, r.text, "link" in r.headers) == (200, "ok", False)
        assert taken == ["POST", "POST"]
        assert server.connections == 1
    finally:
        server.close()


def test_head_reads_no_body_and_keeps_the_connection(server: ScriptedServer) -> None:
    with Session() as s:
        r = s.head(server.base + "/x")
        assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "2")
        assert s.get(server.base + "/x").text == "ok"
    assert server.connections == 1


def test_a_response_asking_to_close_gets_a_new_connection_next_time() -> None:
    def respond(_c: int, _n: int, _head: bytes, _body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    server = ScriptedServer(respond)
    try:
        with Session() as s:
            assert [s.get(server.base + "/x").text for _ in range(3)] == ["ok"] * 3
        assert server.connections == 3
    finally:
        server.close()


def _drops_second_request(conn: int, n: int, head: bytes, body: bytes) -> bytes | None:
    """The first connection answers once, then hangs up on its next request (a kept-alive connection
    the server had dropped); later connections answer everything."""
    return None if (conn, n) == (0, 1) else _ok(conn, n, head, body)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "aiohttp"])
def test_an_idempotent_request_is_retried_once_on_a_fresh_connection(
    monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    if not lean:
        monkeypatch.setattr(Engine, "_lean_block", lambda self, call, url, body: None)
    server = ScriptedServer(_drops_second_request)
    try:
        with Session() as s:
            assert s.get(server.base + "/1").text == "ok"
            assert s.get(server.base + "/2").text == "ok"  # sent twice: on the dropped and on a new one
        assert [(c, raw.split(b" ")[1]) for c, raw in server.requests] == [(0, b"/1"), (0, b"/2"), (1, b"/2")]
    finally:
        server.close()


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "aiohttp"])
def test_a_post_is_not_retried_and_fails_as_in_httpx(monkeypatch: pytest.MonkeyPatch, lean: bool) -> None:
    if not lean:
        monkeypatch.setattr(Engine, "_lean_block", lambda self, call, url, body: None)
    server = ScriptedServer(_drops_second_request)
    try:
        with Session() as s:
            assert s.post(server.base + "/1", content=b"a").text == "ok"
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                s.post(server.base + "/2", content=b"b")
            assert (caught.value.request.method, caught.value.request.url.path) == ("POST", "/2")
        assert len(server.requests) == 2
    finally:
        server.close()


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "aiohttp"])
def test_a_malformed_response_is_a_remote_protocol_error(monkeypatch: pytest.MonkeyPatch, lean: bool) -> None:
    if not lean:
        monkeypatch.setattr(Engine, "_lean_block", lambda self, call, url, body: None)
    server = ScriptedServer(lambda *_: b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nok")
    try:
        with Session() as s, pytest.raises(httpx.RemoteProtocolError, match="400, message="):
            s.get(server.base + "/x")
    finally:
        server.close()


def test_a_body_cut_short_is_a_remote_protocol_error_and_the_connection_is_not_reused() -> None:
    short = ScriptedServer(
        lambda *_: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc"
    )
    try:
        with Session() as s:
            with pytest.raises(httpx.RemoteProtocolError, match="Response payload is not completed"):
                s.get(short.base + "/x")
            engine = s._caller_loop._engine
            assert engine is not None
            assert engine.connections_in_use() == 0
    finally:
        short.close()


def test_header_values_go_out_as_the_bytes_httpx_holds(server: ScriptedServer) -> None:
    # aiohttp's client would re-encode a latin-1 value as UTF-8; httpx, and the lean exchange, send its bytes.
    # The session's header map has its encoding (ascii) cached before the call merges non-ASCII values in.
    with Session(headers={"X-Session": "s"}) as s:
        assert s.headers.encoding == "ascii"
        s.get(server.base + "/x", headers={"X-Latin1": "caf\u00e9".encode("latin-1")})
        s.get(server.base + "/x", headers={"X-Utf8": "caf\u00e9".encode()})
    with httpx.Client(headers={"X-Session": "s"}) as c:
        c.get(server.base + "/x", headers={"X-Latin1": "caf\u00e9".encode("latin-1")})
        c.get(server.base + "/x", headers={"X-Utf8": "caf\u00e9".encode()})
    ours_latin1, ours_utf8, httpx_latin1, httpx_utf8 = (raw.lower() for _, raw in server.requests)
    assert b"\r\nx-latin1: caf\xe9\r\n" in ours_latin1
    assert b"\r\nx-latin1: caf\xe9\r\n" in httpx_latin1
    assert b"\r\nx-utf8: caf\xc3\xa9\r\n" in ours_utf8
    assert b"\r\nx-utf8: caf\xc3\xa9\r\n" in httpx_utf8


def test_a_non_ascii_header_value_on_a_path_through_aiohttp_is_sent_not_a_crash(
    server: ScriptedServer,
) -> None:
    # httpx's merged header map keeps the session's cached ascii encoding; its multi_items() then fails.
    with Session(headers={"X-Session": "s"}) as s:
        assert s.headers.encoding == "ascii"
        r = s.request("PROPFIND", server.base + "/x", headers={"X-Utf8": "caf\u00e9".encode()})
        assert r.text == "ok"
        with s.stream("GET", server.base + "/x", headers={"X-Utf8": "caf\u00e9".encode()}) as streamed:
            assert streamed.read() == b"ok"
    assert all(b"x-utf8: caf\xc3\xa9\r\n" in raw.lower() for _, raw in server.requests)


async def test_a_cancelled_call_closes_its_connection_and_the_next_call_works() -> None:
    import asyncio

    release, arrived = threading.Event(), threading.Event()

    def respond(c: int, n: int, head: bytes, body: bytes) -> bytes | None:
        if c == 0:
            arrived.set()
            release.wait(5)  # the first connection never answers in time
            return None
        return OK

    server = ScriptedServer(respond)
    try:
        async with AsyncSession() as s:
            call = asyncio.ensure_future(s.get(server.base + "/slow"))
            assert await asyncio.to_thread(arrived.wait, 5)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert s._engine.connections_in_use() == 0
            assert (await s.get(server.base + "/next")).text == "ok"
        assert server.connections == 2
    finally:
        release.set()
        server.close()
