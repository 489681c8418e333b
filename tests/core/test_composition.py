"""The mixin hook protocol: composition in both orders, option routing, unknown keywords."""

from __future__ import annotations

from typing import Any

import pytest

from sessions import AsyncSession, Response, Session
from sessions._models import Call
from sessions._options import take_options
from sessions.httpbin import LocalHttpbin

SHARED = ("backend", "key")


class FakeCache:
    """A placeholder cache mixin: serves a URL's second GET from a dict, never reaching the wire."""

    request_options = frozenset({"expire_after"})
    events: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.cache_opts = take_options(kwargs, "cache", {"expire_after"}, SHARED)
        self.store: dict[str, Response] = {}
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def _dispatch(self, call: Call) -> Response:
        self.events.append("cache")
        if call.url_str in self.store:
            return self.store[call.url_str]
        response: Response = super()._dispatch(call)  # type: ignore[misc]
        self.store[call.url_str] = response
        return response

    async def _adispatch(self, call: Call) -> Response:
        self.events.append("cache")
        if call.url_str in self.store:
            return self.store[call.url_str]
        response: Response = await super()._adispatch(call)  # type: ignore[misc]
        self.store[call.url_str] = response
        return response


class FakeLimiter:
    """A placeholder limiter mixin: counts wire attempts."""

    events: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events = []
        self.limit_opts = take_options(kwargs, "ratelimit", {"limit", "window"}, SHARED)
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def _send_wire(self, call: Call) -> Response:
        self.events.append("wire")
        return super()._send_wire(call)  # type: ignore[misc,no-any-return]

    async def _asend_wire(self, call: Call) -> Response:
        self.events.append("wire")
        return await super()._asend_wire(call)  # type: ignore[misc,no-any-return]


class CacheFirst(FakeCache, FakeLimiter, Session):
    pass


class LimiterFirst(FakeLimiter, FakeCache, Session):
    pass


class AsyncCacheFirst(FakeCache, FakeLimiter, AsyncSession):
    pass


class AsyncLimiterFirst(FakeLimiter, FakeCache, AsyncSession):
    pass


