"""In-process storage: an LRU dict of live `CachedEntry` objects (nothing serialized on a hit)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from .._entry import RESPONSE, CachedEntry, EntryInfo
from ._base import CacheStorage, StorageLimits

__all__ = ["MemoryStorage"]


class MemoryStorage(CacheStorage):
    """Entries in an `OrderedDict` kept in least-recently-used order, under one lock.

    Entries are kept as objects: a hit costs a dict lookup, not a decode. Callers never mutate a
    stored entry (a 304 refresh stores a new one), so sharing them between threads is safe.
    Expired entries are swept on access at most every `check_frequency` seconds — no timer thread.
    """

    def __init__(
        self,
        limits: StorageLimits | None = None,
        *,
        check_frequency: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits or StorageLimits()
        self.check_frequency = check_frequency
        self._clock = clock
        self._data: OrderedDict[str, tuple[CachedEntry, float | None, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._next_sweep = clock() + check_frequency

    def get(self, key: str) -> CachedEntry | None:
        """The entry, marked most recently used; None if missing or past its ttl."""
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            entry, deadline, _ = found
            if deadline is not None and self._clock() >= deadline:
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return entry

    def set(self, entry: CachedEntry, ttl: float | None) -> None:
        """Store, then evict from the least-recently-used end while over the caps."""
        now = self._clock()
        size = entry.size
        with self._lock:
            self._drop(entry.key)
            self._data[entry.key] = (entry, None if ttl is None else now + ttl, size)
            self._bytes += size
            self._evict()
            if now >= self._next_sweep:
                self._sweep(now)

    def _evict(self) -> None:
        max_entries, max_bytes = self.limits.max_entries, self.limits.max_bytes
        while self._data and (
            (max_entries is not None and len(self._data) > max_entries)
            or (max_bytes is not None and self._bytes > max_bytes)
        ):
            oldest = next(iter(self._data))
            self._drop(oldest)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.check_frequency
        dead = [k for k, (_, deadline, _) in self._data.items() if deadline is not None and now >= deadline]
        for key in dead:
            self._drop(key)

    def _drop(self, key: str) -> bool:
        found = self._data.pop(key, None)
        if found is None:
            return False
        self._bytes -= found[2]
        return True

    def delete(self, keys: Iterable[str]) -> int:
        """Delete these keys; return how many existed."""
        with self._lock:
            return sum(self._drop(k) for k in keys)

    def infos(self) -> Iterator[EntryInfo]:
        """Metadata of every stored response (a snapshot, safe while others write)."""
        now = self._clock()
        with self._lock:
            rows = [
                entry.info()
                for entry, deadline, _ in self._data.values()
                if entry.kind == RESPONSE and (deadline is None or now < deadline)
            ]
        return iter(rows)

    def size(self) -> int:
        """Total stored size in bytes."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        """Delete everything in this storage."""
        with self._lock:
            self._data.clear()
            self._bytes = 0
