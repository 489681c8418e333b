"""`CacheCore`: everything the mixin does except I/O.

The sync and async shells in `_mixin.py` only move bytes (storage get/set, upstream send); each
decision — bypass or not, which key, fresh or stale, what to store, what to answer — is made here,
once, for both flavours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import httpx

from .._models import CacheFacts, Call, Response
from . import _policy as policy
from ._entry import RESPONSE, VARY_INDEX, CachedEntry
from ._keys import Key, KeyBuilder
from ._policy import CacheSettings, Directives, Lookup
from .storage import CacheStorage

__all__ = ["CacheCore", "Plan"]

log = logging.getLogger("sessions.cache")

# A request carrying one of these is the caller's own conditional/partial request: pass it through.
_BYPASS_HEADERS: Final = frozenset(
    {b"range", b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since", b"if-range"}
)
# Never stored: cookies are the session's business, and the body is stored decoded.
_UNSTORED: Final = frozenset({b"set-cookie", b"set-cookie2", b"transfer-encoding", b"content-encoding"})
_UNSTORED_NAMES: Final = frozenset(name.decode() for name in _UNSTORED)
_VALIDATOR_GRACE: Final = 86_400.0  # keep an expired entry with a validator a day for revalidation
_OPTION_NAMES: Final = ("expire_after", "only_if_cached", "refresh", "force_refresh")


@dataclass(slots=True)
class Plan:
    """One request as the cache sees it."""

    call: Call
    key: Key
    directives: Directives
    raw_headers: tuple[tuple[bytes, bytes], ...]  # the request's, as httpx keeps them (memo keys)
    expire_after: policy.ExpireAfter | None = None
    expire_after_given: bool = False
    only_if_cached: bool = False
    refresh: bool = False
    force_refresh: bool = False
    content_type: str = ""
    entry_key: str = ""  # the key the response lives at (a Vary variant key, or the primary key)


@dataclass(frozen=True, slots=True)
class _HeaderFacts:
    directives: Directives
    bypass: bool
    content_type: str


#: What a single-flight follower's copy takes from the leader's response: the cache fields, and — truthful
#: about what happened, as it sent no request of its own — the leader's latency and attempts.
_FOLLOWER_COPIES = ("_cache", "_elapsed", "_elapsed_seconds", "attempts")


class CacheCore:
    """Settings + keys + storage + clock, and the decisions between them."""

    def __init__(
        self,
        settings: CacheSettings,
        keys: KeyBuilder,
        storage: CacheStorage,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.storage = storage
        self.clock = clock
        self._facts: dict[tuple[tuple[bytes, bytes], ...], _HeaderFacts] = {}
        self._last_raw: tuple[list[Any], tuple[tuple[bytes, bytes], ...]] | None = None
        # The longest window in which a stale entry can still answer (None: unbounded), fixed by the settings.
        windows = (settings.stale_if_error, settings.stale_while_revalidate)
        self._grace = None if None in windows else max(w or 0.0 for w in windows)

    # ------------------------------------------------------------------ planning
    def plan(self, call: Call) -> Plan | None:
        """The cache's view of `call`, or None when the cache must stay out of the way."""
        method = call.method
        options = call.options
        if method not in self.settings.allowable_methods and not (options and options.get("only_if_cached")):
            return None
        raw = self._raw_headers(call.headers)
        facts = self._facts.get(raw) or self._header_facts(raw)
        if facts.bypass:
            return None
        extra = self._auth_credential(call.auth)
        if extra is None:
            return None  # an auth flow we cannot fingerprint: caching could cross credentials
        key = self.keys.build(method, call.url_str, raw, call.content, facts.content_type, extra)
        plan = Plan(call, key, facts.directives, raw, content_type=facts.content_type, entry_key=key.key)
        if options:
            self._apply_options(plan, options)
        return plan

    def _raw_headers(self, headers: httpx.Headers) -> tuple[tuple[bytes, bytes], ...]:
        """``tuple(headers.raw)``, the same tuple while the headers stay those of the last call: nearly
        every call carries the session's own, and httpx builds a new list for ``raw`` on each access."""
        items = headers._list  # httpx's (raw name, lower name, value) list: one C-level compare
        last = self._last_raw
        if last is not None and items == last[0]:
            return last[1]
        raw = tuple(headers.raw)
        self._last_raw = (list(items), raw)
        return raw

    def _header_facts(self, raw: tuple[tuple[bytes, bytes], ...]) -> _HeaderFacts:
        lower = {name.lower(): value.decode("latin-1") for name, value in raw}
        directives = policy.request_directives(lower.get(b"cache-control"), lower.get(b"pragma"))
        facts = _HeaderFacts(
            directives=directives,
            bypass=directives.no_store or not _BYPASS_HEADERS.isdisjoint(lower),
            content_type=lower.get(b"content-type", ""),
        )
        if len(self._facts) > 1024:
            self._facts.clear()
        self._facts[raw] = facts
        return facts

    @staticmethod
    def _auth_credential(auth: Any) -> bytes | None:
        """A credential from an httpx auth object: b"" for none, None when unknowable."""
        if auth is None:
            return b""
        if isinstance(auth, tuple) and len(auth) == 2:
            auth = httpx.BasicAuth(*auth)  # httpx's shorthand for Basic: `auth=("user", "pass")`
        if isinstance(auth, httpx.BasicAuth | httpx.DigestAuth):
            user = getattr(auth, "_username", b"")
            password = getattr(auth, "_password", b"")
            header = getattr(auth, "_auth_header", "")
            return b"auth:" + bytes(user) + b":" + bytes(password) + str(header).encode()
        return None

    def _apply_options(self, plan: Plan, options: Mapping[str, Any]) -> None:
        if "expire_after" in options:
            plan.expire_after = policy.parse_expire_after(options["expire_after"])
            plan.expire_after_given = True
        plan.only_if_cached = bool(options.get("only_if_cached", False))
        plan.refresh = bool(options.get("refresh", False))
        plan.force_refresh = bool(options.get("force_refresh", False))

    def variant_key(self, plan: Plan, index: CachedEntry) -> str:
        """Key of the variant matching this request, given the Vary index at the primary key."""
        plan.entry_key = self.keys.variant(plan.key.key, index.vary, plan.call.headers)
        return plan.entry_key

    # ------------------------------------------------------------------ lookup
    def decide(self, plan: Plan, entry: CachedEntry | None) -> Lookup:
        """What to do with the stored entry (None: nothing stored, or a forced refresh)."""
        now = self.clock()
        if plan.force_refresh:
            return Lookup.MISS
        if entry is None:
            return policy.decide_lookup(
                self.settings, created_at=None, expires=None, response_cache_control="",
                request=plan.directives, now=now, only_if_cached=plan.only_if_cached,
            )  # fmt: skip
        if (
            plan.directives.plain
            and not (plan.refresh or plan.only_if_cached or self.settings.always_revalidate)
            and (entry.expires is None or now < entry.expires)
        ):
            return Lookup.FRESH  # the common hit, without building the full decision
        return policy.decide_lookup(
            self.settings, created_at=entry.created_at, expires=entry.expires,
            response_cache_control=entry.cache_control, request=plan.directives, now=now,
            refresh=plan.refresh, only_if_cached=plan.only_if_cached,
        )  # fmt: skip

    def stale_on_error(self, entry: CachedEntry | None) -> bool:
        """May `entry` stand in for a failed upstream request?"""
        return entry is not None and policy.stale_on_error_ok(
            self.settings, expires=entry.expires, response_cache_control=entry.cache_control, now=self.clock()
        )

    def conditional(self, call: Call, entry: CachedEntry | None) -> Call:
        """`call` with If-None-Match / If-Modified-Since from the stored entry (if it has any)."""
        if entry is None:
            return call
        validators = policy.conditional_headers(entry.header_map)
        return call.with_headers(validators) if validators else call

    # ------------------------------------------------------------------ answers
    def respond(
        self, plan: Plan, entry: CachedEntry, *, revalidated: bool = False, from_cache: bool = True
    ) -> Response:
        """A new `Response` built from a stored entry (a fresh object on every call)."""
        return self.response_for(entry, plan.call, from_cache=from_cache, revalidated=revalidated)

    def response_for(
        self,
        entry: CachedEntry,
        request: Call,
        *,
        from_cache: bool = True,
        revalidated: bool = False,
    ) -> Response:
        """A new `Response` for `entry`; the `httpx.Request` of `request` is built only if asked for."""
        # The entry's header list is shared with other responses: from_parts keeps it, and only reads it.
        response = Response.from_parts(entry.status, entry.headers, entry.content, request=request)
        self._annotate(response, entry, from_cache=from_cache, revalidated=revalidated)
        return response

    def copy_for_follower(self, plan: Plan, leader: Response) -> Response:
        """A single-flight follower's own copy of the leader's response (`coalesced` is True on it)."""
        content = leader.__dict__.get("_content")
        if content is None:
            return leader  # unread stream: nothing to copy; followers share it (documented)
        response = Response.from_parts(leader.status_code, leader.headers.raw, content, request=plan.call)
        for name in _FOLLOWER_COPIES:
            if name in leader.__dict__:
                response.__dict__[name] = leader.__dict__[name]
        response.extensions.update(leader.extensions)
        response.coalesced = True
        return response

    def gateway_timeout(self, plan: Plan) -> Response:
        """The answer to only-if-cached when nothing is stored (RFC 9111 §5.2.1.7)."""
        return Response.from_parts(504, [(b"content-length", b"0")], b"", request=plan.call)

    def _annotate(
        self, response: Response, entry: CachedEntry, *, from_cache: bool, revalidated: bool
    ) -> None:
        expires = entry.expires
        facts = CacheFacts(
            from_cache, entry.created_at, expires, expires is not None and self.clock() >= expires,
            revalidated, entry.key,
        )  # fmt: skip
        attrs = response.__dict__
        attrs["_cache"] = attrs["_cache_extensions"] = facts  # the extensions join on first access

    def mark_uncached(self, response: Response, plan: Plan) -> Response:
        """Annotate a response that was not stored (from_cache False, the key for reference)."""
        attrs = response.__dict__
        facts = CacheFacts(False, None, None, False, False, plan.entry_key, stored=False)
        attrs["_cache"] = attrs["_cache_extensions"] = facts
        return response

    # ------------------------------------------------------------------ storing
    def after_fetch(
        self, plan: Plan, stored: CachedEntry | None, response: Response
    ) -> tuple[Response, list[tuple[CachedEntry, float | None]]]:
        """Turn an upstream response into the answer and the entries to write.

        * 304 to our revalidation → the stored entry with merged headers and a new expiry.
        * 429/5xx with a usable stale entry → the stale entry (stale_if_error).
        * otherwise → the response itself, plus its entry if the policy stores it.
        """
        if response.status_code == 304 and stored is not None:
            entry = self._refreshed(plan, stored, response)
            if entry is None:
                return self.respond(plan, stored, revalidated=True), []
            return self.respond(plan, entry, revalidated=True), [(entry, self.ttl(entry))]
        if (
            stored is not None
            and policy.is_error_status(response.status_code)
            and self.stale_on_error(stored)
        ):
            response.close()
            return self.respond(plan, stored), []
        return self._store_fresh(plan, response)

    def _refreshed(self, plan: Plan, stored: CachedEntry, response: Response) -> CachedEntry | None:
        headers = policy.merge_not_modified(stored.headers, response.headers.raw)
        entry = CachedEntry(
            key=stored.key, method=stored.method, url=stored.url, status=stored.status, headers=headers,
            content=stored.content, created_at=self.clock(), expires=None,
            request_headers=stored.request_headers, vary=stored.vary,
        )  # fmt: skip
        decision = self._decide(plan, stored.status, entry.header_map, len(stored.content))
        if not decision.store:
            return None
        entry.expires = decision.expires
        return entry

    def _decide(self, plan: Plan, status: int, headers: Mapping[str, str], size: int) -> policy.StoreDecision:
        return policy.decide_store(
            self.settings, method=plan.call.method, url=plan.key.stored_url, status=status, headers=headers,
            body_size=size, request=plan.directives, now=self.clock(), expire_after=plan.expire_after,
            expire_after_given=plan.expire_after_given,
        )  # fmt: skip

    def _storable(
        self, plan: Plan, response: Response, headers: Mapping[str, str], size: int
    ) -> policy.StoreDecision:
        """The policy's decision, then the user's ``filter_fn`` (which sees a read response)."""
        decision = self._decide(plan, response.status_code, headers, size)
        if decision.store and self.settings.filter_fn is not None and not self.settings.filter_fn(response):
            return policy.StoreDecision(False, reason="filter_fn")
        return decision

    def _store_fresh(
        self, plan: Plan, response: Response
    ) -> tuple[Response, list[tuple[CachedEntry, float | None]]]:
        content = response.__dict__.get("_content")
        if content is None and plan.call.stream and response.status_code != 206:
            self._defer_until_read(plan, response)
            return self.mark_uncached(response, plan), []
        if content is None or response.status_code == 206:
            return self.mark_uncached(response, plan), []  # unread or partial: never stored
        headers = _header_dict(_raw_pairs(response)) or dict(response.headers.items())
        if _truncated(headers, content, plan.call.method):
            return self.mark_uncached(response, plan), []
        decision = self._storable(plan, response, headers, len(content))
        if not decision.store:
            log.debug("not caching %s: %s", plan.key.stored_url, decision.reason)
            return self.mark_uncached(response, plan), []
        # Unless a filter_fn may have edited them, the response's headers are still those of `headers`.
        validators = headers if self.settings.filter_fn is None else None
        return self._entries_for(plan, response, content, headers, decision.expires, validators)

    def _defer_until_read(self, plan: Plan, response: Response) -> None:
        """A streamed response is judged on its headers now and stored once the caller has read it all.

        The decision (and expiry) is made from the headers; the mixin tees the stream and, only when
        it is exhausted without error, stores the decoded body (`finish_streamed`).
        """
        headers = dict(response.headers.items())
        size = (
            int(headers.get("content-length", "0") or 0) if headers.get("content-length", "").isdigit() else 0
        )
        decision = self._decide(plan, response.status_code, headers, size)  # filter_fn: once read
        if decision.store:
            response.__dict__["_cache_deferred"] = (plan, headers, decision.expires)

    def finish_streamed(
        self,
        plan: Plan,
        response: Response,
        content: bytes,
        headers: Mapping[str, str],
        expires: float | None,
    ) -> list[tuple[CachedEntry, float | None]]:
        """The entries for a streamed response whose whole (decoded) body is `content`."""
        if _truncated(headers, content, plan.call.method):
            return []
        # filter_fn may look at the body (`.content`, `.json()`): give it the body the caller streamed.
        response.__dict__.setdefault("_content", content)
        if not self._storable(plan, response, headers, len(content)).store:
            return []
        return self._entries_for(plan, response, content, headers, expires)[1]

    def _entries_for(
        self,
        plan: Plan,
        response: Response,
        content: bytes,
        headers: Mapping[str, str],
        expires: float | None,
        validators: Mapping[str, str] | None = None,
    ) -> tuple[Response, list[tuple[CachedEntry, float | None]]]:
        """The entry (and Vary index) for a response; `headers`: its header map as the policy judged it.
        `validators`: a map that still holds the response's current headers (see `ttl`), when there is one."""
        vary_header = headers.get("vary")  # most responses have none: skip building an empty sorted set
        vary = (
            tuple(sorted({v.strip().lower() for v in vary_header.split(",") if v.strip()}))
            if vary_header
            else ()
        )
        writes: list[tuple[CachedEntry, float | None]] = []
        key = plan.key.key
        if vary:
            key = self.keys.variant(plan.key.key, vary, plan.call.headers)
        entry = CachedEntry(
            key=key, method=plan.call.method, url=plan.key.stored_url, status=response.status_code,
            headers=_storable(_raw_pairs(response), content, plan.call.method, headers), content=content,
            created_at=self.clock(), expires=expires,
            request_headers=self.keys.redact_request_headers(plan.raw_headers, plan.call.headers), vary=vary,
        )  # fmt: skip
        ttl = self.ttl(entry, validators)
        if vary:
            index = CachedEntry(
                key=plan.key.key, method=entry.method, url=entry.url, status=0, headers=[], content=b"",
                created_at=entry.created_at, expires=None, vary=vary, kind=VARY_INDEX,
            )  # fmt: skip
            writes.append((index, ttl))
        writes.append((entry, ttl))
        self._annotate(response, entry, from_cache=False, revalidated=False)
        return response, writes

    def ttl(self, entry: CachedEntry, validators: Mapping[str, str] | None = None) -> float | None:
        """How long storage should keep `entry`: freshness plus the longest window that can use it stale.
        `validators`: a lower-case header map with the entry's ETag / Last-Modified, when the caller has one
        (storing never drops those): spares building the entry's own map."""
        grace = self._grace
        if entry.expires is None or entry.kind != RESPONSE or grace is None:
            return None
        if grace < _VALIDATOR_GRACE and policy.has_validator(
            entry.header_map if validators is None else validators
        ):
            grace = _VALIDATOR_GRACE
        return max(1.0, entry.expires - self.clock() + grace)


