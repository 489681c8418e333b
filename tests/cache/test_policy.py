"""Pure policy rules, one test per rule, with an injected clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from sessions._exceptions import ConfigurationError
from sessions.cache import _policy as p
from sessions.cache._policy import DO_NOT_CACHE, CacheSettings, Directives, Lookup

NOW = 1_800_000_000.0
URL = "https://example.com/a"


def http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


def store(settings: CacheSettings, headers: dict[str, str] | None = None, **kw: object) -> p.StoreDecision:
    args: dict[str, object] = {
        "method": "GET", "url": URL, "status": 200, "headers": headers or {}, "body_size": 10,
        "request": Directives(), "now": NOW,
    }  # fmt: skip
    args.update(kw)
    return p.decide_store(settings, **args)  # type: ignore[arg-type]


def lookup(settings: CacheSettings, expires: float | None, **kw: object) -> Lookup:
    args: dict[str, object] = {
        "created_at": NOW - 10, "expires": expires, "response_cache_control": "", "request": Directives(),
        "now": NOW,
    }  # fmt: skip
    args.update(kw)
    return p.decide_lookup(settings, **args)  # type: ignore[arg-type]


EXPIRE = CacheSettings.from_options(expire_after=60)
HTTP = CacheSettings.from_options(cache_control=True)


class TestParseExpireAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (60, 60.0), (timedelta(minutes=2), 120.0), ("10m", 600.0), ("1h", 3600.0), ("90", 90.0),
            (-1, None), (None, None), ("never", None), (0, 0.0), ("DO_NOT_CACHE", DO_NOT_CACHE),
        ],
    )  # fmt: skip
    def test_values(self, value: object, expected: object) -> None:
        assert p.parse_expire_after(value) == expected

    @pytest.mark.parametrize("bad", [-5, "soon", True, object()])
    def test_rejects(self, bad: object) -> None:
        with pytest.raises(ConfigurationError):
            p.parse_expire_after(bad)


class TestExpireMode:
    def test_session_expiry(self) -> None:
        assert store(EXPIRE) == p.StoreDecision(True, NOW + 60, "expire_after")

    def test_response_headers_ignored(self) -> None:
        decision = store(EXPIRE, {"cache-control": "no-store, max-age=5"})
        assert decision.store
        assert decision.expires == NOW + 60

    def test_per_request_beats_urls_beats_session(self) -> None:
        settings = CacheSettings.from_options(expire_after=60, urls_expire_after={"example.com/a*": 30})
        assert store(settings).expires == NOW + 30
        assert store(settings, expire_after=5.0, expire_after_given=True).expires == NOW + 5
        assert store(settings, url="https://other.org/").expires == NOW + 60

    def test_urls_first_match_wins(self) -> None:
        settings = CacheSettings.from_options(urls_expire_after={"example.com": 1, "example.com/a": 2})
        assert store(settings).expires == NOW + 1

    def test_never_and_do_not_cache(self) -> None:
        assert store(CacheSettings.from_options(expire_after=-1)).expires is None
        assert not store(EXPIRE, expire_after=DO_NOT_CACHE, expire_after_given=True).store

    def test_absolute_datetime(self) -> None:
        when = datetime.fromtimestamp(NOW + 99, UTC)
        assert store(EXPIRE, expire_after=when, expire_after_given=True).expires == NOW + 99

    def test_status_and_method_filters(self) -> None:
        assert not store(EXPIRE, status=404).store
        assert not store(EXPIRE, method="POST").store
        assert not store(CacheSettings.from_options(allowable_codes=(200, 206)), status=206).store

    def test_request_no_store(self) -> None:
        assert not store(EXPIRE, request=Directives(no_store=True)).store

    def test_max_body(self) -> None:
        assert not store(CacheSettings.from_options(max_body=5), body_size=6).store

    def test_vary_star(self) -> None:
        assert not store(EXPIRE, {"vary": "*"}).store


class TestHttpMode:
    def test_no_store(self) -> None:
        assert not store(HTTP, {"cache-control": "no-store"}).store

    def test_max_age_minus_age(self) -> None:
        decision = store(HTTP, {"cache-control": "max-age=100", "age": "30", "date": http_date(NOW)})
        assert decision.expires == NOW + 70

    def test_max_age_beats_expires(self) -> None:
        headers = {"cache-control": "max-age=10", "expires": http_date(NOW + 500), "date": http_date(NOW)}
        assert store(HTTP, headers).expires == NOW + 10

    def test_expires_relative_to_date(self) -> None:
        headers = {"expires": http_date(NOW + 120), "date": http_date(NOW)}
        assert store(HTTP, headers).expires == NOW + 120

    def test_invalid_expires_is_stale(self) -> None:
        assert not store(HTTP, {"expires": "0"}).store  # stale at once and no validator
        assert store(HTTP, {"expires": "0", "etag": '"x"'}).expires == NOW

    def test_no_cache_stored_but_stale(self) -> None:
        decision = store(HTTP, {"cache-control": "no-cache", "etag": '"x"'})
        assert decision.store
        assert decision.expires == NOW

    def test_headers_beat_per_request(self) -> None:
        decision = store(HTTP, {"cache-control": "max-age=10"}, expire_after=999.0, expire_after_given=True)
        assert decision.expires == NOW + 10

    def test_per_request_when_no_headers(self) -> None:
        assert store(HTTP, expire_after=30.0, expire_after_given=True).expires == NOW + 30

    def test_session_expiry_only_if_given(self) -> None:
        given = CacheSettings.from_options(cache_control=True, expire_after=40, expire_after_given=True)
        assert store(given).expires == NOW + 40
        assert not store(HTTP).store  # nothing to go on, no validator

    def test_heuristic(self) -> None:
        headers = {"last-modified": http_date(NOW - 1000), "date": http_date(NOW)}
        assert store(HTTP, headers).expires == pytest.approx(NOW + 100)

    def test_heuristic_capped_at_a_day(self) -> None:
        headers = {"last-modified": http_date(NOW - 10 * 86400 * 10), "date": http_date(NOW)}
        assert store(HTTP, headers).expires == NOW + 86400

    def test_validator_only_is_kept_for_revalidation(self) -> None:
        decision = store(HTTP, {"etag": '"abc"'})
        assert decision.store
        assert decision.expires == NOW


class TestLookup:
    def test_miss_and_only_if_cached(self) -> None:
        assert lookup(EXPIRE, None, created_at=None) is Lookup.MISS
        assert lookup(EXPIRE, None, created_at=None, only_if_cached=True) is Lookup.GATEWAY_TIMEOUT

    def test_fresh_and_stale(self) -> None:
        assert lookup(EXPIRE, NOW + 1) is Lookup.FRESH
        assert lookup(EXPIRE, NOW) is Lookup.REVALIDATE
        assert lookup(EXPIRE, None) is Lookup.FRESH

    def test_refresh_and_always_revalidate(self) -> None:
        assert lookup(EXPIRE, NOW + 100, refresh=True) is Lookup.REVALIDATE
        always = CacheSettings.from_options(always_revalidate=True)
        assert lookup(always, NOW + 100) is Lookup.REVALIDATE

    def test_request_directives(self) -> None:
        assert lookup(EXPIRE, NOW + 100, request=Directives(no_cache=True)) is Lookup.REVALIDATE
        assert lookup(EXPIRE, NOW + 100, request=Directives(max_age=5)) is Lookup.REVALIDATE
        assert lookup(EXPIRE, NOW + 3, request=Directives(min_fresh=5)) is Lookup.REVALIDATE
        assert lookup(EXPIRE, NOW - 3, request=Directives(max_stale=5)) is Lookup.STALE_OK
        assert lookup(EXPIRE, NOW - 30, request=Directives(max_stale=-1)) is Lookup.STALE_OK

    def test_only_if_cached_serves_stale(self) -> None:
        assert lookup(EXPIRE, NOW - 100, only_if_cached=True) is Lookup.STALE_OK

    def test_stale_while_revalidate_window(self) -> None:
        swr = CacheSettings.from_options(stale_while_revalidate=10)
        assert lookup(swr, NOW - 5) is Lookup.STALE_WHILE_REVALIDATE
        assert lookup(swr, NOW - 11) is Lookup.REVALIDATE
        assert lookup(CacheSettings.from_options(stale_while_revalidate=True), NOW - 1e6) is (
            Lookup.STALE_WHILE_REVALIDATE
        )

    def test_response_swr_directive_in_http_mode(self) -> None:
        cc = "max-age=1, stale-while-revalidate=30"
        assert lookup(HTTP, NOW - 20, response_cache_control=cc) is Lookup.STALE_WHILE_REVALIDATE

    def test_must_revalidate_forbids_stale(self) -> None:
        settings = CacheSettings.from_options(
            cache_control=True, stale_while_revalidate=True, stale_if_error=True
        )
        cc = "max-age=1, must-revalidate"
        assert lookup(settings, NOW - 1, response_cache_control=cc) is Lookup.REVALIDATE
        assert lookup(settings, NOW - 1, response_cache_control=cc, request=Directives(max_stale=-1)) is (
            Lookup.REVALIDATE
        )
        assert not p.stale_on_error_ok(settings, expires=NOW - 1, response_cache_control=cc, now=NOW)


class TestStaleIfError:
    def test_windows(self) -> None:
        off = CacheSettings.from_options()
        assert not p.stale_on_error_ok(off, expires=NOW - 1, response_cache_control="", now=NOW)
        any_ = CacheSettings.from_options(stale_if_error=True)
        assert p.stale_on_error_ok(any_, expires=NOW - 1e6, response_cache_control="", now=NOW)
        ten = CacheSettings.from_options(stale_if_error=10)
        assert p.stale_on_error_ok(ten, expires=NOW - 9, response_cache_control="", now=NOW)
        assert not p.stale_on_error_ok(ten, expires=NOW - 11, response_cache_control="", now=NOW)

    @pytest.mark.parametrize(
        ("status", "error"), [(429, True), (500, True), (503, True), (404, False), (200, False)]
    )
    def test_error_statuses(self, status: int, error: bool) -> None:
        assert p.is_error_status(status) is error


class TestDirectivesAndRevalidation:
    def test_parse_cache_control(self) -> None:
        cc = p.parse_cache_control('max-age=60, no-cache="set-cookie", Private, max-stale')
        assert cc == {"max-age": 60, "no-cache": None, "private": None, "max-stale": None}

    def test_request_directives(self) -> None:
        assert p.request_directives(None).plain
        assert p.request_directives(None, "no-cache").no_cache
        d = p.request_directives("max-stale, only-if-cached, no-store")
        assert d.max_stale == -1
        assert d.only_if_cached
        assert d.no_store

    def test_conditional_headers(self) -> None:
        assert p.conditional_headers({"etag": '"a"', "last-modified": "x"}) == {
            "If-None-Match": '"a"',
            "If-Modified-Since": "x",
        }
        assert p.conditional_headers({}) == {}

    def test_merge_not_modified(self) -> None:
        stored = [(b"Content-Length", b"10"), (b"ETag", b'"a"'), (b"Cache-Control", b"max-age=1")]
        fresh = [(b"cache-control", b"max-age=99"), (b"content-length", b"0"), (b"date", b"d")]
        merged = dict(p.merge_not_modified(stored, fresh))
        assert merged[b"Content-Length"] == b"10"
        assert merged[b"cache-control"] == b"max-age=99"
        assert b"Cache-Control" not in merged
        assert merged[b"date"] == b"d"

    def test_bad_windows_rejected(self) -> None:
        with pytest.raises(ConfigurationError):
            CacheSettings.from_options(stale_if_error=-1)
        with pytest.raises(ConfigurationError):
            CacheSettings.from_options(max_body=-1)
