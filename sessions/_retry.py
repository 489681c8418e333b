"""`Retry`: an immutable retry policy, modelled on urllib3's ``util/retry.py``.

A `Retry` is a value. The session's retry loop asks it questions and replaces it with the
result of `increment()` after each failed attempt; the original is never mutated, so one
policy object can be shared by every request of a session::

    retry = Retry.coerce(session_retries)          # int | None | Retry
    while True:
        try:
            response = send()
        except httpx.TransportError as exc:
            nxt = retry.on_error(method, url, exc)
            if nxt is None:
                raise                                    # the original error, with a note
            retry, response = nxt, None
        else:
            nxt = retry.on_response(method, url, response)
            if nxt is None:
                response.attempts = retry.attempts
                return response
            retry = nxt
            response.close()
        sleep(retry.sleep_for(response))                 # Retry-After or jittered backoff

`increment()` is the lower-level step (urllib3's): it records a failed attempt and raises
`RetryError` once the budget is spent.

Differences from urllib3, on purpose:

* backoff is *full jitter* (``uniform(0, min(cap, factor * 2 ** (attempt - 1)))``, AWS
  architecture blog) and the first retry already backs off — urllib3 retries the first
  failure immediately, which is exactly the thundering herd jitter exists to avoid;
* the Retry-After wait is capped by `retry_after_max`, so a hostile or buggy server cannot
  park a client for an hour;
* the random source and the wall clock are injectable, so tests never sleep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import functools
import random
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Literal, NamedTuple, Protocol

from sessions._exceptions import ConfigurationError, SessionsError

__all__ = [
    "DEFAULT_ALLOWED_METHODS",
    "DEFAULT_STATUS_FORCELIST",
    "RETRY_AFTER_STATUS_CODES",
    "RequestHistory",
    "Retry",
    "RetryError",
]

#: Methods retried by default: the idempotent ones (RFC 9110 §9.2.2).
DEFAULT_ALLOWED_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
#: Statuses retried by default: rate limited and transient server/gateway failures.
DEFAULT_STATUS_FORCELIST: frozenset[int] = frozenset({429, 500, 502, 503, 504})
#: Statuses on which a Retry-After header alone makes the request retryable (as urllib3).
RETRY_AFTER_STATUS_CODES: frozenset[int] = frozenset({413, 429, 503})

_DELTA_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")

ErrorKind = Literal["connect", "read"]


class _HasHeaders(Protocol):
    """Anything with a case-insensitive `headers` mapping: httpx, aiohttp and our responses."""

    @property
    def headers(self) -> Mapping[str, str]: ...


class _HasStatusAndHeaders(_HasHeaders, Protocol):
    @property
    def status_code(self) -> int: ...


class RequestHistory(NamedTuple):
    """One failed attempt: what was sent and why it did not count as success."""

    method: str | None
    url: str | None
    error: BaseException | None
    status: int | None


class RetryError(SessionsError):
    """The retry budget is spent.

    `retry` is the final policy (its `history` lists every failed attempt), `reason`
    the last error (also the ``__cause__``) or ``None`` when the last attempt failed
    on its status code.
    """

    def __init__(self, retry: Retry, reason: BaseException | None, message: str) -> None:
        self.retry = retry
        self.reason = reason
        super().__init__(message)

    @property
    def attempts(self) -> int:
        """How many attempts were made in total."""
        return len(self.retry.history)


def _check_count(name: str, value: int | None, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"Retry({name}=…) must be a non-negative int, got {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigurationError(f"Retry({name}=…) must be a non-negative number of seconds, got {value!r}")


@functools.cache
def _error_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(connect errors, read errors) of httpx and aiohttp — the fast path talks aiohttp directly.

    Imported on first use: a pure policy module should not pay for aiohttp at import time.
    """
    import aiohttp
    import httpx

    connect = (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        aiohttp.ClientConnectorError,
        aiohttp.ConnectionTimeoutError,
    )
    read = (
        httpx.ReadError,
        httpx.ReadTimeout,
        httpx.WriteError,
        httpx.WriteTimeout,
        httpx.RemoteProtocolError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientOSError,
        TimeoutError,  # aiohttp's socket read timeout and asyncio's
    )
    return connect, read


