"""pytest plugin: run httpx's own tests with `httpx.Client`/`httpx.AsyncClient` replaced by ours.

Loaded with ``-p swap_plugin`` (this directory on ``sys.path``) inside httpx's extracted sdist.
Each collected test module's ``httpx`` name is pointed at a copy of the httpx module whose
``Client`` and ``AsyncClient`` are `sessions.Session` and `sessions.AsyncSession`; nothing else
in the module, and nothing in httpx itself, changes. That is how a code base that swaps its
imports sees us.
"""

from __future__ import annotations

import types
from typing import Any

import httpx
import pytest

import sessions


def _swapped_httpx() -> types.ModuleType:
    shim = types.ModuleType("httpx")
    shim.__dict__.update(httpx.__dict__)
    shim.Client = sessions.Session  # type: ignore[attr-defined]
    shim.AsyncClient = sessions.AsyncSession  # type: ignore[attr-defined]
    return shim


_SHIM = _swapped_httpx()


def point_modules_at(shim: types.ModuleType, items: list[pytest.Item]) -> None:
    """Point the ``httpx`` name of every collected test module that imported httpx at ``shim``."""
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and getattr(module, "httpx", None) is httpx:
            module.httpx = shim


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: Any, items: list[pytest.Item]) -> None:
    point_modules_at(_SHIM, items)
