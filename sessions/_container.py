"""Session containers: one shared session for all the methods of a class.

After the aiohttp-asynctools seed. Subclass a container, decorate the methods that talk
HTTP with `@attach_session`, and they receive the shared session as ``session=``::

    class Api(SessionContainer):
        def __init__(self) -> None:
            super().__init__(base_url="https://api.example", timeout=10)  # → AsyncSession(...)

        @attach_session
        async def user(self, name: str, *, session: AsyncSession) -> dict:
            return (await session.get(f"/users/{name}")).json()

    async with Api() as api:             # one session, one connection pool
        await asyncio.gather(api.user("a"), api.user("b"))

    await Api().user("a")                # no session started: a temporary one, closed after

`SessionContainer` holds an `AsyncSession`; `SyncSessionContainer` a `Session`. Either can
use another class (`session_class` attribute or keyword), e.g. `httpx.AsyncClient`.

Which method kinds get a temporary session when none is started:

====================  =====================  ========================
method                SessionContainer       SyncSessionContainer
====================  =====================  ========================
async def             yes (async with)       yes (with)
async generator       yes, for its lifetime  yes, for its lifetime
def                   RuntimeError ¹         yes (with)
generator             RuntimeError ¹         yes, for its lifetime
====================  =====================  ========================

¹ an async session cannot be closed from synchronous code; start the session first.
A started session is handed to every kind. An explicit ``session=`` argument wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar, cast

__all__ = ["SessionContainer", "SyncSessionContainer", "attach_session"]

F = TypeVar("F", bound=Callable[..., Any])


class _BaseContainer:
    """State and construction shared by both flavours."""

    #: The session class to instantiate; None means the flavour's default (resolved lazily
    #: because `sessions._session` imports a lot and may import this module).
    session_class: ClassVar[type[Any] | None] = None
    _is_async: ClassVar[bool]

    def __init__(self, *, session_class: type[Any] | None = None, **session_kwargs: Any) -> None:
        self._session_class = session_class
        self._session_kwargs = session_kwargs
        self._session: Any = None

    @property
    def session(self) -> Any:
        """The shared session, or None when not started."""
        return self._session

    @property
    def session_started(self) -> bool:
        return self._session is not None

    def _resolve_class(self) -> type[Any]:
        cls = self._session_class or type(self).session_class
        return cls if cls is not None else self._default_class()

    def _default_class(self) -> type[Any]:
        raise NotImplementedError

    def _sync_temporary(self) -> AbstractContextManager[Any]:
        """A temporary session for one synchronous call (or why there cannot be one)."""
        raise NotImplementedError

    def new_session(self) -> Any:
        """A fresh session built from the container's keyword arguments (not shared)."""
        return self._resolve_class()(**self._session_kwargs)

    def start_session(self) -> Any:
        """Create the shared session if needed and return it."""
        if self._session is None:
            self._session = self.new_session()
        return self._session


class SessionContainer(_BaseContainer):
    """Holds one `sessions.AsyncSession` (or `session_class`) shared by `@attach_session` methods.

    Keyword arguments are passed to the session class. Use ``async with container:`` or
    `astart_session` / `aclose_session`; `start_session` / `close_session` exist for the
    seed's synchronous style.
    """

    _is_async = True

    def __init__(self, *, session_class: type[Any] | None = None, **session_kwargs: Any) -> None:
        super().__init__(session_class=session_class, **session_kwargs)
        self._closing: set[asyncio.Task[None]] = set()

    def _default_class(self) -> type[Any]:
        from sessions import AsyncSession

        return AsyncSession

    async def astart_session(self) -> Any:
        """Create and enter the shared session (``async with`` semantics) and return it."""
        if self._session is None:
            session = self.new_session()
            await session.__aenter__()
            self._session = session
        return self._session

    async def aclose_session(self) -> None:
        """Close the shared session, if any; the next method call starts afresh."""
        session, self._session = self._session, None
        if session is not None:
            await session.aclose()

    def close_session(self) -> asyncio.Task[None] | None:
        """Close the shared session from synchronous code.

        Inside a running loop the close is scheduled and the task returned (await it to
        wait); with no loop running it completes before returning None.
        """
        if self._session is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.aclose_session())
            return None
        task = loop.create_task(self.aclose_session())
        # Keep a reference: the loop holds tasks weakly and could drop the close half-way.
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    async def __aenter__(self) -> Self:
        await self.astart_session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose_session()

    def _sync_temporary(self) -> AbstractContextManager[Any]:
        raise RuntimeError(
            f"{type(self).__name__}: a synchronous method needs a started session — an async "
            "session cannot be closed from synchronous code. Call start_session() or use "
            "`async with` first."
        )


