"""`clear_cache()` / `clear_ratelimit()` on a rate-limited session: its own namespace only, every backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sessions import AsyncSession, CacheMixin, RatelimitMixin, Session
from sessions._exceptions import RateLimitExceeded
from sessions.httpbin import LocalHttpbin
from sessions.ratelimit import MemoryStorage


class Limited(RatelimitMixin, Session):
    pass


class AsyncLimited(RatelimitMixin, AsyncSession):
    pass


class Both(CacheMixin, RatelimitMixin, Session):
    pass


class BothLimiterFirst(RatelimitMixin, CacheMixin, Session):
    pass


Backend = Callable[[], dict[str, Any]]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Options putting several sessions on one shared backend."""
    if request.param == "memory":
        shared = MemoryStorage()  # one storage object shared by the sessions, as a file or a server is
        yield lambda: {"backend": shared}
    elif request.param == "sqlite":
        yield lambda: {"backend": "sqlite", "db": str(tmp_path / "limits.db")}
    else:
        url = request.getfixturevalue("redis_url")
        yield lambda: {"backend": "redis", "url": url}


def _limit(key: str, backend: Backend) -> dict[str, Any]:
    return {"key": key, "limit": 1, "window": 60, "raise_errors": True, **backend()}


def _spent(session: Session, url: str) -> bool:
    try:
        session.get(url)
    except RateLimitExceeded:
        return True
    return False


def test_clear_cache_on_a_limited_session_forgets_only_its_own_keys(
    backend: Backend, httpbin: LocalHttpbin
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = f"{httpbin.url}/get"
    # "A" and "AB": one key is a prefix of the other's, so the namespace is "A:", not "A"
    sessions = [Limited(**_limit(f"{tag}A", backend)), Limited(**_limit(f"{tag}AB", backend))]
    try:
        for s in sessions:
            s.get(url)
            assert _spent(s, url)
        sessions[0].clear_cache()
        assert not _spent(sessions[0], url)  # its limit starts over ...
        assert _spent(sessions[1], url)  # ... the other namespace's does not
    finally:
        for s in sessions:
            s.clear_ratelimit()
            s.close()


async def test_async_session_clears_with_and_without_await(backend: Backend, httpbin: LocalHttpbin) -> None:
    tag = uuid.uuid4().hex[:8]
    url = f"{httpbin.url}/get"
    async with (
        AsyncLimited(**_limit(f"{tag}A", backend)) as a,
        AsyncLimited(**_limit(f"{tag}B", backend)) as b,
    ):
        for s in (a, b):
            await s.get(url)
            with pytest.raises(RateLimitExceeded):
                await s.get(url)
        a.clear_cache()  # the seed's async runner calls it without await
        await a.get(url)
        await a.aclear_cache()
        await a.get(url)
        with pytest.raises(RateLimitExceeded):
            await b.get(url)
        await b.aclear_ratelimit()


@pytest.mark.parametrize("cls", [Both, BothLimiterFirst])
def test_with_both_mixins_clear_cache_keeps_the_limits(cls: type[Session], httpbin: LocalHttpbin) -> None:
    url = f"{httpbin.url}/cache/60"
    with cls(limit=1, window=60, raise_errors=True) as s:
        s.get(url)
        assert s.cache.get(url) is not None  # type: ignore[attr-defined]
        s.clear_cache()
        assert s.cache.get(url) is None  # type: ignore[attr-defined]
        assert _spent(s, url)  # not served from the cache, and the limit still holds
        s.clear_ratelimit()  # type: ignore[attr-defined]
        s.get(url)
