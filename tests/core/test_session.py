"""Session / AsyncSession: httpx pass-through, the fast and httpx paths, retries, options."""

from __future__ import annotations

import datetime
import multiprocessing
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sessions import AsyncSession, Response, Retry, Session
from sessions.httpbin import LocalHttpbin


@pytest.fixture
def session() -> Iterator[Session]:
    with Session() as s:
        yield s


def test_get_returns_our_response_with_httpx_api(session: Session, httpbin: LocalHttpbin) -> None:
    response = session.get(f"{httpbin.url}/get", params={"a": "1"})
    assert isinstance(response, Response)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.json()["args"] == {"a": "1"}  # .json() is a method, as in httpx
    assert response.headers["content-type"].startswith("application/json")
    assert response.request.url == httpx.URL(f"{httpbin.url}/get?a=1")
    assert response.url == response.request.url
    assert response.attempts == 1
    assert response.callbacks is None
    assert response.ok
    assert response.is_success
    assert isinstance(response.elapsed, datetime.timedelta)  # built lazily from the float seconds
    assert response.elapsed.total_seconds() > 0


def test_fast_path_response_parts_are_made_on_first_use_and_kept(
    session: Session, httpbin: LocalHttpbin
) -> None:
    """`history`, `extensions` and `stream` are made on first access, then behave as httpx's attributes."""
    response = session.requests([f"{httpbin.url}/bytes/64"], progress=False)[0]
    assert isinstance(response, Response)
    assert response.history == []
    assert response.extensions == {}
    assert response.next_request is None
    response.history.append(response)  # a list of its own, kept: not a fresh one per access
    response.extensions["mine"] = 1
    assert response.history == [response]
    assert response.extensions == {"mine": 1}
    assert b"".join(response.stream) == response.content
    assert len(response.content) == 64
    assert response.is_closed
    assert response.is_stream_consumed
    assert response.request.method == "GET"
    assert response.request.url == httpx.URL(f"{httpbin.url}/bytes/64")
    assert response.headers["content-length"] == "64"


async def test_fast_path_response_reads_again_async_and_pickles(httpbin: LocalHttpbin) -> None:
    """What `test_fast_path_parity.py` (which reads each response once, synchronously) does not cover: the
    async readers, reading again after closing, pickling (httpx's `__getstate__`/`__setstate__` go through
    our lazy properties) and the response an `HTTPStatusError` carries."""
    import pickle

    async with AsyncSession() as s:
        r = (await s.requests([f"{httpbin.url}/json"], progress=False))[0]
        failed = (await s.requests([f"{httpbin.url}/status/503"], progress=False))[0]
    assert isinstance(r, Response)
    assert await r.aread() == r.content
    assert [c async for c in r.aiter_bytes()] == [r.content]
    await r.aclose()
    assert r.read() == r.content
    copy = pickle.loads(pickle.dumps(r))
    assert copy.content == r.content
    assert copy.headers == r.headers
    assert copy.request.url == r.request.url
    assert copy.history == []
    assert copy.extensions == {}
    with pytest.raises(httpx.HTTPStatusError) as raised:
        failed.raise_for_status()
    assert raised.value.response is failed


def test_a_batch_result_is_one_object_for_the_garbage_collector(
    session: Session, httpbin: LocalHttpbin
) -> None:
    """A batch holds every response until it returns, and every collection traverses them all: a fast-path
    response keeps its values inline (no `__dict__`), makes no list/dict/stream up front and does not keep
    its `Call` (nor the call's parsed URL), so the only containers it refers to are shared ones."""
    import gc

    results = session.requests([f"{httpbin.url}/get"] * 20, concurrency=4, progress=False)
    # A collection untracks tuples of atomic values (the call's parts, each raw header); the tuple of
    # header tuples only on the next one, once its items are untracked.
    gc.collect()
    gc.collect()
    shared = {id(o) for o in gc.get_referents(results[0])} & {id(o) for o in gc.get_referents(results[1])}
    own = [o for r in results for o in gc.get_referents(r) if gc.is_tracked(o) and id(o) not in shared]
    assert own == []


def test_session_headers_params_and_base_url_pass_through(httpbin: LocalHttpbin) -> None:
    with Session(base_url=httpbin.url, headers={"X-Team": "sessions"}, params={"p": "1"}) as s:
        body = s.get("/get", headers={"X-Call": "yes"}, params={"q": "2"}).json()
    assert body["args"] == {"p": "1", "q": "2"}
    assert body["headers"]["X-Team"] == "sessions"
    assert body["headers"]["X-Call"] == "yes"


