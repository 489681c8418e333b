"""Keys: normalisation, body canonicalisation, matched headers, credentials, variants."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from sessions.cache._keys import (
    _SIMPLE_URL,
    REDACTED,
    KeyBuilder,
    _encode,
    _encode_plain,
    _plain_pairs,
    _split_general,
    _split_query,
    _split_simple,
    normalise_url,
)

E: frozenset[str] = frozenset()
SECRET = frozenset({"api_key", "access_token"})


def raw(**headers: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]


def key(kb: KeyBuilder, url: str, headers: list[tuple[bytes, bytes]] | None = None, **kw: object) -> str:
    return kb.build("GET", url, headers or [], **kw).key  # type: ignore[arg-type]


class TestNormaliseUrl:
    def test_equivalent_urls(self) -> None:
        a = normalise_url("HTTPS://Example.COM:443/p?b=2&a=1#frag", E, E)
        b = normalise_url("https://example.com/p?a=1&b=2", E, E)
        assert a.for_key == b.for_key == "https://example.com/p?a=1&b=2"

    def test_non_default_port_kept_and_empty_path(self) -> None:
        assert normalise_url("http://h:8080", E, E).for_key == "http://h:8080/"

    def test_credentials_redacted_and_removed(self) -> None:
        n = normalise_url("https://u:pw@h/p?api_key=SECRET&x=1", E, SECRET)
        assert n.for_key == "https://h/p?x=1"
        assert n.stored == f"https://h/p?api_key={REDACTED}&x=1"
        assert ("api_key", "SECRET") in n.credentials
        assert ("userinfo", "u:pw") in n.credentials

    def test_ignored(self) -> None:
        n = normalise_url("https://h/p?_t=123&x=1", frozenset({"_t"}), E)
        assert n.for_key == "https://h/p?x=1"
        assert "123" not in n.stored


class TestPlainQueryFastPath:
    """A query of unreserved characters, `=` and `&` is split and encoded with str methods: it must give
    exactly what parse_qsl + urlencode(quote) give, on every such query."""

    @given(st.text(alphabet="ab0.-_~=&", max_size=40))
    def test_same_pairs_and_encoding_as_the_general_path(self, query: str) -> None:
        pairs = _plain_pairs(query)
        assert pairs == parse_qsl(query, keep_blank_values=True)
        assert _encode_plain(pairs) == _encode(pairs)

    @given(st.text(alphabet="ab0.-_~=&", max_size=40), st.sampled_from([E, SECRET, frozenset({"a", "b0"})]))
    def test_whole_url_as_the_general_path_gives_it(self, query: str, hidden: frozenset[str]) -> None:
        # The general path's pairs, split, sorted and encoded: what a plain query's shortcut must equal.
        credentials: list[tuple[str, str]] = []
        keyed, stored = _split_query(parse_qsl(query, keep_blank_values=True), E, hidden, credentials)
        n = normalise_url(f"http://h/p?{query}", E, hidden)
        assert n.for_key == "http://h/p" + (f"?{_encode(keyed)}" if keyed else "")
        assert n.stored == "http://h/p" + (f"?{_encode(stored)}" if stored else "")
        assert n.credentials == tuple(credentials)

    def test_a_plain_and_a_general_query_of_the_same_pairs_share_a_key(self) -> None:
        plain = normalise_url("http://h/p?b=2&a=x=y&c", E, E)
        general = normalise_url("http://h/p?b=%32&a=x%3Dy&c", E, E)  # percent-escaped: the general path
        assert plain.for_key == general.for_key == "http://h/p?a=x%3Dy&b=2&c="

    def test_stored_url_is_the_key_url_when_nothing_is_hidden(self) -> None:
        n = normalise_url("http://h/p?b=2&a=1", E, SECRET)
        assert n.stored == n.for_key == "http://h/p?a=1&b=2"


# Characters urlsplit treats specially or strips, mixed with ordinary ones.
_URL_TAIL = st.text(alphabet="aZ09/?#&=%:@[]._~-+! \t\né", max_size=30)


class TestSimpleURLFastPath:
    """A plain absolute URL is split by one regex: it must give exactly what urlsplit gives, and any URL
    it does not take must go to urlsplit."""

    @given(
        st.sampled_from(["http", "HTTPS", "ws", "h2+x", "1http"]),
        st.text(alphabet="aZ09.-_@[]:%é ", min_size=0, max_size=12),
        st.one_of(
            st.none(),
            st.integers(min_value=0, max_value=99999).map(str),
            st.sampled_from(["", "08x", "\u0661\u0662", "0080"]),  # \u0661\u0662: Arabic-Indic digits
        ),
        _URL_TAIL,
    )
    def test_same_parts_as_urlsplit(self, scheme: str, host: str, port: str | None, tail: str) -> None:
        url = f"{scheme}://{host}" + ("" if port is None else f":{port}") + tail
        fast = _split_simple(url)
        if fast is not None:
            assert fast == _split_general(url)

    @given(st.from_regex(_SIMPLE_URL, fullmatch=True))
    def test_every_url_the_fast_path_accepts_splits_as_urlsplit_does(self, url: str) -> None:
        # Drawn from the fast path's own pattern, so every example exercises it (the test above mostly
        # draws URLs it declines).
        try:
            general = _split_general(url)
        except ValueError:
            assert _split_simple(url) is None  # urlsplit's error (a port out of range) must stay an error
            return
        assert _split_simple(url) == general

    @given(st.sampled_from(["http://h", "https://Ex.COM:443", "http://a.b:8080"]), _URL_TAIL)
    def test_whole_urls_keep_their_key(self, base: str, tail: str) -> None:
        url = base + tail
        if _split_simple(url) is None:
            return  # the general path, tested by the other tests
        assert normalise_url(url, E, E).for_key == normalise_url(" " + url, E, E).for_key  # " ": urlsplit

    def test_the_fast_path_takes_ordinary_urls(self) -> None:
        assert _split_simple("HTTP://Api.Example.com:80/v1/items;x=1?b=2&a=%20#top") == (
            "http",
            "api.example.com",
            "/v1/items;x=1",
            "b=2&a=%20",
            [],
        )
        assert _split_simple("https://h:8443") == ("https", "h:8443", "/", "", [])

    def test_what_it_leaves_to_urlsplit(self) -> None:
        for url in (
            "http://u:p@h/",
            "http://[::1]:8080/",
            "http://h:99999/",
            "http://h:/",
            " http://h/",
            "http://é/",
        ):
            assert _split_simple(url) is None, url


class TestKeys:
    kb = KeyBuilder(salt="t")

    def test_format_and_determinism(self) -> None:
        k = key(self.kb, "https://h/p")
        assert k.startswith("v1-")
        assert len(k) == 3 + 64
        assert k == key(KeyBuilder(salt="t"), "https://h/p")

    def test_method_matters(self) -> None:
        assert self.kb.build("GET", "https://h/", []).key != self.kb.build("HEAD", "https://h/", []).key

    def test_json_body_canonical(self) -> None:
        a = self.kb.build("POST", "https://h/", [], json.dumps({"a": 1, "b": 2}).encode(), "application/json")
        b = self.kb.build("POST", "https://h/", [], b'{"b":2,  "a":1}', "application/json")
        c = self.kb.build("POST", "https://h/", [], b'{"b":3,"a":1}', "application/json")
        assert a.key == b.key != c.key

    def test_form_body_sorted(self) -> None:
        ct = "application/x-www-form-urlencoded"
        assert self.kb.build("POST", "https://h/", [], b"a=1&b=2", ct).key == (
            self.kb.build("POST", "https://h/", [], b"b=2&a=1", ct).key
        )

    def test_headers_not_matched_by_default(self) -> None:
        assert key(self.kb, "https://h/", raw(accept="a")) == key(self.kb, "https://h/", raw(accept="b"))

    def test_match_headers(self) -> None:
        kb = KeyBuilder(salt="t", match_headers=["Accept"])
        assert key(kb, "https://h/", raw(accept="a")) != key(kb, "https://h/", raw(accept="b"))
        assert key(kb, "https://h/", raw(accept="a", x_other="1")) == key(kb, "https://h/", raw(accept="a"))
        every = KeyBuilder(salt="t", match_headers=True)
        assert key(every, "https://h/", raw(x_other="1")) != key(every, "https://h/", raw(x_other="2"))

    def test_credentials_separate_entries(self) -> None:
        anon = key(self.kb, "https://h/")
        alice = key(self.kb, "https://h/", raw(authorization="Bearer alice"))
        bob = key(self.kb, "https://h/", raw(authorization="Bearer bob"))
        assert len({anon, alice, bob}) == 3
        assert key(self.kb, "https://h/?api_key=1") != key(self.kb, "https://h/?api_key=2")
        assert key(self.kb, "https://h/", extra_credential=b"x") != anon

    def test_fingerprint_is_salted(self) -> None:
        headers = raw(authorization="Bearer alice")
        assert key(KeyBuilder(salt="a"), "https://h/", headers) != key(
            KeyBuilder(salt="b"), "https://h/", headers
        )

    def test_json_body_credentials(self) -> None:
        ct = "application/json"
        a = self.kb.build("POST", "https://h/", [], b'{"q":1,"api_key":"A"}', ct).key
        b = self.kb.build("POST", "https://h/", [], b'{"q":1,"api_key":"B"}', ct).key
        assert a != b

    def test_variant_ignores_credential_values(self) -> None:
        v1 = self.kb.variant(
            "p", ("accept-language", "authorization"), {"accept-language": "en", "authorization": "x"}
        )
        v2 = self.kb.variant(
            "p", ("accept-language", "authorization"), {"accept-language": "en", "authorization": "y"}
        )
        v3 = self.kb.variant("p", ("accept-language",), {"accept-language": "fr"})
        assert v1 == v2 != v3

    def test_redact_headers(self) -> None:
        out = dict(self.kb.redact_headers([("Authorization", "Bearer s"), ("Cookie", "c"), ("Accept", "a")]))
        assert out == {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "a"}

    def test_key_fn(self) -> None:
        kb = KeyBuilder(salt="t", key_fn=lambda method, url, headers, content: url.split("?")[0])
        assert key(kb, "https://h/p?a=1") == key(kb, "https://h/p?a=2")


# Keys are what SQLite, Redis and SQL caches written by earlier releases are found by: a change to any part
# of their derivation (normalisation, header matching, body canonicalisation, credentials) must come with a
# new KEY_VERSION, never silently. (method, url, raw headers, body, content type) → (key, stored URL), once
# with the defaults and once with ignored parameters and matched headers.
_STABLE_REQUESTS: list[tuple[str, str, list[tuple[bytes, bytes]], bytes | None, str]] = [
    ("GET", "http://127.0.0.1:8080/get?c=x&r=1&i=12", [], None, ""),
    ("GET", "HTTPS://Api.Example.COM:443/v1/items?b=2&a=1#frag", [], None, ""),
    ("GET", "https://h/p?api_key=SECRET&x=1&_t=5", [], None, ""),
    ("GET", "https://u:pw@h/p?b=%32&a=x%3Dy&c", [], None, ""),
    ("HEAD", "http://h:8080", [(b"Accept", b"application/json")], None, ""),
    ("GET", "http://h/p", [(b"Authorization", b"Bearer t0k3n"), (b"X-Trace", b"1")], None, ""),
    ("POST", "https://h/search", [], b'{"q":1,"api_key":"A"}', "application/json"),
    ("POST", "https://h/form", [], b"b=2&a=1&token=x", "application/x-www-form-urlencoded"),
    ("GET", "http://h/p?id2=3&id=5&a-b=1&a=0&a=x=y", [], None, ""),
    ("GET", "http://[::1]:8080/x?q=%C3%A9", [], None, ""),
]
_STABLE_DEFAULT = [
    (
        "v1-0159770146be8bd42718d4479117195489c71f82eedd0fb0d41a6c835e920ea7",
        "http://127.0.0.1:8080/get?c=x&i=12&r=1",
    ),
    (
        "v1-18db74b0c5420ec9ea46e0a57c4febfa3f1e7d00f5b763bf5ac988d54fa9adb5",
        "https://api.example.com/v1/items?a=1&b=2",
    ),
    (
        "v1-982525d6df0b59f68206f1444e18368ba36b8e92399806ae917c2170e34db16d",
        "https://h/p?_t=5&api_key=REDACTED&x=1",
    ),
    ("v1-48353a0424fd1642f220bdf8036350a153ef7d62e4fa67c93cdf1a5900e46531", "https://h/p?a=x%3Dy&b=2&c="),
    ("v1-524357674cfdde9df252f1fd50539253a760b22e9fdf949bfc7efc35e133f563", "http://h:8080/"),
    ("v1-9e60b60aa9ed264bee04c10569d962ee8a546ad580c8b303a7c54b94f5c40706", "http://h/p"),
    ("v1-1e370ebbf36941b2e380474171806eaf96fe3d622bf4972f38edae64c96ee424", "https://h/search"),
    ("v1-5c0fd8f93d98540d70cfd480eac6a094c88c031e115fbc0c2d5e66256d5adb82", "https://h/form"),
    (
        "v1-792db7e5ec59bfee804e8e576594a2c6d0f2ecd18c86de586f62005c88c4edb8",
        "http://h/p?a=0&a=x%3Dy&a-b=1&id=5&id2=3",
    ),
    ("v1-615b40ace9e049e4042e7b1654503fa9d98163739b7125c8cb3835244a241541", "http://[::1]:8080/x?q=%C3%A9"),
]
_STABLE_CONFIGURED = [
    (
        "v1-0159770146be8bd42718d4479117195489c71f82eedd0fb0d41a6c835e920ea7",
        "http://127.0.0.1:8080/get?c=x&i=12&r=1",
    ),
    (
        "v1-18db74b0c5420ec9ea46e0a57c4febfa3f1e7d00f5b763bf5ac988d54fa9adb5",
        "https://api.example.com/v1/items?a=1&b=2",
    ),
    (
        "v1-29981eff3cf1230c480085ee0953cd8f2400e61f0aaa74fd4412c59212c902dd",
        "https://h/p?_t=REDACTED&api_key=REDACTED&x=1",
    ),
    ("v1-48353a0424fd1642f220bdf8036350a153ef7d62e4fa67c93cdf1a5900e46531", "https://h/p?a=x%3Dy&b=2&c="),
    ("v1-337a020a44d851ecd779db9fc874966628a2fb9c9bd7f95bdd71a6390ffab390", "http://h:8080/"),
    ("v1-6f1b5b87f5020707fe72c2ee5a90cbd7172bd1aec58a48ea35cd8402cdecc630", "http://h/p"),
    ("v1-1e370ebbf36941b2e380474171806eaf96fe3d622bf4972f38edae64c96ee424", "https://h/search"),
    ("v1-5c0fd8f93d98540d70cfd480eac6a094c88c031e115fbc0c2d5e66256d5adb82", "https://h/form"),
    (
        "v1-792db7e5ec59bfee804e8e576594a2c6d0f2ecd18c86de586f62005c88c4edb8",
        "http://h/p?a=0&a=x%3Dy&a-b=1&id=5&id2=3",
    ),
    ("v1-615b40ace9e049e4042e7b1654503fa9d98163739b7125c8cb3835244a241541", "http://[::1]:8080/x?q=%C3%A9"),
]


class TestKeysStayStable:
    """The v1 keys of a fixed set of requests, as released: a cache written before stays readable."""

    def test_default_options(self) -> None:
        kb = KeyBuilder(salt="Session")
        got = [(k.key, k.stored_url) for k in (kb.build(*r) for r in _STABLE_REQUESTS)]
        assert got == _STABLE_DEFAULT

    def test_ignored_parameters_and_matched_headers(self) -> None:
        kb = KeyBuilder(salt="Session", ignored_parameters=["_t"], match_headers=["accept", "x-trace"])
        got = [(k.key, k.stored_url) for k in (kb.build(*r) for r in _STABLE_REQUESTS)]
        assert got == _STABLE_CONFIGURED
