"""The real CacheMixin and RatelimitMixin composed on one session, in both orders."""

from __future__ import annotations

import uuid

import pytest

import sessions
from sessions import AsyncSession, CacheMixin, RateLimitExceeded, RatelimitMixin, Session
from sessions.httpbin import LocalHttpbin


class CacheThenLimit(CacheMixin, RatelimitMixin, Session):
    pass


class LimitThenCache(RatelimitMixin, CacheMixin, Session):
    pass


class AsyncCacheThenLimit(CacheMixin, RatelimitMixin, AsyncSession):
    pass


OPTIONS = {"type": "fixedwindow", "limit": 2, "window": 3600, "per_host": True, "raise_errors": True}


@pytest.mark.parametrize("cls", [CacheThenLimit, LimitThenCache])
def test_cache_hits_do_not_consume_quota(cls: type[Session], httpbin: LocalHttpbin) -> None:
    tag = uuid.uuid4().hex
    with cls(key=f"t{tag}", **OPTIONS) as s:
        first = s.get(f"{httpbin.url}/uuid?t={tag}")
        for _ in range(5):
            hit = s.get(f"{httpbin.url}/uuid?t={tag}")
            assert hit.from_cache
            assert hit.json() == first.json()
        s.get(f"{httpbin.url}/get?t={tag}")  # the second (and last) unit of quota
        with pytest.raises(RateLimitExceeded) as info:
            s.get(f"{httpbin.url}/headers?t={tag}")
        assert info.value.algorithm == "fixedwindow"
        assert info.value.retry_after > 0


async def test_async_composition_hits_skip_the_limiter(httpbin: LocalHttpbin) -> None:
    tag = uuid.uuid4().hex
    async with AsyncCacheThenLimit(key=f"a{tag}", **OPTIONS) as s:
        await s.get(f"{httpbin.url}/uuid?t={tag}")
        results = await s.requests([f"{httpbin.url}/uuid?t={tag}"] * 10, progress=False)
        assert all(r.from_cache for r in results)
        await s.get(f"{httpbin.url}/get?t={tag}")
        with pytest.raises(RateLimitExceeded):
            await s.get(f"{httpbin.url}/headers?t={tag}")


def test_seed_interface_composes_with_defaults(httpbin: LocalHttpbin) -> None:
    class Seed(CacheMixin, RatelimitMixin, sessions.Session):
        pass

    with Seed(type="slidingwindow", window=1, limit=10, per_host=True) as client:
        url = f"{httpbin.url}/get?id=5013"
        response = client.get(url)
        assert client.cache[url].json() == response.json()