def test_bodies_json_form_and_content(session: Session, httpbin: LocalHttpbin) -> None:
    assert session.post(f"{httpbin.url}/post", json={"x": [1, 2]}).json()["json"] == {"x": [1, 2]}
    assert session.post(f"{httpbin.url}/post", data={"k": "v"}).json()["form"] == {"k": "v"}
    assert session.put(f"{httpbin.url}/put", content=b"raw").json()["data"] == "raw"
    files = {"upload": ("a.txt", b"hello", "text/plain")}
    assert session.post(f"{httpbin.url}/post", files=files).json()["files"] == {"upload": "hello"}


def test_auth_cookies_and_redirects(httpbin: LocalHttpbin) -> None:
    with Session(auth=("user", "pw")) as s:
        assert s.get(f"{httpbin.url}/basic-auth/user/pw").status_code == 200
    with Session(follow_redirects=True) as s:
        r = s.get(f"{httpbin.url}/cookies/set?flavour=oat")
        assert r.status_code == 200
        assert s.cookies["flavour"] == "oat"
        assert s.get(f"{httpbin.url}/cookies").json()["cookies"] == {"flavour": "oat"}
        r = s.get(f"{httpbin.url}/redirect/3")
        assert [h.status_code for h in r.history] == [302, 302, 302]
        assert r.url.path == "/get"


def test_a_deleted_cookie_reopens_the_fast_path(httpbin: LocalHttpbin) -> None:
    with Session(follow_redirects=True) as s:
        s.get(f"{httpbin.url}/cookies/set?flavour=oat")
        assert not s._fast_path_usable()  # cookies must go through httpx's jar handling
        s.get(f"{httpbin.url}/cookies/delete?flavour")
        assert len(s.cookies.jar) == 0
        assert s._fast_path_usable()


def test_redirect_not_followed_by_default_sets_next_request(session: Session, httpbin: LocalHttpbin) -> None:
    r = session.get(f"{httpbin.url}/redirect/1")
    assert r.status_code == 302
    assert r.next_request is not None
    assert r.next_request.url.path == "/get"


def test_too_many_redirects(httpbin: LocalHttpbin) -> None:
    with Session(follow_redirects=True, max_redirects=2) as s, pytest.raises(httpx.TooManyRedirects):
        s.get(f"{httpbin.url}/redirect/5")


def test_event_hooks_run(httpbin: LocalHttpbin) -> None:
    seen: list[str] = []
    hooks = {
        "request": [lambda req: seen.append(req.url.path)],
        "response": [lambda resp: seen.append("done")],
    }
    with Session(event_hooks=hooks) as s:
        s.get(f"{httpbin.url}/uuid")
    assert seen == ["/uuid", "done"]


def test_mounts_and_custom_transport_are_honoured() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(299, json={"mocked": str(request.url)})

    with Session(mounts={"http://mocked.test": httpx.MockTransport(handler)}) as s:
        r = s.get("http://mocked.test/x")
    assert r.status_code == 299
    with Session(transport=httpx.MockTransport(handler)) as s:
        assert s.get("http://anything.test/").json() == {"mocked": "http://anything.test/"}


def test_streaming_reads_in_chunks(session: Session, httpbin: LocalHttpbin) -> None:
    with session.stream("GET", f"{httpbin.url}/bytes/100000") as r:
        chunks = list(r.iter_bytes())
    assert sum(map(len, chunks)) == 100000


def test_gzip_is_decoded(session: Session, httpbin: LocalHttpbin) -> None:
    assert session.get(f"{httpbin.url}/gzip").json()["gzipped"] is True


def test_timeout_maps_to_httpx_exception(httpbin: LocalHttpbin) -> None:
    with Session(timeout=0.2) as s, pytest.raises(httpx.ReadTimeout):
        s.get(f"{httpbin.url}/delay/2")


def test_connect_error_is_httpx_connect_error(session: Session) -> None:
    with pytest.raises(httpx.ConnectError):
        session.get("http://127.0.0.1:1/")


def test_http2_opt_in_uses_httpx_transport() -> None:
    with Session(http2=True) as s:
        assert isinstance(s._transport, httpx.HTTPTransport)
    with Session() as s:
        assert not isinstance(s._transport, httpx.HTTPTransport)