RawPairs = Sequence[tuple[bytes, bytes]]


def _raw_pairs(response: Response) -> RawPairs:
    """The response's raw (name, value) byte pairs: the engine's own list when nothing has parsed (or
    replaced) the headers yet, which spares building an `httpx.Headers` to read them back."""
    attrs = response.__dict__
    raw = attrs.get("_raw_headers")
    untouched = attrs.get("_headers") is None and isinstance(raw, list | tuple)
    if untouched and (not raw or type(raw[0][0]) is bytes):
        return cast(RawPairs, raw)
    return response.headers.raw


def _header_dict(raw: RawPairs) -> dict[str, str] | None:
    """``dict(httpx.Headers(raw).items())`` in one pass — lower-case names, repeated names joined by ", " —
    for ASCII headers; None for any other (httpx's encoding guess then decides)."""
    out: dict[str, str] = {}
    try:
        for name_b, value_b in raw:
            name, value = name_b.decode("ascii").lower(), value_b.decode("ascii")
            out[name] = f"{out[name]}, {value}" if name in out else value
    except UnicodeDecodeError:
        return None
    return out


def _storable(
    raw: RawPairs, content: bytes, method: str, names: Collection[str]
) -> list[tuple[bytes, bytes]]:
    """Response headers as stored: no cookies, no transfer/content coding (the body is decoded).
    `names`: the response's lower-case header names (one without any of those, nearly every one, is stored
    as it came)."""
    if _UNSTORED_NAMES.isdisjoint(names):
        return list(raw)
    out: list[tuple[bytes, bytes]] = []
    decoded = False
    for pair in raw:
        name = pair[0].lower()
        if name not in _UNSTORED:
            out.append(pair)
        elif name == b"content-encoding":
            decoded = True
    if decoded and method != "HEAD":
        out = [(n, v) for n, v in out if n.lower() != b"content-length"]
        out.append((b"content-length", str(len(content)).encode()))
    return out


def _truncated(headers: Mapping[str, str], content: bytes, method: str) -> bool:
    """An identity body shorter or longer than its Content-Length is partial: never store it."""
    if method == "HEAD" or "content-encoding" in headers or "content-length" not in headers:
        return False
    try:
        return int(headers["content-length"]) != len(content)
    except ValueError:
        return True
