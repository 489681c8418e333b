"""Parsing of `sessions fetch` flag values: rates, durations, headers, params, status matchers.

Pure functions, no I/O. Every parse error is a `UsageError` that names the flag, so the
command can print it and exit with code 2.

Conventions (see REFERENCE.md): rates as `5/s`, `100/m`, `5/2s` (curl, vegeta) where a
bare number means *per second*; durations as `10s`, `500ms`, `1.5m` where a bare number
means seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALGORITHMS",
    "CACHE_BACKENDS",
    "LIMIT_BY",
    "RateLimitFlags",
    "RateSpec",
    "StatusMatcher",
    "UsageError",
    "backend_url_options",
    "check_redis_url",
    "normalize_cache_flag",
    "parse_duration",
    "parse_headers",
    "parse_params",
    "parse_rate",
    "parse_status_matcher",
    "ratelimit_options",
    "sustained_rate",
]

ALGORITHMS = ("slidingwindow", "fixedwindow", "leakybucket", "tokenbucket", "gcra")
LIMIT_BY = ("host", "endpoint", "global")
CACHE_BACKENDS = ("memory", "sqlite", "redis")
#: URL schemes `--backend` / `--cache` take instead of a name: the server is then the URL's.
SERVER_SCHEMES = {
    "postgresql": "sql", "postgres": "sql", "mysql": "sql", "mariadb": "sql",
    "redis": "redis", "rediss": "redis", "unix": "redis",
}  # fmt: skip

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


class UsageError(ValueError):
    """A flag has a bad value or contradicts another flag; `flag` names it."""

    def __init__(self, flag: str, message: str) -> None:
        self.flag = flag
        super().__init__(f"{flag}: {message}")


def _unit_seconds(unit: str, flag: str) -> float:
    unit = unit.lower()
    if unit.endswith("s") and unit[:-1] in _UNITS and unit not in _UNITS:
        unit = unit[:-1]  # plurals: "2 mins", "hours"
    if unit not in _UNITS:
        raise UsageError(flag, f"unknown unit {unit!r} (use ms, s, m, h or d)")
    return _UNITS[unit]


def parse_duration(text: str | float, flag: str = "--timeout") -> float:
    """Parse `10s`, `500ms`, `1.5m`, `2h`, `1d` or a bare number of seconds into seconds."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = _DURATION_RE.match(text.lower())
        if match is None:
            raise UsageError(flag, f"cannot read {text!r} as a duration (e.g. 10s, 500ms, 2m)")
        number, unit = match.groups()
        value = float(number) * (_unit_seconds(unit, flag) if unit else 1.0)
    if value < 0:
        raise UsageError(flag, "a duration cannot be negative")
    return value


@dataclass(frozen=True, kw_only=True)
class RateSpec:
    """`limit` requests per `period` seconds."""

    limit: float
    period: float

    @property
    def per_second(self) -> float:
        """The sustained rate in requests per second."""
        return self.limit / self.period


def parse_rate(text: str, flag: str = "--rate") -> RateSpec:
    """Parse `5/s`, `100/m`, `5/2s`, `10/500ms` or a bare `5` (per second)."""
    head, sep, tail = text.strip().partition("/")
    try:
        limit = float(head)
    except ValueError:
        raise UsageError(flag, f"cannot read {text!r} as a rate (e.g. 5/s, 100/m, 5/2s)") from None
    if not (limit > 0 and math.isfinite(limit)):
        raise UsageError(flag, "the number of requests must be positive")
    if not sep:
        return RateSpec(limit=limit, period=1.0)
    tail = tail.strip()
    if tail and tail[0].isalpha():
        tail = "1" + tail  # "5/s" == "5/1s"
    period = parse_duration(tail, flag)
    if period <= 0:
        raise UsageError(flag, "the period must be positive")
    return RateSpec(limit=limit, period=period)


def parse_headers(values: Iterable[str], flag: str = "-H") -> list[tuple[str, str]]:
    """Parse repeated `-H "Name: value"` into (name, value) pairs, order kept."""
    pairs = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise UsageError(flag, f"expected 'Name: value', got {value!r}")
        pairs.append((name.strip(), rest.strip()))
    return pairs


def parse_params(values: Iterable[str], flag: str = "--params") -> list[tuple[str, str]]:
    """Parse repeated `--params k=v` (or `a=1&b=2`) into query pairs, order kept."""
    pairs = []
    for value in values:
        for part in value.split("&"):
            key, sep, val = part.partition("=")
            if not sep or not key:
                raise UsageError(flag, f"expected 'key=value', got {part!r}")
            pairs.append((key, val))
    return pairs


