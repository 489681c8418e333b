"""``RatelimitMixin``: limit every wire attempt of a ``Session`` / ``AsyncSession``.

    class Session(RatelimitMixin, sessions.Session): ...
    Session(backend="memory", type="slidingwindow", window=1, limit=10, per_host=True)

It overrides the per-attempt hook (``_send_wire`` / ``_asend_wire``, see docs/ARCHITECTURE.md), so a cache
hit never consumes quota while every retry and redirect hop does. Before each attempt it *reserves* the
earliest slot for the request's key in the storage (one atomic decision) and sleeps once until then: no
polling, waiters served in order. A sleep that overruns its slot by more than its ``late_tolerance`` (a
stalled event loop or process) re-reserves instead of sending, so a stall never releases a burst of overdue
requests onto the wire (``ratelimit_monotonic`` is the clock the session's sleep runs on).
A ``429``/``503`` response carrying ``Retry-After``, ``RateLimit-Reset`` or
``X-RateLimit-Reset`` pauses the key in the storage, so every worker and process sharing it backs off.

Options (flat keywords, or in ``ratelimit_options=`` / ``ratelimit=`` dicts, which win over shared ones):

* algorithm: ``type=`` (aliases ``algorithm``, ``ratelimit``/``rate_limit`` when a string, ``limiter``,
  ``ratelimiter``, ``limitertype``) with its parameters ``limit``, ``window``, ``period``, ``burst``,
  ``capacity``, ``fill_rate``, ``leak_rate``; or ``rate="5/2s"`` (a ``Rate``; sliding window unless a type
  is given). Given none of the algorithm's parameters (``Session()``), the limit is ``DEFAULT_RATE``,
  5 requests per second per endpoint: ``limit=5, window=1`` for the windows, ``limit=5, period=1`` for GCRA,
  ``capacity=5`` with ``fill_rate``/``leak_rate=5`` for the buckets. Given some, the required ones must all
  be there (``type="tokenbucket", capacity=5`` alone is an error naming ``fill_rate``).
* ``backend`` ("memory", "sqlite", "redis", "sql", "postgres", "mysql" or a ``postgresql://``/``mysql://``
  URL), ``key`` (prefix, "Session"), ``conn``, ``db``, Redis
  connection options, ``cache_timeout`` (accepted; state is kept exactly as long as it matters, never cut).
* ``per_host`` (False), ``per_endpoint`` (True), ``key_fn`` (``key_fn(call) -> str`` overrides both; the
  call has ``method``, ``url``, ``host``, ``endpoint``, ``headers``). Keys are ``"{key}:{scope}"``.
* ``raise_errors`` (False): raise ``RateLimitExceeded`` instead of waiting.
* ``server_feedback`` (True): pause keys on 429/503 hints (capped at ``MAX_SERVER_PAUSE`` seconds).
* ``sleep_duration``: accepted for compatibility and ignored — waits are computed, not polled.

``clear_ratelimit()`` forgets the state of this session's ``key=`` namespace (only its own keys, on every
backend); ``clear_cache()`` is that on a session without ``CacheMixin``, and the HTTP cache's clear with one.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any, Final

from sessions._alarm import precise_sleep
from sessions._exceptions import ImpossibleRequest, RateLimitExceeded
from sessions._models import Call
from sessions._options import register_group, take_options

from ._algorithms import (
    ALGORITHMS,
    PARAMETER_NAMES,
    AlgorithmParams,
    Decision,
    Mode,
    algorithm_name,
    make_params,
    parameter_names,
    required_parameters,
)
from ._limiter import asleep_until_slot, late_tolerance, sleep_until_slot
from ._memory import MemoryStorage, decision_path
from ._rate import Rate
from ._storage import Storage, open_storage

__all__ = [
    "DEFAULT_ALGORITHM",
    "DEFAULT_RATE",
    "MAX_SERVER_PAUSE",
    "RatelimitMixin",
    "guess_algorithm",
    "server_pause",
    "session_params",
]

DEFAULT_ALGORITHM: Final = "slidingwindow"
"""The algorithm of a session given no ``type=`` (or alias)."""

DEFAULT_RATE: Final = Rate(5, 1.0)
"""The limit of a session given no algorithm parameters: 5 requests per second for each endpoint (its
scope), in whichever algorithm ``type=`` names — sliding window by default. Polite to one server's
endpoint, fast enough that a composed ``Session()`` is usable as it is."""

MAX_SERVER_PAUSE: Final = 3600.0
"""Longest pause taken from a server's hint: a bogus ``Retry-After: 99999999`` must not stall a job."""