def test_verify_false_reaches_the_tls_context() -> None:
    with Session(verify=False) as s:
        assert s._engine._ssl_context().verify_mode == ssl.CERT_NONE
    with Session() as s:
        assert s._engine._ssl_context().verify_mode == ssl.CERT_REQUIRED


def test_unknown_keyword_names_it_and_suggests() -> None:
    with pytest.raises(TypeError, match=r"'retires'.*did you mean 'retries'"):
        Session(retires=3)
    with pytest.raises(TypeError, match="'bogus'"):
        AsyncSession(bogus=True)


def test_unknown_request_keyword(session: Session, httpbin: LocalHttpbin) -> None:
    with pytest.raises(TypeError, match="'expire_aftr'"):
        session.get(f"{httpbin.url}/get", expire_aftr=3)


class TestRetries:
    def _session(self, delays: list[float], retries: Retry | int) -> Session:
        s = Session(retries=retries)
        s._sleep = delays.append  # type: ignore[method-assign,assignment]
        return s

    def test_retry_after_seconds_is_honoured(self, httpbin: LocalHttpbin) -> None:
        delays: list[float] = []
        key = uuid.uuid4().hex
        with self._session(delays, Retry(total=3, backoff_factor=0)) as s:
            r = s.get(f"{httpbin.url}/retry-after/2?seconds=1.5&key={key}")
        assert r.status_code == 200
        assert r.attempts == 3
        assert delays == [1.5, 1.5]

    def test_retry_after_http_date_is_honoured(self, httpbin: LocalHttpbin) -> None:
        delays: list[float] = []
        key = uuid.uuid4().hex
        with self._session(delays, Retry(total=2, backoff_factor=0)) as s:
            r = s.get(f"{httpbin.url}/retry-after/1?date=3&key={key}")
        assert r.status_code == 200
        assert r.attempts == 2
        assert len(delays) == 1
        assert 1.0 <= delays[0] <= 3.0  # an HTTP date has one-second resolution

    def test_retry_after_is_capped(self, httpbin: LocalHttpbin) -> None:
        delays: list[float] = []
        key = uuid.uuid4().hex
        with self._session(delays, Retry(total=1, retry_after_max=2.0)) as s:
            s.get(f"{httpbin.url}/retry-after/1?seconds=3600&key={key}")
        assert delays == [2.0]

    def test_exhausted_retries_return_last_response(self, httpbin: LocalHttpbin) -> None:
        delays: list[float] = []
        with self._session(delays, 2) as s:
            r = s.get(f"{httpbin.url}/status/503")
        assert r.status_code == 503
        assert r.attempts == 3
        assert len(delays) == 2

    def test_post_is_not_retried_on_status_by_default(self, httpbin: LocalHttpbin) -> None:
        delays: list[float] = []
        with self._session(delays, 3) as s:
            r = s.post(f"{httpbin.url}/status/503")
        assert (r.status_code, r.attempts, delays) == (503, 1, [])

    def test_connection_errors_are_retried_then_raised(self) -> None:
        delays: list[float] = []
        retry = Retry(total=2, backoff_factor=0.1, backoff_jitter=False)
        with self._session(delays, retry) as s, pytest.raises(httpx.ConnectError) as info:
            s.get("http://127.0.0.1:1/")
        assert delays == [0.1, 0.2]
        assert any("gave up after 3 attempt" in note for note in info.value.__notes__)

    def test_per_request_retries(self, httpbin: LocalHttpbin) -> None:
        delays: list[float] = []
        key = uuid.uuid4().hex
        with self._session(delays, 0) as s:
            r = s.get(f"{httpbin.url}/retry-after/1?seconds=0&key={key}", retries=1)
        assert (r.status_code, r.attempts) == (200, 2)


async def test_async_session_basics(httpbin: LocalHttpbin) -> None:
    async with AsyncSession(headers={"X-A": "1"}, follow_redirects=True) as s:
        r = await s.get(f"{httpbin.url}/get")
        assert isinstance(r, Response)
        assert r.json()["headers"]["X-A"] == "1"
        r = await s.post(f"{httpbin.url}/post", json={"k": 1})
        assert r.json()["json"] == {"k": 1}
        r = await s.get(f"{httpbin.url}/redirect/2")
        assert len(r.history) == 2
        async with s.stream("GET", f"{httpbin.url}/bytes/50000") as streamed:
            assert len(await streamed.aread()) == 50000
        with pytest.raises(httpx.ConnectError):
            await s.get("http://127.0.0.1:1/")


