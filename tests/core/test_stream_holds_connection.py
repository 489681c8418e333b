"""An open stream holds its connection until it is closed, as in httpx: with `max_connections=1` a second
request waits for the pool (and times out there) even when the stream's whole body has already arrived —
aiohttp, under the httpx path, would hand the connection back as soon as the body is in."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sessions import AsyncSession, Session
from sessions.httpbin import LocalHttpbin

LIMITS = httpx.Limits(max_connections=1)
TIMEOUT = httpx.Timeout(5.0, pool=0.2)


def test_sync_stream_holds_its_connection(httpbin: LocalHttpbin) -> None:
    with (
        Session(limits=LIMITS, timeout=TIMEOUT) as session,
        session.stream("GET", f"{httpbin.url}/get") as response,
    ):
        assert response.status_code == 200
        time.sleep(0.1)  # the small body is in the socket buffer by now
        with pytest.raises(httpx.PoolTimeout):
            session.get(f"{httpbin.url}/get")
        response.read()  # read to the end: httpx closes the response, and so the connection is free
        assert session.get(f"{httpbin.url}/get").status_code == 200


async def test_async_stream_holds_its_connection(httpbin: LocalHttpbin) -> None:
    async with (
        AsyncSession(limits=LIMITS, timeout=TIMEOUT) as session,
        session.stream("GET", f"{httpbin.url}/get") as response,
    ):
        assert response.status_code == 200
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.PoolTimeout):
            await session.get(f"{httpbin.url}/get")
        await response.aread()
        assert (await session.get(f"{httpbin.url}/get")).status_code == 200
