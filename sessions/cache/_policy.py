"""Pure cache policy: what to store, for how long, and what to do with a stored entry.

No I/O and no global clock: every function takes `now` (seconds since the epoch, float).
The mixin's sync and async shells call these functions alike, and the tests call them with
a fake clock.

Two modes (see `CacheSettings.cache_control`):

* **Expire mode** (default, like requests-cache and the original pysessions): allowable responses are
  stored for `expire_after` whatever the response headers say.
* **HTTP mode** (`cache_control=True`): RFC 9111 for a *private* cache — `no-store`, `no-cache`,
  `max-age`, `Expires`, `must-revalidate`, `Vary`, heuristic freshness from `Last-Modified`.

Request directives (`Cache-Control: no-store / no-cache / max-age / max-stale / min-fresh /
only-if-cached`, `Pragma: no-cache`) are honoured in both modes: the caller asked for them explicitly.

Expiry precedence (first source that gives a value wins):

==== ===================================================== ============== ==============
 #    source                                                 expire mode    HTTP mode
==== ===================================================== ============== ==============
 1    request ``Cache-Control: no-store``                    not stored     not stored
 2    response ``Vary: *`` (never matches anything)          not stored     not stored
 2b   response ``Cache-Control: no-store``                   ignored        not stored
 3    response ``no-cache`` / ``max-age`` / ``Expires``      ignored        used
 4    per-request ``expire_after=``                          used           used
 5    ``urls_expire_after`` (first matching glob)            used           used
 6    session ``expire_after`` / ``cache_timeout``           used           used if given
 7    heuristic: 10 % of (Date − Last-Modified), ≤ 1 day     —              used
 8    nothing                                                —              stale at once
==== ===================================================== ============== ==============

In HTTP mode an entry that is stale at once is kept only when it has a validator (ETag /
Last-Modified), so that the next request can revalidate it cheaply.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple, TypeAlias

from .._exceptions import ConfigurationError

__all__ = [
    "DO_NOT_CACHE",
    "EXPIRE_IMMEDIATELY",
    "NEVER_EXPIRE",
    "CacheSettings",
    "Directives",
    "ExpireAfter",
    "Lookup",
    "StoreDecision",
    "conditional_headers",
    "decide_lookup",
    "decide_store",
    "merge_not_modified",
    "parse_cache_control",
    "parse_expire_after",
    "request_directives",
    "stale_on_error_ok",
]

NEVER_EXPIRE: Final = -1
"""`expire_after` value: keep the entry fresh forever (also accepted: `None`, `"never"`)."""
EXPIRE_IMMEDIATELY: Final = 0
"""`expire_after` value: store the entry but revalidate it on every use."""


class _DoNotCache(enum.Enum):
    DO_NOT_CACHE = "DO_NOT_CACHE"

    def __repr__(self) -> str:
        return "DO_NOT_CACHE"


DO_NOT_CACHE: Final = _DoNotCache.DO_NOT_CACHE
"""`expire_after` value: do not store the response at all."""

ExpireAfter: TypeAlias = "float | datetime | _DoNotCache | None"
"""A parsed expiry: seconds (≥ 0), `None` for never, an absolute datetime, or DO_NOT_CACHE."""

HEURISTIC_FRACTION: Final = 0.1
HEURISTIC_MAX: Final = 86_400.0
# RFC 9110 §15.1: status codes that are cacheable by default (heuristic freshness allowed).
HEURISTIC_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# Header names a 304 must not overwrite in the stored response (RFC 9111 §3.2).
_NOT_MERGED: Final = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-range"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_expire_after(value: object, name: str = "expire_after") -> ExpireAfter:
    """Normalise a user-given expiry.

    Accepts seconds (int/float), `timedelta`, an absolute `datetime`, a duration string
    (`"90"`, `"30s"`, `"10m"`, `"1h"`, `"2d"`), `None` / `-1` / `"never"` (never expire),
    `0` (expire immediately) and `DO_NOT_CACHE`.
    """
    if value is None or value is DO_NOT_CACHE or isinstance(value, datetime):
        return value
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, str):
        return _parse_duration(value, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name}: expected seconds, timedelta, datetime or 'never', got {value!r}")
    if value == NEVER_EXPIRE:
        return None
    if value < 0:
        raise ConfigurationError(f"{name}: {value!r} is negative (use -1 or None for 'never expire')")
    return float(value)


def _parse_duration(text: str, name: str) -> ExpireAfter:
    if text.strip().lower() in ("never", "none", "-1"):
        return None
    if text.strip().upper() == "DO_NOT_CACHE":
        return DO_NOT_CACHE
    match = _DURATION.match(text)
    if match is None:
        raise ConfigurationError(f"{name}: cannot parse duration {text!r} (try '30s', '10m', '1h', 'never')")
    return float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]


def _resolve(expire: ExpireAfter, now: float) -> float | _DoNotCache | None:
    """Turn a parsed expiry into an absolute deadline (`None` = never)."""
    if expire is None or expire is DO_NOT_CACHE:
        return expire
    if isinstance(expire, datetime):
        when = expire if expire.tzinfo else expire.replace(tzinfo=UTC)
        return when.timestamp()
    return now + float(expire)


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheSettings:
    """Every policy knob, validated once. Build it with `CacheSettings.from_options(...)`."""

    expire_after: ExpireAfter = 3600.0
    expire_after_given: bool = False  # HTTP mode uses the session expiry only when the user set it
    urls_expire_after: tuple[tuple[re.Pattern[str], ExpireAfter], ...] = ()
    cache_control: bool = False
    allowable_codes: frozenset[int] = frozenset({200})
    allowable_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    always_revalidate: bool = False
    stale_if_error: float | None = 0.0  # seconds of staleness tolerated on error; None = any
    stale_while_revalidate: float | None = 0.0  # seconds; None = any
    max_body: int | None = None
    filter_fn: Callable[[Any], bool] | None = field(default=None, compare=False)

    @staticmethod
    def from_options(
        *,
        expire_after: object = 3600.0,
        expire_after_given: bool = False,
        urls_expire_after: Mapping[str, object] | None = None,
        cache_control: bool = False,
        allowable_codes: Iterable[int] = (200,),
        allowable_methods: Iterable[str] = ("GET", "HEAD"),
        always_revalidate: bool = False,
        stale_if_error: bool | float | int | timedelta = False,
        stale_while_revalidate: bool | float | int | timedelta = False,
        max_body: int | None = None,
        filter_fn: Callable[[Any], bool] | None = None,
    ) -> CacheSettings:
        """Validate user options (raises `ConfigurationError` naming the bad option)."""
        if max_body is not None and max_body < 0:
            raise ConfigurationError(f"max_body must be >= 0, got {max_body!r}")
        codes = frozenset(int(c) for c in allowable_codes) - {206}  # partial content is never cached
        return CacheSettings(
            expire_after=parse_expire_after(expire_after),
            expire_after_given=expire_after_given,
            urls_expire_after=tuple(
                (_glob(pattern), parse_expire_after(value, f"urls_expire_after[{pattern!r}]"))
                for pattern, value in (urls_expire_after or {}).items()
            ),
            cache_control=bool(cache_control),
            allowable_codes=codes,
            allowable_methods=frozenset(m.upper() for m in allowable_methods),
            always_revalidate=bool(always_revalidate),
            stale_if_error=_window(stale_if_error, "stale_if_error"),
            stale_while_revalidate=_window(stale_while_revalidate, "stale_while_revalidate"),
            max_body=max_body,
            filter_fn=filter_fn,
        )


def _glob(pattern: str) -> re.Pattern[str]:
    """Compile a urls_expire_after glob; a pattern without a scheme matches any scheme."""
    if "://" not in pattern:
        pattern = "*://" + pattern
    if not pattern.endswith("*"):
        pattern += "*"  # requests-cache semantics: a pattern is a prefix match
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


def _window(value: bool | float | int | timedelta, name: str) -> float | None:
    """`True` → any staleness (None); `False` → 0; seconds/timedelta → that many seconds."""
    if value is True:
        return None
    if value is False:
        return 0.0
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ConfigurationError(f"{name} must be >= 0 seconds, got {value!r}")
    return seconds


# --------------------------------------------------------------------------- directives


@lru_cache(maxsize=512)
def parse_cache_control(value: str) -> Mapping[str, int | None]:
    """Parse a Cache-Control header into ``{directive: seconds-or-None}`` (memoised: headers repeat)."""
    out: dict[str, int | None] = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        arg = arg.strip().strip('"')
        try:
            out[name] = max(0, int(arg)) if arg else None
        except ValueError:
            out[name] = None  # e.g. no-cache="Set-Cookie": treat as the unqualified directive
    return out


@dataclass(frozen=True, slots=True)
class Directives:
    """The request-side Cache-Control directives that matter to a private cache."""

    no_store: bool = False
    no_cache: bool = False
    only_if_cached: bool = False
    max_age: int | None = None
    max_stale: int | None = None  # -1 means "any staleness"
    min_fresh: int | None = None

    @property
    def plain(self) -> bool:
        """True when the request asked nothing special (the fast path)."""
        return self is _PLAIN


_PLAIN: Final = Directives()


def request_directives(cache_control: str | None, pragma: str | None = None) -> Directives:
    """Directives of a request from its Cache-Control (and legacy Pragma) header values."""
    if not cache_control:
        if pragma and "no-cache" in pragma.lower():
            return Directives(no_cache=True)
        return _PLAIN
    return _request_directives(cache_control)


@lru_cache(maxsize=256)
def _request_directives(cache_control: str) -> Directives:
    cc = parse_cache_control(cache_control)
    max_stale = cc.get("max-stale", -2)
    return Directives(
        no_store="no-store" in cc,
        no_cache="no-cache" in cc,
        only_if_cached="only-if-cached" in cc,
        max_age=cc.get("max-age"),
        max_stale=None if max_stale == -2 else (-1 if max_stale is None else max_stale),
        min_fresh=cc.get("min-fresh"),
    )


# --------------------------------------------------------------------------- store


class StoreDecision(NamedTuple):
    """Whether to store a response, and until when it is fresh (`expires=None`: forever). A tuple: one is
    made on every cache miss."""

    store: bool
    expires: float | None = None
    reason: str = ""


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    return _http_date_cached(value)


@lru_cache(maxsize=256)
def _http_date_cached(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _configured_expiry(
    settings: CacheSettings, url: str, per_request: ExpireAfter | None, per_request_given: bool, now: float
) -> tuple[bool, float | _DoNotCache | None]:
    """Rows 4–6 of the precedence table: `(found, deadline)`."""
    if per_request_given:
        return True, _resolve(per_request, now)
    for pattern, value in settings.urls_expire_after:
        if pattern.match(url):
            return True, _resolve(value, now)
    if settings.cache_control and not settings.expire_after_given:
        return False, None
    return True, _resolve(settings.expire_after, now)


def _http_freshness(headers: Mapping[str, str], status: int, now: float) -> float | None:
    """Row 3: explicit freshness from the response, as an absolute deadline (or None if absent)."""
    cc = parse_cache_control(headers.get("cache-control", ""))
    date = _http_date(headers.get("date")) or now
    try:
        age = float(headers.get("age", "0") or 0)
    except ValueError:
        age = 0.0
    initial_age = max(0.0, now - date, age)
    if "no-cache" in cc:
        return now  # stored, but must be revalidated before every use
    max_age = cc.get("max-age")
    if max_age is not None:
        return now - initial_age + max_age
    if "expires" in headers:
        expires = _http_date(headers["expires"])
        return now if expires is None else now - initial_age + (expires - date)
    return None


def _heuristic(headers: Mapping[str, str], status: int, now: float) -> float | None:
    """Row 7: 10 % of the time since Last-Modified, capped at a day (RFC 9111 §4.2.2)."""
    last_modified = _http_date(headers.get("last-modified"))
    if last_modified is None or status not in HEURISTIC_STATUSES:
        return None
    date = _http_date(headers.get("date")) or now
    return now + min(HEURISTIC_MAX, max(0.0, (date - last_modified) * HEURISTIC_FRACTION))


def has_validator(headers: Mapping[str, str]) -> bool:
    """True when the response can be revalidated with a conditional request."""
    return "etag" in headers or "last-modified" in headers


def decide_store(
    settings: CacheSettings,
    *,
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body_size: int,
    request: Directives,
    now: float,
    expire_after: ExpireAfter | None = None,
    expire_after_given: bool = False,
) -> StoreDecision:
    """Decide whether (and until when) a response is stored. `headers` keys are lower-case."""
    if method not in settings.allowable_methods:
        return StoreDecision(False, reason="method not allowed")
    if status not in settings.allowable_codes:
        return StoreDecision(False, reason=f"status {status} not allowed")
    if request.no_store:
        return StoreDecision(False, reason="request no-store")
    if settings.max_body is not None and body_size > settings.max_body:
        return StoreDecision(False, reason="body larger than max_body")
    if headers.get("vary", "").strip() == "*":
        return StoreDecision(False, reason="Vary: *")  # never matches any later request
    if settings.cache_control:
        return _decide_http(settings, method, url, status, headers, now, expire_after, expire_after_given)
    _found, deadline = _configured_expiry(settings, url, expire_after, expire_after_given, now)
    if deadline is DO_NOT_CACHE:
        return StoreDecision(False, reason="DO_NOT_CACHE")
    return StoreDecision(True, deadline, "expire_after")


def _decide_http(
    settings: CacheSettings,
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    now: float,
    expire_after: ExpireAfter | None,
    expire_after_given: bool,
) -> StoreDecision:
    cc = parse_cache_control(headers.get("cache-control", ""))
    if "no-store" in cc:
        return StoreDecision(False, reason="response no-store")
    explicit = _http_freshness(headers, status, now)
    if explicit is not None:
        return _keep_if_useful(explicit, headers, now, "response headers")
    found, deadline = _configured_expiry(settings, url, expire_after, expire_after_given, now)
    if deadline is DO_NOT_CACHE:
        return StoreDecision(False, reason="DO_NOT_CACHE")
    if found:
        return _keep_if_useful(deadline, headers, now, "expire_after")
    heuristic = _heuristic(headers, status, now)
    if heuristic is not None:
        return _keep_if_useful(heuristic, headers, now, "heuristic")
    return _keep_if_useful(now, headers, now, "no freshness information")


def _keep_if_useful(expires: float | None, headers: Mapping[str, str], now: float, why: str) -> StoreDecision:
    """An entry stale on arrival is worth keeping only when it can be revalidated."""
    if expires is not None and expires <= now and not has_validator(headers):
        return StoreDecision(False, reason=f"{why}: stale on arrival and no validator")
    return StoreDecision(True, expires, why)


# --------------------------------------------------------------------------- lookup


class Lookup(enum.Enum):
    """What to do with a request given the stored entry (if any)."""

    FRESH = "fresh"  # serve the entry
    STALE_OK = "stale-ok"  # serve the stale entry (max-stale / only-if-cached)
    STALE_WHILE_REVALIDATE = "swr"  # serve the stale entry and refresh it in the background
    REVALIDATE = "revalidate"  # conditional request (or a full one if the entry has no validator)
    MISS = "miss"  # fetch
    GATEWAY_TIMEOUT = "504"  # only-if-cached and nothing stored


def decide_lookup(
    settings: CacheSettings,
    *,
    created_at: float | None,
    expires: float | None,
    response_cache_control: str,
    request: Directives,
    now: float,
    refresh: bool = False,
    only_if_cached: bool = False,
) -> Lookup:
    """Decide how to answer a request. `created_at is None` means nothing is stored."""
    only = only_if_cached or request.only_if_cached
    if created_at is None:
        return Lookup.GATEWAY_TIMEOUT if only else Lookup.MISS
    fresh = _is_fresh(created_at, expires, request, now)
    if only:
        return Lookup.FRESH if fresh else Lookup.STALE_OK
    if refresh or request.no_cache or settings.always_revalidate:
        return Lookup.REVALIDATE
    if fresh:
        return Lookup.FRESH
    return _stale(settings, expires, response_cache_control, request, now)


def _is_fresh(created_at: float, expires: float | None, request: Directives, now: float) -> bool:
    if expires is not None and now >= expires:
        return False
    if request.max_age is not None and now - created_at > request.max_age:
        return False
    return not (request.min_fresh is not None and expires is not None and expires - now < request.min_fresh)


def _stale(
    settings: CacheSettings, expires: float | None, response_cc: str, request: Directives, now: float
) -> Lookup:
    if expires is None or now < expires:
        return Lookup.REVALIDATE  # stale only by the request's max-age/min-fresh: it wants a fresh answer
    staleness = now - expires
    cc = parse_cache_control(response_cc) if settings.cache_control and response_cc else {}
    if "must-revalidate" in cc or "no-cache" in cc:
        return Lookup.REVALIDATE  # RFC 9111 §4.2.4: never served stale
    if request.max_stale is not None and (request.max_stale < 0 or staleness <= request.max_stale):
        return Lookup.STALE_OK
    window = _max_window(settings.stale_while_revalidate, cc.get("stale-while-revalidate", -1))
    if window is None or staleness <= window:
        return Lookup.STALE_WHILE_REVALIDATE
    return Lookup.REVALIDATE


def _max_window(configured: float | None, from_header: int | None) -> float | None:
    """The wider of the configured window and the response's RFC 5861 directive (None = unbounded)."""
    if configured is None:
        return None
    if from_header is None or from_header < 0:
        return configured if configured > 0 else -1.0
    return max(configured, float(from_header))


