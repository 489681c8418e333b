"""Keyword plumbing for cooperative mixins.

The seed's interface passes every option as a flat keyword to the session constructor
(`Session(backend="redis", type="gcra", limit=5, expire_after=60)`), with optional
per-mixin dicts (`ratelimit_options={...}` / `ratelimit={...}`, `cache_options={...}` /
`cache={...}`) for the options two mixins share. Each mixin takes its own names out of
the keyword dict before calling `super().__init__`; the base session then rejects what
nobody claimed, so a typo is a `TypeError` naming it instead of being silently dropped.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["CLAIMED", "KNOWN", "reject_unknown", "take_options"]

#: Private keys the mixins leave in the kwargs dict for the base session to read.
CLAIMED = "__sessions_claimed__"
KNOWN = "__sessions_known__"


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
    """
    own = frozenset(names)
    common = frozenset(shared)
    claimed: set[str] = kwargs.setdefault(CLAIMED, set())
    known: set[str] = kwargs.setdefault(KNOWN, set())
    claimed.update(common)
    known.update(own | common | {group, f"{group}_options"})

    options: dict[str, Any] = {name: kwargs[name] for name in common if name in kwargs}
    options.update({name: kwargs.pop(name) for name in own if name in kwargs})
    for dict_name in (f"{group}_options", group):
        value = kwargs.get(dict_name)
        if isinstance(value, Mapping):
            del kwargs[dict_name]
            reject_unknown(value, own | common, where=f"{dict_name}=")
            options.update(value)
    return options


def reject_unknown(given: Iterable[str], allowed: Iterable[str], *, where: str) -> None:
    """Raise `TypeError` for the first name in `given` that is not `allowed`, with a close match."""
    allowed_set = frozenset(allowed)
    for name in given:
        if name in allowed_set:
            continue
        hint = difflib.get_close_matches(name, sorted(allowed_set), n=1, cutoff=0.6)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise TypeError(f"{where} got an unexpected keyword argument {name!r}{suggestion}")
