"""`CacheMixin`: HTTP caching for `Session` and `AsyncSession`.

It wraps the logical-request hook (`_dispatch` / `_adispatch`), so a hit returns before the retry
loop, the rate limiter and the wire; a miss or a revalidation goes down the chain once. The shells
below only move bytes; every decision comes from `CacheCore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

from httpx._client import UseClientDefault

from .._models import Call, Response
from .._options import register_group, take_options
from ._core import CacheCore, Plan
from ._entry import VARY_INDEX, CachedEntry
from ._flight import AsyncFlights, Flights
from ._inspect import CacheInspector
from ._keys import CREDENTIAL_PARAMETERS, KeyBuilder
from ._policy import CacheSettings, Lookup
from ._stream import AsyncTee, SyncTee, decode_body
from .storage import CacheStorage, StorageLimits, make_storage

if TYPE_CHECKING:
    from .._session import Session

    _Base = Session
else:
    _Base = object

__all__ = ["CACHE_OPTIONS", "CacheMixin", "cache_disabled"]

log = logging.getLogger("sessions.cache")

CACHE_OPTIONS: Final = frozenset(
    {
        "expire_after", "urls_expire_after", "cache_control", "allowable_codes", "allowable_methods",
        "always_revalidate", "ignored_parameters", "credential_parameters", "match_headers", "filter_fn",
        "key_fn", "stale_if_error", "stale_while_revalidate", "max_entries", "max_bytes", "max_body",
    }
)  # fmt: skip
"""The CacheMixin's own constructor options (popped from the session's keywords)."""
# Read but left for the next mixin (RatelimitMixin shares the backend options).
_SHARED: Final = frozenset(
    {
        "backend", "key", "cache_timeout", "conn", "async_conn", "db", "url", "host", "port", "username",
        "password", "check_frequency", "dbfilename", "maxmemory", "maxmemory_policy", "protocol",
        "ssl", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname",
        "socket_timeout", "socket_connect_timeout", "unix_socket", "server_binary",
    }
)  # fmt: skip
_REDIS_OPTIONS: Final = _SHARED - {"backend", "key", "cache_timeout", "check_frequency"}
register_group("cache", CACHE_OPTIONS, _SHARED)
_STORE_ERRORS = (Exception,)  # a failing backend must not fail the request: logged, then a miss

# Which caches are switched off in this context: ids of CacheCore objects, or 0 for all.
_DISABLED: ContextVar[frozenset[int]] = ContextVar("sessions_cache_disabled", default=frozenset())


@contextlib.contextmanager
def cache_disabled(core: CacheCore | None = None) -> Iterator[None]:
    """Bypass one cache (or every cache) in this thread / task only.

    A `ContextVar`, not a flag: other threads and tasks keep caching (requests-cache's
    `cache_disabled()` is process-wide and documented as not thread-safe). Tasks created inside
    the block inherit it, as contextvars do.
    """
    token = _DISABLED.set(_DISABLED.get() | {0 if core is None else id(core)})
    try:
        yield
    finally:
        _DISABLED.reset(token)


class CacheMixin(_Base):
    """Caches responses of a `Session` / `AsyncSession` (put it first in the bases).

    Options (flat keywords, or a `cache_options=` / `cache=` dict that wins over shared ones):

    backend: "memory" (default), "sqlite", "redis", "sql"/"postgres"/"mysql" (or a ``postgresql://`` /
        ``mysql://`` URL; "sql" with a file path is SQLite), or a `CacheStorage` instance.
    key: namespace / key prefix (default "Session"); `clear_cache()` clears only this namespace.
    cache_timeout / expire_after: default freshness (3600 s; seconds, timedelta, "never", -1, 0,
        `DO_NOT_CACHE`). urls_expire_after: {glob: expiry}, first match wins.
    cache_control: HTTP mode (RFC 9111 private cache) instead of expire mode.
    allowable_codes (200,), allowable_methods ("GET", "HEAD"), always_revalidate, filter_fn, key_fn.
    ignored_parameters: names dropped from matching and redacted in storage.
    credential_parameters: names whose values are keyed by a slow salted hash and never stored.
    match_headers: True, or header names to include in the key.
    stale_if_error / stale_while_revalidate: True, False or seconds.
    max_entries / max_bytes: size caps (LRU eviction); max_body: largest body stored.
    conn, db (SQLite path), url/host/port/... (Redis), check_frequency (memory sweep period).

    Per request: expire_after=, only_if_cached=, refresh=, force_refresh=.
    """

    request_options: ClassVar[frozenset[str]] = frozenset(
        {"expire_after", "only_if_cached", "refresh", "force_refresh"}
    )

    _cache_core: CacheCore
    cache: CacheInspector

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        options = take_options(kwargs, "cache", CACHE_OPTIONS, _SHARED)
        super().__init__(*args, **kwargs)
        self._cache_core = _build_core(options)
        self.cache = CacheInspector(self._cache_core, self)
        self._flights: Flights[Response] = Flights()
        self._aflights: AsyncFlights[Response] = AsyncFlights()
        self._refresher: ThreadPoolExecutor | None = None
        self._refresh_tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ public
    def cache_disabled(self) -> contextlib.AbstractContextManager[None]:
        """`with session.cache_disabled():` — bypass this session's cache in this thread/task."""
        return cache_disabled(self._cache_core)

    def clear_cache(self) -> None:
        """Delete every entry of this session's cache (only its namespace; never FLUSHDB).

        With `RatelimitMixin` in the class too, the limiter's state stays (`clear_ratelimit()` resets it).
        """
        self._cache_core.storage.clear()

    async def aclear_cache(self) -> None:
        """Async `clear_cache()`."""
        await self._cache_core.storage.aclear()

    # ------------------------------------------------------------------ planning
    def _cache_plan(self, call: Call) -> Plan | None:
        disabled = _DISABLED.get()
        if disabled and (0 in disabled or id(self._cache_core) in disabled):
            return None
        if isinstance(call.auth, UseClientDefault):
            call.auth = getattr(self, "_auth", None)
        return self._cache_core.plan(call)

    @staticmethod
    def _flight_key(plan: Plan) -> Hashable:
        # The request headers are part of the flight key: before the first response we cannot know
        # its Vary, so only byte-identical requests are collapsed.
        return (plan.entry_key, plan.raw_headers)

    # ------------------------------------------------------------------ sync shell
    def _dispatch(self, call: Call) -> Response:
        plan = self._cache_plan(call)
        if plan is None:
            return super()._dispatch(call)
        core = self._cache_core
        entry = None if plan.force_refresh else self._load(plan)
        decision = core.decide(plan, entry)
        if entry is not None and decision in (Lookup.FRESH, Lookup.STALE_OK):
            return core.respond(plan, entry)
        if decision is Lookup.GATEWAY_TIMEOUT:
            return core.gateway_timeout(plan)
        if entry is not None and decision is Lookup.STALE_WHILE_REVALIDATE:
            self._refresh_later(plan, entry)
            return core.respond(plan, entry)
        return self._fetch_once(plan, entry)

    def _load(self, plan: Plan) -> CachedEntry | None:
        storage = self._cache_core.storage
        try:
            entry = storage.get(plan.key.key)
            if entry is not None and entry.kind == VARY_INDEX:
                entry = storage.get(self._cache_core.variant_key(plan, entry))
        except _STORE_ERRORS as exc:
            log.warning("cache read failed, treating as a miss: %s", exc)
            return None
        return entry

    def _fetch_once(self, plan: Plan, entry: CachedEntry | None) -> Response:
        response, led = self._flights.run(self._flight_key(plan), lambda: self._fetch(plan, entry))  # type: ignore[arg-type]
        return response if led else self._cache_core.copy_for_follower(plan, response)

    def _fetch(self, plan: Plan, entry: CachedEntry | None) -> Response:
        core = self._cache_core
        try:
            response = super()._dispatch(core.conditional(plan.call, entry))
        except Exception:
            if entry is not None and core.stale_on_error(entry):
                log.info("origin failed; serving stale %s", plan.key.stored_url)
                return core.respond(plan, entry)
            raise
        answer, writes = core.after_fetch(plan, entry, response)
        self._write(writes)
        deferred = answer.__dict__.pop("_cache_deferred", None)
        if deferred is not None:
            answer.stream = SyncTee(
                answer.stream, self._store_streamed(answer, deferred), core.settings.max_body
            )
        return answer

    def _write(self, writes: list[tuple[CachedEntry, float | None]]) -> None:
        for item, ttl in writes:
            try:
                self._cache_core.storage.set(item, ttl)
            except _STORE_ERRORS as exc:
                log.warning("cache write failed: %s", exc)

    def _store_streamed(self, response: Response, deferred: tuple[Any, ...]) -> Any:
        plan, headers, expires = deferred

        def on_complete(raw: bytes) -> None:
            content = decode_body(response.headers, raw)
            if content is not None:
                self._write(self._cache_core.finish_streamed(plan, response, content, headers, expires))

        return on_complete

    def _refresh_later(self, plan: Plan, entry: CachedEntry) -> None:
        """stale-while-revalidate: one small shared pool, not a thread per request."""
        if self._flights.busy(self._flight_key(plan)):  # type: ignore[arg-type]
            return
        if self._refresher is None:
            self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sessions-cache-refresh")
        future = self._refresher.submit(self._fetch_once, plan, entry)
        future.add_done_callback(_log_failure)

    # ------------------------------------------------------------------ async shell
    async def _adispatch(self, call: Call) -> Response:
        plan = self._cache_plan(call)
        if plan is None:
            return await super()._adispatch(call)
        core = self._cache_core
        entry = None if plan.force_refresh else await self._aload(plan)
        decision = core.decide(plan, entry)
        if entry is not None and decision in (Lookup.FRESH, Lookup.STALE_OK):
            return core.respond(plan, entry)
        if decision is Lookup.GATEWAY_TIMEOUT:
            return core.gateway_timeout(plan)
        if entry is not None and decision is Lookup.STALE_WHILE_REVALIDATE:
            self._arefresh_later(plan, entry)
            return core.respond(plan, entry)
        return await self._afetch_once(plan, entry)

    async def _aload(self, plan: Plan) -> CachedEntry | None:
        storage = self._cache_core.storage
        try:
            entry = await storage.aget(plan.key.key)
            if entry is not None and entry.kind == VARY_INDEX:
                entry = await storage.aget(self._cache_core.variant_key(plan, entry))
        except _STORE_ERRORS as exc:
            log.warning("cache read failed, treating as a miss: %s", exc)
            return None
        return entry

    async def _afetch_once(self, plan: Plan, entry: CachedEntry | None) -> Response:
        key = self._flight_key(plan)
        response, led = await self._aflights.run(key, lambda: self._afetch(plan, entry))  # type: ignore[arg-type]
        return response if led else self._cache_core.copy_for_follower(plan, response)

    async def _afetch(self, plan: Plan, entry: CachedEntry | None) -> Response:
        core = self._cache_core
        try:
            response = await super()._adispatch(core.conditional(plan.call, entry))
        except Exception:
            if entry is not None and core.stale_on_error(entry):
                log.info("origin failed; serving stale %s", plan.key.stored_url)
                return core.respond(plan, entry)
            raise
        answer, writes = core.after_fetch(plan, entry, response)
        await self._awrite(writes)
        deferred = answer.__dict__.pop("_cache_deferred", None)
        if deferred is not None:
            answer.stream = AsyncTee(
                answer.stream, self._astore_streamed(answer, deferred), core.settings.max_body
            )
        return answer

    async def _awrite(self, writes: list[tuple[CachedEntry, float | None]]) -> None:
        for item, ttl in writes:
            try:
                await self._cache_core.storage.aset(item, ttl)
            except _STORE_ERRORS as exc:
                log.warning("cache write failed: %s", exc)

    def _astore_streamed(self, response: Response, deferred: tuple[Any, ...]) -> Any:
        plan, headers, expires = deferred

        async def on_complete(raw: bytes) -> None:
            content = decode_body(response.headers, raw)
            if content is not None:
                await self._awrite(
                    self._cache_core.finish_streamed(plan, response, content, headers, expires)
                )

        return on_complete

    def _arefresh_later(self, plan: Plan, entry: CachedEntry) -> None:
        """stale-while-revalidate in async code: a task (no thread), tracked so close can await it."""
        if self._aflights.busy(self._flight_key(plan)):  # type: ignore[arg-type]
            return
        task = asyncio.get_running_loop().create_task(self._afetch_once(plan, entry))
        self._refresh_tasks.add(task)
        task.add_done_callback(self._refresh_tasks.discard)
        task.add_done_callback(_log_failure)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Finish background refreshes, close the storage, then the session."""
        if self._refresher is not None:
            self._refresher.shutdown(wait=True, cancel_futures=True)
            self._refresher = None
        try:
            super().close()
        finally:
            self._cache_core.storage.close()

    async def aclose(self) -> None:
        """Async `close()`: waits for background refresh tasks first."""
        if self._refresh_tasks:
            await asyncio.gather(*self._refresh_tasks, return_exceptions=True)
        try:
            await super().aclose()  # type: ignore[misc]
        finally:
            await self._cache_core.storage.aclose()


def _log_failure(future: Any) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.warning("background cache refresh failed: %r", exc)


def _build_core(options: dict[str, Any]) -> CacheCore:
    """Validate the options and assemble settings, keys and storage."""
    expire_given = "expire_after" in options or "cache_timeout" in options
    expire = options.get("expire_after", options.get("cache_timeout", 3600))
    namespace = str(options.get("key", "Session"))
    settings = CacheSettings.from_options(
        expire_after=expire,
        expire_after_given=expire_given,
        urls_expire_after=options.get("urls_expire_after"),
        cache_control=options.get("cache_control", False),
        allowable_codes=options.get("allowable_codes", (200,)),
        allowable_methods=options.get("allowable_methods", ("GET", "HEAD")),
        always_revalidate=options.get("always_revalidate", False),
        stale_if_error=_seconds(options.get("stale_if_error", False)),
        stale_while_revalidate=_seconds(options.get("stale_while_revalidate", False)),
        max_body=options.get("max_body"),
        filter_fn=options.get("filter_fn"),
    )
    keys = KeyBuilder(
        salt=namespace,
        ignored_parameters=options.get("ignored_parameters", ()),
        credential_parameters=options.get("credential_parameters", CREDENTIAL_PARAMETERS),
        match_headers=options.get("match_headers", False),
        key_fn=options.get("key_fn"),
    )
    limits = StorageLimits(options.get("max_entries"), options.get("max_bytes"))
    storage = make_storage(
        options.get("backend", "memory"),
        limits=limits,
        namespace=namespace,
        options=_storage_options(options),
    )
    return CacheCore(settings, keys, storage)


def _storage_options(options: dict[str, Any]) -> dict[str, Any]:
    backend = options.get("backend", "memory")
    if isinstance(backend, CacheStorage):
        return {}
    name = str(backend).lower()
    if name == "memory":
        return {k: options[k] for k in ("check_frequency",) if k in options}
    if name in ("sqlite", "sql", "postgres", "postgresql", "mysql", "mariadb") or "://" in name:
        return {k: options[k] for k in ("db", "conn", "check_frequency") if k in options}
    return {k: options[k] for k in _REDIS_OPTIONS if k in options}


def _seconds(value: Any) -> bool | float | timedelta:
    return value if isinstance(value, bool | timedelta) else float(value)
