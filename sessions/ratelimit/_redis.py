"""Rate-limit state in Redis: one Lua script per decision, one round trip, shared by every process.

Why it is shaped like this:

* **Atomic and exact.** Each decision is a single ``EVALSHA`` of a script (``lua/<algorithm>.lua`` behind
  ``lua/_prelude.lua``) that mirrors ``_algorithms.py`` line for line in integer microsecond ticks: the same
  slot, the same commit rule, the same remaining / retry_after / reset_after. The script sets the key's TTL
  to exactly when its state becomes indistinguishable from empty. A ``NOSCRIPT`` reply (script cache
  flushed, server restarted, failover) falls back to ``EVAL`` of the source, which also re-caches it.
* **One clock.** By default the script reads the server's ``TIME``, so every client agrees whatever its own
  clock says. ``use_client_clock=True`` passes this process's wall clock (clamped never to run backwards)
  instead, for servers that forbid ``TIME`` in scripts; then the hosts' clocks must agree, and keys
  outlive their state by 1 s (``SLACK_MS`` in the prelude) so that a decision reaching Redis late — a
  thread descheduled between reading its clock and sending, a host slightly behind — still finds the
  state its reading belongs to instead of an expired key. Ticks count from ``EPOCH_US`` (2023-11-14) so
  that Lua's doubles stay exact (they lose integers past 2^53).
* **Keys.** ``{prefix}:rl:s:<algorithm>:<key>`` holds the state (a string ``"paused a b"``, or for the
  sliding window a list of admission ticks plus ``{prefix}:rl:p:slidingwindow:<key>`` for the pause). The
  ``{prefix}`` hash tag keeps a limiter's keys on one Cluster slot; naming the algorithm keeps a key that
  changed algorithm from misreading the old state. ``clear()`` removes ``{prefix}:rl:*`` with SCAN + UNLINK
  and nothing else.
* **Connections** come from ``sessions.backends.open_redis``: ``conn=``/``url=``/``host=``…, or a temporary
  ``redis-server`` started on first use and stopped by ``close()`` or at exit.

A connection error is retried by redis-py (a fresh connection after a server restart); a decision whose
reply was lost may then be applied twice, which can only under-admit, never over-admit.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Final

from sessions._exceptions import BackendError, BackendUnavailable
from sessions.backends import RedisKeys, RedisOptions, bulk, open_redis, wall_clock_ns
from sessions.backends._redis import _glob_escape

from ._algorithms import ALGORITHMS, MODES, US, AlgorithmParams, Decision, Mode, Spec, max_wait_ticks

__all__ = ["EPOCH_US", "RedisStorage"]

EPOCH_US: Final = 1_700_000_000 * US
"""The origin of the scripts' microsecond ticks (must equal ``EPOCH_S`` in ``lua/_prelude.lua``)."""

_ROLE = "rl"
_FILES: Final = {
    "slidingwindow": "slidingwindow.lua",
    "fixedwindow": "fixedwindow.lua",
    "tokenbucket": "bucket.lua",
    "leakybucket": "bucket.lua",
    "gcra": "gcra.lua",
}
_OPTION_NAMES = frozenset(f.name for f in fields(RedisOptions))
_INF = math.inf
_new = tuple.__new__  # Decision without NamedTuple's Python-level __new__ (hot path)


