"""Retry: the immutable policy value, its arithmetic (no sleeping) and a real server loop."""

from __future__ import annotations

import email.utils
import random
from dataclasses import FrozenInstanceError

import aiohttp
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessions._exceptions import ConfigurationError, SessionsError
from sessions._retry import DEFAULT_ALLOWED_METHODS, Retry, RetryError
from sessions.httpbin import LocalHttpbin

NOW = 1_700_000_000.0


class FixedRandom(random.Random):
    """A random source whose uniform() returns a fixed fraction of the range."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


class Headers:
    """A minimal response: what `sleep_for` / `on_response` read."""

    def __init__(self, status_code: int = 503, **headers: str) -> None:
        self.status_code = status_code
        self.headers = httpx.Headers({k.replace("_", "-"): v for k, v in headers.items()})


# ---------------------------------------------------------------- value semantics


def test_defaults_match_the_documented_policy() -> None:
    r = Retry()
    assert r.total == 3
    assert r.status_forcelist == frozenset({429, 500, 502, 503, 504})
    assert r.allowed_methods == DEFAULT_ALLOWED_METHODS
    assert "POST" not in DEFAULT_ALLOWED_METHODS
    assert "PATCH" not in DEFAULT_ALLOWED_METHODS
    assert r.respect_retry_after_header is True
    assert r.attempts == 1


def test_is_frozen_hashable_and_keyword_only() -> None:
    r = Retry(total=2)
    with pytest.raises(FrozenInstanceError):
        r.total = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        Retry(2)  # type: ignore[misc]
    assert hash(r) == hash(Retry(total=2))
    assert r == Retry(total=2, rng=random.Random(1))  # rng/clock don't take part in equality


def test_collections_are_normalised() -> None:
    r = Retry(status_forcelist=[503, 503], allowed_methods=["get", "post"])
    assert r.status_forcelist == frozenset({503})
    assert r.allowed_methods == frozenset({"GET", "POST"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total": -1},
        {"total": True},
        {"total": 1.5},
        {"connect": -1},
        {"backoff_factor": -0.1},
        {"backoff_max": float("nan")},
        {"retry_after_max": -1},
    ],
)
def test_invalid_values_raise_configuration_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as info:
        Retry(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert next(iter(kwargs)) in str(info.value)


def test_replace_returns_a_validated_copy() -> None:
    r = Retry(total=3)
    assert r.replace(total=5).total == 5
    assert r.total == 3
    with pytest.raises(ConfigurationError):
        r.replace(total=-2)


# ---------------------------------------------------------------- coercion


def test_coerce() -> None:
    r = Retry(total=7)
    assert Retry.coerce(r) is r
    assert Retry.coerce(4) == Retry(total=4) == Retry.from_int(4)
    assert Retry.coerce(None).total == 0
    assert Retry.coerce(None, default=r) is r


@pytest.mark.parametrize("value", [True, False, "3", 2.0])
def test_coerce_refuses_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="retries must be"):
        Retry.coerce(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------- what is retryable


def test_is_retry_by_status_and_method() -> None:
    r = Retry()
    assert r.is_retry("GET", 503)
    assert r.is_retry("put", 429)
    assert not r.is_retry("GET", 404)
    assert not r.is_retry("POST", 503)  # not idempotent
    assert Retry(allowed_methods=None).is_retry("POST", 503)  # None = every method


def test_retry_after_alone_makes_413_429_503_retryable() -> None:
    r = Retry(status_forcelist=())
    assert r.is_retry("GET", 413, has_retry_after=True)
    assert not r.is_retry("GET", 413, has_retry_after=False)
    assert not r.is_retry("GET", 500, has_retry_after=True)
    assert not Retry(status_forcelist=(), respect_retry_after_header=False).is_retry("GET", 429, True)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ConnectTimeout("slow"), "connect"),
        (httpx.PoolTimeout("pool"), "connect"),
        (httpx.ReadTimeout("slow"), "read"),
        (httpx.RemoteProtocolError("eof"), "read"),
        (aiohttp.ServerDisconnectedError(), "read"),
        (httpx.UnsupportedProtocol("ftp"), None),
        (ValueError("nope"), None),
    ],
)
def test_error_classification(error: BaseException, kind: str | None) -> None:
    r = Retry()
    assert r.is_retryable_error("GET", error) is (kind is not None)
    # A read error on POST may have been processed: only a connect error is safe to resend.
    assert r.is_retryable_error("POST", error) is (kind == "connect")


# ---------------------------------------------------------------- increment


def test_increment_returns_new_value_with_history() -> None:
    r = Retry(total=2)
    r1 = r.increment("GET", "http://x/", response=Headers(503))
    assert r.total == 2
    assert r.history == ()
    assert r1.total == 1
    assert r1.attempts == 2
    assert r1.history[0].status == 503
    assert r1.history[0].method == "GET"
    err = httpx.ConnectError("refused")
    r2 = r1.increment("GET", "http://x/", error=err)
    assert r2.total == 0
    assert r2.history[-1].error is err


def test_increment_raises_when_exhausted() -> None:
    r = Retry(total=1).increment("GET", "http://x/", response=Headers(503))
    with pytest.raises(RetryError) as info:
        r.increment("GET", "http://x/", response=Headers(502))
    assert isinstance(info.value, SessionsError)
    assert info.value.attempts == 2
    assert "GET http://x/" in str(info.value)
    assert "502" in str(info.value)


def test_increment_chains_the_error() -> None:
    err = httpx.ReadError("reset")
    with pytest.raises(RetryError) as info:
        Retry(total=0).increment("GET", "u", error=err)
    assert info.value.__cause__ is err
    assert info.value.reason is err


@pytest.mark.parametrize(
    ("kwargs", "make_step"),
    [
        ({"connect": 1}, lambda: {"error": httpx.ConnectError("x")}),
        ({"read": 1}, lambda: {"error": httpx.ReadError("x")}),
        ({"status": 1}, lambda: {"response": Headers(503)}),
    ],
)
def test_per_kind_counters_limit_before_total(kwargs: dict[str, int], make_step: object) -> None:
    r = Retry(total=10, **kwargs)
    r = r.increment("GET", "u", **make_step())  # type: ignore[operator]
    with pytest.raises(RetryError):
        r.increment("GET", "u", **make_step())  # type: ignore[operator]


# ---------------------------------------------------------------- the loop helpers


def test_on_response_returns_none_for_success_and_non_retryable() -> None:
    r = Retry()
    assert r.on_response("GET", "u", Headers(200)) is None
    assert r.on_response("POST", "u", Headers(503)) is None
    nxt = r.on_response("GET", "u", Headers(503))
    assert nxt is not None
    assert nxt.attempts == 2


def test_on_response_when_spent_returns_none_or_raises() -> None:
    assert Retry(total=0).on_response("GET", "u", Headers(503)) is None
    with pytest.raises(RetryError):
        Retry(total=0, raise_on_status=True).on_response("GET", "u", Headers(503))


def test_on_error_gives_the_original_error_back_with_a_note() -> None:
    err = httpx.ConnectError("refused")
    r = Retry(total=1)
    nxt = r.on_error("POST", "u", err)
    assert nxt is not None
    assert nxt.total == 0
    assert nxt.on_error("POST", "u", err) is None
    assert any("gave up after 2 attempt" in n for n in err.__notes__)
    assert r.on_error("GET", "u", httpx.UnsupportedProtocol("ftp")) is None


# ---------------------------------------------------------------- backoff


def test_backoff_without_jitter_is_exponential_and_capped() -> None:
    r = Retry(backoff_factor=0.5, backoff_max=3.0, backoff_jitter=False)
    assert [r.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert r.backoff(10_000) == 3.0  # no overflow on silly attempt counts
    assert Retry(backoff_factor=0).backoff(3) == 0.0


def test_full_jitter_draws_from_zero_to_the_ceiling() -> None:
    r = Retry(backoff_factor=1.0, backoff_max=100.0, rng=FixedRandom(0.25))
    assert r.backoff(3) == pytest.approx(1.0)  # 0.25 * (1 * 2**2)
    assert Retry(backoff_factor=1.0, rng=FixedRandom(0.0)).backoff(3) == 0.0


@given(
    factor=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=100),
    attempt=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jittered_backoff_stays_within_bounds(factor: float, cap: float, attempt: int, seed: int) -> None:
    r = Retry(backoff_factor=factor, backoff_max=cap, rng=random.Random(seed))
    wait = r.backoff(attempt)
    assert 0.0 <= wait <= min(cap, factor * 2.0 ** min(attempt - 1, 64))


def test_sleep_for_defaults_attempt_to_history_length() -> None:
    r = Retry(backoff_factor=1.0, backoff_jitter=False)
    r = r.increment("GET", "u", response=Headers(503))
    assert r.sleep_for(None) == 1.0
    r = r.increment("GET", "u", response=Headers(503))
    assert r.sleep_for(None) == 2.0
    assert r.sleep_for(None, attempt=3) == 4.0


# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0.25", 0.25),
        ("0", 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # past date: go now
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),  # obsolete RFC 850 form, long past
        (None, None),
        ("soon", None),
        ("-5", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert Retry.parse_retry_after(value, now=NOW) == expected


def test_sleep_for_prefers_retry_after_and_caps_it() -> None:
    r = Retry(backoff_factor=1.0, retry_after_max=10.0, clock=lambda: NOW)
    assert r.sleep_for(Headers(Retry_After="4"), 1) == 4.0
    assert r.sleep_for(Headers(Retry_After="3600"), 1) == 10.0
    date = email.utils.formatdate(NOW + 7, usegmt=True)
    assert r.sleep_for(Headers(Retry_After=date), 1) == 7.0


def test_sleep_for_falls_back_to_backoff() -> None:
    r = Retry(backoff_factor=1.0, backoff_jitter=False, clock=lambda: NOW)
    assert r.sleep_for(Headers(Retry_After="garbage"), 2) == 2.0
    assert r.sleep_for(Headers(), 2) == 2.0
    ignoring = r.replace(respect_retry_after_header=False)
    assert ignoring.sleep_for(Headers(Retry_After="5"), 1) == 1.0


# ---------------------------------------------------------------- against a real server


def _fetch_with_retries(
    client: httpx.Client, url: str, retry: Retry, waits: list[float]
) -> tuple[httpx.Response, int]:
    """The session's loop in miniature; records waits instead of sleeping."""
    while True:
        response = client.get(url)
        nxt = retry.on_response("GET", url, response)
        if nxt is None:
            return response, retry.attempts
        retry = nxt
        waits.append(retry.sleep_for(response))


@pytest.mark.parametrize(
    ("query", "expected_wait"),
    [({"seconds": "2"}, 2.0), ({"date": "30"}, 30.0)],
)
def test_retry_after_from_a_real_server(
    httpbin: LocalHttpbin, query: dict[str, str], expected_wait: float
) -> None:
    key = f"retry-{next(iter(query))}"
    url = httpbin.urls.RETRY_AFTER(2, key=key, **query)
    waits: list[float] = []
    with httpx.Client() as client:
        response, attempts = _fetch_with_retries(client, url, Retry(total=3), waits)
    assert response.status_code == 200
    assert response.json()["attempt"] == 3
    assert attempts == 3
    # An HTTP date has one-second resolution: the wait lies within a second of the ask.
    assert all(expected_wait - 1.5 <= w <= expected_wait for w in waits)
    assert len(waits) == 2


def test_budget_runs_out_against_a_real_server(httpbin: LocalHttpbin) -> None:
    url = httpbin.urls.RETRY_AFTER(5, key="spent", seconds=0)
    with httpx.Client() as client:
        response, attempts = _fetch_with_retries(client, url, Retry(total=1), [])
    assert response.status_code == 429
    assert attempts == 2
