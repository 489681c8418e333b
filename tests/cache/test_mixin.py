"""CacheMixin against a real local HTTP server that counts requests, on every backend."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from sessions import AsyncSession, Session
from sessions.cache import CacheMixin


class CachedSession(CacheMixin, Session):
    pass


class AsyncCachedSession(CacheMixin, AsyncSession):
    pass


class Origin:
    """A counting handler: ETag "v1", 304 on If-None-Match, optional failure switch."""

    def __init__(self) -> None:
        self.hits = 0
        self.requests: list[dict[str, str]] = []
        self.fail_with: int | None = None
        self.headers: dict[str, str] = {"ETag": '"v1"', "Content-Type": "application/json"}
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self, request: WRequest) -> WResponse:
        with self.lock:
            self.hits += 1
            self.requests.append(dict(request.headers))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            return WResponse("down", status=self.fail_with)
        if request.headers.get("If-None-Match") == self.headers.get("ETag"):
            return WResponse(status=304, headers={"ETag": self.headers["ETag"], "X-Fresh": "yes"})
        lang = request.headers.get("Accept-Language", "")
        return WResponse(f'{{"n": {self.hits}, "lang": "{lang}"}}', headers=self.headers)


@pytest.fixture
def origin(httpserver: HTTPServer) -> Iterator[tuple[Origin, str]]:
    handler = Origin()
    httpserver.expect_request("/data").respond_with_handler(handler)
    return handler, httpserver.url_for("/data")


@pytest.fixture
def session(backend_options: dict[str, Any]) -> Iterator[CachedSession]:
    with CachedSession(**backend_options) as s:
        yield s


class TestHits:
    def test_second_fetch_makes_no_upstream_request(
        self, session: CachedSession, origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        first, second = session.get(url), session.get(url)
        assert handler.hits == 1
        assert not first.from_cache
        assert second.from_cache
        assert second.json() == first.json()
        assert second.cache_key == first.cache_key
        assert second.extensions["from_cache"] is True
        assert second.created_at is not None
        assert second is not session.get(url)  # a fresh object each time
        assert str(second.request.url) == url

    def test_cache_fields_and_extensions_of_a_miss_a_hit_and_an_uncached_answer(
        self, httpserver: HTTPServer, origin: tuple[Origin, str]
    ) -> None:
        _handler, url = origin
        httpserver.expect_request("/teapot").respond_with_data("no", status=418)
        with CachedSession(expire_after=60) as s:
            before = time.time()
            miss, hit = s.get(url), s.get(url)
            uncached = s.get(httpserver.url_for("/teapot"))  # 418: not an allowable code
        for response, from_cache in ((miss, False), (hit, True)):
            assert response.from_cache is from_cache
            assert response.created_at is not None
            assert response.expires is not None
            assert response.created_at.tzinfo is datetime.UTC
            assert before - 1 <= response.created_at.timestamp() <= time.time()
            assert 59 <= (response.expires - response.created_at).total_seconds() <= 61
            assert (response.is_expired, response.revalidated) == (False, False)
            assert response.cache_key is not None
            assert response.cache_key.startswith("v1-")
            assert response.extensions["from_cache"] is from_cache
            for name in ("created_at", "expires", "is_expired", "revalidated", "cache_key"):
                assert response.extensions[name] == getattr(response, name), name
        assert hit.cache_key == miss.cache_key
        assert (uncached.from_cache, uncached.created_at, uncached.expires) == (False, None, None)
        assert uncached.cache_key is not None
        assert uncached.cache_key != miss.cache_key
        assert uncached.extensions["cache_key"] == uncached.cache_key
        assert uncached.extensions["from_cache"] is False
        assert "created_at" not in uncached.extensions
        plain = Session()
        try:
            assert plain.get(url).cache_key is None
            assert not plain.get(url).from_cache
        finally:
            plain.close()

    def test_a_change_to_the_session_headers_between_calls_reaches_the_key(
        self, origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        with CachedSession(match_headers=["accept"]) as s:
            s.headers["Accept"] = "application/json"
            json_key = s.get(url).cache_key
            s.headers["Accept"] = "text/csv"  # the same Headers object, changed in place
            csv = s.get(url)
            s.headers["Accept"] = "application/json"
            again = s.get(url)
        assert (csv.from_cache, csv.cache_key != json_key) == (False, True)
        assert (again.from_cache, again.cache_key) == (True, json_key)
        assert handler.hits == 2

    def test_set_cookie_and_coding_headers_are_not_stored(self, httpserver: HTTPServer) -> None:
        httpserver.expect_request("/c").respond_with_data(
            "body", headers={"Set-Cookie": "sid=1", "X-Kept": "yes", "Content-Type": "text/plain"}
        )
        with CachedSession() as s:
            s.get(httpserver.url_for("/c"))
            hit = s.cache[httpserver.url_for("/c")]  # the next get() would carry the cookie: another key
        assert "set-cookie" not in hit.headers
        assert hit.headers["x-kept"] == "yes"
        assert hit.text == "body"

    def test_cache_getitem_and_inspection(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        _handler, url = origin
        session.get(url)
        session.get(url + "?b=2&a=1")
        assert session.cache[url].json()["n"] == 1
        assert url in session.cache
        assert session.cache.contains(url=url + "?a=1&b=2")
        assert len(session.cache.urls()) == 2
        assert session.cache.count() == 2
        assert session.cache.size() > 0
        assert [i.url for i in session.cache.filter(url=url)] == [url]
        assert session.cache.delete(urls=[url]) == 1
        with pytest.raises(KeyError):
            session.cache[url]
        assert session.cache.delete(older_than=-1) == 1
        assert session.cache.count() == 0

    def test_expire_and_revalidate_with_etag(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        with CachedSession(expire_after=0.2, **backend_options) as s:
            s.get(url)
            time.sleep(0.3)
            again = s.get(url)
            assert handler.hits == 2
            assert handler.requests[-1].get("If-None-Match") == '"v1"'
            assert again.from_cache
            assert again.revalidated
            assert again.headers["X-Fresh"] == "yes"
            assert not again.is_expired
            assert again.json()["n"] == 1
            assert s.get(url).from_cache
            assert handler.hits == 2

    def test_per_request_options(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        handler, url = origin
        assert session.get(url, only_if_cached=True).status_code == 504
        session.get(url)
        assert session.get(url, only_if_cached=True).from_cache
        session.get(url, refresh=True)
        assert handler.requests[-1].get("If-None-Match") == '"v1"'
        forced = session.get(url, force_refresh=True)
        assert handler.hits == 3
        assert "If-None-Match" not in handler.requests[-1]
        assert not forced.from_cache
        session.get(url + "?x=1", expire_after=0)
        assert session.get(url + "?x=1").revalidated

    def test_cache_disabled_is_per_thread(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        handler, url = origin
        session.get(url)
        seen: list[bool] = []
        with session.cache_disabled():
            assert not session.get(url).from_cache
            worker = threading.Thread(target=lambda: seen.append(session.get(url).from_cache))
            worker.start()
            worker.join()
        assert seen == [True]
        assert handler.hits == 2

    def test_clear_cache(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        _, url = origin
        session.get(url)
        session.clear_cache()
        assert session.cache.count() == 0
        assert not session.get(url).from_cache


class TestSemantics:
    def test_vary_stores_variants(self, backend_options: dict[str, Any], origin: tuple[Origin, str]) -> None:
        handler, url = origin
        handler.headers["Vary"] = "Accept-Language"
        with CachedSession(**backend_options) as s:
            en = s.get(url, headers={"Accept-Language": "en"})
            fr = s.get(url, headers={"Accept-Language": "fr"})
            assert handler.hits == 2
            assert en.json()["lang"] == "en"
            assert fr.json()["lang"] == "fr"
            assert s.get(url, headers={"Accept-Language": "en"}).json()["lang"] == "en"
            assert s.get(url, headers={"Accept-Language": "fr"}).from_cache
            assert handler.hits == 2

    def test_vary_star_not_stored(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        handler, url = origin
        handler.headers["Vary"] = "*"
        session.get(url)
        assert not session.get(url).from_cache
        assert handler.hits == 2

    def test_http_mode_no_store_and_max_age(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        with CachedSession(cache_control=True, **backend_options) as s:
            handler.headers["Cache-Control"] = "no-store"
            s.get(url)
            assert not s.get(url).from_cache
            handler.headers["Cache-Control"] = "max-age=60"
            s.get(url + "?m")
            hit = s.get(url + "?m")
            assert hit.from_cache
            assert hit.expires is not None

    def test_non_allowable(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        handler, url = origin
        handler.fail_with = 404
        session.get(url)
        assert not session.get(url).from_cache
        assert handler.hits == 2

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_stale_if_error(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str], status: int
    ) -> None:
        handler, url = origin
        with CachedSession(expire_after=0.1, stale_if_error=True, **backend_options) as s:
            s.get(url)
            time.sleep(0.2)
            handler.fail_with = status
            stale = s.get(url)
            assert stale.status_code == 200
            assert stale.from_cache
            assert stale.is_expired

    def test_stale_if_error_on_connection_failure(
        self, backend_options: dict[str, Any], httpserver: HTTPServer
    ) -> None:
        handler = Origin()
        httpserver.expect_request("/gone").respond_with_handler(handler)
        url = httpserver.url_for("/gone")
        with CachedSession(expire_after=0.1, stale_if_error=True, **backend_options) as s:
            s.get(url)
            time.sleep(0.2)
            httpserver.stop()
            try:
                assert s.get(url).from_cache
            finally:
                httpserver.start()

    def test_no_stale_without_option(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        with CachedSession(expire_after=0.1, **backend_options) as s:
            s.get(url)
            time.sleep(0.2)
            handler.fail_with = 500
            assert s.get(url).status_code == 500

    def test_stale_while_revalidate(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        with CachedSession(expire_after=0.5, stale_while_revalidate=60, **backend_options) as s:
            s.get(url)
            time.sleep(0.6)
            stale = s.get(url)
            assert stale.from_cache
            assert stale.is_expired
            deadline = time.time() + 5
            while (handler.hits < 2 or s.cache[url].is_expired) and time.time() < deadline:
                time.sleep(0.01)
            assert handler.hits == 2
            assert not s.get(url).is_expired

    def test_single_flight_threads(self, session: CachedSession, origin: tuple[Origin, str]) -> None:
        handler, url = origin
        handler.delay = 0.3
        results: list[Any] = []
        threads = [threading.Thread(target=lambda: results.append(session.get(url))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert handler.hits == 1
        assert len(results) == 8
        assert len({id(r) for r in results}) == 8
        assert all(r.json()["n"] == 1 for r in results)


class TestSecrets:
    def test_credentials_are_separate_entries(
        self, session: CachedSession, origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        session.get(url, headers={"Authorization": "Bearer alice"})
        bob = session.get(url, headers={"Authorization": "Bearer bob"})
        assert not bob.from_cache
        assert handler.hits == 2
        assert session.get(url, headers={"Authorization": "Bearer alice"}).from_cache
        session.get(url + "?api_key=one")
        assert not session.get(url + "?api_key=two").from_cache

    def test_per_request_basic_auth_tuples_are_cached_per_credential(
        self, session: CachedSession, origin: tuple[Origin, str]
    ) -> None:
        """`auth=("user", "pass")` is httpx's Basic shorthand: cached like `httpx.BasicAuth`, keyed on it."""
        handler, url = origin
        session.get(url, auth=("alice", "one"))
        assert session.get(url, auth=("alice", "one")).from_cache
        assert session.get(url, auth=httpx.BasicAuth("alice", "one")).from_cache
        assert not session.get(url, auth=("bob", "two")).from_cache
        assert handler.hits == 2

    def test_secrets_never_in_storage(
        self, backend: str, backend_options: dict[str, Any], origin: tuple[Origin, str], tmp_path: Path
    ) -> None:
        if backend == "memory":
            pytest.skip("nothing is written anywhere")
        _, url = origin
        with CachedSession(**backend_options) as s:
            s.get(
                url + "?api_key=KEY-0123456789",
                headers={"Authorization": "Bearer TOKEN-abcdef", "Cookie": "sid=C00KIE"},
            )
            s.get(
                url + "?api_key=KEY-0123456789",
                headers={"Authorization": "Bearer TOKEN-abcdef", "Cookie": "sid=C00KIE"},
            )
            assert any("REDACTED" in u for u in s.cache.urls())
            raw = _raw_bytes(backend, backend_options, tmp_path)
        assert raw
        assert b"REDACTED" in raw
        for secret in (b"KEY-0123456789", b"TOKEN-abcdef", b"C00KIE"):
            assert secret not in raw


