"""Flag value parsing: rates, durations, headers, params, status matchers, rate-limit mapping."""

from __future__ import annotations

import pytest

from sessions_cli.fetch.options import (
    RateLimitFlags,
    RateSpec,
    UsageError,
    normalize_cache_flag,
    parse_duration,
    parse_headers,
    parse_params,
    parse_rate,
    parse_status_matcher,
    ratelimit_options,
    sustained_rate,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 10.0),
        ("10s", 10.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        (".25s", 0.25),
        ("3 mins", 180.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "-1s", "1..2s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("5", 5, 1),
        ("5/s", 5, 1),
        ("100/m", 100, 60),
        ("5/2s", 5, 2),
        ("10/500ms", 10, 0.5),
        ("1/h", 1, 3600),
        ("2.5/d", 2.5, 86400),
        (" 7 / 3s ", 7, 3),
    ],
)
def test_parse_rate(text: str, limit: float, period: float) -> None:
    assert parse_rate(text) == RateSpec(limit=limit, period=period)


@pytest.mark.parametrize("text", ["", "x/s", "0/s", "5/0s", "5/q", "-1/s"])
def test_parse_rate_rejects_and_names_flag(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_rate(text)
    assert info.value.flag == "--rate"


def test_parse_headers_and_params() -> None:
    assert parse_headers(["Accept: application/json", "X-Empty:"]) == [
        ("Accept", "application/json"),
        ("X-Empty", ""),
    ]
    assert parse_params(["a=1", "b=2&c=x=y"]) == [("a", "1"), ("b", "2"), ("c", "x=y")]
    with pytest.raises(UsageError, match="-H"):
        parse_headers(["no colon"])
    with pytest.raises(UsageError, match="--params"):
        parse_params(["novalue"])


def test_status_matcher() -> None:
    match = parse_status_matcher("4xx, 503")
    assert match(404)
    assert match(400)
    assert match(503)
    assert not match(500)
    assert not match(200)
    assert not match(None)
    assert not parse_status_matcher(None)
    with pytest.raises(UsageError, match="--fail-on-status"):
        parse_status_matcher("4x")


def test_design_card_flags_map_to_gcra() -> None:
    options = ratelimit_options(RateLimitFlags(algorithm="gcra", period="2", limit=5))
    assert options == {
        "type": "gcra",
        "limit": 5.0,
        "period": 2.0,
        "per_host": True,
        "per_endpoint": False,
        "backend": "memory",
    }
    assert sustained_rate(options) == (2.5, 1)  # GCRA default burst 1: at most 5 in any 2 s


def test_no_ratelimit_flags_means_no_limiter() -> None:
    assert ratelimit_options(RateLimitFlags()) is None


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("gcra", {"limit": 5.0, "period": 2.0}),
        ("slidingwindow", {"limit": 5.0, "window": 2.0}),
        ("fixedwindow", {"limit": 5.0, "window": 2.0}),
        ("tokenbucket", {"capacity": 5.0, "fill_rate": 2.5}),
        ("leakybucket", {"capacity": 5.0, "leak_rate": 2.5}),
        (None, {"limit": 5.0, "period": 2.0}),
    ],
)
def test_rate_shorthand_per_algorithm(algorithm: str | None, expected: dict[str, float]) -> None:
    options = ratelimit_options(RateLimitFlags(algorithm=algorithm, rate="5/2s"))
    assert options is not None
    assert {k: options[k] for k in expected} == expected
    assert options["type"] == (algorithm or "gcra")


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (RateLimitFlags(algorithm="gcra", limit=5), "--period"),
        (RateLimitFlags(algorithm="gcra"), "--limit"),
        (RateLimitFlags(algorithm="tokenbucket", capacity=5), "--fill-rate"),
        (RateLimitFlags(algorithm="gcra", limit=5, period="2", window="2"), "--window"),
        (RateLimitFlags(algorithm="slidingwindow", limit=5, window="1", burst=3), "--burst"),
        (RateLimitFlags(algorithm="gcra", rate="5/s", limit=5), "--rate"),
        (RateLimitFlags(limit=5), "--limit"),
        (RateLimitFlags(algorithm="bogus", rate="1/s"), "--ratelimit"),
        (RateLimitFlags(rate="1/s", limit_by="planet"), "--limit-by"),
        (RateLimitFlags(rate="1/s", backend="disk"), "--backend"),
        (RateLimitFlags(rate="1/s", redis_url="redis://x"), "--redis-url"),
        (RateLimitFlags(rate="1/s", db="x.db"), "--db"),
        (RateLimitFlags(algorithm="gcra", limit=0, period="1"), "--limit"),
    ],
)
def test_missing_or_contradictory_flags_name_the_flag(flags: RateLimitFlags, flag: str) -> None:
    with pytest.raises(UsageError) as info:
        ratelimit_options(flags)
    assert info.value.flag == flag
    assert str(info.value).startswith(flag)


def test_limit_by_and_backends() -> None:
    endpoint = ratelimit_options(RateLimitFlags(rate="1/s", limit_by="endpoint"))
    assert endpoint is not None
    assert (endpoint["per_host"], endpoint["per_endpoint"]) == (False, True)
    glob = ratelimit_options(RateLimitFlags(rate="1/s", limit_by="global"))
    assert glob is not None
    assert (glob["per_host"], glob["per_endpoint"]) == (False, False)
    redis = ratelimit_options(RateLimitFlags(rate="1/s", backend="redis", redis_url="redis://h:1", db="3"))
    assert redis is not None
    assert (redis["url"], redis["db"]) == ("redis://h:1", 3)
    sqlite = ratelimit_options(RateLimitFlags(rate="1/s", backend="sqlite", db="limits.db"))
    assert sqlite is not None
    assert sqlite["db"] == "limits.db"


def test_window_accepts_durations() -> None:
    options = ratelimit_options(RateLimitFlags(algorithm="slidingwindow", limit=10, window="500ms"))
    assert options is not None
    assert options["window"] == 0.5


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--cache"], ["--cache=sqlite"]),
        (["--cache", "urls.txt"], ["--cache=sqlite", "urls.txt"]),
        (["--cache", "redis", "u"], ["--cache", "redis", "u"]),
        (["--cache=memory"], ["--cache=memory"]),
        (["--", "--cache"], ["--", "--cache"]),
    ],
)
def test_normalize_cache_flag(argv: list[str], expected: list[str]) -> None:
    assert normalize_cache_flag(argv) == expected
