"""Building the session for a run: `Session`, plus `CacheMixin` / `RatelimitMixin` only when asked.

Imported only when a fetch actually runs, so `sessions --help` never pays for the HTTP stack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from sessions_cli.fetch.options import UsageError
from sessions_cli.fetch.plan import FetchPlan

__all__ = ["LimiterWaitMeter", "WaitSpans", "open_session", "session_class"]


_HOMES = {"CacheMixin": "sessions.cache", "RatelimitMixin": "sessions.ratelimit"}


def _mixin(name: str, flag: str) -> type:
    """The mixin class from `sessions` (or its subpackage while it is not re-exported yet)."""
    import importlib

    import sessions

    mixin = getattr(sessions, name, None)
    if mixin is None:
        try:
            mixin = getattr(importlib.import_module(_HOMES[name]), name, None)
        except ImportError:
            mixin = None
    if mixin is None:
        raise UsageError(flag, f"this build of sessions has no {name} yet")
    return mixin  # type: ignore[no-any-return]


class WaitSpans:
    """The wall-clock time covered by wait intervals `[start, end)` (overlapping waits counted once).

    Intervals arrive in order of their start (a wait begins when the limiter grants it), so only
    the current run of overlapping intervals is kept: constant memory for any number of waits.
    """

    def __init__(self) -> None:
        self._closed = 0.0
        self._start = 0.0
        self._end = -math.inf

    def add(self, start: float, end: float) -> None:
        """Account for one wait from `start` to `end` (seconds on one clock)."""
        if start <= self._end:
            self._start, self._end = min(self._start, start), max(self._end, end)
            return
        self._closed += self.current
        self._start, self._end = start, end

    @property
    def current(self) -> float:
        return max(self._end - self._start, 0.0)

    @property
    def total(self) -> float:
        """Seconds during which at least one request was waiting."""
        return self._closed + self.current


class LimiterWaitMeter:
    """Measures, per limiter scope (host / endpoint / global), the time requests were told to wait.

    Composed just before `RatelimitMixin`; it observes the limiter's decision hook and changes
    nothing. `limiter_busy` (per scope, the wall-clock time at least one request was waiting, on
    `clock`) feeds the summary, `limiter_busy_any` (the same over every scope) the progress bar.
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.limiter_spans: dict[str, WaitSpans] = {}
        self._any_spans = WaitSpans()
        super().__init__(*args, **kwargs)

    def _ratelimit_granted(self, key: str, decision: Any) -> Any:
        decision = super()._ratelimit_granted(key, decision)  # type: ignore[misc]
        delay = float(getattr(decision, "delay", 0.0) or 0.0)
        if delay > 0:
            scope = key.partition(":")[2] or key
            now = self.clock()
            self.limiter_spans.setdefault(scope, WaitSpans()).add(now, now + delay)
            self._any_spans.add(now, now + delay)
        return decision

    @property
    def limiter_busy_any(self) -> float:
        """The wall-clock seconds during which at least one request, of any scope, was waiting."""
        return self._any_spans.total

    @property
    def limiter_busy(self) -> dict[str, float]:
        """Per scope, the wall-clock seconds during which at least one request was waiting."""
        return {scope: spans.total for scope, spans in self.limiter_spans.items()}


def session_class(*, cache: bool, ratelimit: bool, asynchronous: bool = False) -> type:
    """`Session` (`AsyncSession`), or `class FetchSession(CacheMixin?, RatelimitMixin?, Session)`.

    The cache goes first so a hit never reaches the limiter (see ARCHITECTURE.md).
    """
    import sessions

    base = sessions.AsyncSession if asynchronous else sessions.Session
    bases: list[type] = []
    if cache:
        bases.append(_mixin("CacheMixin", "--cache"))
    if ratelimit:
        bases += [LimiterWaitMeter, _mixin("RatelimitMixin", "--ratelimit")]
    if not bases:
        return base
    return type("AsyncFetchSession" if asynchronous else "FetchSession", (*bases, base), {})


def open_session(plan: FetchPlan, *, asynchronous: bool = True) -> Any:
    """A new session configured from the plan; the caller closes it (`async with` / `with`).

    `sessions fetch` runs an `AsyncSession` on the main thread's event loop: records are built and
    written on the loop that completes the requests, with no thread hand-off per result.
    """
    from sessions import BackendUnavailable

    cls = session_class(
        cache=plan.cache is not None, ratelimit=plan.ratelimit is not None, asynchronous=asynchronous
    )
    try:
        return cls(**plan.session_kwargs())
    except (BackendUnavailable, ValueError, ImportError) as exc:
        flag = _culprit(plan, exc)
        if flag is None:
            raise
        raise UsageError(flag, str(exc)) from None


def _names_server(options: dict[str, Any], message: str) -> bool:
    """Whether a library message is about the SQL server (or driver) of these options."""
    from sessions.backends import mask_url

    return mask_url(str(options.get("db", ""))) in message or "pip install 'sessions[" in message


def _culprit(plan: FetchPlan, exc: BaseException) -> str | None:
    """The flag behind a failure to build the session (None: not one we can name; let it raise).

    The library's messages say what failed: Redis by name, an SQLite database by name and path, a
    limiter's parameters prefixed with the algorithm (`gcra: …`).
    """
    message = str(exc)
    for options, flag in ((plan.ratelimit, "--backend"), (plan.cache, "--cache")):
        if options is not None and options.get("backend") == "sql" and _names_server(options, message):
            return flag
    if "redis" in message.lower():
        return "--redis-url"
    sqlite = [
        (options, flag)
        for options, flag in ((plan.ratelimit, "--db"), (plan.cache, "--cache-db"))
        if options is not None and options.get("backend") == "sqlite"
    ]
    for options, flag in sqlite:
        if "db" in options and str(options["db"]) in message:
            return flag
    if sqlite and "sqlite" in message.lower():  # the default file, in the user cache dir
        return sqlite[0][1]
    if plan.ratelimit is not None and message.startswith(f"{plan.ratelimit['type']}:"):
        return "--ratelimit"
    if plan.proxy and "proxy" in message.lower():
        return "--proxy"
    return None
