"""Lazy re-exports for a package's ``__init__`` (PEP 562): a name is imported from its module on first use.

`import sessions` must not pay for what a program never touches (the SQL and Redis limiter storages, the
cache, rich): a command-line run starts in a fraction of a second, and every fixed millisecond counts
against a short batch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of `package`: each name of `homes` (name -> relative module) is
    imported on first access and kept in `namespace` (the package's globals), so later lookups are plain."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