def _raw_bytes(backend: str, options: dict[str, Any], tmp_path: Path) -> bytes:
    if backend == "sqlite":
        return b"".join(p.read_bytes() for p in tmp_path.glob("cache.sqlite3*"))
    if backend in ("postgres", "mysql"):
        from sessions.backends._sql import open_sql

        sql = open_sql(options["db"])
        try:
            rows = sql.execute("SELECT * FROM sessions_http_cache_v1 WHERE ns = %s", (options["key"],))
        finally:
            sql.close()
        cells = [c if isinstance(c, bytes) else str(c).encode() for row in rows for c in row]
        return b"".join(cells)
    import redis

    client = redis.Redis.from_url(options["url"])
    try:
        out = b""
        for key in client.scan_iter(match="{" + options["key"] + "}*"):
            kind = client.type(key)
            if kind == b"hash":
                out += b"".join(k + v for k, v in client.hgetall(key).items())
            elif kind == b"string":
                out += client.get(key) or b""
        return out
    finally:
        client.close()


class TestAsync:
    async def test_hit_and_single_flight(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        handler.delay = 0.3
        async with AsyncCachedSession(**backend_options) as s:
            results = await asyncio.gather(*(s.get(url) for _ in range(10)))
            assert handler.hits == 1
            assert all(r.json()["n"] == 1 for r in results)
            hit = await s.get(url)
            assert hit.from_cache
            assert handler.hits == 1

    async def test_revalidate_304(self, backend_options: dict[str, Any], origin: tuple[Origin, str]) -> None:
        handler, url = origin
        async with AsyncCachedSession(expire_after=0.1, **backend_options) as s:
            await s.get(url)
            await asyncio.sleep(0.2)
            again = await s.get(url)
            assert again.revalidated
            assert handler.requests[-1].get("If-None-Match") == '"v1"'

    async def test_swr_background_task(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        handler, url = origin
        async with AsyncCachedSession(expire_after=0.1, stale_while_revalidate=True, **backend_options) as s:
            await s.get(url)
            await asyncio.sleep(0.2)
            assert (await s.get(url)).is_expired
            for _ in range(200):
                if handler.hits == 2:
                    break
                await asyncio.sleep(0.01)
            assert handler.hits == 2

    async def test_cache_disabled_per_task(
        self, backend_options: dict[str, Any], origin: tuple[Origin, str]
    ) -> None:
        _handler, url = origin
        async with AsyncCachedSession(**backend_options) as s:
            await s.get(url)

            async def disabled() -> bool:
                with s.cache_disabled():
                    await asyncio.sleep(0.01)
                    return (await s.get(url)).from_cache

            async def enabled() -> bool:
                await asyncio.sleep(0.005)
                return (await s.get(url)).from_cache

            assert await asyncio.gather(disabled(), enabled()) == [False, True]


def test_answers_built_for_a_call_keep_its_own_request(backend_options: dict[str, Any]) -> None:
    """A call made from a request (`send(request)`) keeps that request: a 504 for only-if-cached answers
    with it, body included (rebuilding one from the call's URL and headers would lose the body)."""
    with CachedSession(allowable_methods=("GET", "POST"), **backend_options) as s:
        request = s.build_request("POST", "http://127.0.0.1:9/never-sent", content=b"hello")
        response = s.send(request, only_if_cached=True)
    assert response.status_code == 504
    assert response.request is request
    assert response.request.content == b"hello"


async def test_single_flight_followers_keep_their_request_body(
    backend_options: dict[str, Any], origin: tuple[Origin, str]
) -> None:
    handler, url = origin
    handler.delay = 0.3
    async with AsyncCachedSession(allowable_methods=("GET", "POST"), **backend_options) as s:
        # cookies= sends each call through httpx's own path, whose calls carry their request (and, as
        # in httpx, warns that per-request cookies are deprecated)
        with pytest.warns(DeprecationWarning, match="per-request cookies"):
            results = await asyncio.gather(
                *(s.post(url, content=b"hello", cookies={"c": "d"}) for _ in range(3))
            )
    assert handler.hits == 1
    assert [r.request.content for r in results] == [b"hello"] * 3
    assert sorted(r.coalesced for r in results) == [False, True, True]  # one sent, two joined it