_ALGORITHM_ALIASES: Final = (
    "type",
    "algorithm",
    "ratelimit",
    "rate_limit",
    "limiter",
    "ratelimiter",
    "limitertype",
)
_PARAM_NAMES: Final = PARAMETER_NAMES  # every algorithm's: the one chosen uses its own, ignores the others
# "ratelimit" is not claimed here: as a dict it is the options group (take_options merges it); as a string
# it is an algorithm alias, popped before take_options sees it.
_OWN: Final = frozenset(
    (set(_ALGORITHM_ALIASES) - {"ratelimit"})
    | _PARAM_NAMES
    | {"rate", "per_host", "per_endpoint", "key_fn", "raise_errors"}
    | {"server_feedback", "sleep_duration", "clock"}
)
_REDIS_NAMES: Final = frozenset(
    {"async_conn", "url", "host", "port", "username", "password", "ssl", "ssl_ca_certs", "ssl_certfile"}
    | {"ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname", "socket_timeout", "socket_connect_timeout"}
    | {"dbfilename", "maxmemory", "maxmemory_policy", "unix_socket", "server_binary", "decode_responses"}
    | {"protocol", "use_client_clock"}
)
# check_frequency (the memory cache's sweep period) is a backend option the seed lists for both mixins.
_SHARED: Final = frozenset(
    {"backend", "key", "cache_timeout", "conn", "db", "check_frequency"} | _REDIS_NAMES
)
_FEEDBACK_STATUSES: Final = frozenset({429, 503})
_KEY_MEMO_SIZE: Final = 1024  # URLs (up to their query) whose per-endpoint key a session remembers


class _EveryStatus:
    """Contains every status: a subclass's ``_ratelimit_pause_for`` sees every response."""

    def __contains__(self, status: object) -> bool:
        return True


_EVERY_STATUS: Final = _EveryStatus()
# "ratelimit" as a string is the algorithm alias: a plain name of this group, not only its dict.
register_group("ratelimit", _OWN | {"ratelimit"}, _SHARED)


