"""The storage format: msgpack, versioned, no pickle (a shared cache must never execute code).

Format version 1 is one msgpack array::

    [1, kind, key, method, url, status, [name, value, ...], body, created_at, expires | nil,
     [request-name, request-value, ...], [vary-name, ...]]

`kind` is 0 for a response, 1 for a Vary index. `body` and the response header names and values
are msgpack bin (raw bytes, as received; the body decoded, without Content-Encoding); the redacted
request headers and the vary names are str; times are
float epoch seconds. Request headers are stored already redacted. Anything else — another version,
a wrong shape, garbage — raises `CacheError`, which storages turn into a logged miss.
"""

from __future__ import annotations

from typing import Final

import msgpack

from .._exceptions import CacheError
from ._entry import CachedEntry

__all__ = ["FORMAT_VERSION", "dumps", "loads"]

FORMAT_VERSION: Final = 1


def _flat(pairs: list[tuple[str, str]] | list[tuple[bytes, bytes]]) -> list[str | bytes]:
    return [item for pair in pairs for item in pair]


def _pairs(flat: list[str]) -> list[tuple[str, str]]:
    it = iter(flat)
    return list(zip(it, it, strict=True))


def _raw_pairs(flat: list[bytes]) -> list[tuple[bytes, bytes]]:
    if not all(isinstance(item, bytes) for item in flat):
        raise CacheError("malformed cache entry headers")
    it = iter(flat)
    return list(zip(it, it, strict=True))


def dumps(entry: CachedEntry) -> bytes:
    """Serialize an entry."""
    return msgpack.packb(  # type: ignore[no-any-return]
        [
            FORMAT_VERSION,
            entry.kind,
            entry.key,
            entry.method,
            entry.url,
            entry.status,
            _flat(entry.headers),
            entry.content,
            entry.created_at,
            entry.expires,
            _flat(entry.request_headers),
            list(entry.vary),
        ],
        use_bin_type=True,
    )


def loads(data: bytes) -> CachedEntry:
    """Deserialize an entry; raises `CacheError` for anything that is not a valid v1 entry."""
    try:
        row = msgpack.unpackb(data, raw=False, use_list=True)
        if not isinstance(row, list) or len(row) != 12 or row[0] != FORMAT_VERSION:
            raise CacheError(f"not a version-{FORMAT_VERSION} cache entry")
        _, kind, key, method, url, status, headers, body, created, expires, req, vary = row
        if not isinstance(body, bytes) or not isinstance(status, int):
            raise CacheError("malformed cache entry")
        return CachedEntry(
            key=key,
            method=method,
            url=url,
            status=status,
            headers=_raw_pairs(headers),
            content=body,
            created_at=float(created),
            expires=None if expires is None else float(expires),
            request_headers=_pairs(req),
            vary=tuple(vary),
            kind=int(kind),
        )
    except CacheError:
        raise
    except Exception as exc:  # msgpack raises a zoo of types for garbage input
        raise CacheError(f"unreadable cache entry: {exc}") from exc
