"""The batch engine: order, laziness, errors in place, callbacks, progress."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import time
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from rich.console import Console

from sessions import AsyncSession, BatchError, ErrorResult, RequestSpec, Response, Session, SessionConfig
from sessions._progress import BatchProgress
from sessions.httpbin import LocalHttpbin


class CountingIterable:
    """A huge lazy source that records how far it was pulled."""

    def __init__(self, base: str, n: int) -> None:
        self.base, self.n, self.pulled = base, n, 0

    def __iter__(self) -> Iterator[str]:
        for i in range(self.n):
            self.pulled += 1
            yield f"{self.base}/get?i={i}"


def test_results_come_back_in_input_order(httpbin: LocalHttpbin) -> None:
    urls = [f"{httpbin.url}/delay/0.{i % 3}?i={i}" for i in range(12)]
    with Session() as s:
        results = s.requests(urls, concurrency=6, progress=False)
    assert [r.json()["args"]["i"] for r in results] == [str(i) for i in range(12)]


async def test_async_results_in_order_and_generator_input(httpbin: LocalHttpbin) -> None:
    async with AsyncSession() as s:
        results = await s.requests((f"{httpbin.url}/get?i={i}" for i in range(40)), progress=False)
    assert [r.json()["args"]["i"] for r in results] == [str(i) for i in range(40)]


def test_million_url_generator_is_not_materialised(httpbin: LocalHttpbin) -> None:
    source = CountingIterable(httpbin.url, 10**6)
    with Session() as s:
        seen = list(itertools.islice(s.iter_requests(source, concurrency=4, progress=False), 20))
    assert len(seen) == 20
    # workers pull one item each when they start a request; the hand-off holds at most `concurrency`
    assert source.pulled <= 20 + 4 * 3


async def test_async_iter_requests_is_lazy_and_yields_indexes(httpbin: LocalHttpbin) -> None:
    source = CountingIterable(httpbin.url, 10**6)
    got: list[int] = []
    async with (
        AsyncSession() as s,
        contextlib.aclosing(s.iter_requests(source, concurrency=4, progress=False)) as it,
    ):
        async for index, result in it:
            assert isinstance(result, Response)
            assert result.json()["args"]["i"] == str(index)
            got.append(index)
            if len(got) == 25:
                break
    assert len(set(got)) == 25  # 25 distinct inputs, each yielded once, in completion order
    assert source.pulled <= 25 + 4 * 3


def test_failed_requests_hold_their_slot(httpbin: LocalHttpbin) -> None:
    urls = [f"{httpbin.url}/get", "http://127.0.0.1:1/refused", "not a url", f"{httpbin.url}/status/404"]
    with Session() as s:
        results = s.requests(urls, progress=False)
    assert results[0].status_code == 200
    assert isinstance(results[1], ErrorResult)
    assert isinstance(results[1].exception, httpx.ConnectError)
    assert results[1].index == 1
    assert results[1].url == "http://127.0.0.1:1/refused"
    assert isinstance(results[2], ErrorResult)
    assert results[3].status_code == 404  # an HTTP error status is a response, not an error slot


def test_raise_errors_option(httpbin: LocalHttpbin) -> None:
    with Session() as s, pytest.raises(BatchError) as info:
        s.requests([f"{httpbin.url}/get", "http://127.0.0.1:1/"], raise_errors=True, progress=False)
    assert info.value.index == 1
    assert isinstance(info.value.exception, httpx.ConnectError)


def test_methods_zip_and_request_descriptions(httpbin: LocalHttpbin) -> None:
    items = [
        f"{httpbin.url}/anything/a",
        {"url": f"{httpbin.url}/anything/b", "method": "PUT", "json": {"k": 1}},
        RequestSpec(f"{httpbin.url}/anything/c", "PATCH", params={"p": "1"}, headers={"X-C": "c"}),
        f"{httpbin.url}/anything/d",
    ]
    with Session() as s:
        results = s.requests(items, method=["GET", "POST", "GET", "DELETE"], progress=False)
    bodies = [r.json() for r in results]
    assert [b["method"] for b in bodies] == ["GET", "PUT", "PATCH", "DELETE"]
    assert bodies[1]["json"] == {"k": 1}
    assert bodies[2]["args"] == {"p": "1"}
    assert bodies[2]["headers"]["X-C"] == "c"


def test_shared_request_keywords_apply_to_every_item(httpbin: LocalHttpbin) -> None:
    with Session() as s:
        results = s.requests([f"{httpbin.url}/headers"] * 3, headers={"X-Batch": "yes"}, progress=False)
    assert all(r.json()["headers"]["X-Batch"] == "yes" for r in results)


def test_sync_and_async_callbacks_and_return_callbacks(httpbin: LocalHttpbin) -> None:
    def status(response: Response) -> int:
        return response.status_code

    async def path(response: Response) -> str:
        return response.request.url.path

    def broken(response: Response) -> None:
        raise RuntimeError("callback bug")

    with Session() as s:
        results = s.requests(
            [f"{httpbin.url}/get", f"{httpbin.url}/status/418"],
            callbacks=[status, path, broken],
            return_callbacks=True,
            progress=False,
        )
    assert results[0].callbacks is not None
    assert results[0].callbacks[:2] == (200, "/get")
    assert results[1].callbacks is not None
    assert results[1].callbacks[:2] == (418, "/status/418")
    assert isinstance(results[0].callbacks[2], RuntimeError)  # captured, not lost
    assert isinstance(results[0].callback_errors[0], RuntimeError)


def test_session_config_return_callbacks_switch(
    httpbin: LocalHttpbin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SessionConfig, "return_callbacks", True)
    with Session() as s:
        (result,) = s.requests([f"{httpbin.url}/get"], callbacks=[lambda r: r.ok], progress=False)
    assert result.callbacks == (True,)
    monkeypatch.setattr(SessionConfig, "return_callbacks", False)
    with Session() as s:
        (result,) = s.requests([f"{httpbin.url}/get"], callbacks=[lambda r: r.ok], progress=False)
    assert result.callbacks is None


def test_batches_share_the_session_pool(httpbin: LocalHttpbin) -> None:
    with Session() as s:
        s.requests([f"{httpbin.url}/get"] * 5, progress=False)
        pool = s._engine._session
        assert pool is not None
        s.requests([f"{httpbin.url}/get"] * 5, progress=False)
        assert s._engine._session is pool


def test_bad_options_are_rejected(httpbin: LocalHttpbin) -> None:
    with Session() as s:
        with pytest.raises(ValueError, match="concurrency"):
            s.requests([f"{httpbin.url}/get"], concurrency=-1)
        with pytest.raises(TypeError, match="callables"):
            s.requests([f"{httpbin.url}/get"], callbacks=["nope"])


def test_progress_bar_renders_counts() -> None:
    buffer = io.StringIO()
    bar = BatchProgress(3, console=Console(file=buffer, force_terminal=True, width=120))
    bar.advance(httpx.Response(200))
    bar.advance(ErrorResult(1, "GET", "http://x", RuntimeError("x")))
    bar.advance(httpx.Response(200))
    bar.close()
    text = buffer.getvalue()
    assert "3/3" in text
    assert "1 errors" in text


def test_progress_defaults_off_when_not_a_terminal() -> None:
    assert BatchProgress.maybe(None, 10) is None  # pytest's stderr is not a TTY
    assert BatchProgress.maybe(False, 10) is None


async def test_closing_the_session_under_a_running_batch_is_an_error_not_a_short_list(
    httpbin: LocalHttpbin,
) -> None:
    pulled_enough = asyncio.Event()
    source = CountingIterable(httpbin.url, 10_000)

    def urls() -> Iterator[str]:
        for url in source:
            if source.pulled == 20:
                pulled_enough.set()
            yield url

    async with AsyncSession() as s:

        async def close_soon() -> None:
            await pulled_enough.wait()
            await s.aclose()

        closer = asyncio.ensure_future(close_soon())
        with pytest.raises(RuntimeError, match=r"closed while a batch was running: input #\d+"):
            await s.requests(urls(), concurrency=4, progress=False)
        await closer
    assert source.pulled < 10_000  # it stopped pulling input


def test_closing_a_sync_session_from_another_thread_stops_its_batch_with_an_error(
    httpbin: LocalHttpbin,
) -> None:
    import threading

    source = CountingIterable(httpbin.url, 10_000)
    s = Session()
    closer = threading.Timer(0.2, s.close)
    closer.start()
    try:
        with pytest.raises(RuntimeError, match="closed while a batch was running"):
            s.requests(source, concurrency=4, progress=False)
    finally:
        closer.join()
    assert source.pulled < 10_000


def test_closing_a_sync_session_while_slow_requests_are_in_flight_never_hangs_the_batch(
    slow: HTTPServer,
) -> None:
    # The loop used to stop right after closing the pool, freezing the batch's task before its in-flight
    # requests could fail: requests() then waited for ever (about one run in two).
    import threading

    for _ in range(4):
        outcome: list[BaseException | None] = []
        s = Session()

        def run(session: Session = s, out: list[BaseException | None] = outcome) -> None:
            try:
                session.requests([slow.url_for("/slow")] * 50, concurrency=4, progress=False)
            except BaseException as exc:
                out.append(exc)
            else:
                out.append(None)

        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        time.sleep(0.1)  # the first four requests are in flight
        s.close()
        runner.join(timeout=15)
        assert not runner.is_alive(), "requests() hung after the session was closed"
        assert isinstance(outcome[0], RuntimeError)
        assert "closed" in str(outcome[0])


def test_an_items_headers_and_params_merge_with_the_batchs(httpbin: LocalHttpbin) -> None:
    """Batch-wide `headers=`/`params=` apply to every item; an item's own add to them (winning per name)."""
    url = f"{httpbin.url}/anything"
    items = [url, {"url": url, "headers": {"X-Item": "1", "X-All": "mine"}, "params": {"i": "2"}}]
    with Session() as s:
        plain, own = s.requests(items, headers={"X-All": "batch"}, params={"b": "1"}, progress=False)
    assert plain.json()["headers"]["X-All"] == "batch"
    assert plain.json()["args"] == {"b": "1"}
    assert own.json()["headers"]["X-All"] == "mine"
    assert own.json()["headers"]["X-Item"] == "1"
    assert own.json()["args"] == {"b": "1", "i": "2"}


def test_a_failed_item_says_how_many_attempts_it_took() -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on: every attempt is refused at once
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    with Session(retries=2) as s:
        s._sleep = lambda _seconds: None  # no backoff waits (the count is what is tested)
        s._asleep = _no_async_sleep
        [result] = s.requests([url], progress=False)
    assert isinstance(result, ErrorResult)
    assert isinstance(result.exception, httpx.ConnectError)
    assert result.attempts == 3


async def _no_async_sleep(_seconds: float) -> None:
    return None