@pytest.mark.parametrize("cls", [CacheFirst, LimiterFirst])
def test_hit_never_reaches_the_wire_in_either_order(cls: type[Session], httpbin: LocalHttpbin) -> None:
    with cls(limit=5, window=1, expire_after=60, backend="memory") as s:
        first = s.get(f"{httpbin.url}/uuid")
        second = s.get(f"{httpbin.url}/uuid")
        assert second is first
        assert s.events == ["cache", "wire", "cache"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", [AsyncCacheFirst, AsyncLimiterFirst])
async def test_async_composition_in_either_order(cls: type[AsyncSession], httpbin: LocalHttpbin) -> None:
    async with cls(limit=5, window=1) as s:
        await s.get(f"{httpbin.url}/uuid")
        await s.get(f"{httpbin.url}/uuid")
        results = await s.requests([f"{httpbin.url}/uuid", f"{httpbin.url}/get"], progress=False)
        assert all(r.status_code == 200 for r in results)
        assert s.events.count("wire") == 2  # type: ignore[attr-defined]


def test_sync_batch_uses_the_same_hooks(httpbin: LocalHttpbin) -> None:
    with CacheFirst(limit=1, window=1) as s:
        s.get(f"{httpbin.url}/uuid")
        s.requests([f"{httpbin.url}/uuid"] * 3 + [f"{httpbin.url}/get"], progress=False, concurrency=1)
        assert s.events.count("wire") == 2  # one for /uuid (then cached) and one for /get


def test_every_retry_passes_the_wire_hook(httpbin: LocalHttpbin) -> None:
    with LimiterFirst(retries=2) as s:
        s._sleep = lambda _seconds: None  # type: ignore[method-assign,assignment,misc]
        r = s.get(f"{httpbin.url}/status/500")
        assert r.attempts == 3
        assert s.events.count("wire") == 3  # type: ignore[attr-defined]


def test_shared_options_reach_every_mixin_and_dicts_win() -> None:
    s = CacheFirst(
        backend="sqlite",
        key="App",
        limit=3,
        ratelimit_options={"backend": "memory"},
        cache={"expire_after": 30},
    )
    try:
        assert s.limit_opts == {"backend": "memory", "key": "App", "limit": 3}
        assert s.cache_opts == {"backend": "sqlite", "key": "App", "expire_after": 30}
    finally:
        s.close()


def test_unknown_keyword_inside_a_mixin_dict() -> None:
    with pytest.raises(TypeError, match=r"ratelimit_options=.*'limt'.*did you mean 'limit'"):
        CacheFirst(ratelimit_options={"limt": 3})


def test_unknown_flat_keyword_with_mixins_suggests_mixin_names() -> None:
    with pytest.raises(TypeError, match=r"'expire_afte'.*did you mean 'expire_after'"):
        CacheFirst(expire_afte=3)


def test_per_request_option_declared_by_a_mixin_is_accepted(httpbin: LocalHttpbin) -> None:
    with CacheFirst() as s:
        assert s.get(f"{httpbin.url}/get", expire_after=5).status_code == 200
    with Session() as plain, pytest.raises(TypeError, match="expire_after"):
        plain.get(f"{httpbin.url}/get", expire_after=5)


def test_real_mixins_accept_each_others_options_and_dicts() -> None:
    from sessions import CacheMixin, RatelimitMixin

    class Limited(RatelimitMixin, Session):
        pass

    class Cached(CacheMixin, Session):
        pass

    # "Parameters are shared between mixins": the other mixin's options are accepted and not used.
    with Limited(limit=2, window=1, expire_after=60, cache={"max_entries": 3}, cache_options={}) as s:
        assert s.ratelimit_params.slot_spacing == 0.5
    with Cached(expire_after=7, type="gcra", limit=3, ratelimit={"period": 1}, ratelimit_options={}) as c:
        assert c._cache_core.settings.expire_after == 7
    for cls in (Limited, Cached):
        with pytest.raises(TypeError, match=r"cache= got an unexpected keyword argument 'expire_aftr'"):
            cls(cache={"expire_aftr": 3})
        with pytest.raises(TypeError, match=r"ratelimit_options= got .* 'windw'; did you mean 'window'"):
            cls(ratelimit_options={"windw": 3})
        with pytest.raises(TypeError, match=r"'limt'; did you mean 'limit'"):
            cls(limt=3)
        with pytest.raises(TypeError, match=r"cache_options= must be a dict of options, not 'x'"):
            cls(cache_options="x")
    with pytest.raises(TypeError, match="'limit'"):  # no mixin: nothing to share with
        Session(limit=3)


def _composed(base: type[Any], order: str) -> type[Any]:
    from sessions import CacheMixin, RatelimitMixin

    mixins = (CacheMixin, RatelimitMixin) if order == "cache-first" else (RatelimitMixin, CacheMixin)
    return type(f"Composed{base.__name__}", (*mixins, base), {})


@pytest.mark.parametrize("base", [Session, AsyncSession])
@pytest.mark.parametrize("order", ["cache-first", "limiter-first"])
@pytest.mark.parametrize("spelling", ["", "_options"])
async def test_one_mixins_dict_in_every_spelling(
    base: type[Any], order: str, spelling: str, tmp_path: Any
) -> None:
    cls = _composed(base, order)
    kwargs = {
        f"ratelimit{spelling}": {"type": "gcra", "limit": 2, "period": 1, "backend": "memory"},
        f"cache{spelling}": {"expire_after": 7, "backend": "sqlite"},
    }
    # flat keywords reach both mixins; each dict wins over them for its own mixin only
    s = cls(backend="redis", db=str(tmp_path / "c.db"), expire_after=99, limit=9, period=9, **kwargs)
    try:
        from sessions.ratelimit import GCRA

        assert s.ratelimit_params == GCRA(limit=2, period=1)
        assert s.ratelimit_storage.name == "memory"
        assert s._cache_core.settings.expire_after == 7
        assert type(s._cache_core.storage).__name__.lower().startswith("sqlite")
    finally:
        await s.aclose() if base is AsyncSession else s.close()


def test_both_spellings_together_and_the_string_alias() -> None:
    from sessions import RatelimitMixin

    class Limited(RatelimitMixin, Session):
        pass

    # `ratelimit=` as a string is the algorithm (an alias of type=), its parameters in the other spelling
    with Limited(ratelimit="fixedwindow", ratelimit_options={"limit": 4, "window": 2}) as s:
        assert (s.ratelimit_params.algorithm, s.ratelimit_params.slot_spacing) == ("fixedwindow", 0.5)
    # both dicts: `ratelimit=` is applied after `ratelimit_options=`
    with Limited(ratelimit_options={"limit": 4, "window": 2}, ratelimit={"window": 1}) as s:
        assert s.ratelimit_params.slot_spacing == 0.25
