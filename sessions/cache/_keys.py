"""Cache keys: versioned full SHA-256 over method + normalised URL + body digest + matched headers.

Credentials decision (documented in the README): a request that carries a credential —
`Authorization`, `Proxy-Authorization`, `Cookie`, an API-key header, URL userinfo, or an API-key /
token query or body parameter (`CREDENTIAL_PARAMETERS`) — **is cached, keyed on a slow salted hash
of the credential** (PBKDF2-HMAC-SHA256, `CREDENTIAL_ROUNDS` rounds, salt = the cache namespace).
So a request with other credentials never gets that response, and someone holding the cache file
cannot cheaply test guesses of a password against the keys. The hash is memoised per process, so
only the first request with a given credential pays for it (~tens of ms). The credential values
themselves are never stored: the stored URL and request headers carry ``REDACTED`` instead.

`ignored_parameters` (requests-cache's option) is different: those names are dropped from matching
entirely and redacted in storage — use it for cache-busters like ``_t``, not for credentials.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Final, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

__all__ = [
    "CREDENTIAL_PARAMETERS",
    "CREDENTIAL_ROUNDS",
    "KEY_VERSION",
    "REDACTED",
    "KeyBuilder",
    "NormalisedURL",
    "credential_fingerprint",
    "normalise_url",
]

KEY_VERSION: Final = "v1"
REDACTED: Final = "REDACTED"
CREDENTIAL_ROUNDS: Final = 100_000
CREDENTIAL_PARAMETERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
    }
)
"""Header, query-parameter and body-field names treated as credentials (case-insensitive)."""

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Headers never worth matching on: hop-by-hop or recomputed by the client.
_UNMATCHED: Final = frozenset({"host", "connection", "content-length", "transfer-encoding", "keep-alive"})
_MEMO_MAX: Final = 4096

KeyFn = Callable[[str, str, Mapping[str, str], bytes | None], str]


class NormalisedURL(NamedTuple):
    """A URL split into what the key uses, what storage may see, and the credentials it carried (a tuple:
    one is made on every cache miss, and a frozen dataclass costs four times as much to build)."""

    for_key: str  # normalised, ignored and credential parameters removed
    stored: str  # normalised, ignored and credential values replaced by REDACTED
    credentials: tuple[tuple[str, str], ...]  # (name, value) taken from userinfo and the query


def normalise_url(raw: str, ignored: frozenset[str], secret: frozenset[str]) -> NormalisedURL:
    """Lower-case scheme and host, drop the default port and the fragment, sort the query."""
    return _normalise_url(raw, ignored, secret)


# A query of unreserved characters, `=` and `&` only: percent-decoding and re-encoding it changes nothing,
# so its pairs can be split and sorted with str methods (what nearly every API query looks like).
_PLAIN_QUERY: Final = re.compile(r"[A-Za-z0-9._~=&-]*")


# An absolute URL whose every part urlsplit would take as it is: an ASCII host without userinfo, brackets
# or percent-escapes, a decimal port, and only RFC 3986 characters after it (no spaces or controls, which
# urlsplit strips or drops). Nearly every URL a session sends; it is split by one match, the rest by urlsplit.
_SIMPLE_URL: Final = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9._-]+)(?::([0-9]{1,5}))?"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?([A-Za-z0-9._~!$&'()*+,;=:@%/?-]*))?"
    r"(?:#[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*)?"
)

# (scheme, netloc, path, query, credentials): the parts of a URL the key is made of.
_Parts = tuple[str, str, str, str, list[tuple[str, str]]]


def _normalise_url(raw: str, ignored: frozenset[str], secret: frozenset[str]) -> NormalisedURL:
    scheme, netloc, path, query, credentials = _split_simple(raw) or _split_general(raw)
    base = f"{scheme}://{netloc}{path}"
    if not query:
        return NormalisedURL(base, base, tuple(credentials))
    if _PLAIN_QUERY.fullmatch(query) is not None:
        # (name, "=", value) triples sort as the (name, value) pairs do: a pair without "=" has the value ""
        # and the separator "", both the smallest there is, and it encodes as "name=" either way.
        triples = [part.partition("=") for part in query.split("&") if part]
        if (ignored or secret) and not (ignored | secret).isdisjoint([t[0].lower() for t in triples]):
            pairs = [(name, value) for name, _, value in triples]
        else:  # nothing to hide (nearly every query): one sorted encoding serves key and storage
            triples.sort()
            for_key = f"{base}?{_encode_triples(triples)}" if triples else base
            return NormalisedURL(for_key, for_key, tuple(credentials))
        encode = _encode_plain
    else:
        pairs = parse_qsl(query, keep_blank_values=True)
        encode = _encode
    keyed, stored = _split_query(pairs, ignored, secret, credentials)
    for_key = base + (f"?{encode(keyed)}" if keyed else "")
    if stored == keyed:  # nothing ignored or secret: one encoding serves both
        return NormalisedURL(for_key, for_key, tuple(credentials))
    stored_url = base + (f"?{encode(stored)}" if stored else "")
    return NormalisedURL(for_key, stored_url, tuple(credentials))


def _split_simple(raw: str) -> _Parts | None:
    """`_split_general` of a `_SIMPLE_URL` by one regex match (None for any other URL)."""
    match = _SIMPLE_URL.fullmatch(raw)
    if match is None:
        return None
    scheme, host, port_text, path, query = match.groups()
    port = None if port_text is None else int(port_text)
    if port is not None and port > 65535:
        return None  # urlsplit's error
    scheme = scheme.lower()
    return scheme, _netloc(scheme, host.lower(), port), path or "/", query or "", []


def _split_general(raw: str) -> _Parts:
    """Lower-case scheme and host, the default port left out, userinfo taken as a credential."""
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    credentials: list[tuple[str, str]] = []
    if parts.username or parts.password:
        credentials.append(("userinfo", f"{parts.username}:{parts.password}"))
    return scheme, _netloc(scheme, host, parts.port), parts.path or "/", parts.query, credentials


def _netloc(scheme: str, host: str, port: int | None) -> str:
    """The host, with the port unless it is the scheme's default."""
    return host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"


