"""SessionContainer / @attach_session against the local httpbin, with httpx clients and our sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sessions import AsyncSession, Session
from sessions._container import SessionContainer, SyncSessionContainer, attach_session
from sessions.httpbin import LocalHttpbin

ASYNC_CLASSES = [httpx.AsyncClient, AsyncSession]
SYNC_CLASSES = [httpx.Client, Session]


class AsyncApi(SessionContainer):
    """A container in the seed's style: kwargs go to the session, methods take `session=`."""

    def __init__(self, base_url: str, session_class: type[Any] | None = None) -> None:
        super().__init__(session_class=session_class, base_url=base_url, headers={"X-Api": "yes"})
        self.seen: list[Any] = []

    @attach_session
    async def uuid(self, *, session: Any = None) -> str:
        self.seen.append(session)
        response = await session.get("/uuid")
        return str(response.json()["uuid"])

    @attach_session
    async def header(self, *, session: Any = None) -> str:
        response = await session.get("/headers")
        return str(response.json()["headers"]["X-Api"])

    @attach_session
    async def ids(self, n: int, *, session: Any = None) -> AsyncIterator[str]:
        self.seen.append(session)
        for i in range(n):
            response = await session.get("/get", params={"id": i})
            yield str(response.json()["args"]["id"])

    @attach_session
    async def boom(self, *, session: Any = None) -> None:
        self.seen.append(session)
        raise LookupError("from the method")

    @attach_session
    def base(self, *, session: Any = None) -> str:
        return str(session.base_url)


class SyncApi(SyncSessionContainer):
    def __init__(self, base_url: str, session_class: type[Any] | None = None) -> None:
        super().__init__(session_class=session_class, base_url=base_url)
        self.seen: list[Any] = []

    @attach_session
    def uuid(self, *, session: Any = None) -> str:
        self.seen.append(session)
        return str(session.get("/uuid").json()["uuid"])

    @attach_session
    def ids(self, n: int, *, session: Any = None) -> Iterator[str]:
        self.seen.append(session)
        for i in range(n):
            yield str(session.get("/get", params={"id": i}).json()["args"]["id"])

    @attach_session
    async def async_uuid(self, *, session: Any = None) -> str:
        # A sync session inside an async method: blocking, but allowed and closed properly.
        self.seen.append(session)
        return str(session.get("/uuid").json()["uuid"])


# ---------------------------------------------------------------- async container


@pytest.mark.parametrize("cls", ASYNC_CLASSES)
async def test_async_with_shares_one_session(httpbin: LocalHttpbin, cls: type[Any]) -> None:
    async with AsyncApi(httpbin.url, cls) as api:
        first, second = await asyncio.gather(api.uuid(), api.uuid())
        shared = api.session
        assert isinstance(shared, cls)
        assert await api.header() == "yes"  # constructor kwargs reached the session
    assert first != second
    assert api.seen == [shared, shared]
    assert shared.is_closed
    assert api.session is None


@pytest.mark.parametrize("cls", ASYNC_CLASSES)
async def test_no_started_session_gets_a_temporary_one(httpbin: LocalHttpbin, cls: type[Any]) -> None:
    api = AsyncApi(httpbin.url, cls)
    await api.uuid()
    await api.uuid()
    first, second = api.seen
    assert first is not second
    assert first.is_closed
    assert second.is_closed
    assert api.session is None


@pytest.mark.parametrize("cls", ASYNC_CLASSES)
async def test_temporary_session_is_closed_when_the_method_raises(
    httpbin: LocalHttpbin, cls: type[Any]
) -> None:
    api = AsyncApi(httpbin.url, cls)
    with pytest.raises(LookupError, match="from the method"):
        await api.boom()
    assert api.seen[0].is_closed


@pytest.mark.parametrize("cls", ASYNC_CLASSES)
async def test_async_generator_with_shared_session(httpbin: LocalHttpbin, cls: type[Any]) -> None:
    async with AsyncApi(httpbin.url, cls) as api:
        assert [x async for x in api.ids(3)] == ["0", "1", "2"]
        assert api.seen == [api.session]


@pytest.mark.parametrize("cls", ASYNC_CLASSES)
async def test_async_generator_temporary_session_lives_as_long_as_the_generator(
    httpbin: LocalHttpbin, cls: type[Any]
) -> None:
    api = AsyncApi(httpbin.url, cls)
    gen = api.ids(5)
    assert await anext(gen) == "0"
    temp = api.seen[0]
    assert not temp.is_closed  # still iterating
    await gen.aclose()  # the consumer stops early
    assert temp.is_closed


