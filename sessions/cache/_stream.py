"""Storing a streamed response once it has been read to the end.

`client.stream(...)` hands the caller an unread body, so the cache cannot store it up front. The
stream is teed instead: raw chunks are collected as the caller reads them, and only when the
iteration ends without error is the body decoded (Content-Encoding, as httpx does) and stored. A
caller that stops early, an error mid-body, a body over `max_body` or an unknown encoding stores
nothing — never a partial entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
from httpx._decoders import SUPPORTED_DECODERS, ContentDecoder, IdentityDecoder, MultiDecoder

__all__ = ["AsyncTee", "SyncTee", "decode_body"]


def decode_body(headers: httpx.Headers, raw: bytes) -> bytes | None:
    """`raw` decoded per Content-Encoding, or None when an encoding is unknown or the bytes are bad."""
    values = [v.strip().lower() for v in headers.get_list("content-encoding", split_commas=True)]
    decoders: list[ContentDecoder] = []
    for value in values:
        if value not in SUPPORTED_DECODERS:
            return None
        decoders.append(SUPPORTED_DECODERS[value]())
    decoder: ContentDecoder = (
        IdentityDecoder() if not decoders else decoders[0] if len(decoders) == 1 else MultiDecoder(decoders)
    )
    try:
        return decoder.decode(raw) + decoder.flush()
    except httpx.DecodingError:
        return None


class _Collector:
    def __init__(self, limit: int | None) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.overflow = False

    def add(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            self.overflow, self.chunks = True, []  # too big to store: stop holding it
            return
        self.chunks.append(chunk)

    def body(self) -> bytes | None:
        return None if self.overflow else b"".join(self.chunks)


class SyncTee(httpx.SyncByteStream):
    """Wraps a sync response stream; calls `on_complete(raw_body)` after a full, clean read."""

    def __init__(self, inner: Any, on_complete: Callable[[bytes], None], limit: int | None) -> None:
        self._inner = inner
        self._on_complete = on_complete
        self._collected = _Collector(limit)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._collected.add(chunk)
            yield chunk
        body = self._collected.body()
        if body is not None:
            self._on_complete(body)

    def close(self) -> None:
        self._inner.close()


class AsyncTee(httpx.AsyncByteStream):
    """Wraps an async response stream; awaits `on_complete(raw_body)` after a full, clean read."""

    def __init__(
        self, inner: Any, on_complete: Callable[[bytes], Awaitable[None]], limit: int | None
    ) -> None:
        self._inner = inner
        self._on_complete = on_complete
        self._collected = _Collector(limit)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._collected.add(chunk)
            yield chunk
        body = self._collected.body()
        if body is not None:
            await self._on_complete(body)

    async def aclose(self) -> None:
        await self._inner.aclose()
