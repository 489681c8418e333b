"""From a recipe's `session:` block to a configured session (the same settings as fetch's flags).

Rate-limit parameters go through fetch's own `ratelimit_options` so a recipe and a command line
mean exactly the same thing; the mixins are added only when the recipe asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sessions_cli.fetch.options import RateLimitFlags, parse_duration, ratelimit_options

__all__ = [
    "MixinMissing",
    "cache_from_recipe",
    "find_mixin",
    "open_session",
    "ratelimit_from_recipe",
    "session_class",
    "session_kwargs",
]

_NUMBERS = ("limit", "capacity", "fill_rate", "leak_rate", "burst")


class MixinMissing(RuntimeError):
    """The recipe asks for rate limiting or caching and this build of `sessions` lacks the mixin."""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def ratelimit_from_recipe(block: Mapping[str, Any]) -> dict[str, Any] | None:
    """`RatelimitMixin` options for `session.ratelimit` (raises fetch's `UsageError` naming the flag)."""
    numbers = {name: float(block[name]) for name in _NUMBERS if block.get(name) is not None}
    flags = RateLimitFlags(
        algorithm=block.get("algorithm"),
        rate=_text(block.get("rate")),
        window=_text(block.get("window")),
        period=_text(block.get("period")),
        limit_by=str(block.get("limit_by", "host")),
        backend=str(block.get("backend", "memory")),
        redis_url=block.get("redis_url"),
        db=_text(block.get("db")),
        **numbers,
    )
    options = ratelimit_options(flags)
    if options is None:
        return None
    return {k: int(v) if k in ("limit", "burst") else v for k, v in options.items()}


def cache_from_recipe(block: Mapping[str, Any] | str) -> dict[str, Any]:
    """`CacheMixin` options for `session.cache` (a backend name, or a mapping)."""
    if isinstance(block, str):
        block = {"backend": block}
    options: dict[str, Any] = {"backend": block.get("backend", "memory")}
    expire = block.get("expire")
    if expire is not None:
        options["expire_after"] = -1 if expire == "never" else parse_duration(expire, "session.cache.expire")
    if block.get("cache_control"):
        options["cache_control"] = True
    if block.get("db") is not None:
        options["db"] = block["db"]
    if block.get("redis_url") is not None:
        options["url"] = block["redis_url"]
    return options


def session_kwargs(block: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the session constructor from a rendered `session:` block."""
    kwargs: dict[str, Any] = {}
    if block.get("base_url"):
        kwargs["base_url"] = block["base_url"]
    if block.get("headers"):
        kwargs["headers"] = {str(k): str(v) for k, v in block["headers"].items()}
    if block.get("timeout") is not None:
        kwargs["timeout"] = parse_duration(block["timeout"], "session.timeout")
    if block.get("retries") is not None:
        kwargs["retries"] = int(block["retries"])
    kwargs["follow_redirects"] = bool(block.get("follow", True))
    if block.get("verify") is not None:
        kwargs["verify"] = bool(block["verify"])
    if block.get("ratelimit"):
        options = ratelimit_from_recipe(block["ratelimit"])
        if options is not None:
            kwargs["ratelimit"] = options
    if block.get("cache"):
        kwargs["cache"] = cache_from_recipe(block["cache"])
    return kwargs


def find_mixin(name: str) -> type:
    """The mixin class `name` (`RatelimitMixin`, `CacheMixin`), or `MixinMissing`."""
    import importlib

    import sessions

    mixin = getattr(sessions, name, None)
    # Until the package root re-exports them, look in the subpackages the mixins live in.
    for module in ("sessions.ratelimit._mixin", "sessions.cache._mixin"):
        if mixin is None:
            try:
                mixin = getattr(importlib.import_module(module), name, None)
            except ImportError:
                continue
    if mixin is None:
        raise MixinMissing(f"this build of sessions has no {name} yet (needed by the recipe's session block)")
    return mixin  # type: ignore[no-any-return]


def session_class(*, cache: bool, ratelimit: bool) -> type:
    """`Session`, or `Session` with `CacheMixin` / `RatelimitMixin` (cache first: a hit skips the limiter)."""
    import sessions

    bases = [find_mixin("CacheMixin")] if cache else []
    bases += [find_mixin("RatelimitMixin")] if ratelimit else []
    return type("RecipeSession", (*bases, sessions.Session), {}) if bases else sessions.Session


def open_session(kwargs: Mapping[str, Any]) -> Any:
    """A new session for the kwargs from `session_kwargs` (the caller closes it)."""
    cls = session_class(cache="cache" in kwargs, ratelimit="ratelimit" in kwargs)
    return cls(**kwargs)