class RatelimitMixin:
    """Rate-limit each wire attempt of the session it is mixed into (see the module docstring)."""

    _ratelimit_params: AlgorithmParams
    _ratelimit_late: float  # late_tolerance(ratelimit_params), fixed at construction
    _ratelimit_storage: Storage
    # Bound by _ratelimit_bind from the storage, the parameters and the class's hooks (see there):
    _ratelimit_path: Callable[[str, float], Decision] | None
    _ratelimit_apath: Callable[[str, float], Decision] | None
    _ratelimit_hooked: bool
    _ratelimit_keys: dict[str, str] | None
    _ratelimit_statuses: Container[int]
    ratelimit_monotonic: Callable[[], float] = staticmethod(time.monotonic)
    """The clock the session's ``_sleep`` / ``_asleep`` run on (overrun detection; injectable for tests)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        algorithm = kwargs.pop("ratelimit") if isinstance(kwargs.get("ratelimit"), str) else None
        options = take_options(kwargs, "ratelimit", _OWN, _SHARED)
        if algorithm is not None:
            options.setdefault("ratelimit", algorithm)
        self._ratelimit_params = _params_from(options)
        self._ratelimit_late = late_tolerance(self._ratelimit_params)
        self._ratelimit_prefix = str(options.get("key", "Session"))
        self._ratelimit_scope = _scope_function(options)
        self._ratelimit_raise = bool(options.get("raise_errors", False))
        self._ratelimit_feedback = bool(options.get("server_feedback", True))
        self.ratelimit_storage = open_storage(**_storage_options(options))  # binds the per-call path
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self.ratelimit_storage.close()
            raise

    # -- the hooks ------------------------------------------------------------------------------------------

    def _send_wire(self, call: Any) -> Any:
        keys = self._ratelimit_keys
        key = self.ratelimit_key(call) if keys is None else _endpoint_key(keys, self, call)
        path = self._ratelimit_path
        if path is None:  # _ratelimit_check overridden, or a limit that admits nothing
            decision = self._ratelimit_decide(key)
        else:  # the default check, bound once (_ratelimit_bind)
            decision = path(key, 1)
            if self._ratelimit_hooked or not decision.allowed:
                decision = self._ratelimit_granted(key, decision)
        if decision.delay > 0:
            self._ratelimit_wait(key, decision)
        response = super()._send_wire(call)  # type: ignore[misc]
        if response.status_code in self._ratelimit_statuses:
            pause = self._ratelimit_pause_for(response)
            if pause:
                self._ratelimit_storage.pause(key, self._ratelimit_params, pause)
        return response

    async def _asend_wire(self, call: Any) -> Any:
        keys = self._ratelimit_keys
        key = self.ratelimit_key(call) if keys is None else _endpoint_key(keys, self, call)
        path = self._ratelimit_apath
        if path is None:
            decision = await self._ratelimit_adecide(key)
        else:  # the memory storage decides without awaiting (its aapply is apply): its bound path
            decision = path(key, 1)
            if self._ratelimit_hooked or not decision.allowed:
                decision = self._ratelimit_granted(key, decision)
        if decision.delay > 0:
            await self._ratelimit_await(key, decision)
        response = await super()._asend_wire(call)  # type: ignore[misc]
        if response.status_code in self._ratelimit_statuses:
            pause = self._ratelimit_pause_for(response)
            if pause:
                await self._ratelimit_storage.apause(key, self._ratelimit_params, pause)
        return response

    # -- the per-call path, bound once ----------------------------------------------------------------------

    @property
    def ratelimit_params(self) -> AlgorithmParams:
        """The algorithm parameters (assigning them re-binds the per-call path)."""
        return self._ratelimit_params

    @ratelimit_params.setter
    def ratelimit_params(self, params: AlgorithmParams) -> None:
        self._ratelimit_params = params
        self._ratelimit_bind()

    @property
    def ratelimit_storage(self) -> Storage:
        """The storage holding the limits' state (assigning one, a wrapper, re-binds the per-call path)."""
        return self._ratelimit_storage

    @ratelimit_storage.setter
    def ratelimit_storage(self, storage: Storage) -> None:
        self._ratelimit_storage = storage
        self._ratelimit_bind()

    def _ratelimit_bind(self) -> None:
        """Fix, once per storage and parameters, what each wire attempt would otherwise look up again.

        * With ``_ratelimit_check`` as defined here and a limit that can admit a request, a decision is
          ``_ratelimit_path(key, 1)``: the memory storage's specialised path (``_decide_path``, which still
          calls a subclass's ``apply``), or ``apply`` in the mode ``raise_errors`` picks. It then goes
          through ``_ratelimit_granted`` when a subclass overrides that (``_ratelimit_hooked``), else only to
          raise on a denial. ``_ratelimit_apath`` is that for ``_asend_wire``, on a memory storage whose
          ``aapply`` is its own. Otherwise (None) each decision takes the hooks (``_ratelimit_decide``).
        * The per-endpoint key is remembered per URL (``_endpoint_key``) unless ``ratelimit_key`` is
          overridden or another scope chosen (``_ratelimit_keys`` is None).
        * ``_ratelimit_pause_for`` is called for each response when overridden, else only for the 429/503 it
          reads, and for none with ``server_feedback=False`` (``_ratelimit_statuses``).
        """
        cls = type(self)
        storage, params = self._ratelimit_storage, self._ratelimit_params
        own_key = cls.ratelimit_key is RatelimitMixin.ratelimit_key
        self._ratelimit_keys = {} if own_key and self._ratelimit_scope is _endpoint_scope else None
        self._ratelimit_hooked = cls._ratelimit_granted is not RatelimitMixin._ratelimit_granted
        path: Callable[[str, float], Decision] | None = None
        apath: Callable[[str, float], Decision] | None = None
        if cls._ratelimit_check is RatelimitMixin._ratelimit_check and not params.max_cost < 1:
            mode: Mode = "try" if self._ratelimit_raise else "reserve"
            path = decision_path(storage, params, mode)
            if isinstance(storage, MemoryStorage) and type(storage).aapply is MemoryStorage.aapply:
                apath = path  # the memory storage decides without awaiting: its aapply is apply
        self._ratelimit_path, self._ratelimit_apath = path, apath
        if cls._ratelimit_pause_for is not RatelimitMixin._ratelimit_pause_for:
            self._ratelimit_statuses = _EVERY_STATUS
        elif self._ratelimit_feedback:
            self._ratelimit_statuses = _FEEDBACK_STATUSES
        else:
            self._ratelimit_statuses = frozenset()

    def _ratelimit_decide(self, key: str) -> Decision:
        """A decision for ``key`` via the hooks: ``_ratelimit_check``, the storage, ``_ratelimit_granted``."""
        mode = self._ratelimit_check(key)
        decision = self._ratelimit_storage.apply(key, self._ratelimit_params, 1, mode)
        return self._ratelimit_granted(key, decision)

    def _ratelimit_wait(self, key: str, decision: Decision) -> None:
        """Sleep until ``decision``'s slot, re-reserving after an overrun (`sleep_until_slot`). Apart from
        ``_send_wire``, whose locals then hold no closure cell (one allocation less per attempt)."""
        sleep = getattr(self, "_sleep", time.sleep)
        sleep_until_slot(
            decision,
            lambda: self._ratelimit_decide(key),
            sleep,
            self.ratelimit_monotonic,
            self._ratelimit_late,
        )

    async def _ratelimit_await(self, key: str, decision: Decision) -> None:
        """Async ``_ratelimit_wait``."""
        await asleep_until_slot(
            decision,
            lambda: self._ratelimit_adecide(key),
            self._ratelimit_asleep,
            self.ratelimit_monotonic,
            self._ratelimit_late,
        )

    async def _ratelimit_adecide(self, key: str) -> Decision:
        """Async ``_ratelimit_decide``."""
        mode = self._ratelimit_check(key)
        decision = await self._ratelimit_storage.aapply(key, self._ratelimit_params, 1, mode)
        return self._ratelimit_granted(key, decision)

    # -- helpers --------------------------------------------------------------------------------------------

    def ratelimit_key(self, call: Any) -> str:
        """The storage key limiting ``call``: ``"{key}:{scope}"``."""
        return f"{self._ratelimit_prefix}:{self._ratelimit_scope(call)}"

    def _ratelimit_check(self, key: str) -> Any:
        if self.ratelimit_params.max_cost < 1:
            raise ImpossibleRequest(key, self.ratelimit_params.algorithm, 1, self.ratelimit_params.max_cost)
        return "try" if self._ratelimit_raise else "reserve"

    def _ratelimit_granted(self, key: str, decision: Decision) -> Decision:
        if not decision.allowed:
            raise RateLimitExceeded(key, self.ratelimit_params.algorithm, decision.retry_after)
        return decision

    async def _ratelimit_asleep(self, seconds: float) -> None:
        sleep: Callable[[float], Any] = getattr(self, "_asleep", precise_sleep)
        await sleep(seconds)

    def _ratelimit_pause_for(self, response: Any) -> float:
        if not self._ratelimit_feedback or response.status_code not in _FEEDBACK_STATUSES:
            return 0.0
        return server_pause(response.headers)

    # -- clearing -----------------------------------------------------------------------------------------

    def clear_ratelimit(self) -> None:
        """Forget this session's rate-limit state: every key under its ``key=`` prefix (``"{key}:…"``), on
        any backend. Other namespaces in a shared SQLite file or Redis stay; sessions that share this
        ``key`` share its limits by design, so they see the reset too."""
        self.ratelimit_storage.clear(prefix=f"{self._ratelimit_prefix}:")

    async def aclear_ratelimit(self) -> None:
        """Async ``clear_ratelimit()``."""
        await self.ratelimit_storage.aclear(prefix=f"{self._ratelimit_prefix}:")

    def clear_cache(self) -> None:
        """The seed's reset between runs. With a ``CacheMixin`` in the class it clears the HTTP cache only
        (resetting limits lets the next requests burst, so that stays an explicit ``clear_ratelimit()``);
        on a session with only ``RatelimitMixin`` it is ``clear_ratelimit()``. Callable on ``AsyncSession``
        too, as the seed's async runner does (``aclear_cache()`` is the non-blocking twin)."""
        parent = getattr(super(), "clear_cache", None)
        if parent is not None:
            parent()
        else:
            self.clear_ratelimit()

    async def aclear_cache(self) -> None:
        """Async ``clear_cache()``."""
        parent = getattr(super(), "aclear_cache", None)
        if parent is not None:
            await parent()
        else:
            await self.aclear_ratelimit()

    def close(self) -> None:
        """Close the session, then the rate-limit storage."""
        try:
            super().close()  # type: ignore[misc]
        finally:
            self.ratelimit_storage.close()

    async def aclose(self) -> None:
        """Close the session, then the rate-limit storage."""
        try:
            await super().aclose()  # type: ignore[misc]
        finally:
            await self.ratelimit_storage.aclose()


