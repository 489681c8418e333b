"""The exception tree of `sessions`.

Every error this library raises on its own account derives from `SessionsError`.
Transport errors stay httpx's own (`httpx.HTTPError` and subclasses) so code written
for httpx keeps working.

    SessionsError
    ├── ConfigurationError (ValueError)      bad option value, unknown algorithm, …
    ├── BackendError                         a storage backend failed
    │   └── BackendUnavailable               redis-server missing / server unreachable / bad SQLite file
    ├── RateLimitExceeded                    raise_errors=True and the limiter said no
    │   └── ImpossibleRequest (ValueError)   cost larger than the limit's capacity: never admissible
    ├── CacheError                           a cache entry could not be stored or read
    └── BatchError                           a batch item failed and the caller asked to raise
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "BatchError",
    "CacheError",
    "ConfigurationError",
    "ImpossibleRequest",
    "RateLimitExceeded",
    "SessionsError",
]


class SessionsError(Exception):
    """Root of every exception raised by `sessions` itself."""


class ConfigurationError(SessionsError, ValueError):
    """An option has an invalid value (the message names the option and what to do)."""


class BackendError(SessionsError):
    """A storage backend (memory, SQLite, Redis) failed to carry out an operation."""


class BackendUnavailable(BackendError):
    """A backend cannot be reached or started; the message says how to fix it."""


class RateLimitExceeded(SessionsError):
    """The limiter denied a request and `raise_errors=True` was asked for.

    Carries everything a caller needs to back off: how long to wait, which key and
    which algorithm said no.
    """

    def __init__(self, key: str, algorithm: str, retry_after: float, message: str | None = None) -> None:
        self.key = key
        self.algorithm = algorithm
        self.retry_after = retry_after
        super().__init__(
            message or f"rate limit exceeded for {key!r} ({algorithm}); retry after {retry_after:.3f}s"
        )


class ImpossibleRequest(RateLimitExceeded, ValueError):
    """The request costs more than the limit can ever admit; waiting would not help."""

    def __init__(self, key: str, algorithm: str, cost: float, capacity: float) -> None:
        self.cost = cost
        self.capacity = capacity
        super().__init__(
            key,
            algorithm,
            float("inf"),
            f"cost {cost} exceeds the capacity {capacity} of {algorithm} limit {key!r}: "
            "it can never be admitted",
        )


class CacheError(SessionsError):
    """A cache entry could not be stored or read."""


class BatchError(SessionsError):
    """A request inside a batch failed and `raise_errors=True` was asked for."""

    def __init__(self, index: int, exception: BaseException) -> None:
        self.index = index
        self.exception = exception
        super().__init__(f"request #{index} failed: {exception!r}")