def _error_kind(error: BaseException) -> ErrorKind | None:
    """Classify a transport error: "connect" (the request never left) or "read" (it may have).

    Anything else (protocol misuse, invalid URL, …) is not retryable.
    """
    connect, read = _error_types()
    if isinstance(error, connect):
        return "connect"
    if isinstance(error, read):
        return "read"
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Retry:
    """How often and how patiently to retry a request.

    Args:
        total: retries allowed in all (the request is sent at most ``total + 1`` times).
        connect: retries allowed for connection errors (None: only `total` limits them).
        read: retries allowed for errors after the request was sent.
        status: retries allowed for retryable status codes.
        backoff_factor: base of the exponential backoff, in seconds.
        backoff_max: cap of a single backoff wait, in seconds.
        backoff_jitter: draw the wait uniformly from ``[0, backoff]`` (full jitter).
        status_forcelist: status codes that trigger a retry.
        allowed_methods: methods retried on a status or read error; None retries every
            method (use for POSTs you know to be safe). Connect errors are retried for
            any method: the request never reached the server.
        respect_retry_after_header: wait as long as the server's Retry-After asks.
        retry_after_max: cap of a Retry-After wait, in seconds.
        raise_on_status: when status retries run out, raise `RetryError` instead of
            returning the last response (off by default: the last response comes back, as
            from httpx).
        history: the failed attempts so far (filled by `increment`).
        rng: random source for the jitter; clock: wall clock (epoch seconds) used to turn
            a Retry-After date into a delay. Inject both for deterministic tests.
    """

    total: int = 3
    connect: int | None = None
    read: int | None = None
    status: int | None = None
    backoff_factor: float = 0.5
    backoff_max: float = 60.0
    backoff_jitter: bool = True
    status_forcelist: Collection[int] = DEFAULT_STATUS_FORCELIST
    allowed_methods: Collection[str] | None = DEFAULT_ALLOWED_METHODS
    respect_retry_after_header: bool = True
    retry_after_max: float = 120.0
    raise_on_status: bool = False
    history: tuple[RequestHistory, ...] = ()
    rng: random.Random | None = field(default=None, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_count("total", self.total, optional=False)
        for name in ("connect", "read", "status"):
            _check_count(name, getattr(self, name), optional=True)
        for name in ("backoff_factor", "backoff_max", "retry_after_max"):
            _check_seconds(name, getattr(self, name))
        # Normalise to frozensets so the value stays hashable and immutable whatever was passed.
        object.__setattr__(self, "status_forcelist", frozenset(int(s) for s in self.status_forcelist))
        if self.allowed_methods is not None:
            object.__setattr__(self, "allowed_methods", frozenset(m.upper() for m in self.allowed_methods))
        object.__setattr__(self, "history", tuple(self.history))

    # ------------------------------------------------------------ construction

    @classmethod
    def from_int(cls, total: int) -> Retry:
        """``Retry(total=total)`` with every other setting at its default."""
        return cls(total=total)

    @classmethod
    def coerce(cls, value: Retry | int | None, *, default: Retry | None = None) -> Retry:
        """Turn a user's ``retries=`` argument into a `Retry`.

        A `Retry` passes through, an int becomes ``Retry(total=n)``, None gives `default`
        (or no retries at all). Booleans are refused: ``retries=True`` has no obvious count.
        """
        if isinstance(value, Retry):
            return value
        if value is None:
            return default if default is not None else cls(total=0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"retries must be an int, a Retry or None, not {type(value).__name__}: {value!r}")
        return cls.from_int(value)

    def replace(self, **changes: object) -> Retry:
        """A copy with some fields changed (`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # ------------------------------------------------------------ questions

    @property
    def attempts(self) -> int:
        """Attempts made so far, counting the one in flight: ``len(history) + 1``."""
        return len(self.history) + 1

    def is_method_retryable(self, method: str) -> bool:
        """Whether `method` may be resent after it may have reached the server."""
        return self.allowed_methods is None or method.upper() in self.allowed_methods

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Whether a response with this status calls for a retry (the budget is `increment`'s job).

        As urllib3: a status in `status_forcelist`, or — when Retry-After is respected —
        a Retry-After header on 413/429/503, makes an allowed method retryable.
        """
        if not self.is_method_retryable(method):
            return False
        if status_code in self.status_forcelist:
            return True
        return self.respect_retry_after_header and has_retry_after and status_code in RETRY_AFTER_STATUS_CODES

    def is_retryable_error(self, method: str, error: BaseException) -> bool:
        """Whether a transport error calls for a retry (the budget is `increment`'s job).

        Connect errors always qualify (nothing was sent); read errors only for allowed methods.
        """
        kind = _error_kind(error)
        return kind == "connect" or (kind == "read" and self.is_method_retryable(method))

    def is_exhausted(self) -> bool:
        """Whether any counter went below zero (the last `increment` overdrew the budget)."""
        counts = (self.total, self.connect, self.read, self.status)
        return any(c is not None and c < 0 for c in counts)

    # ------------------------------------------------------------ the step

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        *,
        response: object | None = None,
        error: BaseException | None = None,
    ) -> Retry:
        """Record one failed attempt and return the policy for the next one.

        Pass the `error` of a failed send, or the `response` whose status is being retried.
        Raises `RetryError` (chained to `error`) when the budget is spent.
        """
        status = _status_of(response)
        changes: dict[str, object] = {"total": self.total - 1}
        counter = self._counter_for(error, status)
        if counter is not None and getattr(self, counter) is not None:
            changes[counter] = getattr(self, counter) - 1
        entry = RequestHistory(method, url, error, status)
        changes["history"] = (*self.history, entry)
        # Bypass validation: a spent counter is -1 for the moment it takes to raise.
        new = _evolve(self, changes)
        if new.is_exhausted():
            raise RetryError(new, error, _exhausted_message(new, method, url, error, status)) from error
        return new

    @staticmethod
    def _counter_for(error: BaseException | None, status: int | None) -> str | None:
        if error is not None:
            return _error_kind(error)
        return "status" if status is not None else None

    # ------------------------------------------------------------ the loop's two questions

    def on_response(self, method: str, url: str | None, response: _HasStatusAndHeaders) -> Retry | None:
        """After a response: the policy for another attempt, or None to hand the response back.

        None when the status is not retryable, or when the budget is spent and
        `raise_on_status` is off; `RetryError` when it is spent and `raise_on_status` is on.
        """
        has_retry_after = "Retry-After" in response.headers
        if not self.is_retry(method, _status_of(response) or 0, has_retry_after):
            return None
        try:
            return self.increment(method, url, response=response)
        except RetryError:
            if self.raise_on_status:
                raise
            return None

    def on_error(self, method: str, url: str | None, error: BaseException) -> Retry | None:
        """After a transport error: the policy for another attempt, or None to re-raise `error`.

        The caller re-raises the *original* error when this returns None — not retryable,
        or the budget is spent — so ``except httpx.ConnectError`` keeps working; a spent
        budget adds a note (PEP 678) saying how many attempts were made.
        """
        if not self.is_retryable_error(method, error):
            _set_attempts(error, self.attempts)
            return None
        try:
            return self.increment(method, url, error=error)
        except RetryError as exc:
            error.add_note(f"sessions: gave up after {exc.attempts} attempt(s)")
            _set_attempts(error, exc.attempts)
            return None

    # ------------------------------------------------------------ waiting

    def sleep_for(self, response: _HasHeaders | None = None, attempt: int | None = None) -> float:
        """Seconds to wait before the next attempt.

        The server's Retry-After (capped by `retry_after_max`) when respected and present;
        otherwise exponential backoff ``backoff_factor * 2 ** (attempt - 1)`` capped by
        `backoff_max`, with full jitter. `attempt` is the number of attempts made so far
        (1 after the first failure); by default ``len(history)``.
        """
        if response is not None and self.respect_retry_after_header:
            delay = self.parse_retry_after(response.headers.get("Retry-After"), now=self.clock())
            if delay is not None:
                return min(delay, self.retry_after_max)
        return self.backoff(attempt if attempt is not None else max(len(self.history), 1))

    def backoff(self, attempt: int) -> float:
        """The backoff wait after `attempt` failed attempts (jittered when `backoff_jitter`)."""
        if self.backoff_factor == 0 or attempt < 1:
            return 0.0
        # min() before the power would be nicer, but 2.0 ** 1100 overflows: clamp the exponent.
        ceiling = min(self.backoff_max, self.backoff_factor * 2.0 ** min(attempt - 1, 64))
        if not self.backoff_jitter:
            return ceiling
        return (self.rng or random).uniform(0.0, ceiling)

    @staticmethod
    def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
        """Seconds to wait from a Retry-After header value, or None if absent or unparseable.

        Accepts delay-seconds (``"120"``; fractions such as ``"0.5"`` are tolerated) and an
        HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``), which is measured from `now`
        (epoch seconds, default `time.time()`). A date in the past means "retry now" (0).
        """
        if value is None:
            return None
        match = _DELTA_SECONDS.match(value)
        if match:
            return float(match.group(1))
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; obsolete formats may lack a zone
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(when.timestamp() - current, 0.0)