@dataclass(frozen=True)
class StatusMatcher:
    """Matches HTTP status codes against `4xx,5xx,404`-style patterns."""

    exact: frozenset[int]
    classes: frozenset[int]

    def __call__(self, status: int | None) -> bool:
        """True when `status` is one of the codes or in one of the classes."""
        if status is None:
            return False
        return status in self.exact or status // 100 in self.classes

    def __bool__(self) -> bool:
        return bool(self.exact or self.classes)


def parse_status_matcher(text: str | None, flag: str = "--fail-on-status") -> StatusMatcher:
    """Parse `4xx,5xx,404` into a `StatusMatcher` (empty when `text` is None or blank)."""
    exact: set[int] = set()
    classes: set[int] = set()
    for raw in (text or "").split(","):
        part = raw.strip().lower()
        if not part:
            continue
        if re.fullmatch(r"[1-5]xx", part):
            classes.add(int(part[0]))
        elif re.fullmatch(r"[1-5]\d\d", part):
            exact.add(int(part))
        else:
            raise UsageError(flag, f"expected codes or classes like 404,5xx, got {raw.strip()!r}")
    return StatusMatcher(frozenset(exact), frozenset(classes))


# --- rate limiting -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RateLimitFlags:
    """The rate-limit flags exactly as given (None = not given)."""

    algorithm: str | None = None
    rate: str | None = None
    limit: float | None = None
    window: str | None = None
    period: str | None = None
    capacity: float | None = None
    fill_rate: float | None = None
    leak_rate: float | None = None
    burst: float | None = None
    limit_by: str = "host"
    backend: str = "memory"
    redis_url: str | None = None
    db: str | None = None


# Which flags each algorithm takes: required groups, optional flags.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "slidingwindow": ("limit", "window"),
    "fixedwindow": ("limit", "window"),
    "gcra": ("limit", "period"),
    "tokenbucket": ("capacity", "fill_rate"),
    "leakybucket": ("capacity", "leak_rate"),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {"gcra": ("burst",)}
_FLAG = {
    name: "--" + name.replace("_", "-")
    for name in ("limit", "window", "period", "capacity", "fill_rate", "leak_rate", "burst")
}
# Counts of requests: the library's windows and GCRA take whole numbers only.
_COUNTS = ("limit", "burst")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _given_params(flags: RateLimitFlags) -> dict[str, Any]:
    values = {name: getattr(flags, name) for name in _FLAG}
    return {name: value for name, value in values.items() if value is not None}


def _rate_count(rate: RateSpec) -> int:
    """The number of requests of `--rate L/P`, for the algorithms that count whole requests."""
    if rate.limit == int(rate.limit):
        return int(rate.limit)
    from fractions import Fraction

    scale = Fraction(rate.limit).limit_denominator(1000).denominator
    same = f"{rate.limit * scale:g}/{rate.period * scale:g}s"
    raise UsageError(
        "--rate",
        f"the number of requests must be a whole number, got {rate.limit:g} (for the same rate: {same})",
    )


def _from_rate(algorithm: str, rate: RateSpec) -> dict[str, float]:
    """Map `--rate L/P` onto an algorithm's own parameters (same sustained rate, burst L)."""
    if algorithm in ("slidingwindow", "fixedwindow"):
        return {"limit": _rate_count(rate), "window": rate.period}
    if algorithm == "gcra":
        return {"limit": _rate_count(rate), "period": rate.period}
    if algorithm == "tokenbucket":
        return {"capacity": rate.limit, "fill_rate": rate.per_second}
    return {"capacity": rate.limit, "leak_rate": rate.per_second}


def _algorithm_params(algorithm: str, flags: RateLimitFlags) -> dict[str, float]:
    given = _given_params(flags)
    if flags.rate is not None:
        if given:
            clash = _FLAG[next(iter(given))]
            raise UsageError("--rate", f"give either --rate or {clash}, not both")
        return _from_rate(algorithm, parse_rate(flags.rate))
    allowed = _REQUIRED[algorithm] + _OPTIONAL.get(algorithm, ())
    for name in given:
        if name not in allowed:
            wanted = " and ".join(_FLAG[n] for n in _REQUIRED[algorithm])
            raise UsageError(_FLAG[name], f"does not apply to --ratelimit {algorithm} (it takes {wanted})")
    missing = [_FLAG[name] for name in _REQUIRED[algorithm] if name not in given]
    if missing:
        raise UsageError(missing[0], f"--ratelimit {algorithm} needs {' and '.join(missing)} (or --rate)")
    return {name: _number(name, value) for name, value in given.items()}


def _number(name: str, value: Any) -> float:
    """Window/period accept durations (`2s`, `500ms`); limit/burst are whole numbers; the others
    plain positive numbers."""
    number = parse_duration(value, _FLAG[name]) if name in ("window", "period") else float(value)
    if not (number > 0 and math.isfinite(number)):
        raise UsageError(_FLAG[name], f"must be positive, got {value!r}")
    if name in _COUNTS:
        if number != int(number):
            raise UsageError(_FLAG[name], f"must be a whole number, got {number:g}")
        return int(number)
    return number


