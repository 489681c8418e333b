"""Single-flight: concurrent identical misses make one upstream request.

The first caller for a key (the leader) runs the fetch; callers arriving while it runs wait and
receive the leader's outcome — its value or its exception. Threads and asyncio tasks have separate
groups because they wait differently (an `Event` vs. a `Future`); both are keyed by cache key.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["AsyncFlights", "Flights"]

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        # Made by the first follower (under the lock): most fetches have none, and an Event is a Condition
        # and two locks — a few µs on every cache miss.
        self.done: threading.Event | None = None
        self.value: T | None = None
        self.error: BaseException | None = None


class Flights(Generic[T]):
    """Thread flavour."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[T]] = {}

    def run(self, key: str, fetch: Callable[[], T]) -> tuple[T, bool]:
        """Run `fetch` once per concurrent `key`; return (value, whether this caller led)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
                wait_on = None  # this caller leads
            else:
                if flight.done is None:
                    flight.done = threading.Event()
                wait_on = flight.done
        if wait_on is not None:
            wait_on.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value, False  # type: ignore[return-value]
        try:
            flight.value = fetch()
            return flight.value, True
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                done = flight.done  # no follower can arrive once the flight is gone
            if done is not None:
                done.set()

    def busy(self, key: str) -> bool:
        """True while a fetch for `key` is in flight (used to skip duplicate background refreshes)."""
        return key in self._flights


class AsyncFlights(Generic[T]):
    """asyncio flavour; futures are per event loop, so the loop is part of the key."""

    def __init__(self) -> None:
        self._flights: dict[tuple[int, str], asyncio.Future[T]] = {}

    async def run(self, key: str, fetch: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run `fetch` once per concurrent `key`; return (value, whether this caller led)."""
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        waiting = self._flights.get(slot)
        if waiting is not None:
            # shield: a cancelled follower must not cancel the leader's shared future
            return await asyncio.shield(waiting), False
        future: asyncio.Future[T] = loop.create_future()
        self._flights[slot] = future
        try:
            value = await fetch()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # mark retrieved: no "never retrieved" warning without followers
            raise
        else:
            future.set_result(value)
            return value, True
        finally:
            del self._flights[slot]

    def busy(self, key: str) -> bool:
        """True while a fetch for `key` is in flight on the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return (id(loop), key) in self._flights