def server_pause(headers: Mapping[str, str], *, now: float | None = None) -> float:
    """Seconds a server asked us to back off (``Retry-After``, ``RateLimit-Reset``, ``X-RateLimit-Reset``).

    ``Retry-After`` is delta-seconds or an HTTP date; ``RateLimit-Reset`` is delta-seconds (IETF draft);
    ``X-RateLimit-Reset`` is delta-seconds or, when it looks like one (> 10^9), a Unix timestamp. The
    largest hint wins, capped at ``MAX_SERVER_PAUSE``; 0.0 when there is none.
    """
    wall = time.time() if now is None else now
    hints = [
        _delta_or_date(headers.get("retry-after"), wall),
        _number(headers.get("ratelimit-reset")),
        _delta_or_epoch(headers.get("x-ratelimit-reset"), wall),
    ]
    return min(MAX_SERVER_PAUSE, max(0.0, *hints))


def _number(value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        number = float(value.strip())
    except ValueError:
        return 0.0
    return number if number == number and number > 0 else 0.0  # NaN and negatives mean nothing


def _delta_or_date(value: str | None, wall: float) -> float:
    if value is None:
        return 0.0
    number = _number(value)
    if number or value.strip().replace(".", "", 1).isdigit():
        return number
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - wall)


def _delta_or_epoch(value: str | None, wall: float) -> float:
    number = _number(value)
    return max(0.0, number - wall) if number > 1e9 else number