def _encode(pairs: list[tuple[str, str]]) -> str:
    return urlencode(sorted(pairs), quote_via=quote, safe="")


def _plain_pairs(query: str) -> list[tuple[str, str]]:
    """`parse_qsl(query, keep_blank_values=True)` for a `_PLAIN_QUERY` (nothing to unquote)."""
    return [(name, value) for name, _, value in (part.partition("=") for part in query.split("&") if part)]


def _encode_plain(pairs: list[tuple[str, str]]) -> str:
    """`_encode` for pairs of a `_PLAIN_QUERY`: ``quote(..., safe="")`` leaves their characters as they are,
    except `=` inside a value (a second `=` in a pair), which it escapes."""
    return "&".join(f"{name}={value.replace('=', '%3D')}" for name, value in sorted(pairs))


def _encode_triples(triples: list[tuple[str, str, str]]) -> str:
    """`_encode_plain` of sorted `str.partition("=")` triples of a `_PLAIN_QUERY`."""
    return "&".join([f"{name}={value.replace('=', '%3D')}" for name, _, value in triples])


def _split_query(
    pairs: Iterable[tuple[str, str]],
    ignored: frozenset[str],
    secret: frozenset[str],
    credentials: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Pairs used for the key, and pairs safe to store (credential values moved to `credentials`)."""
    keyed: list[tuple[str, str]] = []
    stored: list[tuple[str, str]] = []
    for name, value in pairs:
        low = name.lower()
        if low in ignored:
            stored.append((name, REDACTED))
        elif low in secret:
            credentials.append((low, value))
            stored.append((name, REDACTED))
        else:
            keyed.append((name, value))
            stored.append((name, value))
    return keyed, stored


@lru_cache(maxsize=256)
def credential_fingerprint(payload: bytes, salt: bytes) -> bytes:
    """Slow salted hash of a credential (memoised, so only the first use of a credential pays)."""
    return hashlib.pbkdf2_hmac("sha256", payload, b"sessions-cache-credential-v1:" + salt, CREDENTIAL_ROUNDS)


class Key(NamedTuple):
    """A computed key plus what the miss path needs to build a storable entry."""

    key: str
    stored_url: str
    fingerprint: bytes  # b"" when the request carries no credential


class KeyBuilder:
    """Computes keys for one cache (its ignored / credential names, matched headers and salt)."""

    def __init__(
        self,
        *,
        salt: str,
        ignored_parameters: Iterable[str] = (),
        credential_parameters: Iterable[str] = CREDENTIAL_PARAMETERS,
        match_headers: bool | Iterable[str] = False,
        key_fn: KeyFn | None = None,
    ) -> None:
        self.salt = salt.encode()
        self.ignored = frozenset(n.lower() for n in ignored_parameters)
        self.secret = frozenset(n.lower() for n in credential_parameters) - self.ignored
        self.match_all = match_headers is True
        self.matched = (
            frozenset()
            if isinstance(match_headers, bool)
            else frozenset(h.lower() for h in match_headers) - self.secret - self.ignored
        )
        self.key_fn = key_fn
        # Hit-path memo: (method, url, body, raw headers, extra credential) → Key.
        self._memo: dict[tuple[object, ...], Key] = {}
        self._header_memo: dict[tuple[tuple[bytes, bytes], ...], tuple[tuple[tuple[str, str], ...], str]] = {}
        self._redacted_memo: dict[tuple[tuple[bytes, bytes], ...], list[tuple[str, str]]] = {}

    def build(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[bytes, bytes]],
        content: bytes | None = None,
        content_type: str = "",
        extra_credential: bytes = b"",
    ) -> Key:
        """The key of a request. `headers` are raw (name, value) byte pairs, as httpx keeps them."""
        raw = tuple(headers)
        memo_key = (method, url, content, raw, extra_credential)
        found = self._memo.get(memo_key)
        if found is not None:
            return found
        key = self._compute(method, url, raw, content, content_type, extra_credential)
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()  # cheap bound; recomputing is correct, just slower
        self._memo[memo_key] = key
        return key

    def _compute(
        self,
        method: str,
        url: str,
        raw: tuple[tuple[bytes, bytes], ...],
        content: bytes | None,
        content_type: str,
        extra_credential: bytes,
    ) -> Key:
        norm = _normalise_url(url, self.ignored, self.secret)
        header_credentials, matched = self._header_parts(raw)
        if not (content or extra_credential or header_credentials or norm.credentials or self.key_fn):
            # No body and no credential (nearly every GET): the derivation below with an empty body digest
            # and an empty fingerprint, in one string.
            text = f"{KEY_VERSION}\x1f{method.upper()}\x1f{norm.for_key}\x1f\x1f{matched}\x1f"
            return Key(f"{KEY_VERSION}-{hashlib.sha256(text.encode()).hexdigest()}", norm.stored, b"")
        credentials = [*norm.credentials, *header_credentials]
        body = self._body_digest(content, content_type, credentials)
        fingerprint = self._fingerprint(credentials, extra_credential)
        if self.key_fn is not None:
            custom = self.key_fn(method, norm.for_key, dict(_decoded(raw)), content)
            parts = [KEY_VERSION, "custom", custom]
        else:
            parts = [KEY_VERSION, method.upper(), norm.for_key, body, matched]
        digest = hashlib.sha256("\x1f".join(parts).encode() + b"\x1f" + fingerprint).hexdigest()
        return Key(f"{KEY_VERSION}-{digest}", norm.stored, fingerprint)

    def _header_parts(self, raw: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[tuple[str, str], ...], str]:
        """(credentials, matched-headers string) of a request's raw headers, memoised: nearly every request
        of a session carries the same headers, while its URL differs every time."""
        found = self._header_memo.get(raw)
        if found is None:
            credentials: list[tuple[str, str]] = []
            matched: list[str] = []
            for name_b, value_b in raw:
                name = name_b.decode("latin-1").lower()
                if name in self.secret:
                    credentials.append((name, value_b.decode("latin-1")))
                elif name not in self.ignored and (
                    name in self.matched or (self.match_all and name not in _UNMATCHED)
                ):
                    matched.append(f"{name}={value_b.decode('latin-1').strip()}")
            found = (tuple(credentials), "\n".join(sorted(matched)))
            if len(self._header_memo) >= _MEMO_MAX:
                self._header_memo.clear()
            self._header_memo[raw] = found
        return found

    def _fingerprint(self, credentials: list[tuple[str, str]], extra: bytes) -> bytes:
        if not credentials and not extra:
            return b""
        payload = "\x1f".join(f"{n}={v}" for n, v in sorted(credentials)).encode() + b"\x1e" + extra
        return credential_fingerprint(payload, self.salt)

    def _body_digest(
        self, content: bytes | None, content_type: str, credentials: list[tuple[str, str]]
    ) -> str:
        """Digest of the body; JSON canonicalised and forms sorted so equivalent bodies match."""
        if not content:
            return ""
        ctype = content_type.split(";", 1)[0].strip().lower()
        canonical = content
        if ctype == "application/json" or ctype.endswith("+json"):
            canonical = self._canonical_json(content, credentials)
        elif ctype == "application/x-www-form-urlencoded":
            canonical = self._canonical_form(content, credentials)
        return hashlib.sha256(canonical).hexdigest()

    def _canonical_json(self, content: bytes, credentials: list[tuple[str, str]]) -> bytes:
        try:
            data = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            return content  # not really JSON: hash the bytes
        if isinstance(data, dict):
            data = self._strip_mapping(data, credentials)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def _strip_mapping(
        self, data: dict[str, object], credentials: list[tuple[str, str]]
    ) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in data.items():
            low = str(name).lower()
            if low in self.secret:
                credentials.append((low, json.dumps(value, sort_keys=True)))
            elif low not in self.ignored:
                out[name] = value
        return out

    def _canonical_form(self, content: bytes, credentials: list[tuple[str, str]]) -> bytes:
        pairs = parse_qsl(content.decode("latin-1"), keep_blank_values=True)
        keyed, _ = _split_query(pairs, self.ignored, self.secret, credentials)
        return _encode(keyed).encode()

    def variant(self, primary: str, vary: Iterable[str], headers: Mapping[str, str]) -> str:
        """Key of one Vary variant: the primary key plus the request's values of the Vary headers.

        Credential headers (Vary: Authorization / Cookie) are already part of the primary key through
        the fingerprint, so their values are left out here and never hashed unsalted.
        """
        parts = [primary]
        for name in sorted(vary):
            value = "" if name in self.secret else " ".join(headers.get(name, "").split())
            parts.append(f"{name}={value}")
        return f"{KEY_VERSION}-{hashlib.sha256(chr(0x1F).join(parts).encode()).hexdigest()}"

    def redact_headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Request headers safe to store: credential and ignored values replaced by REDACTED."""
        hidden = self.secret | self.ignored
        return [(n, REDACTED if n.lower() in hidden else v) for n, v in headers]

    def redact_request_headers(
        self, raw: tuple[tuple[bytes, bytes], ...], headers: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        """`redact_headers` of a request's `headers` (an `httpx.Headers`) whose raw pairs are `raw`,
        memoised per header set; a new list each call, as the entry owns it."""
        found = self._redacted_memo.get(raw)
        if found is None:
            found = self.redact_headers(headers.items())
            if len(self._redacted_memo) >= _MEMO_MAX:
                self._redacted_memo.clear()
            self._redacted_memo[raw] = found
        return list(found)


def _decoded(raw: Iterable[tuple[bytes, bytes]]) -> Iterable[tuple[str, str]]:
    for name, value in raw:
        yield name.decode("latin-1").lower(), value.decode("latin-1")
