"""Keyword plumbing for cooperative mixins.

The seed's interface passes every option as a flat keyword to the session constructor
(`Session(backend="redis", type="gcra", limit=5, expire_after=60)`), with optional
per-mixin dicts (`ratelimit_options={...}` / `ratelimit={...}`, `cache_options={...}` /
`cache={...}`) for the options two mixins share. Each mixin takes its own names out of
the keyword dict before calling `super().__init__`; the base session then rejects what
nobody claimed, so a typo is a `TypeError` naming it instead of being silently dropped.

"Parameters are shared between mixins" (the seed): every mixin registers its names here
(`register_group`), so a session with one mixin also accepts — and does not use — the
other's options and dicts (`Session(expire_after=60)` on a rate-limited-only class, as
the seed's Testing section does with every algorithm's parameters). Only a keyword no
mixin and no httpx knows is the `TypeError`.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["CLAIMED", "KNOWN", "register_group", "reject_unknown", "take_options"]

#: Private keys the mixins leave in the kwargs dict for the base session to read.
CLAIMED = "__sessions_claimed__"
KNOWN = "__sessions_known__"

# group name -> every option name its mixin reads (own + shared), filled by `register_group`.
_GROUPS: dict[str, frozenset[str]] = {}


def register_group(group: str, names: Iterable[str], shared: Iterable[str] = ()) -> None:
    """Declare a mixin's options (at import of its module) so other mixins accept them too."""
    _GROUPS[group] = frozenset(names) | frozenset(shared)


# The modules whose import registers a group. `sessions` loads them lazily, so a class with one mixin may
# run before the other's module was ever imported: the first options taken import them all.
_GROUP_MODULES = ("sessions.cache._mixin", "sessions.ratelimit._mixin")


@functools.cache
def _register_every_group() -> None:
    for module in _GROUP_MODULES:
        importlib.import_module(module)


def _dict_names(group: str) -> tuple[str, str]:
    return (f"{group}_options", group)


def take_options(
    kwargs: MutableMapping[str, Any],
    group: str,
    names: Iterable[str],
    shared: Iterable[str] = (),
) -> dict[str, Any]:
    """Take one mixin's options out of `kwargs`.

    * `names` are the mixin's own options: popped from `kwargs`.
    * `shared` names (backend, key, conn, …) are read but left in place so the next
      mixin sees them too; the base session drops them at the end.
    * `{group}_options=` and `{group}=` (when it is a mapping) are popped and win over
      the flat keywords, as in the seed. An unknown key inside them is a `TypeError`.
    * Another registered group's names and dicts are accepted and left unused (claimed, so
      the base session drops them unless that group's mixin is in the class and takes them
      first); an unknown key inside another group's dict is a `TypeError` too.
    """
    _register_every_group()
    own = frozenset(names)
    common = frozenset(shared)
    claimed: set[str] = kwargs.setdefault(CLAIMED, set())
    known: set[str] = kwargs.setdefault(KNOWN, set())
    claimed.update(common)
    known.update(own | common | set(_dict_names(group)))
    _accept_other_groups(kwargs, group, claimed, known)

    options: dict[str, Any] = {name: kwargs[name] for name in common if name in kwargs}
    options.update({name: kwargs.pop(name) for name in own if name in kwargs})
    for dict_name in _dict_names(group):
        value = kwargs.get(dict_name)
        if isinstance(value, Mapping):
            del kwargs[dict_name]
            reject_unknown(value, own | common, where=f"{dict_name}=")
            options.update(value)
        elif value is not None and dict_name not in own:
            raise TypeError(f"{dict_name}= must be a dict of options, not {value!r}")
        elif dict_name in kwargs and dict_name not in own:
            del kwargs[dict_name]  # None: no options
    return options


def _accept_other_groups(
    kwargs: MutableMapping[str, Any], group: str, claimed: set[str], known: set[str]
) -> None:
    for other, allowed in _GROUPS.items():
        if other == group:
            continue
        for dict_name in _dict_names(other):
            value = kwargs.get(dict_name)
            if isinstance(value, Mapping):
                reject_unknown(value, allowed, where=f"{dict_name}=")
            elif value is not None and dict_name not in allowed:
                raise TypeError(f"{dict_name}= must be a dict of options, not {value!r}")
        names = allowed | set(_dict_names(other))
        claimed.update(name for name in names if name in kwargs)
        known.update(names)  # also for the close-match hint of a typo


def reject_unknown(given: Iterable[str], allowed: Iterable[str], *, where: str) -> None:
    """Raise `TypeError` for the first name in `given` that is not `allowed`, with a close match."""
    allowed_set = frozenset(allowed)
    for name in given:
        if name in allowed_set:
            continue
        hint = difflib.get_close_matches(name, sorted(allowed_set), n=1, cutoff=0.6)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise TypeError(f"{where} got an unexpected keyword argument {name!r}{suggestion}")
