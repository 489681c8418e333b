"""`session.cache`: look into, filter and prune the cache of one session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from .._models import Call, Response
from ._core import CacheCore
from ._entry import VARY_INDEX, CachedEntry, EntryInfo
from ._keys import normalise_url

__all__ = ["CacheInspector"]


class CacheInspector:
    """The inspection API of one session's cache.

    `session.cache[url]` is the stored response for a GET of `url` as this session would send it
    (its default headers and credentials select the entry); the other methods work on metadata
    (`EntryInfo`: key, method, url, status, created_at, expires, size) without reading bodies.
    Stored URLs are normalised and have credential values replaced by ``REDACTED``.
    """

    def __init__(self, core: CacheCore, session: Any) -> None:
        self._core = core
        self._session = session

    # ------------------------------------------------------------------ lookup
    def _lookup(self, url: str | httpx.URL, method: str = "GET") -> tuple[CachedEntry | None, str]:
        core, session = self._core, self._session
        headers: httpx.Headers = session.headers
        url_str = str(session._merge_url(url)) if hasattr(session, "_merge_url") else str(url)
        extra = core._auth_credential(getattr(session, "auth", None))
        key = core.keys.build(method.upper(), url_str, tuple(headers.raw), None, "", extra or b"")
        entry = core.storage.get(key.key)
        if entry is not None and entry.kind == VARY_INDEX:
            entry = core.storage.get(core.keys.variant(key.key, entry.vary, headers))
        return entry, url_str

    def get(self, url: str | httpx.URL, method: str = "GET") -> Response | None:
        """The stored response for `method url`, or None."""
        entry, url_str = self._lookup(url, method)
        if entry is None:
            return None
        return self._core.response_for(entry, Call(method.upper(), url_str, httpx.Headers()))

    def __getitem__(self, url: str | httpx.URL) -> Response:
        """`session.cache[url]`: the stored GET response (KeyError when there is none)."""
        response = self.get(url)
        if response is None:
            raise KeyError(str(url))
        return response

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str | httpx.URL) and self._lookup(url)[0] is not None

    def contains(self, key: str | None = None, url: str | httpx.URL | None = None) -> bool:
        """Whether a key, or a GET of a URL (as this session sends it), is stored."""
        if key is not None:
            return any(info.key == key for info in self._core.storage.infos())
        if url is not None:
            return self._lookup(url)[0] is not None
        raise TypeError("contains() needs key= or url=")

    # ------------------------------------------------------------------ listing
    def filter(
        self,
        *,
        valid: bool = True,
        expired: bool = True,
        older_than: float | timedelta | datetime | None = None,
        url: str | None = None,
        predicate: Callable[[EntryInfo], bool] | None = None,
    ) -> Iterator[EntryInfo]:
        """Metadata of stored responses: fresh ones (`valid`), stale ones (`expired`), optionally
        only those created before `older_than` (seconds ago, a timedelta, or a datetime), whose URL
        matches `url` (normalised; any credential values), or satisfying `predicate`."""
        now = self._core.clock()
        cutoff = _cutoff(older_than, now)
        wanted = self._stored_url(url) if url is not None else None
        for info in self._core.storage.infos():
            stale = info.is_expired(now)
            if (stale and not expired) or (not stale and not valid):
                continue
            if cutoff is not None and info.created_at >= cutoff:
                continue
            if wanted is not None and info.url != wanted:
                continue
            if predicate is None or predicate(info):
                yield info

    def _stored_url(self, url: str | httpx.URL) -> str:
        keys = self._core.keys
        return normalise_url(str(url), keys.ignored, keys.secret).stored

    def urls(self) -> list[str]:
        """Sorted unique URLs of stored responses (normalised, credentials redacted)."""
        return sorted({info.url for info in self._core.storage.infos()})

    def keys(self) -> list[str]:
        """Keys of stored responses."""
        return [info.key for info in self._core.storage.infos()]

    def count(self) -> int:
        """How many responses are stored."""
        return self._core.storage.count()

    def size(self) -> int:
        """Total stored size in bytes (what `max_bytes` is compared with)."""
        return self._core.storage.size()

    def __len__(self) -> int:
        return self.count()

    # ------------------------------------------------------------------ pruning
    def delete(
        self,
        *keys: str,
        urls: Iterable[str | httpx.URL] = (),
        expired: bool = False,
        older_than: float | timedelta | datetime | None = None,
    ) -> int:
        """Delete by key, by URL (every method, variant and credential), every expired entry,
        and/or everything created before `older_than`. Returns how many entries went."""
        storage = self._core.storage
        removed = storage.delete(keys) if keys else 0
        wanted = {self._stored_url(u) for u in urls}
        now = self._core.clock()
        cutoff = _cutoff(older_than, now)
        if wanted or expired or cutoff is not None:
            removed += storage.delete_where(
                lambda info: (
                    info.url in wanted
                    or (expired and info.is_expired(now))
                    or (cutoff is not None and info.created_at < cutoff)
                )
            )
        return removed

    def clear(self) -> None:
        """Delete every entry of this cache (and nothing else in the backend)."""
        self._core.storage.clear()

    def __repr__(self) -> str:
        return f"<CacheInspector {type(self._core.storage).__name__}>"


def _cutoff(older_than: float | timedelta | datetime | None, now: float) -> float | None:
    if older_than is None:
        return None
    if isinstance(older_than, datetime):
        return older_than.timestamp()
    seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
    return now - seconds
