"""The storage format: round trip, versioning, garbage in → CacheError."""

from __future__ import annotations

import pickle

import msgpack
import pytest

from sessions._exceptions import CacheError
from sessions.cache._entry import VARY_INDEX, CachedEntry
from sessions.cache._serializer import FORMAT_VERSION, dumps, loads


def entry(**kw: object) -> CachedEntry:
    base: dict[str, object] = {
        "key": "v1-k", "method": "GET", "url": "https://h/", "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"etag", b'"1"')], "content": b"\x00body\xff",
        "created_at": 1.5, "expires": None, "request_headers": [("accept", "*/*")], "vary": ("accept",),
    }  # fmt: skip
    base.update(kw)
    return CachedEntry(**base)  # type: ignore[arg-type]


def test_round_trip() -> None:
    original = entry(expires=99.25)
    back = loads(dumps(original))
    for name in (
        "key",
        "method",
        "url",
        "status",
        "headers",
        "content",
        "created_at",
        "expires",
        "vary",
        "kind",
    ):
        assert getattr(back, name) == getattr(original, name)
    assert back.request_headers == [("accept", "*/*")]


def test_vary_index_kind() -> None:
    assert loads(dumps(entry(kind=VARY_INDEX))).kind == VARY_INDEX


def test_is_plain_msgpack_with_version() -> None:
    row = msgpack.unpackb(dumps(entry()), raw=False)
    assert row[0] == FORMAT_VERSION
    assert row[7] == b"\x00body\xff"


@pytest.mark.parametrize(
    "blob",
    [b"", b"garbage", msgpack.packb([2, 0]), msgpack.packb({"a": 1}), pickle.dumps({"x": 1}),
     msgpack.packb([1, 0, "k", "GET", "u", "200", [], b"", 0, None, [], []])],
)  # fmt: skip
def test_garbage_raises_cache_error(blob: bytes) -> None:
    with pytest.raises(CacheError):
        loads(blob)


def test_header_map_joins_repeats() -> None:
    e = entry(headers=[(b"X-A", b"1"), (b"x-a", b"2")])
    assert e.header_map["x-a"] == "1, 2"