def stale_on_error_ok(
    settings: CacheSettings, *, expires: float | None, response_cache_control: str, now: float
) -> bool:
    """May a stale entry be served because the origin failed (exception, 429 or 5xx)?"""
    cc = (
        parse_cache_control(response_cache_control)
        if settings.cache_control and response_cache_control
        else {}
    )
    if "must-revalidate" in cc:
        return False
    window = _max_window(settings.stale_if_error, cc.get("stale-if-error", -1))
    staleness = 0.0 if expires is None else max(0.0, now - expires)
    return window is None or staleness <= window


def is_error_status(status: int) -> bool:
    """Statuses that count as an origin failure for stale_if_error: 429 and 5xx."""
    return status == 429 or status >= 500


# --------------------------------------------------------------------------- revalidation


def conditional_headers(stored: Mapping[str, str]) -> dict[str, str]:
    """Validators to send when revalidating an entry (empty when it has none)."""
    out: dict[str, str] = {}
    if "etag" in stored:
        out["If-None-Match"] = stored["etag"]
    if "last-modified" in stored:
        out["If-Modified-Since"] = stored["last-modified"]
    return out


def merge_not_modified(
    stored: Iterable[tuple[bytes, bytes]], fresh: Iterable[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """Raw headers of a stored response updated with those of a 304 (RFC 9111 §3.2)."""
    update: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for name, value in fresh:
        low = name.lower()
        if low.decode("latin-1") not in _NOT_MERGED:
            update.setdefault(low, []).append((name, value))
    merged = [(n, v) for n, v in stored if n.lower() not in update]
    for pairs in update.values():
        merged.extend(pairs)
    return merged