async def test_async_retry_after(httpbin: LocalHttpbin) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    key = uuid.uuid4().hex
    async with AsyncSession(retries=Retry(total=2, backoff_factor=0)) as s:
        s._asleep = record  # type: ignore[method-assign,assignment]
        r = await s.get(f"{httpbin.url}/retry-after/1?seconds=0.25&key={key}")
    assert (r.status_code, r.attempts, delays) == (200, 2, [0.25])


def test_session_header_changes_after_first_request_take_effect(httpbin: LocalHttpbin) -> None:
    with Session(headers={"X-One": "1", "X-Two": "2"}) as s:
        assert s.get(f"{httpbin.url}/headers").json()["headers"]["X-Two"] == "2"
        s.headers["X-Two"] = "changed"
        assert s.get(f"{httpbin.url}/headers").json()["headers"]["X-Two"] == "changed"
        del s.headers["X-One"]
        seen = s.get(f"{httpbin.url}/headers").json()["headers"]
        assert "X-One" not in seen
        assert seen["X-Two"] == "changed"


def test_edited_session_headers_are_sent_and_a_per_request_header_never_sticks(httpbin: LocalHttpbin) -> None:
    # The fast path serialises a header list once and reuses it while the calls carry an equal list: an
    # edit in place (same object, new contents) and a per-request header must each be seen on the wire.
    with Session(headers={"X-Token": "a"}) as s:
        assert s.get(f"{httpbin.url}/headers").json()["headers"]["X-Token"] == "a"
        s.headers["X-Token"] = "b"
        for _ in range(3):
            assert s.get(f"{httpbin.url}/headers").json()["headers"]["X-Token"] == "b"
        once = s.get(f"{httpbin.url}/headers", headers={"X-Token": "once"})
        assert once.json()["headers"]["X-Token"] == "once"
        assert s.get(f"{httpbin.url}/headers").json()["headers"]["X-Token"] == "b"


def test_per_request_headers_do_not_stick(session: Session, httpbin: LocalHttpbin) -> None:
    assert session.get(f"{httpbin.url}/headers", headers={"X-Once": "y"}).json()["headers"]["X-Once"] == "y"
    assert "X-Once" not in session.get(f"{httpbin.url}/headers").json()["headers"]


def test_calls_racing_with_close_end_and_leave_no_loop_thread(httpbin: LocalHttpbin) -> None:
    # Calls scheduled as the loop stopped used to wait for ever; calls after close started a new loop thread.
    import threading
    import time

    for _ in range(3):
        s = Session()
        s.get(f"{httpbin.url}/get")
        stop = threading.Event()

        def call_until_closed(session: Session = s, done: threading.Event = stop) -> None:
            while not done.is_set():
                try:
                    session.get(f"{httpbin.url}/get")
                except RuntimeError:
                    return

        callers = [threading.Thread(target=call_until_closed, daemon=True) for _ in range(6)]
        for t in callers:
            t.start()
        time.sleep(0.05)
        s.close()
        stop.set()
        for t in callers:
            t.join(timeout=15)
        assert not any(t.is_alive() for t in callers), "a call hung after close()"
        with pytest.raises(RuntimeError, match="closed"):
            s.get(f"{httpbin.url}/get")
    assert not [t for t in threading.enumerate() if t.name == "sessions-loop" and t.is_alive()]


def test_a_sync_callback_cannot_call_its_own_session_and_says_why(httpbin: LocalHttpbin) -> None:
    with Session() as s:

        def nested(response: object) -> int:
            return int(s.get(f"{httpbin.url}/get").status_code)  # would wait on the loop it runs on

        (result,) = s.requests([f"{httpbin.url}/get"], callbacks=[nested], progress=False)
    assert isinstance(result.callback_errors[0], RuntimeError)
    assert "own loop" in str(result.callback_errors[0])


def test_closing_the_session_from_a_batch_callback_ends_the_batch(httpbin: LocalHttpbin) -> None:
    s = Session()
    with pytest.raises(RuntimeError, match="closed while a batch was running"):
        s.requests(
            [f"{httpbin.url}/get?i={i}" for i in range(50)],
            callbacks=[lambda response: s.close()],
            concurrency=2,
            progress=False,
        )
    assert s.is_closed


def _get_in_child(session: Session, url: str, queue: multiprocessing.Queue[int]) -> None:
    queue.put(session.get(url).status_code)