def _scope(limit_by: str) -> dict[str, bool]:
    if limit_by not in LIMIT_BY:
        raise UsageError("--limit-by", f"expected one of {', '.join(LIMIT_BY)}, got {limit_by!r}")
    return {"per_host": limit_by == "host", "per_endpoint": limit_by == "endpoint"}


def backend_url_options(value: str | None, flag: str) -> dict[str, Any] | None:
    """`--backend` / `--cache` given as a server URL → the library's options for it, else None.

    ``postgresql://…`` / ``mysql://…`` (``postgres://``, ``mariadb://``) select the SQL server backend with
    that URL as ``db``; ``redis://…`` / ``rediss://…`` / ``unix://…`` select Redis at that URL.
    """
    if value is None or "://" not in value:
        return None
    backend = SERVER_SCHEMES.get(value.partition("://")[0].lower())
    if backend is None:
        schemes = ", ".join(f"{s}://" for s in SERVER_SCHEMES)
        raise UsageError(flag, f"expected a backend name or a {schemes} URL, got {value!r}")
    return {"backend": "sql", "db": value} if backend == "sql" else {"backend": "redis", "url": value}


def _backend(flags: RateLimitFlags) -> dict[str, Any]:
    from_url = backend_url_options(flags.backend, "--backend")
    if from_url is not None:
        for flag, given in (("--redis-url", flags.redis_url), ("--db", flags.db)):
            if given is not None:
                raise UsageError(flag, "not with a URL as --backend (the URL names the server)")
        return from_url
    if flags.backend not in CACHE_BACKENDS:
        raise UsageError("--backend", f"expected one of {', '.join(CACHE_BACKENDS)}, got {flags.backend!r}")
    options: dict[str, Any] = {"backend": flags.backend}
    if flags.redis_url is not None:
        if flags.backend != "redis":
            raise UsageError("--redis-url", "needs --backend redis")
        options["url"] = check_redis_url(flags.redis_url)
    if flags.db is not None:
        if flags.backend == "memory":
            raise UsageError("--db", "needs --backend sqlite or redis")
        options["db"] = int(flags.db) if flags.backend == "redis" and flags.db.isdigit() else flags.db
    return options


def check_redis_url(url: str, flag: str = "--redis-url") -> str:
    """`url` when it has a scheme Redis clients accept (redis://, rediss://, unix://)."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in _REDIS_SCHEMES:
        raise UsageError(flag, f"expected a redis://, rediss:// or unix:// URL, got {url!r}")
    return url


def ratelimit_options(flags: RateLimitFlags) -> dict[str, Any] | None:
    """Translate the rate-limit flags into `RatelimitMixin` options, or None when no limit was asked.

    `--rate` alone means GCRA (exact: at most L requests in any window of the period).
    """
    algorithm = flags.algorithm
    if algorithm is None:
        if flags.rate is None:
            given = _given_params(flags)
            if given:
                flag = _FLAG[next(iter(given))]
                raise UsageError(flag, "needs --ratelimit ALGORITHM (or use --rate, e.g. --rate 5/2s)")
            return None
        algorithm = "gcra"
    algorithm = algorithm.lower().replace("-", "").replace("_", "")
    if algorithm not in ALGORITHMS:
        raise UsageError(
            "--ratelimit", f"unknown algorithm {flags.algorithm!r} (one of {', '.join(ALGORITHMS)})"
        )
    options: dict[str, Any] = {"type": algorithm, **_algorithm_params(algorithm, flags)}
    return {**options, **_scope(flags.limit_by), **_backend(flags)}


def sustained_rate(options: Mapping[str, Any]) -> tuple[float, float]:
    """(requests per second, burst) implied by `ratelimit_options()` output — for `--dry-run` estimates."""
    kind = options["type"]
    if kind in ("slidingwindow", "fixedwindow"):
        return options["limit"] / options["window"], options["limit"]
    if kind == "gcra":
        return options["limit"] / options["period"], options.get("burst", 1)
    if kind == "tokenbucket":
        return options["fill_rate"], options["capacity"]
    return options["leak_rate"], options["capacity"]


def normalize_cache_flag(args: list[str]) -> list[str]:
    """Let `--cache` take an optional value: a bare `--cache` means `--cache=sqlite`.

    Click options cannot have optional values, so the argument list is rewritten before
    parsing: `--cache` followed by anything but a backend name becomes `--cache=sqlite`.
    """
    out: list[str] = []
    for position, arg in enumerate(args):
        if arg == "--":
            return out + args[position:]
        following = args[position + 1] if position + 1 < len(args) else None
        named = following in CACHE_BACKENDS or (following is not None and "://" in following)
        out.append("--cache=sqlite" if arg == "--cache" and not named else arg)
    return out
