"""A streamed response is stored only once it has been read to the end."""

from __future__ import annotations

import uuid

from sessions import AsyncSession, CacheMixin, Session
from sessions.httpbin import LocalHttpbin


class Cached(CacheMixin, Session):
    pass


class AsyncCached(CacheMixin, AsyncSession):
    pass


def _url(httpbin: LocalHttpbin, path: str) -> str:
    return f"{httpbin.url}{path}{'&' if '?' in path else '?'}t={uuid.uuid4().hex}"


def test_fully_read_stream_is_stored(httpbin: LocalHttpbin) -> None:
    url = _url(httpbin, "/stream-bytes/5000?chunk_size=512")
    with Cached() as s:
        with s.stream("GET", url) as streamed:
            body = b"".join(streamed.iter_bytes())
        again = s.get(url)
    assert again.from_cache
    assert again.content == body


def test_stream_abandoned_midway_is_not_stored(httpbin: LocalHttpbin) -> None:
    url = _url(httpbin, "/stream-bytes/5000?chunk_size=512")
    with Cached() as s:
        with s.stream("GET", url) as streamed:
            next(streamed.iter_raw())  # read one chunk, then give up
        assert not s.get(url).from_cache


def test_gzip_stream_is_stored_decoded(httpbin: LocalHttpbin) -> None:
    url = _url(httpbin, "/gzip")
    with Cached() as s:
        with s.stream("GET", url) as streamed:
            streamed.read()
            first = streamed.json()
        again = s.get(url)
    assert again.from_cache
    assert again.json() == first


def test_stream_over_max_body_is_not_stored(httpbin: LocalHttpbin) -> None:
    url = _url(httpbin, "/stream-bytes/5000?chunk_size=512")
    with Cached(max_body=1000) as s:
        with s.stream("GET", url) as streamed:
            streamed.read()
        assert not s.get(url).from_cache


async def test_async_fully_read_stream_is_stored(httpbin: LocalHttpbin) -> None:
    url = _url(httpbin, "/bytes/2048")
    async with AsyncCached() as s:
        async with s.stream("GET", url) as streamed:
            body = await streamed.aread()
        again = await s.get(url)
    assert again.from_cache
    assert again.content == body


def test_filter_fn_sees_the_streamed_body_once_it_is_read(httpbin: LocalHttpbin) -> None:
    seen: list[int] = []

    def only_small_json(response: object) -> bool:
        body = response.json()  # type: ignore[attr-defined]  # reads the body: must not raise ResponseNotRead
        seen.append(len(body["args"]))
        return "keep" in body["args"]

    kept, dropped = _url(httpbin, "/get?keep=1"), _url(httpbin, "/get?drop=1")
    with Cached(filter_fn=only_small_json) as s:
        for url in (kept, dropped):
            with s.stream("GET", url) as streamed:
                streamed.read()
        assert s.get(kept).from_cache
        assert not s.get(dropped).from_cache
    assert len(seen) >= 2


def test_what_a_filter_fn_leaves_in_the_headers_is_what_is_stored(httpbin: LocalHttpbin) -> None:
    # A filter_fn sees the response before it is stored and may edit its headers; the entry keeps the edit,
    # read or streamed, and its ttl judges the validators it is left with.
    def tag_and_drop_etag(response: object) -> bool:
        headers = response.headers  # type: ignore[attr-defined]
        headers["X-Tag"] = "filtered"
        del headers["etag"]
        return True

    with Cached(filter_fn=tag_and_drop_etag) as s:
        for streamed_first in (False, True):
            url = _url(httpbin, "/etag/v1")
            if streamed_first:
                with s.stream("GET", url) as streamed:
                    streamed.read()
            else:
                s.get(url)
            again = s.get(url)
            assert again.from_cache
            assert again.headers.get("x-tag") == "filtered"
            assert "etag" not in again.headers
