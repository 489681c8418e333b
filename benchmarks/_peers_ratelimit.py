"""Shared helpers for the rate-limit benchmarks: peers' limiters behind one small interface, and machine info.

Every contender — ours or a peer — is reduced to a ``Contender``: ``hit(key) -> bool`` (one non-blocking decision
that consumes on success), ``wait(key)`` (block until admitted: the library's own blocking API, or the polling
loop its documentation suggests), ``reset()`` (forget state between repetitions) and ``close()``.

Peers and how each is driven (versions are recorded in the results):

* throttled-py — ``Throttled(using=..., quota=per_duration(period, limit), store=MemoryStore()|RedisStore(url))``,
  ``limit(key)``; waiting: its ``timeout=`` blocking mode (it re-polls every ``max(min(retry_after, 0.5), 0.2)`` s).
  Algorithms: fixed_window, sliding_window (a two-window *counter*), token_bucket, leaking_bucket, gcra.
* limits — ``storage_from_string("memory://" | url)`` with ``MovingWindowRateLimiter`` (a log),
  ``FixedWindowRateLimiter`` and ``SlidingWindowCounterRateLimiter``; ``hit(item, key)``; limits has no blocking
  API, so waiting is the polling loop of its quick-start (``while not hit(...): time.sleep(0.01)``).
* pyrate-limiter — ``Limiter(bucket)`` over ``InMemoryBucket`` / ``RedisBucket`` (``SlidingWindowLog``,
  ``FixedWindow``) or ``StateBucket`` (``TokenBucket``, ``GCRA``; ``InMemoryStateStore`` / ``RedisStateStore``);
  ``try_acquire(key, blocking=False)``; waiting: ``try_acquire(key, blocking=True)`` with its default
  ``buffer_ms=50``.

Peers take whole seconds for their periods (throttled-py truncates ``timedelta`` to whole seconds, limits'
granularities are seconds), so callers must pass an integral ``period``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from benchmarks._servers import command_output, cpu_model, versions

# Our algorithm names → each peer's equivalent (None: the peer has no such algorithm).
THROTTLED_ALGORITHMS = {
    "slidingwindow": "sliding_window",
    "fixedwindow": "fixed_window",
    "tokenbucket": "token_bucket",
    "leakybucket": "leaking_bucket",
    "gcra": "gcra",
}
LIMITS_ALGORITHMS = {
    "slidingwindow": "moving-window",
    "fixedwindow": "fixed-window",
    "slidingcounter": "sliding-window-counter",
}
PYRATE_ALGORITHMS = {
    "slidingwindow": "SlidingWindowLog",
    "fixedwindow": "FixedWindow",
    "tokenbucket": "TokenBucket",
    "gcra": "GCRA",
}
PEERS = ("throttled-py", "limits", "pyrate-limiter")


@dataclass
class Contender:
    """One limiter under test, reduced to what the benchmarks call."""

    library: str
    algorithm: str  # our row name ("slidingwindow", …, or "slidingcounter" for approximating counters)
    backend: str  # "memory", "sqlite", "redis"
    native: str  # the library's own name for the algorithm
    hit: Callable[[str], bool]
    wait: Callable[[str], None] | None = None
    reset: Callable[[], None] = field(default=lambda: None)
    close: Callable[[], None] = field(default=lambda: None)
    burst: float | None = None  # bucket capacity / GCRA burst as configured (None for windows)
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.library}:{self.native}:{self.backend}"


def peer_algorithms(library: str) -> dict[str, str]:
    """Our row name → the peer's algorithm name."""
    return {
        "throttled-py": THROTTLED_ALGORITHMS,
        "limits": LIMITS_ALGORITHMS,
        "pyrate-limiter": PYRATE_ALGORITHMS,
    }[library]


def make_peer(
    library: str, algorithm: str, backend: str, limit: int, period: int, redis_url: str | None, tag: str
) -> Contender:
    """Build ``library``'s limiter for ``algorithm`` (our row name) at ``limit`` per ``period`` seconds."""
    if backend == "redis" and not redis_url:
        raise ValueError("a Redis URL is needed for the redis backend")
    native = peer_algorithms(library)[algorithm]
    if library == "throttled-py":
        return _throttled(algorithm, native, backend, limit, period, redis_url)
    if library == "limits":
        return _limits(algorithm, native, backend, limit, period, redis_url)
    return _pyrate(algorithm, native, backend, limit, period, redis_url, tag)


