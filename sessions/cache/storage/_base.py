"""The storage contract shared by memory, SQLite and Redis."""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..._exceptions import CacheError, ConfigurationError
from .._entry import CachedEntry, EntryInfo
from .._serializer import loads

__all__ = ["CacheStorage", "StorageLimits", "decode_or_none"]

log = logging.getLogger("sessions.cache")


@dataclass(frozen=True, slots=True)
class StorageLimits:
    """Size caps of one storage; `None` means unlimited."""

    max_entries: int | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_bytes"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigurationError(f"{name} must be a positive integer or None, got {value!r}")


def decode_or_none(data: bytes, key: str, drop: Callable[[str], object]) -> CachedEntry | None:
    """Decode an entry; a corrupt one is logged, dropped and reported as a miss."""
    try:
        return loads(data)
    except CacheError as exc:
        log.warning("dropping unreadable cache entry %s: %s", key, exc)
        drop(key)
        return None


class CacheStorage(abc.ABC):
    """Where entries live. Sync methods, plus async twins that default to the sync ones.

    `set(entry, ttl)`: `ttl` is how long (seconds from now) the entry is worth keeping at all —
    past that, even a stale-if-error or a revalidation could not use it; `None` keeps it until it
    is evicted by the size caps or deleted.
    """

    limits: StorageLimits

    @abc.abstractmethod
    def get(self, key: str) -> CachedEntry | None:
        """The entry at `key`, or None (missing, past its ttl, or unreadable)."""

    @abc.abstractmethod
    def set(self, entry: CachedEntry, ttl: float | None) -> None:
        """Store `entry` at `entry.key`, evicting least-recently-used entries over the caps."""

    @abc.abstractmethod
    def delete(self, keys: Iterable[str]) -> int:
        """Delete these keys; return how many existed."""

    @abc.abstractmethod
    def infos(self) -> Iterator[EntryInfo]:
        """Metadata of every stored response (Vary index entries excluded), in no order."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Delete every entry of this cache — and nothing else in the backend."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (never connections the user passed in)."""

    def count(self) -> int:
        """How many responses are stored."""
        return sum(1 for _ in self.infos())

    def size(self) -> int:
        """Total stored size in bytes (as counted for `max_bytes`)."""
        return sum(info.size for info in self.infos())

    def delete_where(self, predicate: Callable[[EntryInfo], bool]) -> int:
        """Delete every response whose metadata matches `predicate` (plus its Vary index)."""
        doomed = [info.key for info in self.infos() if predicate(info)]
        return self.delete(doomed) if doomed else 0

    def delete_expired(self, now: float | None = None) -> int:
        """Delete every entry past its freshness deadline."""
        moment = time.time() if now is None else now
        return self.delete_where(lambda info: info.is_expired(moment))

    # Async twins. Memory answers inline; SQLite and Redis override what does I/O.
    async def aget(self, key: str) -> CachedEntry | None:
        """Async `get`."""
        return self.get(key)

    async def aset(self, entry: CachedEntry, ttl: float | None) -> None:
        """Async `set`."""
        self.set(entry, ttl)

    async def adelete(self, keys: Iterable[str]) -> int:
        """Async `delete`."""
        return self.delete(keys)

    async def aclear(self) -> None:
        """Async `clear`."""
        self.clear()

    async def aclose(self) -> None:
        """Async `close`."""
        self.close()
