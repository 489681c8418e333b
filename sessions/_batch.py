"""The batch engine behind `requests()` and `iter_requests()`.

Design points:

* **Lazy input.** `concurrency` worker coroutines pull `(index, item)` pairs from one shared
  iterator, so a generator of a million URLs is consumed as requests start, never listed.
* **Bounded memory.** `iterate()` hands results over through a queue of `concurrency`
  slots; a slow consumer stops the workers instead of piling results up.
* **Same session.** Every item goes through the session's own `_adispatch` hook chain:
  the same limiter state and cache as single calls (the original forked a session), and for an
  `AsyncSession` the same pool (a sync `Session`'s single calls use their own: `CallerLoop`).
* **Errors in place.** A failed item yields an `ErrorResult` in its slot; with
  `raise_errors=True` the first failure raises `BatchError` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import queue
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ._exceptions import BatchError
from ._models import ErrorResult, RequestSpec, Response
from ._progress import BatchProgress
from ._session import _split_kwargs, require_asyncio
from .config import SessionConfig

if TYPE_CHECKING:
    from ._engine import LoopThread
    from ._session import _SessionCore

__all__ = ["Batch"]

logger = logging.getLogger("sessions")
Result = Response | ErrorResult
_DONE = object()
_NO_KWARGS: dict[str, Any] = {}  # shared, never mutated: plain URL items need no per-item dicts
_NO_OPTIONS: dict[str, Any] = {}


@dataclass
class Batch:
    """One batch run: its inputs, options and progress display."""

    session: _SessionCore
    items: Iterator[tuple[int, tuple[Any, str]]]
    callbacks: tuple[Callable[[Response], Any], ...]
    concurrency: int
    return_callbacks: bool
    raise_errors: bool
    request_kwargs: dict[str, Any]
    progress: BatchProgress | None = None
    #: The first input a worker found the session closed for (None: every input was sent).
    unsent_from: int | None = None

    @classmethod
    def create(
        cls, session: _SessionCore, urls: Iterable[Any], method: str | Iterable[str], options: dict[str, Any]
    ) -> Batch:
        """Read the batch options out of `options`; what is left applies to every request."""
        callbacks = tuple(options.pop("callbacks", None) or ())
        for callback in callbacks:
            if not callable(callback):
                raise TypeError(f"callbacks must be callables, got {callback!r}")
        concurrency = int(options.pop("concurrency", None) or SessionConfig.concurrency)
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        return_callbacks = options.pop("return_callbacks", None)
        progress = options.pop("progress", None)
        total = options.pop("total", None)
        raise_errors = bool(options.pop("raise_errors", False))
        if total is None and hasattr(urls, "__len__"):
            total = len(urls)  # type: ignore[arg-type]
        methods = itertools.repeat(method.upper()) if isinstance(method, str) else (m.upper() for m in method)
        return cls(
            session=session,
            items=enumerate(zip(urls, methods, strict=False)),
            callbacks=callbacks,
            concurrency=concurrency,
            return_callbacks=SessionConfig.return_callbacks
            if return_callbacks is None
            else bool(return_callbacks),
            raise_errors=raise_errors,
            request_kwargs=options,
            progress=BatchProgress.maybe(progress, total),
        )

    # -- one item -------------------------------------------------------------------------

    async def _send(self, index: int, item: Any, method: str) -> Result:
        session = self.session
        try:
            if type(item) is str and not self.request_kwargs:
                call = session._make_call(method, item, _NO_KWARGS, _NO_OPTIONS)
            else:
                call = self._call_for(item, method)
            response = await session._adispatch(call)
        except Exception as exc:
            if self.raise_errors:
                raise BatchError(index, exc) from exc
            url, method = _describe(item, method)
            return ErrorResult(index, method, url, exc, attempts=getattr(exc, "attempts", 1))
        if self.callbacks:
            await self._run_callbacks(index, response)
        return response

    def _call_for(self, item: Any, method: str) -> Any:
        spec = RequestSpec.coerce(item, method)
        kwargs = dict(self.request_kwargs)
        for name in ("params", "headers", "json", "data", "content"):
            value = getattr(spec, name)
            if value is not None:
                kwargs[name] = _merged(name, kwargs.get(name), value)
        httpx_kwargs, options = _split_kwargs(kwargs)
        return self.session._make_call(spec.method, spec.url, httpx_kwargs, options)

    async def _run_callbacks(self, index: int, response: Response) -> None:
        results: list[Any] = []
        errors: list[BaseException] = []
        for callback in self.callbacks:
            try:
                value = callback(response)
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:  # a user's callback must not sink the batch
                logger.warning("callback %r failed on request #%d: %r", callback, index, exc)
                errors.append(exc)
                value = exc
            results.append(value)
        if errors:
            response.callback_errors = tuple(errors)
        if self.return_callbacks:
            response.callbacks = tuple(results)

    # -- whole runs -----------------------------------------------------------------------

    async def _worker(self, sink: Callable[[int, Result], Any], awaitable_sink: bool) -> None:
        progress = self.progress
        send = self._send
        session: Any = self.session  # an httpx client: `is_closed`
        for index, (item, method) in self.items:
            if session.is_closed:  # closed under a running batch: stop pulling input, say so at the end
                if self.unsent_from is None or index < self.unsent_from:
                    self.unsent_from = index
                return
            result = await send(index, item, method)
            if progress is not None:
                progress.advance(result)
            if awaitable_sink:
                await sink(index, result)
            else:
                sink(index, result)

    async def _run_workers(self, sink: Callable[[int, Result], Any], *, awaitable_sink: bool = True) -> None:
        if self.session.is_closed:  # type: ignore[attr-defined]
            raise RuntimeError("Cannot send a request, as the session has been closed.")
        workers = [asyncio.ensure_future(self._worker(sink, awaitable_sink)) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
            if self.unsent_from is not None:
                raise RuntimeError(
                    f"the session was closed while a batch was running: input #{self.unsent_from} and any "
                    "after it were not sent; close the session only after requests() returns"
                )
        finally:
            for worker in workers:
                worker.cancel()
            # Wait for the cancellations to land, so no worker outlives the batch (or its loop).
            await asyncio.gather(*workers, return_exceptions=True)
            if self.progress is not None:
                self.progress.close()

    async def collect(self) -> list[Result]:
        """Run the whole batch; results in input order."""
        require_asyncio("requests()")
        results: list[Result | None] = []

        def store(index: int, result: Result) -> None:
            if index >= len(results):
                results.extend([None] * (index + 1 - len(results)))
            results[index] = result

        await self._run_workers(store, awaitable_sink=False)
        return results  # type: ignore[return-value]

    async def iterate(self) -> AsyncIterator[tuple[int, Result]]:
        """Yield `(index, result)` as each request completes."""
        require_asyncio("iter_requests()")
        out: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.concurrency)

        async def put(index: int, result: Result) -> None:
            await out.put((index, result))

        async def run() -> None:
            try:
                await self._run_workers(put)
            except BaseException as exc:
                await out.put(_Failure(exc))
                raise
            await out.put(_DONE)

        runner = asyncio.ensure_future(run())
        try:
            while True:
                got = await out.get()
                if got is _DONE:
                    break
                if isinstance(got, _Failure):
                    raise got.exception
                yield got
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    def iterate_sync(self, loop_thread: LoopThread) -> Iterator[tuple[int, Result]]:
        """`iterate()` for a sync session: the batch runs on its loop thread, results cross over."""
        handoff: queue.Queue[Any] = queue.Queue()
        loop = loop_thread.loop
        state: dict[str, asyncio.Semaphore] = {}
        ready = asyncio.run_coroutine_threadsafe(_make_semaphore(self.concurrency, state), loop)
        ready.result()

        async def put(index: int, result: Result) -> None:
            await state["credits"].acquire()  # wait until the consumer has room
            handoff.put((index, result))

        async def pump() -> None:
            try:
                await self._run_workers(put)
            except BaseException as exc:
                handoff.put(_Failure(exc))
                raise
            handoff.put(_DONE)

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        finished = False
        try:
            while True:
                got = handoff.get()
                if got is _DONE:
                    finished = True
                    return
                if isinstance(got, _Failure):
                    finished = True
                    if isinstance(got.exception, asyncio.CancelledError) and loop_thread.stopped:
                        raise RuntimeError("the session was closed while a batch was running") from None
                    raise got.exception
                try:
                    loop.call_soon_threadsafe(state["credits"].release)
                except RuntimeError:  # the loop is closed: the session was closed under the iteration
                    finished = True
                    raise RuntimeError("the session was closed while a batch was running") from None
                yield got
        finally:
            if not finished:  # the consumer stopped early: stop the workers and wait for them
                future.cancel()
                if loop.is_running():
                    _drain_until_stopped(handoff)


def _drain_until_stopped(handoff: queue.Queue[Any]) -> None:
    """After cancelling the pump, wait for its last word so no worker outlives the iteration."""
    with contextlib.suppress(queue.Empty):
        while True:
            got = handoff.get(timeout=5)
            if got is _DONE or isinstance(got, _Failure):
                return


async def _make_semaphore(value: int, state: dict[str, asyncio.Semaphore]) -> None:
    state["credits"] = asyncio.Semaphore(value)


@dataclass(frozen=True, slots=True)
class _Failure:
    exception: BaseException


def _describe(item: Any, method: str) -> tuple[str, str]:
    """Best-effort (url, method) of an item for its error slot."""
    try:
        spec = RequestSpec.coerce(item, method)
    except Exception:
        return repr(item), method
    return spec.url, spec.method


def _merged(name: str, batch_value: Any, item_value: Any) -> Any:
    """An item's value for ``name`` over the batch-wide one: headers and params are merged (the item's win per
    name), as the session's own defaults merge with a call's; a body replaces."""
    if batch_value is None:
        return item_value
    if name == "headers":
        headers = httpx.Headers(batch_value)
        headers.update(item_value)
        return headers
    if name == "params":
        return httpx.QueryParams(batch_value).merge(item_value)
    return item_value