def session_params(**options: Any) -> AlgorithmParams:
    """The algorithm parameters a ``RatelimitMixin`` session built with these keywords uses: ``type=`` (or an
    alias) and that algorithm's parameters, ``rate=``, or ``DEFAULT_RATE``; other keywords are ignored, as
    the session ignores them. ``session_params(type="gcra", limit=3, period=2, window=9)`` is
    ``GCRA(limit=3, period=2)``."""
    return _params_from(options)


def guess_algorithm(names: Iterable[str]) -> str | None:
    """The algorithm whose parameters ``names`` are (those among them that are algorithm parameters), or
    None. ``limit`` + ``window`` fit both windows: the default, ``"slidingwindow"``, is named."""
    given = set(names) & PARAMETER_NAMES
    if not given:
        return None
    for algorithm in ALGORITHMS:
        if set(required_parameters(algorithm)) <= given <= set(parameter_names(algorithm)):
            return algorithm
    return None


def _params_from(options: dict[str, Any]) -> AlgorithmParams:
    """The algorithm parameters from ``type=``/aliases + parameter keywords, or from ``rate=``."""
    given = [(name, options[name]) for name in _ALGORITHM_ALIASES if options.get(name) is not None]
    names = {algorithm_name(str(value)) for _, value in given}
    if len(names) > 1:
        listed = ", ".join(f"{n}={v!r}" for n, v in given)
        raise ValueError(f"conflicting rate-limit algorithms: {listed}")
    algorithm = names.pop() if names else DEFAULT_ALGORITHM
    # Parameters are shared (the seed's Testing section passes every algorithm's at once): the chosen
    # algorithm takes its own and the others' are accepted and unused.
    params = {name: options[name] for name in parameter_names(algorithm) if name in options}
    rate = options.get("rate")
    if rate is not None:
        if params:
            raise ValueError(f"give rate= or the {algorithm} parameters {sorted(params)}, not both")
        return (rate if isinstance(rate, Rate) else Rate.parse(str(rate))).params(algorithm)
    if not params:
        return DEFAULT_RATE.params(algorithm)
    return make_params(algorithm, **params)


