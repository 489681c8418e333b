"""Where httpx's own test suite found us different (issue 14), pinned here against our own servers.

The whole suite runs in CI through `tests/httpx_suite/run.py`; these are the same behaviours, fast, in
the everyday suite: trio, transport lifecycle, the redirect count, pool and write timeouts, sync bodies on
an async session, the per-request cookies warning.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio

from sessions import AsyncSession, Session
from sessions.httpbin import LocalHttpbin
from sessions.ratelimit import RatelimitMixin


class LimitedAsync(RatelimitMixin, AsyncSession):
    pass


def test_plain_async_session_works_under_trio(httpbin: LocalHttpbin) -> None:
    async def main() -> list[Any]:
        async with AsyncSession(headers={"X-Under": "trio"}, follow_redirects=True) as s:
            got = await s.get(f"{httpbin.url}/get", params={"a": "1"})
            posted = await s.post(f"{httpbin.url}/post", json={"k": "v"})
            hopped = await s.get(f"{httpbin.url}/redirect/2")
            async with s.stream("GET", f"{httpbin.url}/stream-bytes/3000?seed=1") as streamed:
                body = await streamed.aread()
            return [got, posted, hopped, body]

    got, posted, hopped, body = trio.run(main)
    assert got.json()["args"] == {"a": "1"}
    assert got.json()["headers"]["X-Under"] == "trio"
    assert posted.json()["json"] == {"k": "v"}
    assert len(hopped.history) == 2
    assert len(body) == 3000


def test_timeouts_under_trio_are_httpx_timeouts(httpbin: LocalHttpbin) -> None:
    async def main() -> None:
        async with AsyncSession(timeout=httpx.Timeout(5, read=0.05)) as s:
            await s.get(f"{httpbin.url}/delay/2")

    with pytest.raises(httpx.ReadTimeout):
        trio.run(main)


def test_mixins_under_trio_fail_with_what_to_do(httpbin: LocalHttpbin) -> None:
    async def main() -> None:
        async with LimitedAsync(limit=5, window=1) as s:
            await s.get(f"{httpbin.url}/get")

    with pytest.raises(RuntimeError, match=r"mixins need asyncio.*under trio"):
        trio.run(main)


def test_batch_under_trio_fails_with_what_to_do(httpbin: LocalHttpbin) -> None:
    async def main() -> None:
        async with AsyncSession() as s:
            await s.requests([f"{httpbin.url}/get"])

    with pytest.raises(RuntimeError, match=r"requests\(\) runs on asyncio.*under trio"):
        trio.run(main)


class _Recording(httpx.BaseTransport):
    def __init__(self, name: str, events: list[str]) -> None:
        self.name, self.events = name, events

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=self.name)

    def __enter__(self) -> _Recording:
        self.events.append(f"{self.name}.enter")
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # type: ignore[arg-type]
        self.events.append(f"{self.name}.exit")

    def close(self) -> None:
        self.events.append(f"{self.name}.close")


def test_user_transports_and_mounts_are_entered_and_exited_with_the_session() -> None:
    events: list[str] = []
    transport, mount = _Recording("t", events), _Recording("m", events)
    with Session(transport=transport, mounts={"http://mounted": mount}) as s:
        assert s.get("http://mounted/x").text == "m"
        assert s.get("http://other/x").text == "t"
    assert events == ["t.enter", "m.enter", "t.close", "t.exit", "m.close", "m.exit"]


def test_close_without_with_closes_once() -> None:
    events: list[str] = []
    s = Session(transport=_Recording("t", events))
    s.close()
    assert events == ["t.close"]


def _redirects(request: httpx.Request) -> httpx.Response:
    left = int(request.url.params.get("left", "0"))
    if left:
        return httpx.Response(302, headers={"Location": f"/hop?left={left - 1}"})
    return httpx.Response(200, text="arrived")


@pytest.mark.parametrize(("hops", "allowed"), [(20, True), (21, False)])
def test_max_redirects_counts_hops_as_httpx_does(hops: int, allowed: bool) -> None:
    with Session(transport=httpx.MockTransport(_redirects), follow_redirects=True) as s:
        if not allowed:
            with pytest.raises(httpx.TooManyRedirects):
                s.get(f"http://example.org/hop?left={hops}")
            return
        r = s.get(f"http://example.org/hop?left={hops}")
    assert r.text == "arrived"
    assert len(r.history) == hops
    assert [len(hop.history) for hop in r.history[:3]] == [0, 1, 2]


async def test_async_session_refuses_a_sync_iterator_body(httpbin: LocalHttpbin) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"hello"

    async with AsyncSession() as s:
        with pytest.raises(RuntimeError, match="sync request with an AsyncClient"):
            await s.post(f"{httpbin.url}/post", content=chunks())
        assert (await s.post(f"{httpbin.url}/post", content=b"hello")).json()["data"] == "hello"


def test_sync_session_still_sends_an_iterator_body(httpbin: LocalHttpbin) -> None:
    with Session() as s:
        assert s.post(f"{httpbin.url}/post", content=iter([b"he", b"llo"])).json()["data"] == "hello"


def test_per_request_cookies_warn_as_in_httpx(httpbin: LocalHttpbin) -> None:
    with Session() as s, pytest.warns(DeprecationWarning, match="per-request cookies"):
        r = s.get(f"{httpbin.url}/cookies", cookies={"a": "1"})
    assert r.json()["cookies"] == {"a": "1"}


@pytest.fixture
def held() -> Iterator[tuple[str, threading.Event]]:
    """A server whose /hold body ends only when the test lets it (a pool of one stays busy until then)."""
    from pytest_httpserver import HTTPServer
    from werkzeug import Response as WResponse

    release = threading.Event()
    server = HTTPServer(threaded=True)
    server.start()

    def hold(_request: object) -> WResponse:
        def body() -> Iterator[bytes]:  # headers and a first chunk now, the rest once released
            yield b"he"
            release.wait(10)
            yield b"ld"

        return WResponse(body())

    server.expect_request("/hold").respond_with_handler(hold)
    server.expect_request("/quick").respond_with_data("quick")
    yield server.url_for(""), release
    release.set()
    server.clear()
    server.stop()


@pytest.mark.parametrize("path", ["fast", "httpx"])
async def test_waiting_for_a_full_pool_is_a_pool_timeout(
    path: str, held: tuple[str, threading.Event]
) -> None:
    base, release = held
    limits = httpx.Limits(max_connections=1)
    async with AsyncSession(limits=limits, timeout=httpx.Timeout(None, pool=0.05)) as s:
        async with s.stream("GET", f"{base}hold") as first:
            # a prepared request goes by httpx's path, onto the same pool
            second = (
                s.get(f"{base}quick") if path == "fast" else s.send(s.build_request("GET", f"{base}quick"))
            )
            with pytest.raises(httpx.PoolTimeout):
                await second
            release.set()
            assert await first.aread() == b"held"
        assert (await s.get(f"{base}quick")).text == "quick"  # the pool serves again