def _throttled(
    algorithm: str, native: str, backend: str, limit: int, period: int, url: str | None
) -> Contender:
    import throttled

    store = throttled.MemoryStore() if backend == "memory" else throttled.RedisStore(server=f"{url}/0")
    quota = throttled.per_duration(timedelta(seconds=period), limit)  # burst defaults to limit
    limiter = throttled.Throttled(using=native, quota=quota, store=store)

    def hit(key: str) -> bool:
        return not limiter.limit(key).limited

    def wait(key: str) -> None:
        while limiter.limit(key, timeout=3600).limited:
            pass

    burst = float(limit) if algorithm in ("tokenbucket", "leakybucket", "gcra") else None
    return Contender("throttled-py", algorithm, backend, native, hit, wait, burst=burst)


def _limits(algorithm: str, native: str, backend: str, limit: int, period: int, url: str | None) -> Contender:
    from limits import RateLimitItemPerSecond, storage, strategies

    store = storage.storage_from_string("memory://" if backend == "memory" else url)
    cls = {
        "moving-window": strategies.MovingWindowRateLimiter,
        "fixed-window": strategies.FixedWindowRateLimiter,
        "sliding-window-counter": strategies.SlidingWindowCounterRateLimiter,
    }[native]
    strategy = cls(store)
    item = RateLimitItemPerSecond(limit, period)

    def hit(key: str) -> bool:
        return strategy.hit(item, key)

    def wait(key: str) -> None:
        while not strategy.hit(item, key):  # the quick-start's polling loop
            time.sleep(0.01)

    def close() -> None:
        if backend == "memory":
            store.reset()

    return Contender("limits", algorithm, backend, native, hit, wait, close=close)


def _pyrate(
    algorithm: str, native: str, backend: str, limit: int, period: int, url: str | None, tag: str
) -> Contender:
    import pyrate_limiter as pr

    rate = pr.Rate(limit, period * 1000)  # burst defaults to limit (used by TokenBucket and GCRA)
    client: Any = None
    if backend == "redis":
        import redis

        client = redis.Redis.from_url(url)
    key = f"pyrate-bench:{tag}"
    bucket: Any
    if native in ("SlidingWindowLog", "FixedWindow"):
        log_algorithm = pr.SlidingWindowLog() if native == "SlidingWindowLog" else pr.FixedWindow()
        if backend == "memory":
            bucket = pr.InMemoryBucket([rate], algorithm=log_algorithm)
        else:
            bucket = pr.RedisBucket.init([rate], client, key, algorithm=log_algorithm)
    else:
        state_algorithm = pr.TokenBucket() if native == "TokenBucket" else pr.GCRA()
        store = pr.InMemoryStateStore() if backend == "memory" else pr.RedisStateStore(client, key)
        bucket = pr.StateBucket([rate], algorithm=state_algorithm, store=store)
    limiter = pr.Limiter(bucket)

    def hit(name: str) -> bool:
        return bool(limiter.try_acquire(name, blocking=False))

    def wait(name: str) -> None:
        while not limiter.try_acquire(name, blocking=True):
            pass

    def close() -> None:
        for owned in limiter.buckets():
            limiter.dispose(owned)
        if client is not None:
            client.close()

    burst = float(rate.burst) if algorithm in ("tokenbucket", "gcra") else None
    return Contender(
        "pyrate-limiter",
        algorithm,
        backend,
        native,
        hit,
        wait,
        reset=bucket.flush,  # one bucket serves every name: empty it between repetitions
        close=close,
        burst=burst,
    )


def machine_info() -> dict[str, Any]:
    """CPU, cores, OS, Python and redis-server versions, for the results file."""
    return {
        "cpu": cpu_model() or platform.processor(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "redis_server": command_output("redis-server", "--version") or "unavailable",
        "libraries": versions(
            "sessions",
            "throttled-py",
            "limits",
            "pyrate-limiter",
            "redis",
            "msgpack",
            missing="not installed",
        ),
    }