def test_a_forked_child_can_use_a_session_whose_lock_another_thread_held() -> None:
    # Forking while another thread is inside a call (holding the loop thread's lock) left the child's copy
    # of that lock held for ever: the child's first call hung.
    import threading

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    with LocalHttpbin() as httpbin, Session() as s:
        url = f"{httpbin.url}/get"
        s.get(url)
        held, release = threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            with s._loop_thread._lock:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        held.wait(10)
        ctx = multiprocessing.get_context("fork")
        queue: multiprocessing.Queue[int] = ctx.Queue()
        child = ctx.Process(target=_get_in_child, args=(s, url, queue))
        child.start()
        release.set()
        holder.join()
        assert queue.get(timeout=30) == 200
        child.join(timeout=30)
        assert child.exitcode == 0


def _use_and_drop_in_child(session: Session, url: str, queue: multiprocessing.Queue[int]) -> None:
    import gc

    queue.put(session.get(url).status_code)  # the child's own loop and pool replace the inherited ones
    gc.collect()  # and whatever the child dropped is finalized here, in the child
    queue.put(session.get(url).status_code)


def test_a_forked_child_using_the_session_leaves_the_parents_connections_working() -> None:
    # The child used to close the pool (and loop) it inherited: closing unregisters their sockets from the
    # epoll instance parent and child share, so the parent's next read on its kept-alive connection never
    # woke up — a ReadTimeout in the parent after the child had run.
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    with LocalHttpbin() as httpbin, Session(timeout=3) as s:
        url = f"{httpbin.url}/get"
        assert s.get(url).status_code == 200  # a kept-alive connection in the pool the child inherits
        ctx = multiprocessing.get_context("fork")
        queue: multiprocessing.Queue[int] = ctx.Queue()
        child = ctx.Process(target=_use_and_drop_in_child, args=(s, url, queue))
        child.start()
        assert [queue.get(timeout=30), queue.get(timeout=30)] == [200, 200]
        child.join(timeout=30)
        assert child.exitcode == 0
        assert [s.get(url).status_code for _ in range(3)] == [200, 200, 200]


async def test_an_attempt_hook_patched_on_the_instance_is_still_called(httpbin: LocalHttpbin) -> None:
    """The dispatch loop skips the plain attempt hook for speed, but never one a test or user replaced."""
    url = f"{httpbin.url}/get"
    seen: list[str] = []
    async with AsyncSession() as s:
        original = s._asend_wire

        async def spy(call: Any) -> Any:
            seen.append(call.url_str)
            return await original(call)

        s._asend_wire = spy  # type: ignore[method-assign]
        assert (await s.get(url)).status_code == 200
    assert seen == [url]


def test_params_merge_with_the_urls_query_on_either_path(httpbin: LocalHttpbin) -> None:
    """The session's and the call's params join the URL's own query string, whichever path the call takes
    (httpx 0.28 alone would replace the query: encode/httpx#3433)."""
    url = f"{httpbin.url}/anything?z=1"
    with Session(params={"s": "2"}) as s:
        fast = s.get(url, params={"a": "3"})
        s.cookies.set("c", "d")  # cookies in the jar: httpx's own send() from here on
        slow = s.get(url, params={"a": "3"})
        built = s.build_request("GET", url, params={"a": "3"})
    assert fast.json()["args"] == slow.json()["args"] == {"z": "1", "s": "2", "a": "3"}
    assert built.url == httpx.URL(url).copy_merge_params({"s": "2", "a": "3"})


def test_raise_on_status_raises_once_status_retries_run_out(httpbin: LocalHttpbin) -> None:
    from sessions import RetryError

    url = f"{httpbin.url}/status/500"
    policy = Retry(total=1, backoff_factor=0, raise_on_status=True)
    before = httpbin.arrivals.count(path="/status/500")  # the server is shared with other tests
    with Session(retries=policy) as s:
        with pytest.raises(RetryError):
            s.get(url)
        assert s.get(url, retries=Retry(total=1, backoff_factor=0)).attempts == 2  # off: the last response
    assert httpbin.arrivals.count(path="/status/500") - before == 4


async def test_raise_on_status_raises_on_async_sessions_too(httpbin: LocalHttpbin) -> None:
    from sessions import RetryError

    async with AsyncSession(retries=Retry(total=2, backoff_factor=0, raise_on_status=True)) as s:
        with pytest.raises(RetryError):
            await s.get(f"{httpbin.url}/status/503")