def _status_of(response: object | None) -> int | None:
    """The status code of an httpx / aiohttp / our response (`status_code` or `status`)."""
    if response is None:
        return None
    code = getattr(response, "status_code", None)
    if code is None:
        code = getattr(response, "status", None)
    return int(code) if code is not None else None


def _evolve(retry: Retry, changes: Mapping[str, object]) -> Retry:
    """A copy of `retry` with `changes`, skipping `__post_init__` (whose checks forbid -1)."""
    new = object.__new__(Retry)
    for f in dataclasses.fields(Retry):
        object.__setattr__(new, f.name, changes.get(f.name, getattr(retry, f.name)))
    return new


def _exhausted_message(
    retry: Retry, method: str | None, url: str | None, error: BaseException | None, status: int | None
) -> str:
    target = " ".join(p for p in (method, url) if p) or "request"
    last = f"last error: {error!r}" if error is not None else f"last status: {status}"
    return f"{target} failed after {len(retry.history)} attempt(s); retries exhausted ({last})"


def _set_attempts(error: BaseException, attempts: int) -> None:
    """Tell whoever catches `error` how many attempts it ended (`error.attempts`; batch records use it)."""
    with contextlib.suppress(AttributeError, TypeError):  # an exception type with __slots__
        error.attempts = attempts  # type: ignore[attr-defined]