class SyncSessionContainer(_BaseContainer):
    """Holds one `sessions.Session` (or `session_class`) shared by `@attach_session` methods.

    Keyword arguments are passed to the session class. Use ``with container:`` or
    `start_session` / `close_session`.
    """

    _is_async = False

    def _default_class(self) -> type[Any]:
        from sessions import Session

        return Session

    def close_session(self) -> None:
        """Close the shared session, if any; the next method call starts afresh."""
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> Self:
        self.start_session()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close_session()

    def _sync_temporary(self) -> AbstractContextManager[Any]:
        return cast(AbstractContextManager[Any], self.new_session())


# ---------------------------------------------------------------- the decorator


def _container(args: tuple[Any, ...], func: Callable[..., Any]) -> _BaseContainer:
    if not args or not isinstance(args[0], _BaseContainer):
        raise TypeError(f"@attach_session: {func.__qualname__} must be a method of a session container")
    return args[0]


def _shared(args: tuple[Any, ...], kwargs: dict[str, Any], func: Callable[..., Any]) -> Any:
    """The session to hand over without managing it: explicit ``session=``, else the started one."""
    explicit = kwargs.get("session")
    return explicit if explicit is not None else _container(args, func).session


@contextlib.asynccontextmanager
async def _async_temporary(container: _BaseContainer) -> AsyncIterator[Any]:
    """A temporary session for one async call: entered, then closed however the call ends.

    A sync container's session has no ``__aenter__``; it is entered synchronously (its
    close is synchronous too), so async methods work on both flavours.
    """
    temp = container.new_session()
    if hasattr(temp, "__aenter__"):
        async with temp as entered:
            yield entered
    else:
        with temp as entered:
            yield entered


def _wrap_coroutine(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = _shared(args, kwargs, func)
        if session is not None:
            return await func(*args, **{**kwargs, "session": session})
        async with _async_temporary(_container(args, func)) as temp:
            return await func(*args, **{**kwargs, "session": temp})

    return wrapper


def _wrap_async_generator(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # aclosing(): when the consumer stops early, close the inner generator now (and so
        # release a temporary session) rather than whenever the garbage collector gets to it.
        session = _shared(args, kwargs, func)
        if session is not None:
            async with contextlib.aclosing(func(*args, **{**kwargs, "session": session})) as inner:
                async for item in inner:
                    yield item
            return
        async with (
            _async_temporary(_container(args, func)) as temp,
            contextlib.aclosing(func(*args, **{**kwargs, "session": temp})) as inner,
        ):
            async for item in inner:
                yield item

    return wrapper


def _wrap_function(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = _shared(args, kwargs, func)
        if session is not None:
            return func(*args, **{**kwargs, "session": session})
        with _container(args, func)._sync_temporary() as temp:
            return func(*args, **{**kwargs, "session": temp})

    return wrapper


def _wrap_generator(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        session = _shared(args, kwargs, func)
        if session is not None:
            return (yield from func(*args, **{**kwargs, "session": session}))
        with _container(args, func)._sync_temporary() as temp:
            return (yield from func(*args, **{**kwargs, "session": temp}))

    return wrapper


def attach_session(func: F) -> F:
    """Hand the container's session to a method as its ``session=`` keyword.

    Works on async methods, async generators, plain methods and generators. The started
    shared session is used when there is one; otherwise the call gets a temporary session
    that is closed when the call (or the generator) ends. A caller may pass ``session=``
    explicitly; that session is used as is and never closed here.
    """
    if inspect.isasyncgenfunction(func):
        return cast(F, _wrap_async_generator(func))
    if inspect.iscoroutinefunction(func):
        return cast(F, _wrap_coroutine(func))
    if inspect.isgeneratorfunction(func):
        return cast(F, _wrap_generator(func))
    return cast(F, _wrap_function(func))
