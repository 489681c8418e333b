"""Issue 15's evaluation prototype: our fast path with pyreqwest (Rust reqwest + hyper) doing the I/O.

Not part of the library and not an engine anyone should use: it exists so the benchmarks can measure the
candidate engine *under our real code* — `Session.get`'s dispatch, the mixins, `Response.from_parts`, the batch
engine — beside today's aiohttp engine in the same run, before anything is switched. It covers exactly what the
benchmarks exercise (plain GETs on http://, the session's default timeout); everything else it leaves to the
aiohttp engine it subclasses.

* `ReqwestEngine.fetch` — the batch and `AsyncSession` fast path on pyreqwest's async `Client` (one per loop);
* `ReqwestSession` — a sync `Session` whose single fast-path calls go through pyreqwest's blocking `SyncClient`
  in the calling thread (no event-loop thread hop), and whose batches run `ReqwestEngine` on its loop thread.

Fidelity choices made as a real engine would have to make them (so the figures are not flattered): reqwest's own
decompression is off (it drops Content-Encoding and Content-Length from the headers, which httpx keeps and our
cache and `num_bytes_downloaded` read), every call sends httpx's merged headers, redirects are left to us.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

from pyreqwest.client import Client, ClientBuilder, SyncClient, SyncClientBuilder

import sessions
from sessions._engine import Engine
from sessions._models import Call, Response

__all__ = ["ReqwestAsyncSession", "ReqwestEngine", "ReqwestSession"]


def _configured(builder: Any, max_connections: int | None) -> Any:
    builder = (
        builder.follow_redirects(False)
        .gzip(False)
        .brotli(False)
        .zstd(False)
        .deflate(False)
        .referer(False)
        .no_proxy()
    )
    return builder.max_connections(max_connections)


class ReqwestEngine(Engine):
    """The fast path's `fetch` on pyreqwest's async client (made on first use on each loop)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rclient: Client | None = None
        self._rloop: asyncio.AbstractEventLoop | None = None

    def _reqwest(self) -> Client:
        loop = asyncio.get_running_loop()
        if self._rclient is None or self._rloop is not loop:
            self._rclient = _configured(ClientBuilder(), self._limits.max_connections).build()
            self._rloop = loop
        return self._rclient

    async def fetch(self, call: Call) -> Response:
        started = time.perf_counter()
        builder = self._reqwest().request(call.method, call.url_str).headers(call.headers.multi_items())
        if call.content is not None:
            builder = builder.body_bytes(call.content)
        response = await builder.build().send()
        content = await response.bytes()
        headers: Any = (
            response.headers
        )  # a case-insensitive multi-map; httpx.Headers reads it on first access
        return Response.from_parts(
            response.status,
            headers,
            bytes(content),
            request=call,
            elapsed=time.perf_counter() - started,
        )

    async def aclose(self) -> None:
        if self._rclient is not None:
            await self._rclient.close()
            self._rclient = None
        await super().aclose()


class ReqwestSession(sessions.Session):
    """`sessions.Session` with single calls on pyreqwest's blocking client and batches on `ReqwestEngine`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._engine = ReqwestEngine()
        self._loop_thread.final_at_exit = self._engine.aclose
        self._sync_client: SyncClient = _configured(SyncClientBuilder(), 100).build()

    def _send_wire(self, call: Call) -> Response:
        if not (call.fast and not call.stream):
            return super()._send_wire(call)
        started = time.perf_counter()
        builder = self._sync_client.request(call.method, call.url_str).headers(call.headers.multi_items())
        if call.content is not None:
            builder = builder.body_bytes(call.content)
        response = builder.build().send()
        headers: Any = response.headers
        return Response.from_parts(
            response.status,
            headers,
            bytes(response.bytes()),
            request=call,
            elapsed=datetime.timedelta(seconds=time.perf_counter() - started),
        )

    def close(self) -> None:
        self._sync_client.close()
        super().close()


class ReqwestAsyncSession(sessions.AsyncSession):
    """`sessions.AsyncSession` whose fast path runs on `ReqwestEngine`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._engine = ReqwestEngine()