def _scope_function(options: dict[str, Any]) -> Callable[[Any], str]:
    key_fn = options.get("key_fn")
    if key_fn is not None:
        if not callable(key_fn):
            raise ValueError(f"key_fn must be callable, not {key_fn!r}")
        return lambda call: str(key_fn(call))
    if options.get("per_host", False):
        return lambda call: str(call.host)
    if options.get("per_endpoint", True):
        return _endpoint_scope
    return lambda call: "global"


def _endpoint_scope(call: Any) -> str:
    """The per-endpoint scope (the default)."""
    return str(call.endpoint)


def _endpoint_key(keys: dict[str, str], session: RatelimitMixin, call: Any) -> str:
    """``session.ratelimit_key(call)`` for the per-endpoint scope, remembered in ``keys`` per URL up to its
    query or fragment.

    A URL that ``Call.yurl`` parses as it is splits, as yarl splits it, into scheme, authority and path before
    its first ``?`` or ``#``: what follows cannot change the endpoint, so every URL sharing that part shares
    the key derived for the first one. Any other URL, or another kind of call, takes the derivation itself.
    At most ``_KEY_MEMO_SIZE`` URLs are kept (then forgotten at once).
    """
    url = call.url_str if type(call) is Call else ""
    if not url or not url.isascii() or not url.isprintable() or " " in url:  # Call.yurl's own three tests
        return session.ratelimit_key(call)
    base = url.partition("?")[0].partition("#")[0]
    key = keys.get(base)
    if key is None:
        key = session.ratelimit_key(call)
        if len(keys) >= _KEY_MEMO_SIZE:
            keys.clear()
        keys[base] = key
    return key


def _storage_options(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``open_storage``: only what the chosen backend understands."""
    backend = options.get("backend", "memory")
    name = backend.lower() if isinstance(backend, str) else None
    picked: dict[str, Any] = {"backend": backend}
    wanted = {"cache_timeout", "clock"}
    if name == "sqlite":
        wanted |= {"db", "conn"}
    elif name == "redis":
        wanted |= {"db", "conn"} | _REDIS_NAMES
        picked["prefix"] = str(options.get("key", "Session"))
    elif name in ("sql", "postgres", "postgresql", "mysql", "mariadb") or (name and "://" in name):
        wanted |= {"db", "conn"}  # PostgreSQL / MySQL (sessions.ratelimit._sql); "sql" + a path is SQLite
        picked["prefix"] = str(options.get("key", "Session"))
    elif name is None:
        return picked  # a Storage instance: already configured
    picked.update({k: v for k, v in options.items() if k in wanted and v is not None})
    return picked