@dataclass(frozen=True, slots=True)
class _Script:
    """A script's source and SHA1 (what EVALSHA names it by)."""

    source: str
    sha: str


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Everything per ``params`` that does not change between calls."""

    script: _Script
    params: tuple[str, str]  # ARGV[5], ARGV[6]
    state_prefix: str
    pause_prefix: str | None  # sliding window only: its pause lives in a second key
    integral: bool  # window algorithms count whole requests
    head: bytes  # RESP: array header, EVALSHA, sha, numkeys
    tail: bytes  # RESP: the parameters


def _read(name: str) -> str:
    from importlib.resources import files  # not at import: it costs more than the rest of the module

    return (files("sessions.ratelimit") / "lua" / name).read_text(encoding="utf-8")


def _load_scripts() -> dict[str, _Script]:
    """Assemble prelude + algorithm + entry point for each algorithm."""
    prelude, main = _read("_prelude.lua"), _read("_main.lua")
    scripts: dict[str, _Script] = {}
    for algorithm, file in _FILES.items():
        source = prelude + _read(file) + main
        scripts[algorithm] = _Script(source, hashlib.sha1(source.encode()).hexdigest())
    return scripts


_SCRIPTS: Final = _load_scripts()


def _spec_args(spec: Spec) -> tuple[str, str]:
    """The compiled tick parameters as script arguments (repr keeps floats' exact doubles)."""
    s: Any = spec
    if spec.algorithm in ("slidingwindow", "fixedwindow"):
        return str(s.limit), str(s.window)
    if spec.algorithm == "gcra":
        return str(s.interval), str(int(s.capacity))
    return repr(float(s.capacity)), repr(float(s.rate))


class RedisStorage:
    """Rate-limit storage on Redis (sync and ``redis.asyncio``); see the module docstring.

    Args:
        prefix: key prefix and Cluster hash tag (the limiter's ``key`` option, default ``"Session"``).
        options: a ready `RedisOptions`; or give its fields as keywords (``conn``, ``url``, ``host``,
            ``port``, ``username``, ``password``, ``db``, ``dbfilename``, ``maxmemory``,
            ``maxmemory_policy``, ``decode_responses``, ``protocol``, TLS options …).
        use_client_clock: pass this process's wall clock instead of reading ``TIME`` in the script.
        clock: an integer-nanosecond clock to use instead (tests); implies the client clock.
        shared: share the connection (and temporary server) with other users of equal options.
        cache_timeout: accepted for option compatibility; state lives exactly as long as it matters.

    Raises:
        TypeError: an unknown option (named, with a close match).
        BackendUnavailable: no ``redis-server`` to start, or the server cannot be reached.
    """

    name = "redis"
    unit = US
    """Ticks per second of this storage's arithmetic (µs; memory and SQLite use ns)."""

    def __init__(
        self,
        *,
        prefix: str = "Session",
        options: RedisOptions | None = None,
        use_client_clock: bool = False,
        clock: Callable[[], int] | None = None,
        shared: bool = True,
        cache_timeout: Any = None,
        **redis_options: Any,
    ) -> None:
        _check_option_names(redis_options)
        if options is not None and redis_options:
            raise TypeError(f"give options= or Redis keywords, not both (got {sorted(redis_options)})")
        self._keys = RedisKeys(prefix, _ROLE)
        self._now = _clock_argument(clock, use_client_clock)
        self._compiled: dict[AlgorithmParams, _Compiled] = {}
        self._backend = open_redis(options or RedisOptions(**redis_options), shared=shared)
        self._closed = False

    @property
    def backend(self) -> Any:
        """The `sessions.backends.RedisBackend` in use (clients, temporary server)."""
        return self._backend

    # ------------------------------------------------------------------ decisions
    def apply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Decide (and commit, per ``mode``) one request atomically in one round trip."""
        compiled = self._compiled.get(params) or self._compile(params)
        keys, argv = self._decide_args(compiled, key, cost, mode, max_wait)
        return _decision(self._run(compiled, keys, argv))

    async def aapply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Async twin of `apply` (``redis.asyncio``, never blocks the event loop)."""
        compiled = self._compiled.get(params) or self._compile(params)
        keys, argv = self._decide_args(compiled, key, cost, mode, max_wait)
        return _decision(await self._arun(compiled, keys, argv))

    def pause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Admit nothing for ``key`` before ``seconds`` from now, in every process sharing this Redis."""
        compiled = self._compiled.get(params) or self._compile(params)
        self._run(compiled, *self._pause_args(compiled, key, seconds))

    async def apause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Async twin of `pause`."""
        compiled = self._compiled.get(params) or self._compile(params)
        await self._arun(compiled, *self._pause_args(compiled, key, seconds))

    # ------------------------------------------------------------------ housekeeping
    def clear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Forget ``key`` (every algorithm's state for it), every key starting with ``prefix`` (SCAN + UNLINK
        of exactly those), or every key under our prefix."""
        try:
            if prefix is not None:
                client: Any = self._backend.client
                for pattern in self._prefix_patterns(prefix):
                    batch = list(client.scan_iter(match=pattern, count=1000))
                    for start in range(0, len(batch), 500):
                        client.unlink(*batch[start : start + 500])
            elif key is None:
                self._backend.clear(self._keys)
            else:
                self._backend.client.unlink(*self._all_keys(key))
        except Exception as exc:
            raise self._wrap(exc) from exc

    async def aclear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Async twin of `clear`."""
        try:
            if prefix is not None:
                aclient: Any = self._backend.aclient
                for pattern in self._prefix_patterns(prefix):
                    batch = [k async for k in aclient.scan_iter(match=pattern, count=1000)]
                    for start in range(0, len(batch), 500):
                        await aclient.unlink(*batch[start : start + 500])
            elif key is None:
                await self._backend.aclear(self._keys)
            else:
                await self._backend.aclient.unlink(*self._all_keys(key))
        except Exception as exc:
            raise self._wrap(exc) from exc

    def close(self) -> None:
        """Release the connection (the last user stops a temporary server); idempotent."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    async def aclose(self) -> None:
        """Async twin of `close` (closes this event loop's client cleanly)."""
        if not self._closed:
            self._closed = True
            await self._backend.aclose()

    def __repr__(self) -> str:
        return f"<RedisStorage prefix={self._keys.prefix!r} {self._backend!r}>"

    # ------------------------------------------------------------------ internals
    def _compile(self, params: AlgorithmParams) -> _Compiled:
        spec = params.spec(US)
        algorithm = spec.algorithm
        sliding = algorithm == "slidingwindow"
        script, args, nkeys = _SCRIPTS[algorithm], _spec_args(spec), 2 if sliding else 1
        # Pre-packed constant parts of the command: per call only keys and 4 arguments are encoded.
        count = 3 + nkeys + 4 + len(args)
        head = b"*%d\r\n" % count + b"".join(bulk(p.encode()) for p in ("EVALSHA", script.sha, str(nkeys)))
        compiled = _Compiled(
            script=script,
            params=args,
            state_prefix=self._keys.key("s", algorithm, ""),
            pause_prefix=self._keys.key("p", algorithm, "") if sliding else None,
            integral=algorithm in ("slidingwindow", "fixedwindow"),
            head=head,
            tail=b"".join(bulk(a.encode()) for a in args),
        )
        self._compiled[params] = compiled
        return compiled

    def _keys_for(self, compiled: _Compiled, key: str) -> list[str]:
        if compiled.pause_prefix is None:
            return [compiled.state_prefix + key]
        return [compiled.state_prefix + key, compiled.pause_prefix + key]

    def _prefix_patterns(self, prefix: str) -> list[str]:
        """SCAN MATCH patterns for the state and pause keys of every limiter key starting with ``prefix``."""
        kinds = [("s", algorithm) for algorithm in ALGORITHMS] + [("p", "slidingwindow")]
        return [_glob_escape(self._keys.key(kind, algorithm, "") + prefix) + "*" for kind, algorithm in kinds]

    def _all_keys(self, key: str) -> list[str]:
        return [self._keys.key("s", a, key) for a in ALGORITHMS] + [self._keys.key("p", "slidingwindow", key)]

    def _decide_args(
        self, compiled: _Compiled, key: str, cost: float, mode: Mode, max_wait: float | None
    ) -> tuple[list[str], list[str]]:
        wait = MODES[mode] if max_wait is None else max_wait_ticks(mode, max_wait, US)
        return self._keys_for(compiled, key), [
            self._now(),
            "d",
            _cost_argument(cost, compiled.integral),
            str(wait),
        ]

    def _pause_args(self, compiled: _Compiled, key: str, seconds: float) -> tuple[list[str], list[str]]:
        ticks = max(0, math.ceil(seconds * US))
        return self._keys_for(compiled, key), [self._now(), "p", str(ticks), "0"]

    def _run(self, compiled: _Compiled, keys: list[str], argv: list[str]) -> Any:
        """EVALSHA in one round trip; on NOSCRIPT, EVAL (which also re-caches the script)."""
        import redis

        packed = compiled.head + b"".join([bulk(a.encode()) for a in keys + argv]) + compiled.tail
        args = (len(keys), *keys, *argv, *compiled.params)
        try:
            try:
                return self._backend.execute_packed(packed, "EVALSHA", compiled.script.sha, *args)
            except redis.exceptions.NoScriptError:
                client: Any = self._backend.client  # execute_command is untyped in redis-py
                return client.execute_command("EVAL", *self._eval_args(compiled, keys, argv))
        except Exception as exc:
            raise self._wrap(exc) from exc

    async def _arun(self, compiled: _Compiled, keys: list[str], argv: list[str]) -> Any:
        """Async `_run`."""
        import redis

        packed = compiled.head + b"".join([bulk(a.encode()) for a in keys + argv]) + compiled.tail
        args = (len(keys), *keys, *argv, *compiled.params)
        try:
            try:
                return await self._backend.aexecute_packed(packed, "EVALSHA", compiled.script.sha, *args)
            except redis.exceptions.NoScriptError:
                client: Any = self._backend.aclient
                return await client.execute_command("EVAL", *self._eval_args(compiled, keys, argv))
        except Exception as exc:
            raise self._wrap(exc) from exc

    def _eval_args(self, compiled: _Compiled, keys: list[str], argv: list[str]) -> tuple[Any, ...]:
        """EVAL's arguments for a decision whose EVALSHA met NOSCRIPT, with a fresh clock reading: the one
        taken before the failed round trip is that round trip old, and a client-clock decision stamped with
        it would record its admission early (its entry would expire early)."""
        return (compiled.script.source, len(keys), *keys, self._now(), *argv[1:], *compiled.params)

    def _wrap(self, exc: Exception) -> Exception:
        """Translate driver errors at this one boundary; leave ours and programming errors alone."""
        import redis

        if isinstance(exc, BackendError) or not isinstance(exc, redis.RedisError):
            return exc
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            unavailable: BackendUnavailable = self._backend.unavailable(exc)
            return unavailable
        hint = (
            " (if the server forbids TIME in scripts, pass use_client_clock=True)"
            if "TIME" in str(exc)
            else ""
        )
        return BackendError(f"Redis rate-limit operation failed: {exc}{hint}")


def _decision(reply: bytes | str) -> Decision:
    """The script's ``"allowed remaining retry reset delay"`` ticks → a `Decision` in seconds, exactly as
    ``_algorithms`` builds it."""
    allowed, remaining, retry, reset, delay = map(int, reply.split())
    return _new(
        Decision,
        (
            bool(allowed),
            int(remaining),
            _INF if retry < 0 else retry / US,
            reset / US if reset > 0 else 0.0,
            delay / US,
        ),
    )


def _cost_argument(cost: float, integral: bool) -> str:
    if not cost > 0:
        raise ValueError(f"cost must be positive, not {cost!r}")
    if integral:
        if cost != int(cost):
            raise ValueError(f"cost must be a whole number for window algorithms, not {cost!r}")
        return str(int(cost))
    return repr(cost) if isinstance(cost, float) else str(cost)


def _clock_argument(clock: Callable[[], int] | None, use_client_clock: bool) -> Callable[[], str]:
    """What to pass as ARGV[1]: ``""`` lets the script read ``TIME``; else our ticks since `EPOCH_US`."""
    if clock is not None:
        source = clock
        return lambda: str(source() // 1000)
    if use_client_clock:
        return lambda: str(wall_clock_ns() // 1000 - EPOCH_US)
    return lambda: ""


def _check_option_names(options: dict[str, Any]) -> None:
    """Unknown keywords → TypeError naming each one and its closest valid name."""
    for name in options:
        if name not in _OPTION_NAMES:
            valid = sorted(_OPTION_NAMES | {"prefix", "options", "use_client_clock", "clock", "shared"})
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"RedisStorage got an unexpected option {name!r}{hint}")