async def test_async_generator_temporary_session_closes_at_exhaustion(httpbin: LocalHttpbin) -> None:
    api = AsyncApi(httpbin.url, httpx.AsyncClient)
    assert [x async for x in api.ids(2)] == ["0", "1"]
    assert api.seen[0].is_closed


async def test_explicit_session_wins_and_is_not_closed(httpbin: LocalHttpbin) -> None:
    api = AsyncApi(httpbin.url, httpx.AsyncClient)
    async with httpx.AsyncClient(base_url=httpbin.url) as mine:
        await api.uuid(session=mine)
        assert api.seen == [mine]
        assert not mine.is_closed


async def test_seed_style_start_and_close(httpbin: LocalHttpbin) -> None:
    api = AsyncApi(httpbin.url)  # default session class: sessions.AsyncSession
    api.start_session()
    assert isinstance(api.session, AsyncSession)
    await asyncio.gather(*(api.uuid() for _ in range(5)))
    shared = api.session
    task = api.close_session()  # the seed calls it without await; it still closes
    assert task is not None
    await task
    assert shared.is_closed
    assert set(map(id, api.seen)) == {id(shared)}


def test_close_session_without_a_running_loop() -> None:
    api = AsyncApi("http://127.0.0.1:9", httpx.AsyncClient)
    session = api.start_session()
    assert api.close_session() is None
    assert session.is_closed
    assert api.close_session() is None  # idempotent


async def test_astart_session_is_idempotent(httpbin: LocalHttpbin) -> None:
    api = AsyncApi(httpbin.url, httpx.AsyncClient)
    first = await api.astart_session()
    assert await api.astart_session() is first
    await api.aclose_session()
    await api.aclose_session()
    assert first.is_closed


async def test_sync_method_on_async_container(httpbin: LocalHttpbin) -> None:
    api = AsyncApi(httpbin.url, httpx.AsyncClient)
    with pytest.raises(RuntimeError, match="start_session"):
        api.base()
    async with api:
        assert api.base() == httpbin.url


# ---------------------------------------------------------------- sync container


@pytest.mark.parametrize("cls", SYNC_CLASSES)
def test_sync_container_shares_one_session(httpbin: LocalHttpbin, cls: type[Any]) -> None:
    with SyncApi(httpbin.url, cls) as api:
        assert api.uuid() != api.uuid()
        assert list(api.ids(2)) == ["0", "1"]
        shared = api.session
        assert isinstance(shared, cls)
    assert api.seen == [shared, shared, shared]
    assert shared.is_closed


@pytest.mark.parametrize("cls", SYNC_CLASSES)
def test_sync_container_temporary_sessions(httpbin: LocalHttpbin, cls: type[Any]) -> None:
    api = SyncApi(httpbin.url, cls)
    api.uuid()
    gen = api.ids(3)
    assert next(gen) == "0"
    assert not api.seen[1].is_closed
    gen.close()
    assert all(s.is_closed for s in api.seen)
    assert api.seen[0] is not api.seen[1]


def test_sync_container_default_class_and_start_close(httpbin: LocalHttpbin) -> None:
    api = SyncApi(httpbin.url)
    session = api.start_session()
    assert isinstance(session, Session)
    assert api.start_session() is session
    api.uuid()
    api.close_session()
    assert session.is_closed


async def test_async_method_on_sync_container(httpbin: LocalHttpbin) -> None:
    api = SyncApi(httpbin.url, httpx.Client)
    await api.async_uuid()
    assert api.seen[0].is_closed


# ---------------------------------------------------------------- misuse


def test_attach_session_needs_a_container() -> None:
    class NotAContainer:
        @attach_session
        def method(self, *, session: Any = None) -> None:
            raise AssertionError("never called")

    with pytest.raises(TypeError, match="session container"):
        NotAContainer().method()


def test_decorator_keeps_kind_and_metadata() -> None:
    import inspect

    assert inspect.iscoroutinefunction(AsyncApi.uuid)
    assert inspect.isasyncgenfunction(AsyncApi.ids)
    assert inspect.isgeneratorfunction(SyncApi.ids)
    assert AsyncApi.uuid.__name__ == "uuid"
